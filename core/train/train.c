/*
 * The training loop: seeded shuffling and batching through the dataset API,
 * forward/loss/vjp through the layer model, updates through the optimizer
 * API, metrics as JSON Lines, periodic evaluation on the test split,
 * atomic safetensors checkpoints and exact resumption.
 *
 * Reproducibility: parameters come from Philox stream 1 of the seed, the
 * epoch orders from stream 2. A checkpoint keeps the shuffling generator as
 * it was before the current epoch was drawn and the position in that epoch,
 * so a resumed run redraws the same order and continues with the same
 * batches; with the same thread count the remaining metrics are identical.
 *
 * Data parallelism (docs/distributed.md): on a distributed backend (`mpi`,
 * chosen automatically when the process was started by mpirun with more
 * than one rank) every rank draws the same epoch orders and takes its
 * contiguous share of the columns of every global batch; the backend makes
 * every reduction global, so loss, accuracy and solver statistics are the
 * whole batch's on every rank, and the parameter gradients (each rank's part
 * of the sum over the batch) are summed with one allreduce a step. Every
 * rank applies the same update; rank 0 alone writes metrics and
 * checkpoints. Ranks agree on failures at fixed points of each step (after
 * the gradient pass, before an evaluation, after a checkpoint), so a rank
 * that fails makes every rank stop there with its status.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nde/backend.h>
#include <nde/dataset.h>
#include <nde/loss.h>
#include <nde/model.h>
#include <nde/optimizer.h>

#include "checkpoint.h"
#include "pipeline_impl.h"

typedef struct trainer {
  nde_pipeline *p;
  nde_backend *backend;
  nde_dataset *train, *test;
  nde_dataset_info info, test_info;
  nde_model *model;
  const nde_layer *root;
  nde_optimizer *optimizer;
  nde_array params, grads, xb, yb, dy;
  size_t n_out;
  nde_arena *arena;
  nde_layer_metrics metrics;
  nde_layer_metrics eval_metrics; /* statistics of the last evaluation, averaged per batch */
  double test_batch_time; /* mean seconds of one test batch at the last evaluation */
  double data_loss;       /* the last training pass's data loss (without the added terms) */
  uint64_t *order;
  nde_rng shuffle;
  nde_run_state state;
  FILE *metrics_file;
  int lock_fd; /* flock()ed CHECKPOINT/nde-train.lock, -1 when none */
  int drew_progress; /* the progress bar left the cursor mid-line */
  double start;
  double last_progress; /* when the progress bar was last drawn */
  int rank, ranks;      /* this process among the data-parallel ranks (0 of 1 alone) */
} trainer;

/* Columns [*first, *first + *count) of a batch of @p n columns are rank @p rank's of @p ranks. */
static void shard(size_t n, int rank, int ranks, size_t *first, size_t *count) {
  size_t q = n / (size_t)ranks, r = n % (size_t)ranks, k = (size_t)rank;
  *count = q + (k < r);
  *first = k * q + (k < r ? k : r);
}

/*
 * Agree over the ranks on the status @p st of this rank's part of a phase
 * (collective; a no-op alone). When a rank failed, each rank returns the
 * lowest failed rank's status: that rank its own message with its number,
 * the others a message naming it. *sig (may be NULL) becomes the largest
 * signal number any rank has seen.
 */
static nde_status agree(trainer *tr, nde_status st, int *sig) {
  if (tr->ranks == 1)
    return st;
  double v[2] = {st != NDE_OK ? (double)tr->rank * 256 + (double)st : (double)tr->ranks * 256,
                 sig ? -(double)*sig : 0.0};
  nde_status cst = nde_backend_allreduce_host(tr->backend, NDE_REDUCE_MIN, 2, v);
  if (cst != NDE_OK)
    return cst;
  if (sig)
    *sig = (int)-v[1];
  if (v[0] >= (double)tr->ranks * 256)
    return NDE_OK;
  int bad = (int)(v[0] / 256);
  nde_status code = (nde_status)((int)v[0] % 256);
  if (st != NDE_OK)
    return nde_error_prefix(st, "rank %d of %d", tr->rank, tr->ranks);
  return nde_error(code, "rank %d of %d: stopped because rank %d failed (%s: see its message)",
                   tr->rank, tr->ranks, bad, nde_status_describe(code));
}

/* How many ranks mpirun (or another PMI launcher) started; 1 when not launched by one. */
static int launched_ranks(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; ++i) {
    const char *v = getenv(vars[i]);
    if (v && atoi(v) > 0)
      return atoi(v);
  }
  return 1;
}

/*
 * The pipeline's backend. Launched by mpirun with more than one rank (and
 * not @p local), a backend other than `mpi` is wrapped in `mpi` (option
 * inner): the pipeline that trains on one process trains data-parallel
 * unchanged.
 */
