/* replay.c - runs a libFuzzer harness without libFuzzer: every file named on
 * the command line, and every file in every directory named, is passed once
 * to LLVMFuzzerTestOneInput.  Linked with each harness in normal builds, so
 * the committed corpora run as tests (suite fuzz-replay) under the same
 * sanitizers as the unit tests.  Exits 1 if it found no input at all, so an
 * emptied corpus cannot pass silently; a harness that finds a bug aborts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define S_INPUT_MAX (4 * 1024 * 1024)

static int s_run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    uint8_t *buf = malloc(S_INPUT_MAX);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    size_t n = fread(buf, 1, S_INPUT_MAX, f);
    fclose(f);
    /* an exact-size copy, so reads past the end are caught by ASan */
    uint8_t *input = malloc(n > 0 ? n : 1);
    if (input == NULL) {
        free(buf);
        return -1;
    }
    memcpy(input, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(input, n);
    free(input);
    return 0;
}

static int s_select(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    long count = 0;
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (s_run_file(argv[i]) != 0)
                return 1;
            count++;
            continue;
        }
        struct dirent **list = NULL;
        int n = scandir(argv[i], &list, s_select, alphasort);
        if (n < 0) {
            fprintf(stderr, "replay: cannot read directory %s\n", argv[i]);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], list[k]->d_name);
            if (s_run_file(path) != 0)
                return 1;
            count++;
            free(list[k]);
        }
        free(list);
    }
    printf("replayed %ld inputs\n", count);
    return count > 0 ? 0 : 1;
}
