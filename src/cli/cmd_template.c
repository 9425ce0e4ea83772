/* cmd_template.c — `hearth template (MODEL.gguf | --jinja FILE) --context CTX.json [--now T]`:
 * renders a chat template over a context and prints the prompt byte for byte, or prints the
 * template error to stderr and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "chat/jinja.h"
#include "cli/cli.h"

static void usage(void) {
    fprintf(stderr,
            "usage: hearth template (MODEL.gguf | --jinja FILE) --context CONTEXT.json "
            "[--now 2024-07-26T12:00:00]\n");
}

/* Reads a whole file; returns a malloc'd buffer or NULL with err filled. */
static char *read_file(const char *path, size_t *len, he_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        he_fail(err, HE_IO, "%s: cannot open", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap > ((size_t)1 << 30)) {
                fclose(f);
                free(buf);
                he_fail(err, HE_LIMIT, "%s: file too large", path);
                return NULL;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        he_fail(err, HE_IO, "%s: read error", path);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Parses YYYY-MM-DD[THH:MM[:SS]] into a local struct tm. */
static int parse_now(const char *s, struct tm *tm) {
    memset(tm, 0, sizeof *tm);
    int y, mo, d, h = 0, mi = 0, sec = 0;
    char sep = 0;
    int n = sscanf(s, "%d-%d-%d%c%d:%d:%d", &y, &mo, &d, &sep, &h, &mi, &sec);
    if (n != 3 && n < 6) return -1;
    if (n > 3 && sep != 'T' && sep != ' ') return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
        sec > 60)
        return -1;
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    tm->tm_hour = h;
    tm->tm_min = mi;
    tm->tm_sec = sec;
    tm->tm_isdst = -1;
    /* normalize and fill tm_wday / tm_yday */
    struct tm copy = *tm;
    time_t t = timegm(&copy);
    gmtime_r(&t, tm);
    return 0;
}

/* The template and default special tokens of a GGUF model (not yet wired: needs the GGUF
 * reader from the gguf branch). */
static char *template_from_gguf(const char *path, size_t *len, he_error *err) {
    (void)len;
    he_fail(err, HE_UNSUPPORTED, "%s: reading chat templates from GGUF files is not built yet; use --jinja FILE", path);
    return NULL;
}

int cmd_template(int argc, char **argv) {
    const char *jinja_path = NULL, *ctx_path = NULL, *now_s = NULL, *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--jinja") && i + 1 < argc)
            jinja_path = argv[++i];
        else if (!strcmp(argv[i], "--context") && i + 1 < argc)
            ctx_path = argv[++i];
        else if (!strcmp(argv[i], "--now") && i + 1 < argc)
            now_s = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            return 0;
        } else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else {
            usage();
            return 2;
        }
    }
    if ((!jinja_path == !model) || !ctx_path) {
        usage();
        return 2;
    }
    he_error err = {0};
    struct tm now;
    jinja_options opt = {0};
    if (now_s) {
        if (parse_now(now_s, &now) < 0) {
            fprintf(stderr, "hearth template: --now: expected YYYY-MM-DDTHH:MM:SS, got '%s'\n", now_s);
            return 2;
        }
        opt.now = &now;
    }
    json_error_t jerr;
    json_t *ctx = json_load_file(ctx_path, JSON_DECODE_ANY, &jerr);
    if (!ctx) {
        fprintf(stderr, "hearth template: %s:%d:%d: %s\n", ctx_path, jerr.line, jerr.column, jerr.text);
        return 1;
    }
    if (!json_is_object(ctx)) {
        fprintf(stderr, "hearth template: %s: the context must be a JSON object\n", ctx_path);
        json_decref(ctx);
        return 1;
    }
    size_t len = 0;
    char *src = jinja_path ? read_file(jinja_path, &len, &err) : template_from_gguf(model, &len, &err);
    if (!src) {
        fprintf(stderr, "hearth template: %s\n", err.msg);
        json_decref(ctx);
        return 1;
    }
    int rc = 1;
    jinja_template *t = jinja_parse(src, len, &err);
    if (t) {
        size_t out_len;
        char *out = jinja_render(t, ctx, &opt, &out_len, &err);
        if (out) {
            rc = fwrite(out, 1, out_len, stdout) == out_len && fflush(stdout) == 0 ? 0 : 1;
            free(out);
        }
    }
    if (rc) fprintf(stderr, "hearth template: %s\n", err.msg);
    jinja_free(t);
    free(src);
    json_decref(ctx);
    return rc;
}
