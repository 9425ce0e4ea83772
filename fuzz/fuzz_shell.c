/* fuzz_shell.c — the guard's shell parser (guard/shell.h) and guard_check on run_command over
 * arbitrary bytes. Invariants: parsing never crashes or reads outside the input, limits hold
 * (commands, depth), every command and word is well formed; guard_check never fails and answers
 * a decision in range; a complete command before the text never lowers the decision
 * ("echo hi\n" + TEXT is at least as severe as TEXT); a parse error is never allow. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/shell.h"

static guard *G;

static guard *the_guard(void) {
    if (G) return G;
    char dir[] = "/tmp/hearth-fuzz-shell-XXXXXX";
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

static guard_decision check(const char *text, size_t len) {
    json_t *args = json_object();
    json_object_set_new(args, "command", json_stringn(text, len));
    guard_verdict v;
    he_error err = {0};
    if (guard_check(the_guard(), "run_command", args, &v, &err) != 0) abort();
    guard_decision d = v.decision;
    if (d != GUARD_ALLOW && d != GUARD_ASK && d != GUARD_DENY) abort();
    if (!v.rule[0] || !v.category[0]) abort();
    json_t *j = guard_verdict_json(&v);
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s) abort();
    free(s);
    json_decref(j);
    guard_verdict_free(&v);
    json_decref(args);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    /* the parser on the exact bytes (no terminator past the end) */
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    sh_script s = {0};
    int r = sh_parse(&s, buf, size, 0, "/home/fuzz");
    if (r < 0 && !s.error) abort();
    if (s.n > SH_MAX_CMDS) abort();
    for (int i = 0; i < s.n; i++) {
        if (s.c[i].depth > SH_MAX_DEPTH || s.c[i].nw > SH_MAX_WORDS) abort();
        for (int k = 0; k < s.c[i].nw; k++)
            if (!s.c[i].w[k].s) abort();
        if (s.c[i].pipe_prev >= s.n) abort();
    }
    int parse_error = s.error;
    sh_script_free(&s);
    free(buf);
    /* the guard: text without NUL (JSON strings may hold NUL; the parser refuses it) */
    if (memchr(data, 0, size)) return 0;
    guard_decision d = check((const char *)data, size);
    if (parse_error && d == GUARD_ALLOW) abort();
    char *pre = malloc(size + 9);
    if (!pre) return 0;
    memcpy(pre, "echo hi\n", 8);
    memcpy(pre + 8, data, size);
    guard_decision d2 = check(pre, size + 8);
    free(pre);
    if (d2 < d) abort();
    return 0;
}
