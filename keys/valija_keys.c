/* valija_keys.c - valija-keys, the key tool: small verbs over text files
 * and pipes, the way `wg genkey | wg pubkey` works.
 *
 *   valija-keys generate NAME -o SECRETFILE [-f]
 *   valija-keys card SECRETFILE [-o CARDFILE]
 *   valija-keys fingerprint CARDFILE
 *   valija-keys verify CARDFILE
 *
 * Data goes to stdout, one diagnostic line per failure to stderr; secret keys
 * are never printed.  Exit codes follow <sysexits.h>, mapped in s_exit_code():
 * 0 ok, 1 the answer is no (a card does not verify), 64 usage, 65 bad data,
 * 66 no input, 73 cannot create, 74 I/O, 77 unsafe permissions.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "vj_card.h"
#include "vj_fileio.h"
#include "vj_identity.h"

#ifndef VJ_VERSION
#define VJ_VERSION "unknown"
#endif

static const char *s_prog = "valija-keys";

static int s_exit_code(int err)
{
    switch (err) {
    case VJ_OK:
        return EX_OK;
    case VJ_E_AUTH:
        return 1;
    case VJ_E_PARSE:
    case VJ_E_VERSION:
    case VJ_E_TOOBIG:
    case VJ_E_INVAL:
        return EX_DATAERR;
    case VJ_E_NOTFOUND:
        return EX_NOINPUT;
    case VJ_E_EXISTS:
        return EX_CANTCREAT;
    case VJ_E_IO:
        return EX_IOERR;
    case VJ_E_PERM:
        return EX_NOPERM;
    default:
        return EX_SOFTWARE;
    }
}

static void s_fail(const vj_diag *diag, int err)
{
    if (diag != NULL && diag->text[0] != '\0')
        fprintf(stderr, "%s: %s\n", s_prog, diag->text);
    else
        fprintf(stderr, "%s: %s\n", s_prog, vj_strerror(err));
}

/* Reads a card from path ("-" = stdin) and parses it (no verification). */
static int s_read_card(const char *path, vj_card *card, vj_diag *diag)
{
    int ret = VJ_E_IO;
    char *text = NULL;
    size_t len = 0;
    int fd = -1;
    unsigned mode = 0;
    if (strcmp(path, "-") == 0) {
        ret = vj_fileio_read_fd(STDIN_FILENO, VJ_TEXT_FILE_MAX, 0, &text, &len);
        if (ret != VJ_OK) {
            vj_diag_set(diag, "standard input: %s",
                        ret == VJ_E_TOOBIG ? "too large for a card" : strerror(errno));
            goto out;
        }
        ret = vj_card_parse(text, len, card, diag);
        goto out;
    }
    ret = vj_fileio_open_regular(path, 0, &fd, &mode, diag);
    if (ret != VJ_OK)
        goto out;
    ret = vj_fileio_read_fd(fd, VJ_TEXT_FILE_MAX, 0, &text, &len);
    if (ret != VJ_OK) {
        vj_diag_set(diag, "%s: %s", path,
                    ret == VJ_E_TOOBIG ? "too large for a card" : strerror(errno));
        goto out;
    }
    ret = vj_card_parse(text, len, card, diag);
    if (ret != VJ_OK && diag != NULL && strncmp(diag->text, "card:", 5) == 0) {
        char tmp[sizeof diag->text];
        snprintf(tmp, sizeof tmp, "%s", diag->text + 5);
        vj_diag_set(diag, "%s:%s", path, tmp);
    }
out:
    if (fd >= 0)
        close(fd);
    vj_fileio_free(text, len, 0);
    return ret;
}

/* Loads a secret key from path, or from stdin for "-" (no mode check then). */
static int s_read_identity(const char *path, vj_identity **id, vj_diag *diag)
{
    int ret = VJ_E_IO;
    char *text = NULL;
    size_t len = 0;
    if (strcmp(path, "-") != 0)
        return vj_identity_load(path, id, diag);
    ret = vj_fileio_read_fd(STDIN_FILENO, VJ_TEXT_FILE_MAX, 1, &text, &len);
    if (ret != VJ_OK) {
        vj_diag_set(diag, "standard input: %s",
                    ret == VJ_E_TOOBIG ? "too large for a secret key" : strerror(errno));
        goto out;
    }
    ret = vj_identity_parse(text, len, id, diag);
out:
    vj_fileio_free(text, len, 1);
    return ret;
}

/* One getopt_long loop shared by the verbs: -h/--help, and the letters in
 * `accept` ("o" for -o FILE, "f" for -f). */
typedef struct {
    const char *output;
    int force;
} s_opts;

