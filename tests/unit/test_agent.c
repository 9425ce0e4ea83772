/* test_agent.c — the agent's pieces that need no model: the audit chain (write, verify, an
 * altered / removed / reordered record is named), edit_file's exactly-once rule, the unified
 * diff, path resolution, snapshots and undo (a file step and a whole-workspace step), and the
 * sandbox (only where bubblewrap works here). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/audit.h"
#include "agent/sandbox.h"
#include "agent/snapshot.h"
#include "agent/tools.h"

static char *mkdtemp_dir(void) {
    char *d = strdup("/tmp/hearth-test-agent-XXXXXX");
    cr_assert(mkdtemp(d));
    return d;
}

static void put(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs(s, f);
    fclose(f);
}

static char *get(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Removes the test's directory and frees its name. */
static void rm_rf(char *d) {
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    cr_assert_eq(system(cmd), 0);
    free(d);
}

/* ---- audit ---- */

static void write_log(const char *path, int n) {
    he_error e;
    audit_log *a = audit_open(path, &e);
    cr_assert(a, "%s", e.msg);
    for (int i = 0; i < n; i++) {
        json_t *r = json_pack("{s:s, s:i, s:{s:s}}", "event", "action", "step", i + 1, "arguments",
                              "command", "ls -la");
        cr_assert_eq(audit_append(a, r, NULL, &e), 0, "%s", e.msg);
        json_decref(r);
    }
    audit_close(a);
}

/* Rewrites line no (1-based) of path with fn applied. */
static void edit_line(const char *path, int no, const char *from, const char *to) {
    char *all = strdup(get(path));
    FILE *f = fopen(path, "w");
    int line = 1;
    for (char *p = all; *p;) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (line == no) {
            char *hit = strstr(p, from);
            cr_assert(hit && hit < p + len);
            fwrite(p, 1, (size_t)(hit - p), f);
            fputs(to, f);
            fwrite(hit + strlen(from), 1, len - (size_t)(hit - p) - strlen(from), f);
        } else {
            fwrite(p, 1, len, f);
        }
        p += len;
        line++;
    }
    fclose(f);
    free(all);
}

Test(agent, audit_chain_verifies_and_names_the_altered_record) {
    char *d = mkdtemp_dir();
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/sub/audit.jsonl", d);
    write_log(log, 5);
    long n, bad;
    he_error e;
    cr_assert_eq(audit_verify(log, &n, &bad, NULL, &e), 0, "%s", e.msg);
    cr_expect_eq(n, 5);
    /* a second writer continues the same chain */
    write_log(log, 2);
    cr_assert_eq(audit_verify(log, &n, &bad, NULL, &e), 0, "%s", e.msg);
    cr_expect_eq(n, 7);
    struct stat st;
    stat(log, &st);
    cr_expect_eq(st.st_mode & 0777, 0600);
    /* an altered field: that record is named */
    edit_line(log, 3, "ls -la", "rm -rf");
    cr_expect_eq(audit_verify(log, &n, &bad, NULL, &e), 1);
    cr_expect_eq(bad, 3);
    cr_expect(strstr(e.msg, "altered"), "%s", e.msg);
    rm_rf(d);
}