static nde_status open_backend(const nde_pipeline *p, int local, nde_backend **out) {
  int n = launched_ranks();
  if (local || n == 1 || !strcmp(p->backend_name, "mpi"))
    return nde_backend_open(p->registry, p->backend_name, p->backend_options, out);
  const nde_plugin *mpi;
  if (nde_registry_find(p->registry, NDE_KIND_BACKEND, "mpi", &mpi) != NDE_OK)
    return nde_error(NDE_EUNSUPPORTED, "started by mpirun with %d ranks, but there is no `mpi` "
                     "backend plugin (nde was built without Open MPI): run one process, or "
                     "rebuild with Open MPI installed", n);
  json_t *o = json_object();
  json_object_set_new(o, "inner", json_string(p->backend_name));
  json_t *io = p->backend_options ? json_loads(p->backend_options, 0, NULL) : NULL;
  json_object_set_new(o, "inner_options", io ? io : json_object());
  char *text = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!text)
    return nde_error(NDE_ENOMEM, "out of memory");
  nde_status st = nde_backend_open(p->registry, "mpi", text, out);
  free(text);
  return st;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static nde_status make_dirs(const char *dir) {
  char buf[4096];
  size_t n = strlen(dir);
  if (n >= sizeof buf)
    return nde_error(NDE_EINVAL, "%s: path too long", dir);
  memcpy(buf, dir, n + 1);
  for (size_t i = 1; i <= n; ++i) {
    if (buf[i] == '/' || buf[i] == 0) {
      char c = buf[i];
      buf[i] = 0;
      if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return nde_error(NDE_EWRITE, "%s: cannot create directory: %s", buf, strerror(errno));
      buf[i] = c;
    }
  }
  return NDE_OK;
}

static void checkpoint_path(const nde_pipeline *p, char *out, size_t cap) {
  snprintf(out, cap, "%s/checkpoint.safetensors", p->checkpoint_dir);
}

/*
 * Hold an exclusive flock() on DIR/nde-train.lock until the trainer closes:
 * a second run on the same folder is refused. flock() locks belong to the
 * open file, so the kernel releases them when the process ends, however it
 * ends: a kill -9 never leaves a stale lock. The file keeps the holder's pid
 * for the message.
 */
static nde_status lock_folder(trainer *tr, const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/nde-train.lock", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0)
    return nde_error(NDE_EWRITE, "%s: cannot create the lock file: %s", path, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char pid[32] = "";
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = 0;
    pid[strcspn(pid, "\n")] = 0;
    close(fd);
    if (err == EWOULDBLOCK)
      return nde_error(NDE_EINVAL, "train.checkpoint: %s is in use by another nde train%s%s%s "
                       "(lock %s); wait for it to finish or use another folder", dir,
                       pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", path);
    return nde_error(NDE_EWRITE, "%s: cannot lock: %s", path, strerror(err));
  }
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
    int err = errno;
    close(fd);
    return nde_error(NDE_EWRITE, "%s: cannot write the lock file: %s", path, strerror(err));
  }
  tr->lock_fd = fd;
  return NDE_OK;
}

/* Remove checkpoint.safetensors.tmp-* files a killed run left (we hold the lock). */
static void remove_stale_temporaries(const char *dir) {
  static const char prefix[] = "checkpoint.safetensors.tmp-";
  DIR *d = opendir(dir);
  if (!d)
    return;
  int removed = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, prefix, sizeof prefix - 1))
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(path) == 0)
      removed++;
  }
  closedir(d);
  if (removed)
    fprintf(stderr, "nde: removed %d temporary checkpoint file%s left by an interrupted run in "
            "%s\n", removed, removed == 1 ? "" : "s", dir);
}

