/*
 * Fuzz harnesses: one file per input format, each defining the libFuzzer
 * entry point LLVMFuzzerTestOneInput(). The same harness links into two
 * programs: fuzz-NAME (clang, -fsanitize=fuzzer,address,undefined; built by
 * `make fuzz` in a separate instrumented build) and replay-NAME (any
 * compiler; replay.c's main() feeds it the seed corpus, the crashers kept as
 * regression inputs and a fixed number of seeded mutations; run by
 * `make check`). See docs/fuzzing.md.
 *
 * A harness returns 0 for every input the code under test handles as it
 * should: accepted, or refused with a status and a message. It calls
 * nde_fuzz_fail() (which aborts, so both drivers report the input) when a
 * refusal comes without a message or an accepted input breaks an
 * invariant; memory errors are the sanitizers' to find.
 */
#ifndef NDE_TESTS_FUZZ_H
#define NDE_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <nde/nde.h>
#include <nde/dataset.h>
#include <nde/layer.h>
#include <nde/optimizer.h>
#include <nde/train.h>

#if defined(__GNUC__)
#define NDE_FUZZ_NORETURN __attribute__((noreturn, format(printf, 1, 2)))
#else
#define NDE_FUZZ_NORETURN
#endif

/* The entry point every harness defines (libFuzzer's name and signature). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Print "fuzz invariant broken: ..." and abort. */
void nde_fuzz_fail(const char *fmt, ...) NDE_FUZZ_NORETURN;

/*
 * A private scratch folder for this process (created on first use under
 * $TMPDIR, removed with its files at exit).
 */
const char *nde_fuzz_dir(void);

/*
 * Write @p size bytes to NAME in the scratch folder (replacing it); returns
 * the file's path in a static buffer of the caller's slot @p slot (0..3), so
 * a harness can hold up to four paths at once.
 */
const char *nde_fuzz_write(int slot, const char *name, const void *data, size_t size);

/* Like nde_fuzz_write(), gzip-compressing the bytes on the way. */
const char *nde_fuzz_write_gz(int slot, const char *name, const void *data, size_t size);

/*
 * The plugin registry of the build tree: the folders in NDE_PLUGIN_PATH
 * (set by `make check` and `make fuzz`), scanned once and kept.
 */
nde_registry *nde_fuzz_registry(void);

/* The CPU backend, opened once and kept. */
nde_backend *nde_fuzz_backend(void);

/*
 * A refusal must carry a message: abort if nde_last_error() is empty. With
 * NDE_FUZZ_VERBOSE set, print every outcome on stderr (to see what a corpus
 * exercises).
 */
void nde_fuzz_expect_message(nde_status status, const char *what);

/* Send stdout to /dev/null (for harnesses that drive printing code). */
void nde_fuzz_quiet_stdout(void);

#endif /* NDE_TESTS_FUZZ_H */