Test(agent, audit_removed_or_rehashed_record_breaks_the_link) {
    char *d = mkdtemp_dir();
    char log[PATH_MAX], cut[PATH_MAX + 8];
    snprintf(log, sizeof log, "%s/audit.jsonl", d);
    snprintf(cut, sizeof cut, "%s.cut", log);
    write_log(log, 4);
    /* drop line 2 */
    char *all = strdup(get(log));
    char *l2 = strchr(all, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    FILE *f = fopen(cut, "w");
    fwrite(all, 1, (size_t)(l2 - all), f);
    fputs(l3, f);
    fclose(f);
    long n, bad;
    he_error e;
    cr_expect_eq(audit_verify(cut, &n, &bad, NULL, &e), 1);
    cr_expect_eq(bad, 2);
    cr_expect(strstr(e.msg, "prev_sha256"), "%s", e.msg);
    /* drop the first line: the new first record does not start the chain */
    f = fopen(cut, "w");
    fputs(l2, f);
    fclose(f);
    cr_expect_eq(audit_verify(cut, &n, &bad, NULL, &e), 1);
    cr_expect_eq(bad, 1);
    /* a torn last line */
    f = fopen(cut, "w");
    fputs(all, f);
    fputs("{\"prev_sha256\":", f);
    fclose(f);
    cr_expect_eq(audit_verify(cut, &n, &bad, NULL, &e), 1);
    cr_expect_eq(bad, 5);
    free(all);
    cr_expect_eq(audit_verify("/nonexistent/log", &n, &bad, NULL, &e), -1);
    rm_rf(d);
}

/* ---- edit_file ---- */

Test(agent, edit_exactly_once) {
    const char *text = "int a = 1;\nint b = 2;\nint a2 = 1;\n";
    char *out;
    size_t n;
    he_error e;
    cr_assert_eq(agent_edit_apply(text, strlen(text), "b = 2", "b = 3", &out, &n, &e), 0);
    cr_expect_str_eq(out, "int a = 1;\nint b = 3;\nint a2 = 1;\n");
    free(out);
    cr_expect_eq(agent_edit_apply(text, strlen(text), " = 1;", "x", &out, &n, &e), -1);
    cr_expect(strstr(e.msg, "more than once"));
    cr_expect_eq(agent_edit_apply(text, strlen(text), "c = 3", "x", &out, &n, &e), -1);
    cr_expect(strstr(e.msg, "does not occur"));
    cr_expect_eq(agent_edit_apply(text, strlen(text), "", "x", &out, &n, &e), -1);
    /* overlapping occurrences count twice */
    cr_expect_eq(agent_edit_apply("aaa", 3, "aa", "b", &out, &n, &e), -1);
    /* deletion; a file with NUL bytes */
    cr_assert_eq(agent_edit_apply(text, strlen(text), "int b = 2;\n", NULL, &out, &n, &e), 0);
    cr_expect_str_eq(out, "int a = 1;\nint a2 = 1;\n");
    free(out);
    const char bin[] = {'x', 0, 'y', 'z'};
    cr_assert_eq(agent_edit_apply(bin, 4, "yz", "Q", &out, &n, &e), 0);
    cr_expect_eq(n, 3);
    cr_expect_eq(memcmp(out, "x\0Q", 3), 0);
    free(out);
}

Test(agent, unified_diff) {
    const char *a = "1\n2\n3\n4\n5\n6\n7\n8\n", *b = "1\n2\n3\n4\nFIVE\n6\n7\n8\n";
    char *d = agent_diff("f.txt", a, strlen(a), b, strlen(b));
    cr_expect_str_eq(
        d, "--- a/f.txt\n+++ b/f.txt\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n");
    free(d);
    d = agent_diff("n", "", 0, "x", 1);
    cr_expect_str_eq(d, "--- a/n\n+++ b/n\n@@ -0,0 +1,1 @@\n+x\n\\ No newline at end of file\n");
    free(d);
    d = agent_diff("same", a, strlen(a), a, strlen(a));
    cr_expect_str_eq(d, "");
    free(d);
}

/* ---- paths ---- */

Test(agent, path_resolution) {
    char *d = mkdtemp_dir();
    char ws[PATH_MAX], p[PATH_MAX], link[PATH_MAX + 8];
    snprintf(ws, sizeof ws, "%s/ws", d);
    mkdir(ws, 0755);
    snprintf(link, sizeof link, "%s/up", ws);
    cr_assert_eq(symlink("/", link), 0);
    cr_assert_eq(agent_path_resolve(ws, "a/b.txt", p, sizeof p, NULL), 0);
    char want[PATH_MAX + 16];
    snprintf(want, sizeof want, "%s/a/b.txt", ws);
    cr_expect_str_eq(p, want);
    cr_expect(agent_path_inside(ws, p));
    cr_assert_eq(agent_path_resolve(ws, "up/etc/passwd", p, sizeof p, NULL), 0);
    cr_expect_str_eq(p, "/etc/passwd"); /* the symlink is followed: outside */
    cr_expect(!agent_path_inside(ws, p));
    cr_assert_eq(agent_path_resolve(ws, "../x", p, sizeof p, NULL), 0);
    cr_expect(!agent_path_inside(ws, p));
    cr_expect_eq(agent_path_resolve(ws, "missing/../../x", p, sizeof p, NULL), -1);
    cr_expect_eq(agent_path_resolve(ws, "", p, sizeof p, NULL), -1);
    setenv("HOME", d, 1);
    cr_assert_eq(agent_path_resolve(ws, "~/k", p, sizeof p, NULL), 0);
    char real[PATH_MAX];
    cr_assert(realpath(d, real));
    snprintf(want, sizeof want, "%s/k", real);
    cr_expect_str_eq(p, want);
    cr_expect(!agent_path_inside(ws, "/tmp/wsx"));
    cr_expect(agent_path_inside("/tmp/ws", "/tmp/ws/x"));
    cr_expect(!agent_path_inside("/tmp/ws", "/tmp/wsx"));
    rm_rf(d);
}

/* ---- snapshots and undo ---- */

Test(agent, snapshot_file_and_undo) {
    char *d = mkdtemp_dir();
    char ws[PATH_MAX], st[PATH_MAX], f[PATH_MAX + 8], g[PATH_MAX + 8];
    snprintf(ws, sizeof ws, "%s/ws", d);
    snprintf(st, sizeof st, "%s/state", d);
    mkdir(ws, 0755);
    snprintf(f, sizeof f, "%s/a.txt", ws);
    snprintf(g, sizeof g, "%s/new.txt", ws);
    put(f, "old\n");
    he_error e;
    cr_assert_eq(snap_file(st, 1, "edit_file", f, &e), 0, "%s", e.msg);
    put(f, "new\n");
    cr_assert_eq(snap_file(st, 2, "write_file", g, &e), 0, "%s", e.msg); /* did not exist */
    put(g, "created\n");
    int *steps, n;
    cr_assert_eq(snap_list(st, &steps, &n, &e), 0);
    cr_assert_eq(n, 2);
    cr_expect_eq(steps[0], 2);
    free(steps);
    cr_assert_eq(snap_restore(st, 2, &e), 0, "%s", e.msg);
    cr_expect_eq(access(g, F_OK), -1);
    cr_assert_eq(snap_restore(st, 1, &e), 0, "%s", e.msg);
    cr_expect_str_eq(get(f), "old\n");
    /* a symlink put where the file was is replaced, its target untouched */
    char target[PATH_MAX + 8];
    snprintf(target, sizeof target, "%s/target", d);
    put(target, "keep\n");
    unlink(f);
    cr_assert_eq(symlink(target, f), 0);
    cr_assert_eq(snap_restore(st, 1, &e), 0, "%s", e.msg);
    cr_expect_str_eq(get(target), "keep\n");
    struct stat sb;
    cr_assert_eq(lstat(f, &sb), 0);
    cr_expect(S_ISREG(sb.st_mode));
    cr_expect_str_eq(get(f), "old\n");
    cr_expect_eq(snap_restore(st, 9, &e), -1);
    rm_rf(d);
}

Test(agent, snapshot_workspace_and_undo) {
    char *d = mkdtemp_dir();
    char ws[PATH_MAX], st[PATH_MAX], p[PATH_MAX + 32];
    snprintf(ws, sizeof ws, "%s/ws", d);
    snprintf(st, sizeof st, "%s/state", d);
    mkdir(ws, 0755);
    snprintf(p, sizeof p, "%s/src", ws);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/src/main.c", ws);
    put(p, "int main(void) { return 0; }\n");
    snprintf(p, sizeof p, "%s/README", ws);
    put(p, "readme\n");
    he_error e;
    cr_assert_eq(snap_workspace(st, 3, "run_command", ws, &e), 0, "%s", e.msg);
    /* an unchanged workspace snapshotted again adds no blob (content-addressed) */
    cr_assert_eq(snap_workspace(st, 4, "run_command", ws, &e), 0, "%s", e.msg);
    char cnt[PATH_MAX * 2];
    snprintf(cnt, sizeof cnt, "test $(ls '%s/blobs' | wc -l) -eq 2", st);
    cr_expect_eq(system(cnt), 0, "two files, two blobs");
    /* what a command might do: delete a tree, change a file, add files and directories */
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && rm -rf src && echo changed > README && mkdir -p build/obj && touch "
             "build/obj/x.o junk",
             ws);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(snap_restore(st, 3, &e), 0, "%s", e.msg);
    snprintf(p, sizeof p, "%s/src/main.c", ws);
    cr_expect_str_eq(get(p), "int main(void) { return 0; }\n");
    snprintf(p, sizeof p, "%s/README", ws);
    cr_expect_str_eq(get(p), "readme\n");
    snprintf(p, sizeof p, "%s/build", ws);
    cr_expect_eq(access(p, F_OK), -1);
    snprintf(p, sizeof p, "%s/junk", ws);
    cr_expect_eq(access(p, F_OK), -1);
    rm_rf(d);
}

