/* cmd_store.c — the store's subcommands: import, ls, show, cp, rm, verify, export (one file,
 * since they share the progress bar, the safe printing and the store opening). The store itself
 * (src/store/) does all file-system work; this file parses arguments and prints. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gguf/gguf.h"
#include "store/store.h"

/* ---- Output helpers ---- */

typedef struct {
    int last_pct;
    const char *last_phase;
} progress_state;

/* A progress bar on stderr, drawn only when stderr is a terminal (never into logs or pipes). */
static void progress_bar(void *ud, const char *phase, uint64_t done, uint64_t total) {
    progress_state *p = ud;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct > 100) pct = 100;
    if (phase == p->last_phase && pct == p->last_pct) return;
    p->last_phase = phase;
    p->last_pct = pct;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r%-10s [%s] %3d%%", phase, bar, pct);
    if (pct == 100) fputc('\n', stderr);
    fflush(stderr);
}

static store_progress_fn pick_progress(progress_state *st) {
    st->last_pct = -1;
    st->last_phase = NULL;
    return isatty(STDERR_FILENO) ? progress_bar : NULL;
}

/* Prints at most max bytes of s, escaping control bytes and invalid UTF-8 so that text from a
 * model file can never drive the terminal. keep_newlines prints '\n' and '\t' as they are. */
static void print_safe(gguf_str s, uint64_t max, bool keep_newlines) {
    uint64_t n = s.len < max ? s.len : max, i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s.ptr[i];
        size_t k = gguf_utf8_len(s.ptr + i, (size_t)(s.len - i));
        if (k > 1) {
            if (i + k > n) break;
            fwrite(s.ptr + i, 1, k, stdout);
            i += k;
            continue;
        }
        i++;
        if (keep_newlines && (c == '\n' || c == '\t'))
            putchar(c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (k == 0 || c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    if (i < s.len) printf("… (%" PRIu64 " bytes)", s.len);
}

static void human_size(uint64_t b, char *out, size_t cap) {
    const char *unit[] = {"B", "KB", "MB", "GB", "TB"};
    double x = (double)b;
    int u = 0;
    while (x >= 1000.0 && u < 4) {
        x /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%" PRIu64 " B", b);
    else
        snprintf(out, cap, "%.1f %s", x, unit[u]);
}

static store *open_store(const char *cmd) {
    he_error err = {0};
    store *s = store_open(NULL, &err);
    if (!s) fprintf(stderr, "hearth %s: %s\n", cmd, err.msg);
    return s;
}

/* ---- import ---- */

int cmd_import(int argc, char **argv) {
    const char *file = NULL, *name = NULL;
    progress_state ps;
    store_import_opts o = {.progress = pick_progress(&ps), .progress_ud = &ps};
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "--copy"))
            o.no_link = true;
        else if (!strcmp(argv[i], "--template") && i + 1 < argc)
            o.template_path = argv[++i];
        else if (!strcmp(argv[i], "--params") && i + 1 < argc)
            o.params_path = argv[++i];
        else if (!strcmp(argv[i], "--adapter") && i + 1 < argc && o.n_adapters < STORE_MAX_ADAPTERS)
            o.adapters[o.n_adapters++] = argv[++i];
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else
            bad = true;
    }
    if (!file || bad) {
        fprintf(stderr,
                "usage: hearth import FILE.gguf [--name NAME] [--copy] [--template T.jinja] "
                "[--params P.json] [--adapter A.gguf]...\n");
        return 2;
    }
    store *s = open_store("import");
    if (!s) return 1;
    char used[STORE_NAME_MAX + 1];
    he_error err = {0};
    int rc = store_import(s, file, name, &o, used, sizeof used, &err);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "hearth import: %s\n", err.msg);
        return 1;
    }
    printf("imported %s\n", used);
    return 0;
}

/* ---- ls ---- */

