/* cmd_card.c — `hearth card`: grade served models (speed, tool calls landed, JSON validity) over
 * the OpenAI API of any endpoint, or of `hearth serve` started here on the given GGUF files,
 * and write DIR/card.json, card.md and card.svg (src/card/, docs/CARD.md). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "card/card.h"
#include "cli/cli.h"
#include "client/httpc.h"

static void usage(void) {
    fprintf(stderr,
            "usage: hearth card --url URL [--model NAME]... [--url URL2 [--model NAME]...]... [options]\n"
            "       hearth card MODEL.gguf... [options]     (serves each file with `hearth serve` "
            "on loopback)\n"
            "  --url URL        an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080 (no "
            "--model: every\n"
            "                   name its /v1/models lists)\n"
            "  --model NAME     a served name of the --url before it to grade (repeat for several)\n"
            "  --out DIR        where card.json, card.md and card.svg go (default: card)\n"
            "  --quick          fewer speed repetitions, shorter prompts, one case per category\n"
            "  --api-key KEY    sent as a bearer token\n"
            "  --suite DIR      case files (*.json) instead of the built-in suite (docs/CARD.md)\n"
            "  --timeout S      per request, seconds (default 300)\n"
            "  --max-tokens N   max_tokens of every case (default: the case's own, 256; 96 with "
            "--quick)\n"
            "  --serve-arg ARG  one more argument for `hearth serve` (GGUF mode; repeatable)\n");
}

/* ---- Progress ---- */

typedef struct {
    bool tty;
    int model_index, n_models;
    double t0;
} progress;

static void on_progress(void *user, const char *model, const char *what, int done, int total) {
    progress *p = user;
    if (p->tty) {
        int width = 30, fill = total ? done * width / total : 0;
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r\033[K[%s] %3d/%d  %d/%d %.30s: %.40s  %.0fs", bar, done, total,
                p->model_index + 1, p->n_models, model, what, cli_now_s() - p->t0);
        if (done == total) fputc('\n', stderr);
    } else
        fprintf(stderr, "card: [%d/%d] %s: %s\n", done, total, model, what);
    fflush(stderr);
}

/* ---- Serving a GGUF file ourselves ---- */

typedef struct {
    pid_t pid;
    char url[64];
    char name[128];
} child_server;

static void name_from_path(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    size_t l = strlen(out);
    if (l > 5 && !strcmp(out + l - 5, ".gguf")) out[l - 5] = 0;
}

/* Starts `hearth serve FILE --name NAME --host 127.0.0.1 --port 0` with its stderr in log, and
 * waits for its "listening on" line and a 200 from /health. */
static int serve_start(const char *file, const char *log, char **extra, int n_extra,
                       child_server *cs, he_error *err) {
    memset(cs, 0, sizeof *cs);
    name_from_path(file, cs->name, sizeof cs->name);
    char self[4096];
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    if (l <= 0) return he_fail(err, HE_IO, "cannot find this program's path");
    self[l] = 0;
    FILE *lf = fopen(log, "w");
    if (!lf) return he_fail(err, HE_IO, "cannot write %s", log);
    const char **argv = xcalloc((size_t)n_extra + 16, sizeof *argv);
    int a = 0;
    argv[a++] = self;
    argv[a++] = "serve";
    argv[a++] = file;
    argv[a++] = "--name";
    argv[a++] = cs->name;
    argv[a++] = "--host";
    argv[a++] = "127.0.0.1";
    argv[a++] = "--port";
    argv[a++] = "0";
    for (int i = 0; i < n_extra; i++)
        argv[a++] = extra[i];
    argv[a] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        fclose(lf);
        free(argv);
        return he_fail(err, HE_IO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(fileno(lf), 2);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 1);
        execv(self, (char *const *)argv);
        _exit(127);
    }
    fclose(lf);
    free(argv);
    cs->pid = pid;
    double deadline = cli_now_s() + 600;
    int port = 0;
    while (!port) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            cs->pid = 0;
            return he_fail(err, HE_RUNTIME, "hearth serve %s exited (see %s)", file, log);
        }
        FILE *f = fopen(log, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, "listening on http://127.0.0.1:");
            if (p) port = atoi(p + strlen("listening on http://127.0.0.1:"));
        }
        if (f) fclose(f);
        if (!port) {
            if (cli_now_s() > deadline)
                return he_fail(err, HE_RUNTIME,
                               "hearth serve %s did not start in 10 minutes (see %s)", file, log);
            nanosleep(&(struct timespec){0, 50000000}, NULL);
        }
    }
    snprintf(cs->url, sizeof cs->url, "http://127.0.0.1:%d", port);
    httpc_url u;
    if (httpc_url_parse(cs->url, &u, err)) return -1;
    for (;;) {
        httpc_response r;
        httpc_opts ho = {.total_timeout_s = 5};
        he_error e2;
        if (!httpc_request(&u, "GET", "/health", NULL, 0, &ho, NULL, NULL, &r, &e2)) {
            int ok = r.status == 200;
            httpc_response_free(&r);
            if (ok) return 0;
        }
        if (cli_now_s() > deadline)
            return he_fail(err, HE_RUNTIME, "hearth serve %s never became ready (see %s)", file,
                           log);
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
}