/* @p local: one process's computation even under mpirun (nde_predict). */
static nde_status open_common(trainer *tr, nde_pipeline *p, int need_train, int local) {
  memset(tr, 0, sizeof *tr);
  tr->lock_fd = -1;
  tr->p = p;
  tr->ranks = 1;
  nde_status st = open_backend(p, local, &tr->backend);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s: backend", p->file);
  nde_backend_comm(tr->backend, &tr->rank, &tr->ranks);
  if (need_train)
    NDE_TRY(nde_dataset_open(p->registry, p->dataset_name, p->data_json, "train", p->seed, "data",
                             &tr->train));
  st = nde_dataset_open(p->registry, p->dataset_name, p->data_json, "test", p->seed, "data",
                        &tr->test);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s", p->file);
  nde_dataset_get_info(tr->test, &tr->test_info);
  if (need_train)
    nde_dataset_get_info(tr->train, &tr->info);
  else
    tr->info = tr->test_info;
  if (need_train && tr->info.count < p->batch_size) /* before any buffer is sized by it */
    return nde_error(NDE_EINVAL, "%s: data.batch_size: %zu is larger than the training set (%zu)",
                     p->file, p->batch_size, tr->info.count);
  if (need_train && p->batch_size < (size_t)tr->ranks)
    return nde_error(NDE_EINVAL, "%s: data.batch_size: %zu is smaller than the %d ranks (each "
                     "rank needs at least one sample of every batch)", p->file, p->batch_size,
                     tr->ranks);
  nde_shape in = nde_shape_vector(tr->info.input_size);
  st = nde_model_build(p->registry, p->model_json, "model", &in, tr->backend, p->dtype,
                       &tr->model);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s", p->file);
  tr->root = nde_model_root(tr->model);
  tr->n_out = nde_shape_size(nde_layer_output_shape(tr->root));
  if (p->loss == NDE_LOSS_CROSS_ENTROPY && tr->n_out != tr->info.n_classes)
    return nde_error(NDE_EINVAL,
                     "%s: model: outputs %zu features but the dataset has %zu classes "
                     "(cross_entropy needs one logit per class)",
                     p->file, tr->n_out, tr->info.n_classes);
  if (p->loss != NDE_LOSS_CROSS_ENTROPY &&
      nde_loss_target_rows(p->loss, tr->n_out) != tr->info.target_size)
    return nde_error(NDE_EINVAL, "%s: model: outputs %zu features but targets have %zu (%s)",
                     p->file, tr->n_out, tr->info.target_size, nde_loss_name(p->loss));
  size_t np = nde_model_param_count(tr->model);
  NDE_TRY(nde_array_create(tr->backend, p->dtype, 1, &np, &tr->params));
  NDE_TRY(nde_array_create(tr->backend, p->dtype, 1, &np, &tr->grads));
  size_t eb = p->eval_batch_size < tr->test_info.count ? p->eval_batch_size : tr->test_info.count;
  size_t b = need_train && p->batch_size > eb ? p->batch_size : eb; /* evaluation: eb at most */
  size_t xs[2] = {tr->info.input_size, b}, ys[2] = {tr->info.target_size, b},
         ds[2] = {tr->n_out, b};
  NDE_TRY(nde_array_create(tr->backend, p->dtype, 2, xs, &tr->xb));
  NDE_TRY(nde_array_create(tr->backend, p->dtype, 2, ys, &tr->yb));
  NDE_TRY(nde_array_create(tr->backend, p->dtype, 2, ds, &tr->dy));
  NDE_TRY(nde_arena_create(tr->backend, &tr->arena));
  return NDE_OK;
}

static void trainer_close(trainer *tr) {
  if (tr->metrics_file)
    fclose(tr->metrics_file);
  if (tr->lock_fd >= 0)
    close(tr->lock_fd); /* releases the flock */
  free(tr->order);
  nde_arena_destroy(&tr->arena);
  nde_array_destroy(&tr->dy);
  nde_array_destroy(&tr->yb);
  nde_array_destroy(&tr->xb);
  nde_array_destroy(&tr->grads);
  nde_array_destroy(&tr->params);
  nde_optimizer_destroy(&tr->optimizer);
  nde_model_destroy(&tr->model);
  nde_dataset_destroy(&tr->test);
  nde_dataset_destroy(&tr->train);
  nde_backend_destroy(&tr->backend);
}

/* Views of the batch buffers holding @p n samples. */
static nde_status batch_views(trainer *tr, size_t n, nde_array *x, nde_array *y) {
  size_t xs[2] = {tr->info.input_size, n}, ys[2] = {tr->info.target_size, n};
  NDE_TRY(nde_array_view(&tr->xb, 0, 2, xs, x));
  return nde_array_view(&tr->yb, 0, 2, ys, y);
}

/* Forward + loss on @p n samples already in xb/yb; optionally the gradient into grads. */
static nde_status loss_on_batch(trainer *tr, size_t n, int training, double *loss,
                                size_t *correct) {
  nde_arena_reset(tr->arena);
  nde_layer_metrics_clear(&tr->metrics);
  nde_layer_ctx ctx = {tr->backend, tr->p->dtype, n, tr->arena, tr->state.step, training,
                       tr->p->seed, &tr->metrics, 0, !training,
                       training ? tr->state.data_loss_average : 0.0,
                       training ? &tr->state.nfe_duals : NULL};
  nde_record *rec;
  NDE_TRY(nde_layer_forward(tr->root, &ctx, tr->xb.data, 0.0, tr->params.data, &rec));
  double data_loss;
  NDE_TRY(nde_loss_eval(tr->backend, tr->p->dtype, tr->p->loss, tr->n_out, n,
                        nde_record_output(rec), tr->yb.data, 1.0, &data_loss,
                        training ? tr->dy.data : NULL, correct));
  *loss = data_loss + tr->metrics.aux_loss;
  if (!training)
    return NDE_OK;
  tr->data_loss = data_loss;
  tr->backend->ops->fill(tr->backend->ctx, tr->p->dtype, tr->grads.size, 0.0, tr->grads.data);
  return nde_layer_vjp(tr->root, &ctx, rec, tr->dy.data, NULL, tr->grads.data, NULL);
}

/* The value of statistic @p name in the last pass's metrics, NaN when absent. */
static double metric_value(const nde_layer_metrics *m, const char *name) {
  for (int i = 0; i < m->n; ++i)
    if (!strcmp(m->names[i], name))
      return m->values[i];
  return NAN;
}