int cmd_ls(int argc, char **argv) {
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: hearth ls\n");
        return 2;
    }
    store *s = open_store("ls");
    if (!s) return 1;
    he_error err = {0};
    char **names;
    int n = store_list(s, &names, &err), bad = 0;
    if (n < 0) {
        fprintf(stderr, "hearth ls: %s\n", err.msg);
        store_close(s);
        return 1;
    }
    printf("%-32s %-10s %-8s %-8s %-10s %-8s %s\n", "NAME", "ARCH", "PARAMS", "QUANT", "SIZE",
           "CONTEXT", "LICENSE");
    for (int i = 0; i < n; i++) {
        store_manifest m;
        store_info info;
        char path[STORE_PATH_MAX], size[32], ctx[24];
        if (store_manifest_read(s, names[i], &m, &err) < 0 ||
            store_digest_path(store_root(s), m.weights.digest, path, sizeof path, &err) < 0 ||
            store_info_read(path, &info, &err) < 0) {
            fprintf(stderr, "hearth ls: %s: %s\n", names[i], err.msg);
            bad = 1;
            free(names[i]);
            continue;
        }
        human_size(m.weights.size, size, sizeof size);
        if (info.context_length >= 0)
            snprintf(ctx, sizeof ctx, "%" PRId64, info.context_length);
        else
            snprintf(ctx, sizeof ctx, "-");
        printf("%-32s %-10s %-8s %-8s %-10s %-8s %s\n", m.name, info.arch[0] ? info.arch : "-",
               info.params, info.quant, size, ctx, info.license[0] ? info.license : "-");
        free(names[i]);
    }
    free(names);
    store_close(s);
    return bad;
}

/* ---- show ---- */

static void print_kv(const gguf_file *g, int64_t i) {
    gguf_str key = gguf_key(g, i);
    gguf_type t = gguf_kv_type(g, i);
    he_error err;
    fputs("  ", stdout);
    print_safe(key, 128, false);
    fputs(" = ", stdout);
    if (t == GGUF_TYPE_STRING) {
        gguf_str v;
        if (gguf_get_str(g, i, &v, &err) == 0) {
            putchar('"');
            print_safe(v, 120, false);
            putchar('"');
        }
    } else if (t == GGUF_TYPE_ARRAY) {
        gguf_value v;
        if (gguf_get_value(g, i, &v) == 0)
            printf("[%" PRIu64 " × %s]", v.n, gguf_type_name(v.elem_type));
    } else if (t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64) {
        double d;
        if (gguf_get_f64(g, i, &d, &err) == 0) printf("%g", d);
    } else if (t == GGUF_TYPE_BOOL) {
        bool b;
        if (gguf_get_bool(g, i, &b, &err) == 0) fputs(b ? "true" : "false", stdout);
    } else {
        int64_t x;
        uint64_t u;
        if (gguf_get_i64(g, i, &x, &err) == 0)
            printf("%" PRId64, x);
        else if (gguf_get_u64(g, i, &u, &err) == 0)
            printf("%" PRIu64, u);
    }
    putchar('\n');
}

