/*
 * replay_main.c — the third engine: a plain main() that runs saved inputs through a target.
 *
 * Linked with any fuzz_<name>.c (and built with ASan+UBSan), it replays every file named on
 * the command line, descending into directories, through LLVMFuzzerTestOneInput exactly
 * once, in a stable (sorted) order. A broken invariant aborts, so the binary's exit status
 * is the test result: this is what `make fuzz-regress` runs over the seed corpora and the
 * saved findings, and what a developer runs on one finding to reproduce it:
 *
 *     build/fuzz/replay/fuzz_walk build/fuzz/findings/walk/crash-...
 *     SPW_FUZZ_VERBOSE=1 build/fuzz/replay/fuzz_walk corpus/walk/<file>
 */
#define _POSIX_C_SOURCE 200809L /* scandir, alphasort */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long n_inputs;

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            fprintf(stderr, "replay: %s: out of memory\n", path);
            return -1;
        }
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) free(buf);
        buf = bigger;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* Give the target exactly len bytes in their own allocation, as libFuzzer does, so
     * ASan catches a read one past the end of the input. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    if (len) memcpy(exact, buf, len);
    free(buf);
    if (getenv("SPW_FUZZ_VERBOSE")) fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    n_inputs++;
    return 0;
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) return run_file(path);

    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        /* Skip ".", ".." and hidden files (editor droppings, .gitkeep). */
        if (name[0] != '.') {
            size_t need = strlen(path) + strlen(name) + 2;
            char *child = malloc(need);
            if (!child) rc = -1;
            else {
                snprintf(child, need, "%s/%s", path, name);
                if (run_path(child) != 0) rc = -1;
                free(child);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE-OR-DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (run_path(argv[i]) != 0) rc = 1;
    printf("%s: %lu inputs replayed%s\n", argv[0], n_inputs, rc ? ", with errors" : "");
    return rc;
}
