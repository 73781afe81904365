/*
 * im2col / col2im (nde/conv.h) from the backend's fill, axpy and
 * copy_matrix. For each tap the output positions that read inside the image
 * form a rectangle; it is moved with copy_matrix calls whose rows and
 * columns are chosen to need the fewest calls: whole image rows of all N
 * images at once (stride 1), whole images (stride 1, few images), or single
 * positions of all images (any stride). col2im scatters one tap at a time
 * into a zeroed scratch image and adds it, or scatters straight into dx when
 * no two taps of one axis reach the same input element.
 */
#include "config.h"

#include <nde/conv.h>

#include <nde/array.h>
#include <nde/layer.h>

nde_status nde_conv_geom_make(size_t width, size_t height, size_t kernel, size_t stride,
                              size_t padding, size_t dilation, nde_conv_geom *g) {
  if (width == 0 || height == 0)
    return nde_error(NDE_EINVAL, "input images of %zux%zu: extents must be >= 1", width, height);
  if (kernel == 0)
    return nde_error(NDE_EINVAL, "kernel: must be >= 1");
  if (stride == 0)
    return nde_error(NDE_EINVAL, "stride: must be >= 1");
  if (dilation == 0)
    return nde_error(NDE_EINVAL, "dilation: must be >= 1");
  size_t extent = dilation * (kernel - 1) + 1;
  if (extent > width + 2 * padding || extent > height + 2 * padding)
    return nde_error(NDE_EINVAL,
                     "kernel %zu (dilated extent %zu) is larger than the padded input %zux%zu "
                     "(input %zux%zu, padding %zu)",
                     kernel, extent, width + 2 * padding, height + 2 * padding, width, height,
                     padding);
  *g = (nde_conv_geom){width,    height,   kernel,   kernel,  stride,
                       stride,   padding,  padding,  dilation, dilation,
                       (width + 2 * padding - extent) / stride + 1,
                       (height + 2 * padding - extent) / stride + 1};
  return NDE_OK;
}

nde_status nde_conv_image_channels(const nde_shape *input, size_t *channels) {
  if (input->ndim != 2 && input->ndim != 3)
    return nde_error(NDE_EINVAL,
                     "needs images (width, height, channels) as input, got %d dimension%s; put "
                     "{\"layer\": \"reshape\", \"shape\": [W, H, C]} before it",
                     input->ndim, input->ndim == 1 ? "" : "s");
  *channels = input->ndim == 3 ? input->dims[2] : 1;
  if (*channels == 0)
    return nde_error(NDE_EINVAL, "input has 0 channels (shape %zux%zux0)", input->dims[0],
                     input->dims[1]);
  return NDE_OK;
}

size_t nde_conv_positions(const nde_conv_geom *g) { return g->out_w * g->out_h; }

size_t nde_conv_taps(const nde_conv_geom *g) { return g->kw * g->kh; }

/* Output indices [*lo, *hi) whose input index o·s + off lies in [0, n). */
static void valid_range(size_t n, size_t out, size_t s, long long off, size_t *lo, size_t *hi) {
  long long first = off >= 0 ? 0 : (-off + (long long)s - 1) / (long long)s;
  long long last = ((long long)n - 1 - off); /* o·s <= last */
  long long end = last < 0 ? 0 : last / (long long)s + 1;
  if (end > (long long)out)
    end = (long long)out;
  *lo = (size_t)first;
  *hi = end > first ? (size_t)end : (size_t)first;
}