static nde_status evaluate(trainer *tr, double *loss, double *accuracy) {
  size_t count = tr->test_info.count, eb = tr->p->eval_batch_size;
  if (eb > count)
    eb = count; /* as open_common sized the batch buffers */
  uint64_t *idx = malloc(eb * sizeof *idx);
  if (!idx)
    return nde_error(NDE_ENOMEM, "out of memory");
  double total = 0, batch_time = 0;
  size_t right = 0, batches = 0;
  nde_status st = NDE_OK;
  nde_layer_metrics_clear(&tr->eval_metrics);
  for (size_t start = 0; start < count && st == NDE_OK; start += eb) {
    size_t n = count - start < eb ? count - start : eb, first, nl;
    shard(n, tr->rank, tr->ranks, &first, &nl); /* this rank's columns of the batch */
    for (size_t i = 0; i < nl; ++i)
      idx[i] = start + first + i;
    nde_array x, y;
    st = batch_views(tr, nl, &x, &y);
    if (st == NDE_OK)
      st = nde_dataset_batch(tr->test, idx, nl, &x, &y);
    st = agree(tr, st, NULL);
    double l = 0;
    size_t c = 0;
    double t0 = now();
    if (st == NDE_OK) /* loss and count: the whole batch's (a distributed backend's reductions) */
      st = agree(tr, loss_on_batch(tr, nl, 0, &l, &c), NULL);
    batch_time += now() - t0;
    total += l * (double)n;
    right += c;
    batches++;
    for (int i = 0; st == NDE_OK && i < tr->metrics.n; ++i) {
      nde_layer_ctx sink = {.metrics = &tr->eval_metrics};
      nde_layer_report(&sink, tr->metrics.names[i], tr->metrics.values[i]);
    }
  }
  for (int i = 0; i < tr->eval_metrics.n; ++i) /* per-batch means (test NFE per prediction) */
    tr->eval_metrics.values[i] /= (double)(batches ? batches : 1);
  tr->test_batch_time = batches ? batch_time / (double)batches : NAN;
  free(idx);
  *loss = total / (double)count;
  *accuracy = tr->p->loss == NDE_LOSS_CROSS_ENTROPY ? (double)right / (double)count : NAN;
  return st;
}

/* Forward NFE per test batch of the last evaluation (NaN without differential equations). */
/* Forward NFE per test batch at the last evaluation (NaN without solves). */
static double test_nfe(const trainer *tr) { return metric_value(&tr->eval_metrics, "nfe_forward"); }

static void put_number(json_t *obj, const char *key, double v) {
  json_object_set_new(obj, key, isfinite(v) ? json_real(v) : json_null());
}

/* Append one JSON line to the metrics file; a failed write (disk full) is NDE_EWRITE. */
static nde_status write_metrics(trainer *tr, json_t *line) {
  nde_status st = NDE_OK;
  if (tr->metrics_file) {
    char *text = json_dumps(line, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!text)
      st = nde_error(NDE_ENOMEM, "out of memory");
    else {
      errno = 0;
      int bad = fprintf(tr->metrics_file, "%s\n", text) < 0;
      bad = fflush(tr->metrics_file) != 0 || bad || ferror(tr->metrics_file);
      if (bad)
        st = nde_error(NDE_EWRITE, "%s: cannot write metrics at step %llu: %s",
                       tr->p->metrics_path, (unsigned long long)tr->state.step,
                       errno ? strerror(errno) : "write error");
      free(text);
    }
  }
  json_decref(line);
  return st;
}

/* Keep only the lines of an existing metrics file with "step" <= @p step (resume). */
static nde_status trim_metrics(const char *path, uint64_t step) {
  FILE *in = fopen(path, "r");
  if (!in)
    return NDE_OK;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *out = fopen(tmp, "w");
  if (!out) {
    fclose(in);
    return nde_error(NDE_EWRITE, "%s: cannot write: %s", tmp, strerror(errno));
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, in)) > 0) {
    json_t *j = json_loads(line, 0, NULL); /* a line a kill cut short does not parse */
    json_t *s = j ? json_object_get(j, "step") : NULL;
    if (s && json_is_integer(s) && (uint64_t)json_integer_value(s) <= step) {
      fputs(line, out);
      if (line[len - 1] != '\n') /* complete but cut before its newline */
        fputc('\n', out);
    }
    json_decref(j);
  }
  free(line);
  fclose(in);
  int bad = ferror(out);
  if (fclose(out) != 0 || bad || rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    return nde_error(NDE_EWRITE, "%s: cannot rewrite: %s", path, err ? strerror(err) : "write error");
  }
  return NDE_OK;
}

