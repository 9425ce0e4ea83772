/* cmd_guard.c — `hearth guard check [--workspace DIR] [--policy FILE]`: the guard as a service
 * for any agent. Reads JSON lines {"tool": NAME, "arguments": {...}} on stdin (arguments may be
 * a JSON string holding the object, as OpenAI tool calls carry it) and prints one JSON line per
 * action: {"decision", "rule", "category", "reason", "parsed"}. A line that is not such an
 * action gets {"decision": "ask", "rule": "bad-request", "error": ...}: never allow, never a
 * crash. Lines longer than GUARD_CLI_MAX_LINE bytes are read to their end and answered the same
 * way. `hearth guard policy` prints the built-in policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "guard/guard.h"

#define GUARD_CLI_MAX_LINE (1 << 20)

static void usage(FILE *out) {
    fprintf(out,
            "usage: hearth guard check [--workspace DIR] [--policy FILE]   (JSON lines on stdin)\n"
            "       hearth guard policy                                  (print the built-in "
            "policy)\n");
}

static void print_json(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    fflush(stdout);
}

static void bad_line(const char *why) {
    json_t *o = json_object();
    json_object_set_new(o, "decision", json_string("ask"));
    json_object_set_new(o, "rule", json_string("bad-request"));
    json_object_set_new(o, "category", json_string("unparsed"));
    json_object_set_new(o, "reason", json_string("the line is not an action the guard can read"));
    json_object_set_new(o, "error", json_string(why));
    print_json(o);
    json_decref(o);
}

static void check_line(guard *g, const char *line, size_t len) {
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        char why[256];
        snprintf(why, sizeof why, "invalid JSON at column %d: %s", jerr.column, jerr.text);
        bad_line(why);
        return;
    }
    json_t *tool = json_object_get(req, "tool");
    if (!tool) tool = json_object_get(req, "name");
    json_t *args = json_object_get(req, "arguments");
    if (!json_is_object(req) || !json_is_string(tool)) {
        bad_line("expected {\"tool\": NAME, \"arguments\": {...}}");
        json_decref(req);
        return;
    }
    if (args && !json_is_object(args) && !json_is_string(args)) {
        bad_line("\"arguments\" must be an object or a JSON string holding one");
        json_decref(req);
        return;
    }
    guard_verdict v;
    he_error err = {0};
    if (guard_check(g, json_string_value(tool), args, &v, &err) < 0) {
        bad_line(err.msg[0] ? err.msg : "out of memory");
        json_decref(req);
        return;
    }
    json_t *o = guard_verdict_json(&v);
    print_json(o);
    json_decref(o);
    guard_verdict_free(&v);
    json_decref(req);
}

int cmd_guard(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "policy")) {
        fputs(guard_default_policy_text(), stdout);
        return 0;
    }
    if (strcmp(argv[1], "check") != 0) {
        usage(stderr);
        return 2;
    }
    const char *ws = ".", *policy = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--workspace") && i + 1 < argc)
            ws = argv[++i];
        else if (!strcmp(argv[i], "--policy") && i + 1 < argc)
            policy = argv[++i];
        else {
            usage(stderr);
            return 2;
        }
    }
    he_error err = {0};
    guard *g = guard_new(ws, policy, &err);
    if (!g) {
        fprintf(stderr, "hearth guard: %s\n", err.msg);
        return 1;
    }
    size_t cap = 4096, n = 0;
    char *line = xmalloc(cap);
    int too_long = 0, c;
    for (;;) {
        c = getchar();
        if (c == EOF || c == '\n') {
            if (too_long)
                bad_line("line too long");
            else if (n > 0) {
                size_t k = n;
                while (k > 0 && (line[k - 1] == '\r' || line[k - 1] == ' ' || line[k - 1] == '\t'))
                    k--;
                if (k > 0) check_line(g, line, k);
            }
            n = 0;
            too_long = 0;
            if (c == EOF) break;
            continue;
        }
        if (too_long) continue;
        if (n + 1 >= GUARD_CLI_MAX_LINE) {
            too_long = 1;
            continue;
        }
        if (n + 1 >= cap) {
            cap *= 2;
            line = xrealloc(line, cap);
        }
        line[n++] = (char)c;
    }
    free(line);
    guard_free(g);
    return 0;
}
