/* cmd_bench.c — `hearth bench MODEL.gguf`: prompt-processing and generation speed, like
 * llama-bench.
 *
 * The model is loaded once (not timed). Each test runs a warm-up and then R repetitions; each
 * repetition starts from an empty KV cache (prefilled with D untimed tokens at --depth D):
 *   pp<P>  P random token ids decoded in chunks of n_batch, logits for the last one only;
 *   tg<N>  N tokens decoded one at a time, each with its logits (no sampling: the next id is
 *          random, as llama-bench does, so the figure is the engine's alone).
 * Reported: mean and sample standard deviation of tokens/s over the repetitions, and the process's
 * peak resident set beside the model file and KV cache sizes (weights are mapped, not copied, so
 * the peak should exceed file + KV by a small scratch only). Random ids come
 * from a fixed-seed generator, so runs are repeatable. Exit codes: 0 done, 1 model or runtime
 * error, 2 bad arguments. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "gguf/gguf.h"
#include "model/hearth.h"
#include "model/lora.h"
#include "sample/sample.h"
#include "spec/spec.h"
#include "tensor/tensor.h"

static const char usage_text[] =
    "usage: hearth bench MODEL.gguf [options]\n"
    "  -p, --n-prompt P    prompt tokens per pp test, 0 = no pp test (default 512)\n"
    "  -n, --n-gen N       generated tokens per tg test, 0 = no tg test (default 128)\n"
    "  -b, --batch-size B  tokens per decode call while processing a prompt (default 512)\n"
    "  -t, --threads N     threads (default: the number of physical cores)\n"
    "  -r, --repetitions R repetitions of each test (default 5)\n"
    "  -d, --depth D       prefill D tokens (untimed) before each repetition (default 0)\n"
    "  --kv-type T         KV cache element type: f16 (default), f32, q8_0\n"
    "  --json              print a JSON array instead of a table\n"
    "  --draft D.gguf      also measure greedy generation of -n tokens (the model's own tokens) "
    "plainly\n"
    "                      and with speculative decoding, D drafting (tg<N>greedy, tg<N>spec)\n"
    "  --draft-layers K    the same, the draft being this model's first K layers (layer skip)\n"
    "  --draft-max N       most tokens drafted per target pass (default 8)\n"
    "  --lora A            apply the LoRA adapter A.gguf (unmerged, scale 1) to every test\n"
    "                      (repeatable, at most 8)\n";

static int usage(const char *msg, const char *arg) {
    if (msg) fprintf(stderr, "hearth bench: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    fputs(usage_text, stderr);
    return 2;
}

typedef struct {
    const char *model;
    long n_prompt, n_gen, n_batch, threads, reps, depth;
    bool json;
    const char *draft;
    long draft_layers, draft_max;
    int n_lora; /* --lora: adapters applied at scale 1 (the `lora` field of the JSON says how many)
                 */
    const char *lora[8];
    hearth_kv_type kv_type;
    size_t kv_bytes; /* of the context, filled once it exists */
    size_t kv_bytes_full; /* what it would be without a sliding-window ring */
    int32_t swa_rows;     /* rows of a sliding-window layer (0: none) */
    uint64_t idle_bytes; /* weight bytes a decode step does not read (hearth_model_idle_bytes) */
    bool moe;            /* a mixture of experts (the idle bytes include unchosen experts) */
    uint64_t max_rss; /* peak resident set of the process after the tests, bytes */
    long long huge_mapped; /* model bytes mapped in 2 MiB pages after the tests, -1 unknown */
} bench_args;