static void progress(trainer *tr, const char *label, double loss) {
  const int width = 30;
  uint64_t total = tr->p->steps, done = tr->state.step;
  double t = now();
  if (done != total && t - tr->last_progress < 0.1) /* at most 10 redraws a second */
    return;
  tr->last_progress = t;
  int fill = (int)((double)done / (double)total * width);
  /* %-10.3g: a shorter number overwrites the longer one drawn before it */
  fprintf(stderr, "\r%s[%.*s%*s] %llu/%llu loss %-10.3g", label ? label : "", fill,
          "==============================", width - fill, "", (unsigned long long)done,
          (unsigned long long)total, loss);
  tr->drew_progress = done != total;
  if (done == total)
    fputc('\n', stderr);
  fflush(stderr);
}

/* A sample of this rank's shard with a non-finite input (distributed runs name the rank). */
static nde_status check_inputs(trainer *tr, size_t n, size_t first) {
  if (tr->ranks == 1 || !nde_backend_host_readable(tr->backend))
    return NDE_OK;
  size_t F = tr->info.input_size;
  for (size_t j = 0; j < n; ++j)
    for (size_t i = 0; i < F; ++i) {
      double v = tr->p->dtype == NDE_FLOAT32 ? ((const float *)tr->xb.data)[i + j * F]
                                             : ((const double *)tr->xb.data)[i + j * F];
      if (!isfinite(v))
        return nde_error(NDE_ENONFINITE, "training step %llu: sample %llu of the training set "
                         "(column %zu of the batch) has a non-finite input",
                         (unsigned long long)tr->state.step + 1,
                         (unsigned long long)tr->order[tr->state.epoch_pos + first + j],
                         first + j);
    }
  return NDE_OK;
}

/* This rank's columns of the next global batch (all of it on one process). */
static nde_status next_batch(trainer *tr, size_t *local) {
  size_t B = tr->p->batch_size, count = tr->info.count, first;
  if (!tr->state.have_epoch || tr->state.epoch_pos > count - B) { /* B <= count: no wrap */
    tr->state.epoch_rng = tr->shuffle;
    nde_dataset_order(tr->train, &tr->shuffle, tr->order);
    tr->state.epoch_pos = 0;
    tr->state.have_epoch = 1;
  }
  shard(B, tr->rank, tr->ranks, &first, local);
  nde_array x, y;
  NDE_TRY(batch_views(tr, *local, &x, &y));
  NDE_TRY(nde_dataset_order_batch(tr->train, tr->order, tr->state.epoch_pos + first, *local, &x,
                                  &y));
  NDE_TRY(check_inputs(tr, *local, first));
  tr->state.epoch_pos += B;
  return NDE_OK;
}

/* The checkpoint (rank 0 writes it; the ranks agree on the outcome). */
static nde_status save(trainer *tr) {
  if (!tr->p->checkpoint_dir)
    return NDE_OK;
  if (tr->rank != 0)
    return agree(tr, NDE_OK, NULL);
  char path[4096];
  checkpoint_path(tr->p, path, sizeof path);
  tr->state.optimizer_steps = nde_optimizer_steps(tr->optimizer);
  nde_run_state s = tr->state;
  s.wall_time += now() - tr->start;
  return agree(tr, nde_checkpoint_save(path, tr->model, tr->params.data, tr->optimizer, &s), NULL);
}

/* The run stopped on signal @p sig after a finished step (and its checkpoint). */
static nde_status interrupted(trainer *tr, int sig, nde_train_summary *sum) {
  const nde_pipeline *p = tr->p;
  if (tr->drew_progress)
    fputc('\n', stderr);
  sum->steps = tr->state.step;
  sum->wall_time = now() - tr->start;
  sum->n_params = tr->params.size;
  const char *name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
  if (!p->checkpoint_dir)
    return nde_error(NDE_EINTERRUPTED, "interrupted by %s after step %llu of %llu; nothing saved "
                     "(the pipeline sets no train.checkpoint)", name,
                     (unsigned long long)tr->state.step, (unsigned long long)p->steps);
  char path[4096];
  checkpoint_path(p, path, sizeof path);
  return nde_error(NDE_EINTERRUPTED, "interrupted by %s after step %llu of %llu; checkpoint "
                   "written to %s; continue with --resume", name,
                   (unsigned long long)tr->state.step, (unsigned long long)p->steps, path);
}

/*
 * Everything before the first step: the optimizer, the folder (rank 0 locks
 * it and owns the metrics file), the checkpoint of a resume (every rank
 * reads it) or fresh parameters. Sets *resumed.
 */
