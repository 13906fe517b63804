/* fuzz_config.c - libFuzzer harness for the daemon configuration parser.
 *
 * Feeds arbitrary bytes to vj_config_parse() as if they were a configuration
 * file at a fixed absolute path (so that no relative path depends on the
 * current directory) and checks what every caller relies on: either VJ_OK
 * with a complete configuration, or a failure with at least one problem and
 * no configuration.  Nothing is read from or written to the disk.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vj_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig 1.5 leaks a string token when a syntax error follows it
 * (upstream issue #142, fixed after 1.5): a few bytes per failed parse, not
 * ours to fix.  Only memory that libconfig itself allocated is excused; a
 * leak of ours still fails the run. */
const char *__lsan_default_suppressions(void)
{
    return "leak:libconfig.so\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vj_config *cfg = NULL;
    vj_problems problems = {0};

    int rc = vj_config_parse((const char *)data, size, "/fuzz/valijad.conf", &cfg, &problems);
    if (rc == VJ_OK) {
        if (!cfg || problems.n != 0 || !cfg->secret_key_path || cfg->secret_key_path[0] != '/' ||
            !cfg->store_path || !cfg->listen || !cfg->client_path ||
            strlen(cfg->client_path) > VJ_CONFIG_IPC_PATH_MAX || !vj_post_name_is_valid(cfg->post))
            abort();
        for (size_t i = 0; i < cfg->n_peers; i++)
            if (!vj_post_name_is_valid(cfg->peers[i].name) || !cfg->peers[i].endpoint ||
                !cfg->peers[i].card_path || strcmp(cfg->peers[i].name, cfg->post) == 0)
                abort();
    } else if (cfg || (rc == VJ_E_CONFIG && problems.n == 0)) {
        abort();
    }
    vj_config_destroy(&cfg);
    vj_problems_clear(&problems);
    return 0;
}
