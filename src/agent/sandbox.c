/* sandbox.c — bubblewrap around the agent's commands (sandbox.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/sandbox.h"
#include "base/alloc.h"

#define BWRAP "bwrap"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void set_limit(int res, rlim_t v) {
    struct rlimit rl;
    if (getrlimit(res, &rl)) return;
    if (rl.rlim_max != RLIM_INFINITY && v > rl.rlim_max) v = rl.rlim_max;
    rl.rlim_cur = v;
    rl.rlim_max = v;
    setrlimit(res, &rl);
}

/* In the child, before exec: its own process group, limits, a clean environment. The limits
 * bind bwrap and everything it starts. RLIMIT_NPROC counts the user's processes everywhere (and
 * root is exempt), so it is a fork-bomb brake, not a precise count. */
static void child_exec(const sandbox_cfg *c, int out_fd, char *const argv[]) {
    setpgid(0, 0);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    int timeout = c->timeout_s > 0 ? c->timeout_s : 120;
    set_limit(RLIMIT_CPU, (rlim_t)timeout + 5);
    set_limit(RLIMIT_AS, (rlim_t)4 << 30);
    set_limit(RLIMIT_FSIZE, (rlim_t)256 << 20);
    set_limit(RLIMIT_NOFILE, 1024);
    set_limit(RLIMIT_NPROC, 512);
    set_limit(RLIMIT_CORE, 0);
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    const char *home = getenv("HOME");
    char h[4200], *envp[6];
    int n = 0;
    envp[n++] = (char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    snprintf(h, sizeof h, "HOME=%s", home ? home : "/");
    envp[n++] = h;
    envp[n++] = (char *)"LANG=C.UTF-8";
    envp[n++] = (char *)"TERM=dumb";
    envp[n] = NULL;
    if (c->enabled)
        execvpe(BWRAP, argv, envp);
    else
        execve("/bin/sh", argv, envp);
    fprintf(stderr, "hearth agent: cannot start %s: %s\n", c->enabled ? BWRAP : "/bin/sh",
            strerror(errno));
    _exit(127);
}

int sandbox_run(const sandbox_cfg *c, const char *command, sandbox_result *res, he_error *err) {
    memset(res, 0, sizeof *res);
    /* --tmpfs /tmp comes before --bind WS WS: a workspace under /tmp stays visible */
    // clang-format off
    const char *argv_box[32] = {BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                                "--tmpfs", "/tmp", "--bind", c->workspace, c->workspace,
                                "--unshare-all", "--die-with-parent", "--new-session",
                                "--chdir", c->workspace};
    // clang-format on
    int na = 18;
    if (c->share_net)
        argv_box[na++] = "--share-net"; /* after --unshare-all, it keeps the network */
    argv_box[na++] = "--";
    argv_box[na++] = "/bin/sh";
    argv_box[na++] = "-c";
    argv_box[na++] = command;
    argv_box[na] = NULL;
    const char *argv_plain[] = {"/bin/sh", "-c", command, NULL};
    int p[2];
    if (pipe2(p, O_CLOEXEC)) return he_fail(err, HE_IO, "sandbox: pipe: %s", strerror(errno));
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return he_fail(err, HE_IO, "sandbox: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(p[0]);
        if (!c->enabled && chdir(c->workspace)) _exit(127);
        child_exec(c, p[1], (char *const *)(c->enabled ? argv_box : argv_plain));
    }
    setpgid(pid, pid); /* also here: no race with the kill below */
    close(p[1]);
    size_t cap = c->max_output ? c->max_output : (size_t)64 << 10;
    res->output = xmalloc(cap + 1);
    int timeout = c->timeout_s > 0 ? c->timeout_s : 120;
    double deadline = t0 + timeout;
    bool eof = false;
    char buf[8192];
    while (!eof) {
        double left = deadline - now_s();
        if (left <= 0) {
            res->timed_out = true;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        int pr = poll(&pfd, 1, left > 0.2 ? 200 : (int)(left * 1000) + 1);
        if (pr < 0 && errno != EINTR) break;
        if (pr <= 0) continue;
        ssize_t r = read(p[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            eof = true;
            break;
        }
        size_t k = (size_t)r;
        if (res->output_len < cap) {
            size_t room = cap - res->output_len, t = k < room ? k : room;
            memcpy(res->output + res->output_len, buf, t);
            res->output_len += t;
        }
        res->output_total += k;
    }
    close(p[0]);
    int st = 0;
    /* the pipe closed (or the time ran out): reap, killing what is left of the group */
    for (int i = 0;; i++) {
        pid_t w = waitpid(pid, &st, i < 50 ? WNOHANG : 0);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) break;
        if (i == 10 || res->timed_out) kill(-pid, SIGKILL);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        if (now_s() > deadline + 1) {
            res->timed_out = true;
            kill(-pid, SIGKILL);
        }
    }
    kill(-pid, SIGKILL); /* --no-sandbox: background children of the command */
    res->output[res->output_len] = 0;
    res->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    res->seconds = now_s() - t0;
    return 0;
}

void sandbox_result_free(sandbox_result *r) {
    if (!r) return;
    free(r->output);
    r->output = NULL;
}

int sandbox_probe(he_error *err) {
    char dir[] = "/tmp/hearth-sandbox-probe-XXXXXX";
    if (!mkdtemp(dir)) return he_fail(err, HE_IO, "sandbox: mkdtemp: %s", strerror(errno));
    sandbox_cfg c = {.enabled = true, .workspace = dir, .timeout_s = 20, .max_output = 4096};
    sandbox_result r;
    int rc = sandbox_run(
        &c, "echo ok > probe && cat probe && ! touch /etc/hearth-probe 2>/dev/null", &r, err);
    char probe[sizeof dir + 8];
    snprintf(probe, sizeof probe, "%s/probe", dir);
    unlink(probe);
    rmdir(dir);
    if (rc) return -1;
    bool ok = r.exit_status == 0 && !strncmp(r.output, "ok", 2);
    if (!ok) {
        size_t n = strcspn(r.output, "\n");
        he_fail(
            err, HE_UNSUPPORTED,
            "sandbox: bubblewrap (bwrap) cannot run here (exit %d%s%.*s); refusing to run commands "
            "unsandboxed: install bubblewrap (Debian: apt-get install bubblewrap) and allow user "
            "namespaces, "
            "or pass --no-sandbox to run them without one",
            r.exit_status, n ? ": " : "", (int)(n > 200 ? 200 : n), r.output);
    }
    sandbox_result_free(&r);
    return ok ? 0 : -1;
}