int cmd_show(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: hearth show NAME\n");
        return 2;
    }
    store *s = open_store("show");
    if (!s) return 1;
    he_error err = {0};
    store_manifest m;
    char path[STORE_PATH_MAX];
    gguf_file *g = NULL;
    store_info info;
    int rc = 1;
    if (store_manifest_read(s, argv[1], &m, &err) < 0 ||
        store_digest_path(store_root(s), m.weights.digest, path, sizeof path, &err) < 0 ||
        store_info_read(path, &info, &err) < 0 || !(g = gguf_open(path, &err))) {
        fprintf(stderr, "hearth show: %s\n", err.msg);
        goto out;
    }
    char size[32];
    human_size(m.weights.size, size, sizeof size);
    printf("name:          %s\n", m.name);
    printf("sha256:        %s\n", m.weights.digest + 7);
    printf("digest:        %s\n", m.weights.digest);
    printf("size:          %" PRIu64 " bytes (%s)\n", m.weights.size, size);
    printf("imported:      %s\n", m.imported_at);
    printf("source:        ");
    print_safe((gguf_str){m.source, strlen(m.source)}, sizeof m.source, false);
    putchar('\n');
    printf("architecture:  %s\n", info.arch[0] ? info.arch : "-");
    printf("parameters:    %s (%" PRIu64 ")\n", info.params, info.n_params);
    printf("quantization:  %s\n", info.quant);
    if (info.context_length >= 0) printf("context:       %" PRId64 "\n", info.context_length);
    printf("license:       %s\n", info.license[0] ? info.license : "-");
    for (int i = 0; i < m.n_adapters; i++)
        printf("adapter:       %s\n", m.adapters[i].digest);
    if (m.has_template) printf("template blob: %s\n", m.template_blob.digest);
    if (m.has_params) printf("params blob:   %s\n", m.params_blob.digest);

    printf("\nmetadata:\n");
    for (int64_t i = 0; i < gguf_n_kv(g); i++)
        print_kv(g, i);

    gguf_str t;
    if (m.has_template) {
        /* The override is verified before it is shown, like any blob hearth reads. */
        char tp[STORE_PATH_MAX];
        FILE *tf = NULL;
        if (store_blob_verify(s, m.template_blob.digest, m.template_blob.size, NULL, NULL, &err) ==
                1 &&
            store_digest_path(store_root(s), m.template_blob.digest, tp, sizeof tp, &err) == 0 &&
            (tf = fopen(tp, "rb"))) {
            char *buf = malloc(m.template_blob.size + 1);
            size_t n = buf ? fread(buf, 1, m.template_blob.size, tf) : 0;
            printf("\nchat template (override):\n");
            print_safe((gguf_str){buf, n}, UINT64_MAX, true);
            putchar('\n');
            free(buf);
        } else {
            printf("\nchat template (override): unavailable: %s\n", err.msg);
        }
        if (tf) fclose(tf);
    }
    if (gguf_find_str(g, "tokenizer.chat_template", &t, NULL) == 1) {
        printf("\nchat template:\n");
        print_safe(t, UINT64_MAX, true);
        putchar('\n');
    }
    /* Licence text: every string key about the licence, in full. */
    bool header = false;
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        gguf_str key = gguf_key(g, i), v;
        if (gguf_kv_type(g, i) != GGUF_TYPE_STRING) continue;
        if (!memmem(key.ptr, key.len, "licen", 5)) continue;
        if (gguf_get_str(g, i, &v, NULL) < 0) continue;
        if (!header) printf("\nlicense:\n");
        header = true;
        print_safe(key, 128, false);
        fputs(":\n", stdout);
        print_safe(v, UINT64_MAX, true);
        putchar('\n');
    }
    rc = 0;
out:
    gguf_close(g);
    store_close(s);
    return rc;
}

/* ---- cp, rm ---- */

int cmd_cp(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: hearth cp SRC DST\n");
        return 2;
    }
    store *s = open_store("cp");
    if (!s) return 1;
    he_error err = {0};
    int rc = store_copy(s, argv[1], argv[2], &err);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "hearth cp: %s\n", err.msg);
        return 1;
    }
    printf("copied %s to %s\n", argv[1], argv[2]);
    return 0;
}

int cmd_rm(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: hearth rm NAME...\n");
        return 2;
    }
    store *s = open_store("rm");
    if (!s) return 1;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        he_error err = {0};
        int n = 0;
        if (store_remove(s, argv[i], &n, &err) < 0) {
            fprintf(stderr, "hearth rm: %s\n", err.msg);
            bad = 1;
            continue;
        }
        printf("removed %s (%d blob%s deleted)\n", argv[i], n, n == 1 ? "" : "s");
    }
    store_close(s);
    return bad;
}

/* ---- verify ---- */

/* Digests already re-hashed by this `verify`, so a blob shared by several names (or met again
 * in the sweep of blobs/) is hashed once. */