/* Move one tap's rectangle between the images and the patch matrix (to_col: x -> col). */
static void move_tap(nde_backend *be, nde_dtype dt, const nde_conv_geom *g, size_t N, char *x,
                     char *col, size_t ld_tap, size_t ld_image, size_t kx, size_t ky, int to_col) {
  size_t es = nde_dtype_size(dt), W = g->width, WH = g->width * g->height, OW = g->out_w;
  long long offx = (long long)(kx * g->dw) - (long long)g->pw;
  long long offy = (long long)(ky * g->dh) - (long long)g->ph;
  size_t ow0, ow1, oh0, oh1;
  valid_range(g->width, g->out_w, g->sw, offx, &ow0, &ow1);
  valid_range(g->height, g->out_h, g->sh, offy, &oh0, &oh1);
  size_t nw = ow1 - ow0, nh = oh1 - oh0;
  if (nw == 0 || nh == 0)
    return;
  char *ctap = col + ld_tap * (kx + g->kw * ky) * es;
#define XAT(ow, oh) \
  (x + ((size_t)((long long)((ow) * g->sw) + offx) + W * (size_t)((long long)((oh) * g->sh) + offy)) * es)
#define CAT(ow, oh) (ctap + ((ow) + OW * (oh)) * es)
#define MOVE(rows, cols, xp, xld, cp, cld)                                              \
  do {                                                                                  \
    if (to_col)                                                                         \
      be->ops->copy_matrix(be->ctx, dt, rows, cols, xp, xld, cp, cld);                  \
    else                                                                                \
      be->ops->copy_matrix(be->ctx, dt, rows, cols, cp, cld, xp, xld);                  \
  } while (0)
  /* calls each strategy needs; stride-1 rows are contiguous in the image */
  size_t by_row = g->sw == 1 ? nh : (size_t)-1, by_image = g->sw == 1 ? N : (size_t)-1;
  size_t by_position = nw * nh, by_column = N * nw;
  size_t best = by_row;
  if (by_image < best)
    best = by_image;
  if (by_position < best)
    best = by_position;
  if (by_column < best)
    best = by_column;
  if (best == by_row) {
    for (size_t oh = oh0; oh < oh1; ++oh)
      MOVE(nw, N, XAT(ow0, oh), WH, CAT(ow0, oh), ld_image);
  } else if (best == by_image) {
    for (size_t n = 0; n < N; ++n)
      MOVE(nw, nh, XAT(ow0, oh0) + n * WH * es, W * g->sh, CAT(ow0, oh0) + n * ld_image * es, OW);
  } else if (best == by_position) {
    for (size_t oh = oh0; oh < oh1; ++oh)
      for (size_t ow = ow0; ow < ow1; ++ow)
        MOVE(1, N, XAT(ow, oh), WH, CAT(ow, oh), ld_image);
  } else {
    for (size_t n = 0; n < N; ++n)
      for (size_t ow = ow0; ow < ow1; ++ow)
        MOVE(1, nh, XAT(ow, oh0) + n * WH * es, W * g->sh, CAT(ow, oh0) + n * ld_image * es, OW);
  }
#undef MOVE
#undef CAT
#undef XAT
}

static nde_status need_copy_matrix(const nde_backend *be) {
  if (!NDE_VTABLE_HAS(be->ops, nde_backend_ops, copy_matrix) || !be->ops->copy_matrix)
    return nde_error(NDE_EUNSUPPORTED,
                     "backend '%s' has no copy_matrix operation (needed for image patches)",
                     be->ops->header.name);
  return NDE_OK;
}

nde_status nde_im2col(nde_backend *be, nde_dtype dt, const nde_conv_geom *g, size_t images,
                      const void *x, double pad, size_t ld_tap, size_t ld_image, void *col) {
  NDE_TRY(need_copy_matrix(be));
  size_t P = nde_conv_positions(g), K = nde_conv_taps(g);
  /* every element is written by a tap below unless it falls into the padding */
  int covered = g->pw == 0 && g->ph == 0;
  if (!covered)
    be->ops->fill(be->ctx, dt, P * K * images, pad, col);
  for (size_t ky = 0; ky < g->kh; ++ky)
    for (size_t kx = 0; kx < g->kw; ++kx)
      move_tap(be, dt, g, images, (char *)x, col, ld_tap, ld_image, kx, ky, 1);
  return NDE_OK;
}

nde_status nde_col2im(nde_backend *be, nde_dtype dt, const nde_conv_geom *g, size_t images,
                      const void *col, size_t ld_tap, size_t ld_image, void *dx, void *tmp) {
  NDE_TRY(need_copy_matrix(be));
  size_t n = g->width * g->height * images;
  be->ops->fill(be->ctx, dt, n, 0.0, dx);
  /* taps of one axis never share an input element when the dilated kernel fits in a stride */
  int disjoint = (g->kw - 1) * g->dw < g->sw && (g->kh - 1) * g->dh < g->sh;
  for (size_t ky = 0; ky < g->kh; ++ky)
    for (size_t kx = 0; kx < g->kw; ++kx) {
      if (disjoint) {
        move_tap(be, dt, g, images, dx, (char *)col, ld_tap, ld_image, kx, ky, 0);
        continue;
      }
      be->ops->fill(be->ctx, dt, n, 0.0, tmp);
      move_tap(be, dt, g, images, tmp, (char *)col, ld_tap, ld_image, kx, ky, 0);
      be->ops->axpy(be->ctx, dt, n, 1.0, tmp, dx);
    }
  return NDE_OK;
}