static int parse_args(int argc, char **argv, bench_args *a) {
    *a = (bench_args){.n_prompt = 512, .n_gen = 128, .n_batch = 512, .reps = 5, .kv_type = HEARTH_KV_F16, .draft_max = 8};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (o[0] != '-' || !o[1]) {
            if (a->model) return usage("unexpected argument", o);
            a->model = o;
            continue;
        }
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return usage(NULL, NULL);
        if (!strcmp(o, "--json")) {
            a->json = true;
            continue;
        }
        if (!strcmp(o, "--kv-type")) {
            if (i + 1 >= argc) return usage("missing value for", o);
            if (hearth_kv_type_from_name(argv[++i], &a->kv_type))
                return usage("bad value for --kv-type (f16, f32 or q8_0):", argv[i]);
            continue;
        }
        if (!strcmp(o, "--draft")) {
            if (i + 1 >= argc) return usage("missing value for", o);
            a->draft = argv[++i];
            continue;
        }
        if (!strcmp(o, "--lora")) {
            if (i + 1 >= argc) return usage("missing value for", o);
            if (a->n_lora >= 8) return usage("at most 8 adapters:", o);
            a->lora[a->n_lora++] = argv[++i];
            continue;
        }
        long *dst = NULL, lo = 0, hi = 1 << 20;
        if (!strcmp(o, "-p") || !strcmp(o, "--n-prompt")) dst = &a->n_prompt;
        else if (!strcmp(o, "-n") || !strcmp(o, "--n-gen")) dst = &a->n_gen;
        else if (!strcmp(o, "-b") || !strcmp(o, "--batch-size")) dst = &a->n_batch, lo = 1;
        else if (!strcmp(o, "-t") || !strcmp(o, "--threads")) dst = &a->threads, lo = 1, hi = 256;
        else if (!strcmp(o, "-r") || !strcmp(o, "--repetitions")) dst = &a->reps, lo = 1, hi = 1000;
        else if (!strcmp(o, "-d") || !strcmp(o, "--depth")) dst = &a->depth;
        else if (!strcmp(o, "--draft-layers")) dst = &a->draft_layers, lo = 1, hi = 512;
        else if (!strcmp(o, "--draft-max")) dst = &a->draft_max, lo = 1, hi = SPEC_MAX_DRAFT;
        else return usage("unknown option", o);
        if (i + 1 >= argc) return usage("missing value for", o);
        if (cli_parse_long(argv[++i], lo, hi, dst)) {
            char msg[64];
            snprintf(msg, sizeof msg, "bad value for %s:", o);
            return usage(msg, argv[i]);
        }
    }
    if (!a->model) return usage("missing MODEL.gguf", NULL);
    if (a->draft && a->draft_layers) return usage("use only one of --draft and --draft-layers", NULL);
    if (a->n_prompt == 0 && a->n_gen == 0) return usage("nothing to measure: -p and -n are both 0", NULL);
    return 0;
}

/* The weight type holding the most bytes ("q4_0", "q4_k", "f32"), lowercased as llama-bench's
 * JSON writes types; the file's total tensor bytes go to *bytes (what one token streams). */
static void weight_summary(const char *path, char type[16], uint64_t *bytes, he_error *err) {
    snprintf(type, 16, "?");
    *bytes = 0;
    gguf_file *f = gguf_open(path, err);
    if (!f) return;
    uint64_t by_type[TENSOR_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        *bytes += t->nbytes;
        if (t->type < TENSOR_TYPE_COUNT) by_type[t->type] += t->nbytes;
    }
    uint32_t best = 0;
    for (uint32_t t = 1; t < TENSOR_TYPE_COUNT; t++)
        if (by_type[t] > by_type[best]) best = t;
    const tensor_traits *tr = tensor_traits_of(best);
    if (tr) {
        snprintf(type, 16, "%s", tr->name);
        for (char *p = type; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    }
    gguf_close(f);
}

/* xorshift64*: deterministic token ids without touching the C library's rand state. */
static int32_t next_id(uint64_t *s, int32_t n_vocab) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (int32_t)(((*s * 0x2545F4914F6CDD1DULL) >> 33) % (uint64_t)n_vocab);
}

typedef struct {
    hearth_ctx *c;
    hearth_batch b;
    int32_t n_vocab, n_batch;
    uint64_t rng;
} bench_state;