/* ---- the sandbox (skipped where bubblewrap cannot run) ---- */

Test(agent, sandbox_confines_writes_and_time) {
    he_error e;
    if (sandbox_probe(&e)) {
        cr_log_warn("sandbox test skipped: %s", e.msg);
        return;
    }
    char *d = mkdtemp_dir();
    char ws[PATH_MAX], outside[PATH_MAX];
    snprintf(ws, sizeof ws, "%s/ws", d);
    snprintf(outside, sizeof outside, "%s/outside", d);
    mkdir(ws, 0755);
    put(outside, "canary\n");
    sandbox_cfg c = {.enabled = true, .workspace = ws, .timeout_s = 2, .max_output = 100};
    sandbox_result r;
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "echo inside > ok.txt; echo x > '%s'; rm -f '%s'; echo done", outside,
             outside);
    cr_assert_eq(sandbox_run(&c, cmd, &r, &e), 0, "%s", e.msg);
    cr_expect_eq(r.exit_status, 0, "%s", r.output);
    cr_expect_str_eq(get(outside), "canary\n");
    char okp[PATH_MAX + 8];
    snprintf(okp, sizeof okp, "%s/ok.txt", ws);
    cr_expect_str_eq(get(okp), "inside\n");
    sandbox_result_free(&r);
    /* the wall clock and the output cap */
    cr_assert_eq(sandbox_run(&c, "yes | head -c 100000; sleep 30", &r, &e), 0);
    cr_expect(r.timed_out);
    cr_expect_eq(r.output_len, 100);
    cr_expect(r.output_total >= 100000);
    cr_expect(r.seconds < 10);
    sandbox_result_free(&r);
    /* no network: only a loopback that is down */
    cr_assert_eq(sandbox_run(&c, "cat /proc/net/dev | grep -c ':' ", &r, &e), 0);
    cr_expect_eq(atoi(r.output), 1, "%s", r.output);
    sandbox_result_free(&r);
    rm_rf(d);
}