static nde_status setup(trainer *tr, nde_pipeline *p, const nde_train_options *opt, int *resumed) {
  nde_status st = nde_optimizer_open(p->registry, p->optimizer_name, p->optimizer_json,
                                     tr->backend, p->dtype, tr->params.size, "optimizer",
                                     &tr->optimizer);
  if (st != NDE_OK)
    return nde_error_prefix(st, "%s", p->file);
  tr->order = malloc(tr->info.count * sizeof *tr->order);
  if (!tr->order)
    return nde_error(NDE_ENOMEM, "out of memory");
  tr->shuffle = nde_rng_make(p->seed, 2);
  memset(&tr->state, 0, sizeof tr->state);
  int writer = tr->rank == 0;
  if (p->checkpoint_dir && writer) {
    NDE_TRY(make_dirs(p->checkpoint_dir));
    NDE_TRY(lock_folder(tr, p->checkpoint_dir));
    remove_stale_temporaries(p->checkpoint_dir);
  }
  int resume = opt->resume;
  if (resume) {
    if (!p->checkpoint_dir)
      return nde_error(NDE_EINVAL, "%s: train.checkpoint: --resume needs a checkpoint directory",
                       p->file);
    char path[4096];
    checkpoint_path(p, path, sizeof path);
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT) {
      if (writer)
        fprintf(stderr, "nde: --resume: no checkpoint in %s yet; starting from step 0\n",
                p->checkpoint_dir);
      resume = 0;
    }
  }
  *resumed = resume;
  if (resume) {
    char path[4096];
    checkpoint_path(p, path, sizeof path);
    nde_checkpoint_expect expect = {tr->shuffle.seed, tr->shuffle.stream, p->steps,
                                    tr->info.count};
    NDE_TRY(nde_checkpoint_load(path, tr->model, tr->params.data, tr->optimizer, &expect,
                                &tr->state));
    if (tr->state.step >= p->steps)
      return nde_error(NDE_EINVAL,
                       "%s: --resume: %s is at step %llu, %s train.steps = %llu; nothing to "
                       "train (raise train.steps to continue, or start afresh without --resume)",
                       p->file, path, (unsigned long long)tr->state.step,
                       tr->state.step == p->steps ? "the end of" : "past",
                       (unsigned long long)p->steps);
    nde_optimizer_set_steps(tr->optimizer, tr->state.optimizer_steps);
    if (tr->state.have_epoch) { /* redraw the current epoch's order */
      tr->shuffle = tr->state.epoch_rng;
      nde_dataset_order(tr->train, &tr->shuffle, tr->order);
    }
    if (p->metrics_path && writer)
      NDE_TRY(trim_metrics(p->metrics_path, tr->state.step));
  } else {
    nde_rng init = nde_rng_make(p->seed, 1);
    NDE_TRY(nde_model_init_params(tr->model, &init, tr->params.data));
  }
  if (p->metrics_path && writer) {
    tr->metrics_file = fopen(p->metrics_path, resume ? "a" : "w");
    if (!tr->metrics_file)
      return nde_error(NDE_EWRITE, "%s: cannot write metrics: %s", p->metrics_path,
                       strerror(errno));
  }
  return NDE_OK;
}

/*
 * One training step's gradient: this rank's batch columns, forward and
 * pullback, then (when every rank succeeded) the gradients summed over the
 * ranks with one allreduce. *sig: the interrupt, agreed over the ranks.
 */
static nde_status step_gradient(trainer *tr, const nde_train_options *opt, double *loss,
                                size_t *correct, int *sig) {
  size_t local = 0;
  nde_status st = agree(tr, next_batch(tr, &local), NULL); /* before any collective of the pass */
  if (st != NDE_OK)
    return st;
  st = loss_on_batch(tr, local, 1, loss, correct);
  if (st != NDE_OK)
    st = nde_error_prefix(st, "training step %llu", (unsigned long long)tr->state.step + 1);
  else if (!isfinite(*loss))
    st = nde_error(NDE_ENONFINITE, "step %llu: training loss is not finite",
                   (unsigned long long)tr->state.step + 1);
  *sig = opt->interrupt ? (int)*opt->interrupt : 0; /* read once */
  NDE_TRY(agree(tr, st, sig));
  return nde_backend_allreduce_sum(tr->backend, tr->p->dtype, tr->grads.size, tr->grads.data);
}

/*
 * The moving average of the data loss that training passes give the layers
 * (nde_layer_ctx.data_loss, for follow_loss coefficients): 0.9 of the old
 * average and 0.1 of this step's loss, the first step's loss as the start.
 */
static void average_data_loss(nde_run_state *state, double data_loss) {
  if (!isfinite(data_loss))
    return;
  double *avg = &state->data_loss_average;
  *avg = *avg > 0 ? 0.9 * *avg + 0.1 * data_loss : data_loss;
}

/*
 * The parameter gradient's L2 norm, and the gradient scaled down to
 * train.clip_grad_norm when it is longer (global-norm clipping: one factor
 * for every parameter, so the direction is kept). Every rank holds the same
 * summed gradient, so every rank scales by the same factor.
 */
static double clip_gradient(trainer *tr) {
  const nde_backend *b = nde_backend_local(tr->backend); /* replicated: no reduction */
  double norm = sqrt(b->ops->dot(b->ctx, tr->p->dtype, tr->grads.size, tr->grads.data,
                                 tr->grads.data));
  double cap = tr->p->clip_grad_norm;
  if (cap > 0 && norm > cap)
    b->ops->scale(b->ctx, tr->p->dtype, tr->grads.size, cap / norm, tr->grads.data);
  return norm;
}

