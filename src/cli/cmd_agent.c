/* cmd_agent.c — `hearth agent TASK` (the guarded tool-calling loop, agent/agent.h),
 * `hearth agent undo` and `hearth audit verify LOG`.
 *
 * With --url the agent talks to that OpenAI-compatible endpoint. With --model (a GGUF file or a
 * store name) and no --url it starts `hearth serve MODEL` as a child on a free loopback port,
 * waits for /health, and stops it when the session ends (the child also dies with this
 * process: PR_SET_PDEATHSIG). Exit codes: 0 answered, 1 error, 2 bad arguments, 3 step limit,
 * 4 stopped after repeated refusals; audit verify: 0 intact, 1 broken (the line is named). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/audit.h"
#include "base/alloc.h"
#include "cli/cli.h"
#include "client/httpc.h"

static const char usage_text[] =
    "usage: hearth agent [--url URL | --model NAME_OR_FILE] [options] TASK\n"
    "       hearth agent undo [--log FILE] [--state DIR] [--session ID] [--step N]\n"
    "  --url URL          an OpenAI-compatible endpoint (http://host:port[/v1])\n"
    "  --model M          without --url: serve M (a .gguf file or a store name) on loopback;\n"
    "                     with --url: the request's model name (default: the first /v1/models)\n"
    "  --ctx N            with --model and no --url: the served context size (hearth serve --ctx)\n"
    "  --api-key KEY      the endpoint's key (also $HEARTH_API_KEY)\n"
    "  --workspace DIR    where the agent works (default: the current directory)\n"
    "  --policy FILE      the guard's policy (default: the built-in one; docs/AGENT.md)\n"
    "  --yes-to CATS      approve 'ask' verdicts of these guard categories (comma-separated)\n"
    "                     without asking; never a 'deny'\n"
    "  --tool-choice C    auto (default) or required (every turn must call a tool: the session\n"
    "                     then ends at the step or refusal limit)\n"
    "  --extra-body JSON  fields merged into every chat request (e.g.\n"
    "                     '{\"chat_template_kwargs\": {\"enable_thinking\": false}}')\n"
    "  --dry-run          classify and log every action, run none\n"
    "  --max-steps N      actions per session (default 30)\n"
    "  --max-tokens N     tokens per model turn (default 2048)\n"
    "  --timeout S        run_command's wall-clock limit in seconds (default 120)\n"
    "  --allow-http HOST  offer http_get, for HOST only (repeatable)\n"
    "  --index DB         offer search_context over a `hearth index` database\n"
    "  --allow-net        commands keep the network (default: none; the guard still asks\n"
    "                     about egress)\n"
    "  --no-sandbox       run commands without bubblewrap (only if you accept the risk)\n"
    "  --second-opinion   also ask the model to judge each allowed/asked action (JSON schema);\n"
    "                     it may only raise the guard's decision\n"
    "  --log FILE         the audit log (default $HEARTH_HOME/agent/audit.jsonl)\n"
    "  --state DIR        sessions and snapshots (default $HEARTH_HOME/agent)\n";

static int usage(const char *msg, const char *arg) {
    if (msg) fprintf(stderr, "hearth agent: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    fputs(usage_text, stderr);
    return 2;
}

/* ---- a child `hearth serve` for --model ---- */

typedef struct {
    pid_t pid;
    char url[64];
} child_server;

