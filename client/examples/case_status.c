/* case_status.c - a script author's program against libvalija: records a
 * status change of a case and prints the case's status and where it is held.
 * Build it against an installed libvalija with
 *     cc case_status.c $(pkg-config --cflags --libs valija)
 * usage: case_status CASE STATUS        (the daemon: $VALIJA_SOCKET)
 */
#include <stdio.h>
#include <valija.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: case_status CASE STATUS\n");
        return 64;
    }
    valija *conn = NULL;
    valija_case_result *res = NULL;
    int code = 69;
    if (valija_open(NULL, &conn) != VALIJA_OK) {
        fprintf(stderr, "case_status: cannot prepare a connection\n");
        return 69;
    }
    valija_update u = {.case_id = argv[1], .kind = VALIJA_KIND_STATUS, .status = argv[2]};
    uint8_t id[1][VALIJA_MSGID_LEN];
    valija_err err = valija_submit(conn, &u, 1, id, NULL);
    if (err == VALIJA_OK)
        err = valija_case(conn, argv[1], false, &res);
    if (err != VALIJA_OK) {
        fprintf(stderr, "case_status: %s\n", valija_last_error(conn));
        code = err == VALIJA_NOT_FOUND ? 1 : err == VALIJA_UNREACHABLE ? 69 : 65;
        goto out;
    }
    char hex[VALIJA_MSGID_HEX_LEN + 1];
    valija_msgid_to_hex(id[0], hex);
    printf("%s %s %s %s\n", hex, res->state.case_id, res->state.status,
           res->state.facility != NULL ? res->state.facility : "");
    code = 0;
out:
    valija_case_free(&res);
    valija_close(&conn);
    return code;
}