static void serve_stop(child_server *cs) {
    if (cs->pid <= 0) return;
    kill(cs->pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(cs->pid, NULL, WNOHANG) == cs->pid) {
            cs->pid = 0;
            return;
        }
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    kill(cs->pid, SIGKILL);
    waitpid(cs->pid, NULL, 0);
    cs->pid = 0;
}

/* ---- Writing the card ---- */

static int write_file(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "hearth card: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int cmd_card(int argc, char **argv) {
    const char *url = NULL, *out_dir = "card", *api_key = NULL, *suite_dir = NULL;
    bool quick = false;
    long timeout = 300, max_tokens = 0;
    /* each --model belongs to the --url before it (several endpoints on one card) */
    const char **model_url = xcalloc((size_t)argc, sizeof *model_url);
    char **models = xcalloc((size_t)argc, sizeof *models),
         **files = xcalloc((size_t)argc, sizeof *files),
         **extra = xcalloc((size_t)argc, sizeof *extra);
    int n_models = 0, n_files = 0, n_extra = 0, rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--url") && has)
            url = argv[++i];
        else if (!strcmp(a, "--model") && has) {
            model_url[n_models] = url;
            models[n_models++] = argv[++i];
        }
        else if (!strcmp(a, "--out") && has)
            out_dir = argv[++i];
        else if (!strcmp(a, "--api-key") && has)
            api_key = argv[++i];
        else if (!strcmp(a, "--suite") && has)
            suite_dir = argv[++i];
        else if (!strcmp(a, "--serve-arg") && has)
            extra[n_extra++] = argv[++i];
        else if (!strcmp(a, "--quick"))
            quick = true;
        else if (!strcmp(a, "--timeout") && has) {
            if (cli_parse_long(argv[++i], 1, 86400, &timeout)) {
                fprintf(stderr, "hearth card: --timeout: expected seconds 1..86400, got '%s'\n",
                        argv[i]);
                goto done;
            }
        } else if (!strcmp(a, "--max-tokens") && has) {
            if (cli_parse_long(argv[++i], 1, 32768, &max_tokens)) {
                fprintf(stderr, "hearth card: --max-tokens: expected 1..32768, got '%s'\n",
                        argv[i]);
                goto done;
            }
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            rc = 0;
            goto done;
        } else if (a[0] == '-') {
            fprintf(stderr, "hearth card: unknown or incomplete option '%s'\n", a);
            usage();
            goto done;
        } else
            files[n_files++] = argv[i];
    }
    for (int i = 0; i < n_models; i++)
        if (!model_url[i]) {
            fprintf(stderr, "hearth card: --model %s: give its --url first\n", models[i]);
            goto done;
        }
    if ((!url) == (!n_files) || (n_files && n_models)) {
        fprintf(stderr,
                "hearth card: give --url URL [--model NAME]..., or GGUF files (not both)\n");
        usage();
        goto done;
    }
    rc = 1;
    he_error err = {0};
    card_suite suite;
    card_suite_init(&suite);
    if ((suite_dir ? card_suite_load_dir(&suite, suite_dir, &err)
                   : card_suite_load_builtin(&suite, &err))) {
        fprintf(stderr, "hearth card: %s\n", err.msg);
        card_suite_free(&suite);
        goto done;
    }
    if (mkdir(out_dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "hearth card: cannot create %s: %s\n", out_dir, strerror(errno));
        card_suite_free(&suite);
        goto done;
    }
    progress prog = {.tty = isatty(2), .t0 = cli_now_s()};
    card_opts o = {.api_key = api_key,
                   .quick = quick,
                   .timeout_s = (int)timeout,
                   .max_tokens = (int)max_tokens,
                   .progress = on_progress,
                   .user = &prog};
    json_t *listed = NULL;
    if (url && !n_models) {
        o.url = url;
        listed = card_list_models(&o, &err);
        if (!listed || !json_array_size(listed)) {
            fprintf(stderr, "hearth card: %s: %s\n", url,
                    listed ? "the endpoint lists no models" : err.msg);
            json_decref(listed);
            card_suite_free(&suite);
            goto done;
        }
        for (size_t i = 0; i < json_array_size(listed) && n_models < argc; i++) {
            model_url[n_models] = url;
            models[n_models++] = (char *)json_string_value(json_array_get(listed, i));
        }
    }
    int n = url ? n_models : n_files;
    card_model_result *results = xcalloc((size_t)n, sizeof *results);
    int n_done = 0;
    prog.n_models = n;
    bool failed = false;
    for (int i = 0; i < n; i++) {
        prog.model_index = i;
        child_server cs = {0};
        const char *name = url ? models[i] : NULL;
        if (!url) {
            char log[4096];
            char base[128];
            name_from_path(files[i], base, sizeof base);
            snprintf(log, sizeof log, "%s/serve-%s.log", out_dir, base);
            fprintf(stderr, "hearth card: serving %s (log: %s)\n", files[i], log);
            if (serve_start(files[i], log, extra, n_extra, &cs, &err)) {
                fprintf(stderr, "hearth card: %s\n", err.msg);
                serve_stop(&cs);
                failed = true;
                continue;
            }
            o.url = cs.url;
            name = cs.name;
        } else
            o.url = model_url[i];
        if (card_run_model(&o, &suite, name, &results[n_done], &err)) {
            fprintf(stderr, "\nhearth card: %s\n", err.msg);
            card_result_free(&results[n_done]);
            failed = true;
        } else {
            if (!url) { /* the card names the file, not the loopback port */
                free(results[n_done].endpoint);
                results[n_done].endpoint = xstrdup(files[i]);
            }
            n_done++;
        }
        serve_stop(&cs);
    }
    card_machine m;
    card_machine_read(&m);
    char *js = card_report_json(results, (size_t)n_done, &m);
    char *md = card_report_md(results, (size_t)n_done, &m);
    char *svg = card_report_svg(results, (size_t)n_done, &m);
    int wr = write_file(out_dir, "card.json", js) | write_file(out_dir, "card.md", md) |
             write_file(out_dir, "card.svg", svg);
    fputs(md, stdout);
    fprintf(stderr, "hearth card: wrote %s/card.json, card.md, card.svg in %.0f s\n", out_dir,
            cli_now_s() - prog.t0);
    free(js);
    free(md);
    free(svg);
    for (int i = 0; i < n_done; i++)
        card_result_free(&results[i]);
    free(results);
    json_decref(listed);
    card_suite_free(&suite);
    rc = wr || failed || !n_done ? 1 : 0;
done:
    free(models);
    free(model_url);
    free(files);
    free(extra);
    return rc;
}