static int serve_child_start(const char *model, const char *ctx, const char *log_dir,
                             child_server *cs, he_error *err) {
    char logp[PATH_MAX];
    snprintf(logp, sizeof logp, "%.4000s/serve.log", log_dir);
    int lfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (lfd < 0) return he_fail(err, HE_IO, "agent: %s: %s", logp, strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(lfd);
        return he_fail(err, HE_IO, "agent: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);
        dup2(lfd, 2);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        if (ctx)
            execl("/proc/self/exe", "hearth", "serve", model, "--name", "agent", "--host",
                  "127.0.0.1", "--port", "0", "--ctx", ctx, (char *)NULL);
        else
            execl("/proc/self/exe", "hearth", "serve", model, "--name", "agent", "--host",
                  "127.0.0.1", "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(lfd);
    cs->pid = pid;
    /* the port is in the log's "listening on" line; then /health must say ok */
    for (int i = 0; i < 6000; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            cs->pid = 0;
            return he_fail(err, HE_IO, "agent: hearth serve %s exited (see %s)", model, logp);
        }
        if (!cs->url[0]) {
            FILE *f = fopen(logp, "r");
            char line[512];
            while (f && fgets(line, sizeof line, f)) {
                const char *m = strstr(line, "listening on http://127.0.0.1:");
                int port;
                if (m && sscanf(m + 30, "%d", &port) == 1)
                    snprintf(cs->url, sizeof cs->url, "http://127.0.0.1:%d", port);
            }
            if (f) fclose(f);
        }
        if (cs->url[0]) {
            httpc_url u;
            httpc_response r;
            httpc_opts o = {.connect_timeout_ms = 1000, .idle_timeout_ms = 2000};
            if (httpc_url_parse(cs->url, &u, NULL) == 0 &&
                httpc_request(&u, "GET", "/health", NULL, 0, &o, NULL, NULL, &r, NULL) == 0) {
                int ok = r.status == 200;
                httpc_response_free(&r);
                if (ok) return 0;
            }
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return he_fail(err, HE_IO, "agent: hearth serve %s did not become ready in 5 minutes (see %s)",
                   model, logp);
}

static void serve_child_stop(child_server *cs) {
    if (cs->pid <= 0) return;
    kill(cs->pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(cs->pid, NULL, WNOHANG) == cs->pid) return;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(cs->pid, SIGKILL);
    waitpid(cs->pid, NULL, 0);
}

/* ---- hearth agent undo ---- */

static int cmd_agent_undo(int argc, char **argv, const char *state, const char *log) {
    const char *session = NULL;
    long step = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (i + 1 >= argc) return usage("missing value for", o);
        const char *v = argv[++i];
        if (!strcmp(o, "--log"))
            log = v;
        else if (!strcmp(o, "--state"))
            state = v;
        else if (!strcmp(o, "--session"))
            session = v;
        else if (!strcmp(o, "--step")) {
            if (cli_parse_long(v, 1, 1000000, &step)) return usage("bad value for --step:", v);
        } else
            return usage("unknown option", o);
    }
    he_error err = {0};
    char logbuf[PATH_MAX + 32];
    if (!log) {
        snprintf(logbuf, sizeof logbuf, "%s/audit.jsonl", state);
        log = logbuf;
    }
    if (agent_undo(state, log, session, (int)step, stdout, &err)) {
        fprintf(stderr, "hearth agent undo: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int cmd_agent(int argc, char **argv) {
    agent_config c = {.out = stdout};
    const char *model = NULL, *ctx = NULL, *hosts[AGENT_MAX_HOSTS];
    char state[PATH_MAX], logbuf[PATH_MAX + 32];
    he_error err = {0};
    state[0] = 0;
    const char *state_arg = NULL;
    c.api_key = getenv("HEARTH_API_KEY");
    const char *task = NULL;
    bool undo = argc > 1 && !strcmp(argv[1], "undo");
    for (int i = 1; i < argc && !undo; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return usage(NULL, NULL);
        if (!strcmp(o, "--dry-run")) {
            c.dry_run = true;
            continue;
        }
        if (!strcmp(o, "--no-sandbox")) {
            c.no_sandbox = true;
            continue;
        }
        if (!strcmp(o, "--allow-net")) {
            c.allow_net = true;
            continue;
        }
        if (!strcmp(o, "--second-opinion")) {
            c.second_opinion = true;
            continue;
        }
        if (o[0] == '-' && o[1]) {
            if (i + 1 >= argc) return usage("missing value for", o);
            const char *v = argv[++i];
            long n;
            if (!strcmp(o, "--url"))
                c.url = v;
            else if (!strcmp(o, "--model"))
                model = v;
            else if (!strcmp(o, "--ctx")) {
                if (cli_parse_long(v, 1, 1 << 22, &n)) return usage("bad value for --ctx:", v);
                ctx = v;
            } else if (!strcmp(o, "--api-key"))
                c.api_key = v;
            else if (!strcmp(o, "--workspace"))
                c.workspace = v;
            else if (!strcmp(o, "--policy"))
                c.policy = v;
            else if (!strcmp(o, "--extra-body"))
                c.extra_body = v;
            else if (!strcmp(o, "--tool-choice")) {
                if (strcmp(v, "auto") && strcmp(v, "required"))
                    return usage("--tool-choice takes auto or required:", v);
                c.tool_choice = v;
            } else if (!strcmp(o, "--yes-to"))
                c.yes_to = v;
            else if (!strcmp(o, "--log"))
                c.log_path = v;
            else if (!strcmp(o, "--state"))
                state_arg = v;
            else if (!strcmp(o, "--index"))
                c.index_db = v;
            else if (!strcmp(o, "--allow-http")) {
                if (c.n_http_hosts == AGENT_MAX_HOSTS) return usage("too many --allow-http", NULL);
                hosts[c.n_http_hosts++] = v;
            } else if (!strcmp(o, "--max-steps")) {
                if (cli_parse_long(v, 1, 10000, &n)) return usage("bad value for --max-steps:", v);
                c.max_steps = (int)n;
            } else if (!strcmp(o, "--max-tokens")) {
                if (cli_parse_long(v, 1, 1 << 20, &n))
                    return usage("bad value for --max-tokens:", v);
                c.max_tokens = (int)n;
            } else if (!strcmp(o, "--timeout")) {
                if (cli_parse_long(v, 1, 86400, &n)) return usage("bad value for --timeout:", v);
                c.cmd_timeout_s = (int)n;
            } else
                return usage("unknown option", o);
        } else if (!task) {
            task = o;
        } else {
            return usage("give the task as one argument (quote it)", o);
        }
    }
    if (undo) {
        /* the options before "undo" do not apply; undo takes its own */
        for (int i = 2; i + 1 < argc; i += 2)
            if (!strcmp(argv[i], "--state")) state_arg = argv[i + 1];
    }
    if (state_arg)
        snprintf(state, sizeof state, "%s", state_arg);
    else if (agent_default_state_dir(state, sizeof state, &err)) {
        fprintf(stderr, "hearth agent: %s\n", err.msg);
        return 2;
    }
    if (undo) return cmd_agent_undo(argc - 1, argv + 1, state, NULL);
    if (!task || !task[0]) return usage("missing TASK", NULL);
    if (!c.url && !model) return usage("give --url URL or --model MODEL", NULL);
    if (!c.log_path) {
        snprintf(logbuf, sizeof logbuf, "%s/audit.jsonl", state);
        c.log_path = logbuf;
    }
    c.state_dir = state;
    c.workspace = c.workspace ? c.workspace : ".";
    c.http_hosts = hosts;
    c.interactive = isatty(STDIN_FILENO) && isatty(STDERR_FILENO);
    signal(SIGPIPE, SIG_IGN);
    child_server cs = {0};
    if (!c.url) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", state);
        char cmd_dir[PATH_MAX + 16];
        snprintf(cmd_dir, sizeof cmd_dir, "%.4000s", dir);
        if (access(cmd_dir, W_OK) && mkdir(cmd_dir, 0700) && errno != EEXIST) {
            fprintf(stderr, "hearth agent: %s: %s\n", cmd_dir, strerror(errno));
            return 1;
        }
        fprintf(stderr, "hearth agent: starting hearth serve %s on loopback...\n", model);
        if (serve_child_start(model, ctx, cmd_dir, &cs, &err)) {
            fprintf(stderr, "hearth agent: %s\n", err.msg);
            serve_child_stop(&cs);
            return 1;
        }
        c.url = cs.url;
        c.model = "agent";
    } else {
        c.model = model;
    }
    int rc = agent_run(&c, task, &err);
    serve_child_stop(&cs);
    if (rc == AGENT_ERROR) fprintf(stderr, "hearth agent: %s\n", err.msg);
    return rc;
}

int cmd_audit(int argc, char **argv) {
    const char *head = NULL;
    if (argc == 5 && !strcmp(argv[3], "--head")) head = argv[4];
    if ((argc != 3 && !head) || strcmp(argv[1], "verify")) {
        fprintf(stderr, "usage: hearth audit verify LOG [--head SHA256]\n"
                        "  --head: the log must end at the record with this sha256 (a session's\n"
                        "  last_sha256 kept elsewhere): records cut off the end are caught too\n");
        return 2;
    }
    long n = 0, bad = 0;
    char last[65];
    he_error err = {0};
    int rc = audit_verify(argv[2], &n, &bad, last, &err);
    if (rc == 0 && head && strcmp(head, last)) {
        fprintf(stderr,
                "%s: the chain is intact but does not end at record %.16s...: records were cut off "
                "the end, or added after it\n",
                argv[2], head);
        return 1;
    }
    if (rc == 0) {
        printf("%s: %ld records, chain intact%s\n", argv[2], n,
               head ? ", ends at the expected record" : "");
        return 0;
    }
    if (rc == 1) {
        fprintf(stderr, "%s: broken at record %ld: %s\n", argv[2], bad, err.msg);
        return 1;
    }
    fprintf(stderr, "hearth audit: %s\n", err.msg);
    return 2;
}