static int s_parse_opts(int argc, char **argv, const char *accept, const char *usage, s_opts *o)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    optind = 0; /* 0: glibc re-initializes getopt fully, permutation included */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "ho:f", longopts, NULL)) != -1) {
        if (c == 'h') {
            printf("%s", usage);
            return 0;
        }
        if (c == '?' || c == ':' || strchr(accept, c) == NULL) {
            fprintf(stderr, "%s %s: unknown or incomplete option %s\n%s", s_prog, argv[0],
                    argv[optind - 1], usage);
            return EX_USAGE;
        }
        if (c == 'o')
            o->output = optarg;
        if (c == 'f')
            o->force = 1;
    }
    return -1;
}

static int s_cmd_generate(int argc, char **argv)
{
    static const char usage[] =
        "usage: valija-keys generate NAME -o SECRETFILE [-f]\n"
        "  Makes a new post identity and writes its secret key file (mode 0600).\n"
        "  -o, --output FILE  where to write the secret key (required)\n"
        "  -f, --force        replace an existing file\n"
        "  The fingerprint of the new card is printed on standard error.\n";
    s_opts o;
    vj_identity *id = NULL;
    vj_diag diag = {""};
    vj_card card;
    char fp[VJ_FINGERPRINT_STRLEN];
    int r = s_parse_opts(argc, argv, "of", usage, &o);
    if (r >= 0)
        return r;
    if (argc - optind != 1 || o.output == NULL) {
        fprintf(stderr, "%s generate: need a post NAME and -o SECRETFILE\n%s", s_prog, usage);
        return EX_USAGE;
    }
    const char *name = argv[optind];
    if (!vj_post_name_is_valid(name)) {
        fprintf(stderr,
                "%s generate: invalid post name; use 1-%d of a-z, 0-9 and '-', not starting or "
                "ending with '-' (e.g. mx-washington)\n",
                s_prog, VJ_POST_NAME_MAX);
        return EX_USAGE;
    }
    if (strcmp(o.output, "-") == 0) {
        fprintf(stderr, "%s generate: secret keys are written to files only; give -o FILE\n",
                s_prog);
        return EX_USAGE;
    }
    int err = vj_identity_generate(name, &id);
    if (err == VJ_OK)
        err = vj_identity_save(id, o.output, o.force, &diag);
    if (err == VJ_OK)
        err = vj_card_from_identity(id, &card);
    if (err != VJ_OK) {
        s_fail(&diag, err);
        if (err == VJ_E_EXISTS)
            fprintf(stderr, "%s: use -f to replace it (the old key is lost)\n", s_prog);
        vj_identity_destroy(&id);
        return err == VJ_E_IO ? EX_CANTCREAT : s_exit_code(err);
    }
    vj_card_fingerprint(&card, fp);
    fprintf(stderr, "%s: wrote %s; fingerprint of %s: %s\n", s_prog, o.output, name, fp);
    vj_identity_destroy(&id);
    return EX_OK;
}