/* Decodes n random tokens from position pos0 in chunks of n_batch; logits for the last. */
static int feed(bench_state *s, int32_t pos0, long n, he_error *err) {
    for (long i = 0; i < n; i += s->n_batch) {
        hearth_batch_clear(&s->b);
        long end = i + s->n_batch < n ? i + s->n_batch : n;
        for (long j = i; j < end; j++)
            hearth_batch_add(&s->b, next_id(&s->rng, s->n_vocab), pos0 + (int32_t)j, 0, j == n - 1);
        if (hearth_decode(s->c, &s->b, err)) return -1;
    }
    return 0;
}

/* Decodes n random tokens one per call, each with logits. */
static int gen(bench_state *s, int32_t pos0, long n, he_error *err) {
    for (long i = 0; i < n; i++) {
        hearth_batch_clear(&s->b);
        hearth_batch_add(&s->b, next_id(&s->rng, s->n_vocab), pos0 + (int32_t)i, 0, true);
        if (hearth_decode(s->c, &s->b, err)) return -1;
    }
    return 0;
}

/* One repetition: clear, prefill depth (untimed), then the timed part; returns seconds or -1. */
static double run_once(bench_state *s, bool is_gen, long depth, long n, he_error *err) {
    hearth_kv_clear(s->c);
    if (depth > 0 && feed(s, 0, depth, err)) return -1;
    double t0 = cli_now_s();
    if ((is_gen ? gen : feed)(s, (int32_t)depth, n, err)) return -1;
    return cli_now_s() - t0;
}

typedef struct {
    char name[48];
    double mean, sd;
    bool spec;                  /* the speculative fields below apply */
    double accept_rate, per_pass; /* draft_accept_rate, tokens_per_target_pass */
} bench_result;

static int run_test(bench_state *s, const bench_args *a, bool is_gen, bench_result *r, he_error *err) {
    long n = is_gen ? a->n_gen : a->n_prompt;
    int k = snprintf(r->name, sizeof r->name, "%s%ld", is_gen ? "tg" : "pp", n);
    if (a->depth > 0) snprintf(r->name + k, sizeof r->name - (size_t)k, "@d%ld", a->depth);
    /* Warm-up (as llama-bench): faults the mapping in and lets the pool's threads spin up. */
    if (run_once(s, is_gen, 0, is_gen ? 1 : (n < s->n_batch ? n : s->n_batch), err) < 0) return -1;
    double sum = 0, sum2 = 0;
    for (long i = 0; i < a->reps; i++) {
        double t = run_once(s, is_gen, a->depth, n, err);
        if (t < 0) return -1;
        double ts = t > 0 ? (double)n / t : 0.0;
        sum += ts;
        sum2 += ts * ts;
    }
    r->mean = sum / (double)a->reps;
    double var = a->reps > 1 ? (sum2 - sum * r->mean) / (double)(a->reps - 1) : 0.0;
    r->sd = var > 0 ? sqrt(var) : 0.0;
    return 0;
}

/* Greedy generation of n tokens after a one-token prompt: plainly (dc NULL) or speculatively with
 * the draft context dc. Fills *st for the speculative run. Returns seconds or -1. */
static double greedy_once(bench_state *s, hearth_ctx *dc, long n, long draft_max, spec_stats *st, he_error *err) {
    hearth_kv_clear(s->c);
    if (dc) hearth_kv_clear(dc);
    sample_params sp = sample_params_default();
    sp.temperature = 0;
    sample_chain *sc = sample_chain_new(&sp, s->n_vocab, err);
    if (!sc) return -1;
    const int32_t prompt = 1;
    double t0 = cli_now_s(), t = -1;
    if (dc) {
        spec_params p = spec_params_default();
        p.draft_max = (int32_t)draft_max;
        spec_decoder *sd = spec_new(s->c, dc, sc, 0, 0, &p, err);
        if (sd && !spec_prompt(sd, &prompt, 1, err)) {
            int32_t out[SPEC_MAX_DRAFT + 1];
            long got = 0;
            while (got < n) {
                long want = n - got;
                int r = spec_step(sd, out, want > SPEC_MAX_DRAFT + 1 ? SPEC_MAX_DRAFT + 1 : (int32_t)want, err);
                if (r < 0) break;
                got += r;
            }
            if (got == n) t = cli_now_s() - t0;
            *st = spec_get_stats(sd);
        }
        spec_free(sd);
    } else {
        int32_t id = prompt;
        long i = 0;
        for (; i < n; i++) {
            hearth_batch_clear(&s->b);
            hearth_batch_add(&s->b, id, (int32_t)i, 0, true);
            if (hearth_decode(s->c, &s->b, err)) break;
            id = sample_chain_sample(sc, hearth_logits(s->c, 0));
            sample_chain_accept(sc, id);
        }
        if (i == n) t = cli_now_s() - t0;
    }
    sample_chain_free(sc);
    return t;
}