Test(agent, snapshot_named_paths_and_undo) {
    char *d = mkdtemp_dir();
    char ws[PATH_MAX], st[PATH_MAX], a[PATH_MAX + 8], sub[PATH_MAX + 8], x[PATH_MAX + 16],
        missing[PATH_MAX + 16];
    snprintf(ws, sizeof ws, "%s/ws", d);
    snprintf(st, sizeof st, "%s/state", d);
    mkdir(ws, 0755);
    snprintf(a, sizeof a, "%s/a.txt", ws);
    snprintf(sub, sizeof sub, "%s/d", ws);
    snprintf(x, sizeof x, "%s/d/x.txt", ws);
    snprintf(missing, sizeof missing, "%s/new.txt", ws);
    put(a, "a\n");
    mkdir(sub, 0755);
    put(x, "x\n");
    const char *paths[] = {a, sub, missing};
    he_error e;
    cr_assert_eq(snap_paths(st, 5, "run_command", paths, 3, &e), 0, "%s", e.msg);
    put(a, "changed\n");
    unlink(x);
    rmdir(sub);
    put(missing, "new\n");
    cr_assert_eq(snap_restore(st, 5, &e), 0, "%s", e.msg);
    cr_expect_str_eq(get(a), "a\n");
    cr_expect_str_eq(get(x), "x\n");
    cr_expect_eq(access(missing, F_OK), -1);
    rm_rf(d);
}