typedef struct {
    char (*d)[STORE_DIGEST_LEN + 1];
    int *bad;
    int n, cap;
} seen_set;

static int seen_find(const seen_set *v, const char *digest) {
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->d[i], digest)) return i;
    return -1;
}

static void seen_add(seen_set *v, const char *digest, int bad) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        void *nd = realloc(v->d, (size_t)v->cap * sizeof *v->d);
        void *nb = realloc(v->bad, (size_t)v->cap * sizeof *v->bad);
        if (!nd || !nb) {
            fprintf(stderr, "hearth verify: out of memory\n");
            exit(1);
        }
        v->d = nd;
        v->bad = nb;
    }
    memcpy(v->d[v->n], digest, STORE_DIGEST_LEN + 1);
    v->bad[v->n++] = bad;
}

static seen_set seen;

/* Re-hashes one blob; prints a line when it changed or is missing. Returns 0 ok, 1 bad. */
static int verify_one(const store *s, const char *who, const store_blob_ref *r,
                      progress_state *ps) {
    he_error err = {0};
    int k = seen_find(&seen, r->digest);
    if (k >= 0 && r->size == UINT64_MAX) return seen.bad[k]; /* sweep: already reported */
    int v = store_blob_verify(s, r->digest, r->size, pick_progress(ps), ps, &err);
    if (k < 0) seen_add(&seen, r->digest, v != 1);
    if (v == 1) return 0;
    printf("%s %s: %s\n", v == 0 ? "CHANGED" : "MISSING", who, err.msg);
    return 1;
}

int cmd_verify(int argc, char **argv) {
    if (argc > 2) {
        fprintf(stderr, "usage: hearth verify [NAME]\n");
        return 2;
    }
    store *s = open_store("verify");
    if (!s) return 1;
    progress_state ps;
    he_error err = {0};
    char **names = NULL;
    int n, bad = 0;
    if (argc == 2) {
        n = 1;
        names = malloc(sizeof *names);
        if (!names) return 1;
        names[0] = strdup(argv[1]);
    } else {
        n = store_list(s, &names, &err);
        if (n < 0) {
            fprintf(stderr, "hearth verify: %s\n", err.msg);
            store_close(s);
            return 1;
        }
    }
    for (int i = 0; i < n; i++) {
        store_manifest m;
        if (store_manifest_read(s, names[i], &m, &err) < 0) {
            printf("BROKEN  %s\n", err.msg);
            bad = 1;
        } else {
            store_blob_ref refs[STORE_MAX_ADAPTERS + 3];
            int k = store_manifest_blobs(&m, refs, STORE_MAX_ADAPTERS + 3), b = 0;
            for (int j = 0; j < k; j++)
                b |= verify_one(s, m.name, &refs[j], &ps);
            if (!b) printf("ok      %s\n", m.name);
            bad |= b;
        }
        free(names[i]);
    }
    free(names);
    if (argc == 1) {
        /* Every blob in the store must match its name, referenced or not. */
        char dir[STORE_PATH_MAX];
        snprintf(dir, sizeof dir, "%s/blobs", store_root(s));
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!store_digest_valid(e->d_name)) continue;
            store_blob_ref r;
            memcpy(r.digest, e->d_name, sizeof r.digest);
            r.size = UINT64_MAX;
            bad |= verify_one(s, "(blob)", &r, &ps);
        }
        if (d) closedir(d);
    }
    free(seen.d);
    free(seen.bad);
    store_close(s);
    return bad;
}

/* ---- export ---- */

int cmd_export(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: hearth export NAME DIR\n");
        return 2;
    }
    store *s = open_store("export");
    if (!s) return 1;
    progress_state ps;
    he_error err = {0};
    char out[STORE_PATH_MAX];
    int rc = store_export(s, argv[1], argv[2], out, sizeof out, pick_progress(&ps), &ps, &err);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "hearth export: %s\n", err.msg);
        return 1;
    }
    printf("exported %s to %s\n", argv[1], out);
    return 0;
}