/* tg<N>greedy and tg<N>spec: the same greedy tokens, plainly and speculatively, in one run. */
static int run_spec_tests(bench_state *s, hearth_ctx *dc, const bench_args *a, bench_result *r, he_error *err) {
    for (int k = 0; k < 2; k++) {
        hearth_ctx *use = k ? dc : NULL;
        bench_result *x = &r[k];
        snprintf(x->name, sizeof x->name, "tg%ld%s", a->n_gen, k ? "spec" : "greedy");
        spec_stats st = {0};
        if (greedy_once(s, use, 2, a->draft_max, &st, err) < 0) return -1; /* warm-up */
        double sum = 0, sum2 = 0;
        int64_t drafted = 0, accepted = 0, emitted = 0, steps = 0;
        for (long i = 0; i < a->reps; i++) {
            double t = greedy_once(s, use, a->n_gen, a->draft_max, &st, err);
            if (t < 0) return -1;
            double ts = t > 0 ? (double)a->n_gen / t : 0.0;
            sum += ts;
            sum2 += ts * ts;
            drafted += st.drafted, accepted += st.accepted, emitted += st.emitted, steps += st.steps;
        }
        x->mean = sum / (double)a->reps;
        double var = a->reps > 1 ? (sum2 - sum * x->mean) / (double)(a->reps - 1) : 0.0;
        x->sd = var > 0 ? sqrt(var) : 0.0;
        x->spec = k == 1;
        x->accept_rate = drafted ? (double)accepted / (double)drafted : 0.0;
        x->per_pass = steps ? (double)emitted / (double)steps : 1.0;
    }
    return 0;
}

static void print_json(const bench_args *a, const bench_result *res, int n_res, int threads, const char *type,
                       uint64_t bytes) {
    json_t *arr = json_array();
    for (int i = 0; i < n_res; i++) {
        bool g = res[i].name[0] == 't';
        json_t *o = json_pack("{s:s, s:f, s:f, s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:I}", "test", res[i].name,
                           "tokens_per_s", res[i].mean, "stddev", res[i].sd, "threads", threads, "type", type,
                           "model", a->model, "model_bytes", (json_int_t)bytes, "active_bytes",
                           (json_int_t)(bytes - a->idle_bytes), "n_prompt",
                           (json_int_t)(g ? 0 : a->n_prompt), "n_gen", (json_int_t)(g ? a->n_gen : 0), "n_depth",
                           (json_int_t)a->depth, "repetitions", (json_int_t)a->reps, "isa", tensor_isa(),
                           "kv_type", hearth_kv_type_name(a->kv_type), "kv_bytes",
                           (json_int_t)a->kv_bytes, "max_rss_bytes", (json_int_t)a->max_rss);
        json_object_set_new(o, "kv_bytes_full", json_integer((json_int_t)a->kv_bytes_full));
        json_object_set_new(o, "huge_mapped_bytes", json_integer((json_int_t)a->huge_mapped));
        json_object_set_new(o, "swa_rows", json_integer(a->swa_rows));
        json_object_set_new(o, "lora", json_integer(a->n_lora));
        if (res[i].spec) {
            json_object_set_new(o, "draft", json_string(a->draft ? a->draft : "layer-skip"));
            if (a->draft_layers) json_object_set_new(o, "draft_layers", json_integer(a->draft_layers));
            json_object_set_new(o, "draft_max", json_integer(a->draft_max));
            json_object_set_new(o, "draft_accept_rate", json_real(res[i].accept_rate));
            json_object_set_new(o, "tokens_per_target_pass", json_real(res[i].per_pass));
        }
        json_array_append_new(arr, o);
    }
    char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    if (s) puts(s);
    free(s);
    json_decref(arr);
}

