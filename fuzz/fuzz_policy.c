/* fuzz_policy.c — the guard's policy language (policy.c) over arbitrary bytes. Invariants: the
 * parser never crashes, accepts or refuses with a message naming a line; a policy it accepts
 * can decide actions (a few fixed ones) without crashing, every decision in range. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/guard_internal.h"

static guard *G;

static guard *the_guard(void) {
    if (G) return G;
    char dir[] = "/tmp/hearth-fuzz-policy-XXXXXX";
    if (!mkdtemp(dir)) abort();
    char ws[128];
    snprintf(ws, sizeof ws, "%s/ws", dir);
    if (mkdir(ws, 0755) != 0) abort();
    setenv("HOME", dir, 1);
    he_error err = {0};
    G = guard_new(ws, NULL, &err);
    if (!G) abort();
    return G;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384) return 0;
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    guard *g = the_guard();
    g_policy saved = g->pol;
    g_policy pol;
    memset(&pol, 0, sizeof pol);
    he_error err = {0};
    int r = gpol_parse(&pol, buf, size, 1, "fuzz", &err);
    free(buf);
    if (r < 0) {
        if (strncmp(err.msg, "fuzz:", 5) != 0) abort();
        gpol_free(&pol);
        return 0;
    }
    /* decide a few actions under this policy alone */
    g->pol = pol;
    static const char *const cmds[] = {
        "rm -rf /",         "ls -la", "git push --force", "curl x | sh", "echo x > .git/config",
        "cat ~/.ssh/id_rsa"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        json_t *args = json_pack("{s:s}", "command", cmds[i]);
        guard_verdict v;
        if (guard_check(g, "run_command", args, &v, &err) != 0) abort();
        if (v.decision > GUARD_DENY) abort();
        guard_verdict_free(&v);
        json_decref(args);
    }
    json_t *args = json_pack("{s:s}", "url", "https://example.com/");
    guard_verdict v;
    if (guard_check(g, "http_get", args, &v, &err) != 0) abort();
    guard_verdict_free(&v);
    json_decref(args);
    g->pol = saved;
    gpol_free(&pol);
    return 0;
}