static nde_status run(trainer *tr, nde_pipeline *p, const nde_train_options *opt,
                      nde_train_summary *sum) {
  nde_status st = open_common(tr, p, 1, 0);
  if (tr->backend) /* a rank that could not open its data stops the others */
    st = agree(tr, st, NULL);
  NDE_TRY(st);
  sum->rank = tr->rank;
  sum->ranks = tr->ranks;
  int resume = 0;
  NDE_TRY(agree(tr, setup(tr, p, opt, &resume), NULL));
  int writer = tr->rank == 0;
  tr->start = now();
  double loss = NAN, acc = NAN;
  uint64_t this_run = 0;
  nde_status pending = NDE_OK; /* rank 0's metrics write, agreed at the next collective point */
  while (tr->state.step < p->steps) {
    if (opt->stop_after && this_run == opt->stop_after)
      break;
    NDE_TRY(agree(tr, pending, NULL));
    size_t correct = 0;
    int sig = 0;
    double lr = nde_optimizer_next_lr(tr->optimizer);
    NDE_TRY(step_gradient(tr, opt, &loss, &correct, &sig));
    double grad_norm = clip_gradient(tr);
    NDE_TRY(nde_optimizer_update(tr->optimizer, tr->params.data, tr->grads.data));
    tr->state.step++;
    average_data_loss(&tr->state, tr->data_loss);
    nde_nfe_duals used = tr->state.nfe_duals; /* the multipliers this step's coefficients had */
    nde_nfe_duals_update(&tr->state.nfe_duals, metric_value(&tr->metrics, "nfe_forward"));
    this_run++;
    acc = p->loss == NDE_LOSS_CROSS_ENTROPY ? (double)correct / (double)p->batch_size : NAN;
    if (writer && (tr->state.step % p->log_every == 0 || tr->state.step == p->steps)) {
      json_t *line = json_object();
      json_object_set_new(line, "step", json_integer((json_int_t)tr->state.step));
      put_number(line, "loss", loss);
      put_number(line, "data_loss", tr->data_loss);
      put_number(line, "accuracy", acc);
      put_number(line, "lr", lr);
      put_number(line, "grad_norm", grad_norm);
      for (int i = 0; i < tr->metrics.n; ++i)
        put_number(line, tr->metrics.names[i], tr->metrics.values[i]);
      for (int i = 0; i < used.n; ++i) {
        char key[32] = "nfe_multiplier";
        if (i)
          snprintf(key, sizeof key, "nfe_multiplier_%d", i + 1);
        put_number(line, key, used.multiplier[i]);
      }
      put_number(line, "wall_time", tr->state.wall_time + now() - tr->start);
      pending = write_metrics(tr, line);
    }
    if (opt->progress && writer)
      progress(tr, opt->progress_label, loss);
    int last = tr->state.step == p->steps;
    if ((p->eval_every && tr->state.step % p->eval_every == 0) || last) {
      double tl, ta;
      NDE_TRY(agree(tr, pending, NULL));
      NDE_TRY(evaluate(tr, &tl, &ta));
      if (writer) {
        json_t *line = json_object();
        json_object_set_new(line, "step", json_integer((json_int_t)tr->state.step));
        put_number(line, "test_loss", tl);
        put_number(line, "test_accuracy", ta);
        for (int i = 0; i < tr->eval_metrics.n; ++i) {
          char key[128];
          snprintf(key, sizeof key, "test_%s", tr->eval_metrics.names[i]);
          put_number(line, key, tr->eval_metrics.values[i]);
        }
        put_number(line, "wall_time", tr->state.wall_time + now() - tr->start);
        pending = write_metrics(tr, line);
      }
      sum->test_loss = tl;
      sum->test_accuracy = ta;
      sum->test_nfe = test_nfe(tr);
      sum->test_batch_time = tr->test_batch_time;
    }
    if (last)
      sig = 0;
    if (tr->state.step % p->checkpoint_every == 0 || last || sig) {
      NDE_TRY(agree(tr, pending, NULL));
      NDE_TRY(save(tr));
    }
    if (sig)
      return interrupted(tr, sig, sum);
  }
  NDE_TRY(agree(tr, pending, NULL));
  sum->steps = tr->state.step;
  sum->loss = loss;
  sum->accuracy = acc;
  /* the whole run, as metrics.jsonl counts it (a resumed run includes the time before) */
  sum->wall_time = tr->state.wall_time + now() - tr->start;
  sum->n_params = tr->params.size;
  return NDE_OK;
}

nde_status nde_train(nde_pipeline *pipeline, const nde_train_options *options,
                     nde_train_summary *summary) {
  nde_train_options defaults = {0, 0, 0, NULL, NULL};
  if (!options)
    options = &defaults;
  summary->steps = 0;
  summary->loss = summary->accuracy = summary->test_loss = summary->test_accuracy = NAN;
  summary->test_nfe = summary->test_batch_time = NAN;
  summary->wall_time = 0;
  summary->n_params = 0;
  summary->rank = 0;
  summary->ranks = 1;
  trainer tr;
  nde_status st = run(&tr, pipeline, options, summary);
  trainer_close(&tr);
  return st;
}