static void print_table(const bench_args *a, const bench_result *res, int n_res, int threads, const char *type,
                        uint64_t bytes) {
    const char *base = strrchr(a->model, '/');
    base = base ? base + 1 : a->model;
    printf("| %-28s | %11s | %-6s | %-4s | %7s | %-4s | %-14s | %20s |\n", "model", "size", "type", "isa",
           "threads", "kv", "test", "t/s");
    printf("| %.28s | %.11s | %.6s | %.4s | %.7s | %.4s | %.14s | %.20s |\n", "-----------------------------",
           "------------", "-------", "-----", "--------", "-----", "---------------", "---------------------");
    for (int i = 0; i < n_res; i++) {
        char sz[32], ts[48];
        snprintf(sz, sizeof sz, "%.2f MiB", (double)bytes / (1024.0 * 1024.0));
        snprintf(ts, sizeof ts, "%.2f ± %.2f", res[i].mean, res[i].sd);
        printf("| %-28.28s | %11s | %-6s | %-4s | %7d | %-4s | %-14s | %21s |\n", base, sz, type, tensor_isa(),
               threads, hearth_kv_type_name(a->kv_type), res[i].name, ts);
    }
    if (a->n_lora) printf("\n%d LoRA adapter(s) applied unmerged at scale 1\n", a->n_lora);
    for (int i = 0; i < n_res; i++)
        if (res[i].spec)
        {
            char what[300];
            if (a->draft) snprintf(what, sizeof what, "draft %s", a->draft);
            else snprintf(what, sizeof what, "draft = the first %ld layers", a->draft_layers);
            printf("\n%s: %s, draft_max %ld: draft_accept_rate %.3f, tokens_per_target_pass %.2f; %.2fx "
                   "the plain greedy speed\n",
                   res[i].name, what, a->draft_max, res[i].accept_rate, res[i].per_pass,
                   res[i - 1].mean > 0 ? res[i].mean / res[i - 1].mean : 0.0);
        }
    const double mib = 1024.0 * 1024.0;
    /* RSS - file - KV can be negative: mapped pages never touched (embedding rows of tokens
     * that were not used) do not count */
    printf("\npeak RSS %.1f MiB; model file %.1f MiB (mapped), KV cache %.1f MiB, difference %+.1f MiB",
           (double)a->max_rss / mib, (double)bytes / mib, (double)a->kv_bytes / mib,
           ((double)a->max_rss - (double)bytes - (double)a->kv_bytes) / mib);
    /* 4 KiB mappings can halve generation speed (docs/ENGINE.md): say how much is in 2 MiB */
    if (a->huge_mapped >= 0 && bytes >= ((uint64_t)64 << 20))
        printf("; %.0f%% of it mapped in 2 MiB pages", 100.0 * (double)a->huge_mapped / (double)bytes);
    printf("\n");
    if (a->idle_bytes)
        printf("a decode step reads %.1f MiB of the %.1f MiB of weights (%.1f MiB stay idle: %s)\n",
               (double)(bytes - a->idle_bytes) / mib, (double)bytes / mib,
               (double)a->idle_bytes / mib,
               a->moe ? "unchosen experts, an untied embedding table but one row"
                      : "an untied embedding table but one row");
}