static int s_cmd_card(int argc, char **argv)
{
    static const char usage[] =
        "usage: valija-keys card SECRETFILE [-o CARDFILE [-f]]\n"
        "  Prints the signed public card of a secret key (\"-\" reads standard input).\n"
        "  -o, --output FILE  write the card to FILE instead of standard output\n"
        "  -f, --force        replace an existing FILE (never the secret key itself)\n";
    s_opts o;
    vj_identity *id = NULL;
    vj_diag diag = {""};
    vj_card card;
    char *text = NULL;
    int rc = EX_SOFTWARE;
    int r = s_parse_opts(argc, argv, "of", usage, &o);
    if (r >= 0)
        return r;
    if (argc - optind != 1) {
        fprintf(stderr, "%s card: need one SECRETFILE\n%s", s_prog, usage);
        return EX_USAGE;
    }
    int err = s_read_identity(argv[optind], &id, &diag);
    if (err == VJ_OK)
        err = vj_card_from_identity(id, &card);
    if (err == VJ_OK)
        err = vj_card_format(&card, &text);
    if (err != VJ_OK) {
        s_fail(&diag, err);
        rc = s_exit_code(err);
        goto out;
    }
    if (o.output == NULL || strcmp(o.output, "-") == 0) {
        if (fputs(text, stdout) == EOF || fflush(stdout) != 0) {
            fprintf(stderr, "%s card: cannot write standard output: %s\n", s_prog, strerror(errno));
            rc = EX_IOERR;
            goto out;
        }
        rc = EX_OK;
        goto out;
    }
    /* Never write over the secret key (card k.key -o k.key), and over any
     * other file only when asked (-f). */
    struct stat in_sb, out_sb;
    if (strcmp(argv[optind], "-") != 0 && stat(argv[optind], &in_sb) == 0 &&
        stat(o.output, &out_sb) == 0 && in_sb.st_dev == out_sb.st_dev &&
        in_sb.st_ino == out_sb.st_ino) {
        fprintf(stderr, "%s card: %s is the secret key itself; write the card elsewhere\n", s_prog,
                o.output);
        rc = EX_USAGE;
        goto out;
    }
    int fd = open(o.output,
                  O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (o.force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            fprintf(stderr, "%s card: %s exists; use -f to replace it\n", s_prog, o.output);
        else
            fprintf(stderr, "%s card: cannot create %s: %s\n", s_prog, o.output, strerror(errno));
        rc = EX_CANTCREAT;
        goto out;
    }
    if (vj_fileio_write_all(fd, text, strlen(text)) != VJ_OK) {
        fprintf(stderr, "%s card: cannot write %s: %s\n", s_prog, o.output, strerror(errno));
        close(fd);
        rc = EX_IOERR;
        goto out;
    }
    if (close(fd) != 0) {
        fprintf(stderr, "%s card: cannot write %s: %s\n", s_prog, o.output, strerror(errno));
        rc = EX_IOERR;
        goto out;
    }
    rc = EX_OK;
out:
    free(text);
    vj_identity_destroy(&id);
    return rc;
}

static int s_cmd_fingerprint(int argc, char **argv)
{
    static const char usage[] =
        "usage: valija-keys fingerprint CARDFILE\n"
        "  Prints the fingerprint of a card (\"-\" reads standard input), to compare out of\n"
        "  band with the post that sent it.  The card's signature must verify.\n";
    s_opts o;
    vj_diag diag = {""};
    vj_card card;
    char fp[VJ_FINGERPRINT_STRLEN];
    int r = s_parse_opts(argc, argv, "", usage, &o);
    if (r >= 0)
        return r;
    if (argc - optind != 1) {
        fprintf(stderr, "%s fingerprint: need one CARDFILE\n%s", s_prog, usage);
        return EX_USAGE;
    }
    int err = s_read_card(argv[optind], &card, &diag);
    if (err != VJ_OK) {
        s_fail(&diag, err);
        return s_exit_code(err);
    }
    if (vj_card_verify(&card) != VJ_OK) {
        fprintf(stderr, "%s: FAILED: the card of %s does not verify; do not use it\n", s_prog,
                card.post);
        return 1;
    }
    vj_card_fingerprint(&card, fp);
    printf("%s\n", fp);
    return EX_OK;
}

static int s_cmd_verify(int argc, char **argv)
{
    static const char usage[] =
        "usage: valija-keys verify CARDFILE\n"
        "  Checks a card's self-signature (\"-\" reads standard input).  Prints\n"
        "  \"OK: card of POST, fingerprint ...\" and exits 0, or \"FAILED: ...\" and exits 1.\n";
    s_opts o;
    vj_diag diag = {""};
    vj_card card;
    char fp[VJ_FINGERPRINT_STRLEN];
    int r = s_parse_opts(argc, argv, "", usage, &o);
    if (r >= 0)
        return r;
    if (argc - optind != 1) {
        fprintf(stderr, "%s verify: need one CARDFILE\n%s", s_prog, usage);
        return EX_USAGE;
    }
    int err = s_read_card(argv[optind], &card, &diag);
    if (err != VJ_OK) {
        printf("FAILED: %s\n", diag.text[0] != '\0' ? diag.text : vj_strerror(err));
        s_fail(&diag, err);
        return s_exit_code(err);
    }
    if (vj_card_verify(&card) != VJ_OK) {
        printf("FAILED: the signature on the card of %s does not verify\n", card.post);
        return 1;
    }
    vj_card_fingerprint(&card, fp);
    printf("OK: card of %s, fingerprint %s\n", card.post, fp);
    return EX_OK;
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} s_verbs[] = {
    {"generate", s_cmd_generate, "make a new post identity and its secret key file"},
    {"card", s_cmd_card, "print the signed public card of a secret key"},
    {"fingerprint", s_cmd_fingerprint, "print the fingerprint of a card"},
    {"verify", s_cmd_verify, "check the signature of a card"},
};

static void s_usage(FILE *f)
{
    fprintf(f, "usage: %s VERB [ARGS...]\n\nverbs:\n", s_prog);
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++)
        fprintf(f, "  %-12s %s\n", s_verbs[i].name, s_verbs[i].summary);
    fprintf(f,
            "\n\"%s VERB --help\" describes a verb; \"-\" names standard input.\n"
            "Example: %s generate mx-washington -o mx-washington.key && "
            "%s card mx-washington.key | %s verify -\n",
            s_prog, s_prog, s_prog, s_prog);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return EX_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        s_usage(stdout);
        return EX_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("%s %s\n", s_prog, VJ_VERSION);
        return EX_OK;
    }
    if (vj_keys_init() != VJ_OK) {
        fprintf(stderr, "%s: libsodium failed to initialise\n", s_prog);
        return EX_SOFTWARE;
    }
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++)
        if (strcmp(argv[1], s_verbs[i].name) == 0)
            return s_verbs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown verb \"%s\"; see %s --help\n", s_prog, argv[1], s_prog);
    return EX_USAGE;
}