nde_status nde_evaluate(nde_pipeline *pipeline, const char *checkpoint,
                        nde_train_summary *summary) {
  trainer tr;
  summary->steps = 0;
  summary->loss = summary->accuracy = summary->test_loss = summary->test_accuracy = NAN;
  summary->test_nfe = summary->test_batch_time = NAN;
  summary->rank = 0;
  summary->ranks = 1;
  double start = now();
  nde_status st = open_common(&tr, pipeline, 0, 0);
  summary->rank = tr.rank;
  summary->ranks = tr.ranks;
  if (st == NDE_OK) {
    nde_run_state s;
    memset(&s, 0, sizeof s);
    st = nde_checkpoint_load(checkpoint, tr.model, tr.params.data, NULL, NULL, &s);
    summary->steps = s.step;
  }
  if (tr.backend)
    st = agree(&tr, st, NULL);
  if (st == NDE_OK)
    st = evaluate(&tr, &summary->test_loss, &summary->test_accuracy);
  if (st == NDE_OK) {
    summary->test_nfe = test_nfe(&tr);
    summary->test_batch_time = tr.test_batch_time;
  }
  summary->wall_time = now() - start;
  summary->n_params = tr.params.size;
  trainer_close(&tr);
  return st;
}

void nde_predictions_clear(nde_predictions *pr) {
  if (!pr)
    return;
  free(pr->inputs);
  free(pr->targets);
  free(pr->outputs);
  memset(pr, 0, sizeof *pr);
}

/* Copy @p n values of @p dtype at backend memory @p src into host doubles. */
static nde_status to_host(trainer *tr, const void *src, size_t n, double *dst) {
  nde_array a = {.dtype = tr->p->dtype, .ndim = 1, .size = n, .data = (void *)src,
                 .backend = tr->backend, .owned = 0};
  a.shape[0] = n;
  return nde_array_to_doubles(&a, dst, n);
}

nde_status nde_predict(nde_pipeline *pipeline, const char *checkpoint, size_t max_samples,
                       nde_predictions *out) {
  memset(out, 0, sizeof *out);
  trainer tr; /* every rank runs the whole model alone (no collectives): rank 0 keeps the files */
  nde_status st = open_common(&tr, pipeline, 0, 1);
  nde_run_state s;
  memset(&s, 0, sizeof s);
  if (st == NDE_OK)
    st = nde_checkpoint_load(checkpoint, tr.model, tr.params.data, NULL, NULL, &s);
  size_t count = tr.test_info.count;
  if (max_samples && count > max_samples)
    count = max_samples;
  if (st == NDE_OK) {
    out->count = count;
    out->input_size = tr.info.input_size;
    out->target_size = tr.info.target_size;
    out->output_size = tr.n_out;
    out->inputs = malloc((count * out->input_size + 1) * sizeof(double));
    out->targets = malloc((count * out->target_size + 1) * sizeof(double));
    out->outputs = malloc((count * out->output_size + 1) * sizeof(double));
    if (!out->inputs || !out->targets || !out->outputs)
      st = nde_error(NDE_ENOMEM, "out of memory");
  }
  size_t eb = pipeline->eval_batch_size;
  uint64_t *idx = st == NDE_OK ? malloc(eb * sizeof *idx) : NULL;
  if (st == NDE_OK && !idx)
    st = nde_error(NDE_ENOMEM, "out of memory");
  tr.state.step = s.step;
  for (size_t start = 0; st == NDE_OK && start < count; start += eb) {
    size_t n = count - start < eb ? count - start : eb;
    for (size_t i = 0; i < n; ++i)
      idx[i] = start + i;
    nde_array x, y;
    st = batch_views(&tr, n, &x, &y);
    if (st == NDE_OK)
      st = nde_dataset_batch(tr.test, idx, n, &x, &y);
    nde_record *rec = NULL;
    if (st == NDE_OK) {
      nde_arena_reset(tr.arena);
      nde_layer_metrics_clear(&tr.metrics);
      nde_layer_ctx ctx = {tr.backend, pipeline->dtype, n, tr.arena, s.step, 0,
                           pipeline->seed, &tr.metrics, 0, 1, 0.0, NULL};
      st = nde_layer_forward(tr.root, &ctx, tr.xb.data, 0.0, tr.params.data, &rec);
    }
    if (st == NDE_OK)
      st = to_host(&tr, tr.xb.data, n * out->input_size, out->inputs + start * out->input_size);
    if (st == NDE_OK)
      st = to_host(&tr, tr.yb.data, n * out->target_size,
                   out->targets + start * out->target_size);
    if (st == NDE_OK)
      st = to_host(&tr, nde_record_output(rec), n * out->output_size,
                   out->outputs + start * out->output_size);
  }
  free(idx);
  trainer_close(&tr);
  if (st != NDE_OK)
    nde_predictions_clear(out);
  return st;
}