int cmd_bench(int argc, char **argv) {
    bench_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;

    he_error err = {0};
    hearth_model *m = NULL;
    bench_state s = {0};
    hearth_model *dm = NULL;
    hearth_ctx *dc = NULL;
    int status = 1;

    hearth_model_params mp = hearth_model_params_default();
    mp.load_vocab = false; /* ids are random; the tokenizer is not needed */
    m = hearth_model_load(a.model, &mp, &err);
    if (!m) goto fail;
    char type[16];
    uint64_t bytes;
    weight_summary(a.model, type, &bytes, &err);
    for (int i = 0; i < a.n_lora; i++) {
        hearth_lora *ad = hearth_lora_load(m, a.lora[i], &err);
        if (!ad || hearth_model_add_lora(m, ad, &err) < 0) {
            hearth_lora_free(ad);
            fprintf(stderr, "hearth bench: %s: %s\n", a.lora[i], err.msg);
            goto done;
        }
    }

    long need = a.depth + (a.n_prompt > a.n_gen ? a.n_prompt : a.n_gen);
    if (need > (1 << 22)) {
        fprintf(stderr, "hearth bench: depth + max(-p, -n) = %ld tokens is too large\n", need);
        status = 2;
        goto done;
    }
    hearth_ctx_params cp = hearth_ctx_params_default();
    cp.n_ctx = (int32_t)need + ((a.draft || a.draft_layers) ? 1 + (int32_t)a.draft_max : 0);
    cp.n_batch = (int32_t)(a.n_batch < need ? a.n_batch : need);
    cp.n_threads = (int32_t)a.threads;
    cp.n_outputs = (a.draft || a.draft_layers) ? (int32_t)a.draft_max + 1 : 1;
    if (cp.n_outputs > cp.n_batch) cp.n_batch = cp.n_outputs;
    cp.kv_type = a.kv_type;
    s.c = hearth_ctx_new(m, &cp, &err);
    if (!s.c) goto fail;
    for (int i = 0; i < a.n_lora; i++)
        if (hearth_ctx_set_lora(s.c, i, -1, 1.0f, &err)) goto fail;
    a.kv_bytes = hearth_ctx_kv_bytes(s.c);
    a.kv_bytes_full = hearth_ctx_kv_bytes_full(s.c);
    a.swa_rows = hearth_ctx_swa_rows(s.c);
    a.idle_bytes = hearth_model_idle_bytes(m);
    a.moe = hearth_model_n_expert(m) > 0;
    s.n_vocab = hearth_model_n_vocab(m);
    s.n_batch = hearth_ctx_n_batch(s.c);
    s.rng = 0x9E3779B97F4A7C15ULL;
    hearth_batch_init(&s.b, s.n_batch);
    int threads = hearth_ctx_n_threads(s.c);

    bench_result res[4];
    memset(res, 0, sizeof res);
    int n_res = 0;
    if (a.n_prompt > 0) {
        if (run_test(&s, &a, false, &res[n_res], &err)) goto fail;
        n_res++;
    }
    if (a.n_gen > 0) {
        if (run_test(&s, &a, true, &res[n_res], &err)) goto fail;
        n_res++;
    }
    if (a.draft || a.draft_layers) {
        if (a.n_gen < 1) {
            fprintf(stderr, "hearth bench: --draft needs -n > 0\n");
            status = 2;
            goto done;
        }
        hearth_model_params dp = hearth_model_params_default();
        dp.load_vocab = false;
        dp.n_layer_use = (int32_t)a.draft_layers;
        dm = hearth_model_load(a.draft ? a.draft : a.model, &dp, &err);
        if (!dm) goto fail;
        hearth_ctx_params dcp = cp;
        dcp.n_outputs = 1;
        dc = hearth_ctx_new(dm, &dcp, &err);
        if (!dc) goto fail;
        if (run_spec_tests(&s, dc, &a, &res[n_res], &err)) goto fail;
        n_res += 2;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) a.max_rss = (uint64_t)ru.ru_maxrss * 1024u; /* KiB */
    a.huge_mapped = hearth_model_huge_mapped(m);
    if (a.json) print_json(&a, res, n_res, threads, type, bytes);
    else print_table(&a, res, n_res, threads, type, bytes);
    status = 0;
    goto done;
fail:
    fprintf(stderr, "hearth bench: %s\n", err.msg);
done:
    hearth_batch_deinit(&s.b);
    hearth_ctx_free(dc);
    hearth_ctx_free(s.c);
    hearth_model_free(dm);
    hearth_model_free(m);
    return status;
}
