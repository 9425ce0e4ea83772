/* cmd_run.c — `hearth run MODEL.gguf -p TEXT`: generate a continuation of a prompt.
 *
 * Tokenizes the prompt (BOS per the metadata, special tokens parsed), decodes it in chunks of
 * n_batch, then samples one token at a time with the sampler chain and streams only the
 * continuation to stdout, flushed per token. With --grammar-file, --json-schema or --json the
 * tokens are sampled under a grammar (gram_sample: the chain's pick first, the mask only when it
 * is refused) and generation stops when the grammar is complete and nothing may follow.
 * Timings go to stderr. Exit codes: 0 done, 1 model or runtime error, 2 bad arguments. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "model/hearth.h"
#include "model/lora.h"
#include "sample/sample.h"
#include "spec/spec.h"
#include "tokenizer/tokenizer.h"

static const char usage_text[] =
    "usage: hearth run MODEL.gguf -p TEXT [options]\n"
    "  -p, --prompt TEXT   prompt to continue (required)\n"
    "  -n, --n-predict N   tokens to generate (default 256)\n"
    "  --temp T            temperature, 0 = greedy (default 0.8)\n"
    "  --top-k K           (default 40, 0 = off)\n"
    "  --top-p P           (default 0.95, 1 = off)\n"
    "  --min-p P           (default 0.05, 0 = off)\n"
    "  --seed S            sampler seed (default 0)\n"
    "  -t, --threads N     threads (default: number of physical cores)\n"
    "  -c, --ctx-size N    context size in tokens (default: min(training context, 4096))\n"
    "  --kv-type T         KV cache element type: f16 (default), f32, q8_0\n"
    "  --grammar-file F    constrain the output to the GBNF grammar in F (start rule: root)\n"
    "  --json-schema F     constrain the output to JSON valid under the JSON Schema in F\n"
    "  --json              constrain the output to a JSON object\n"
    "  --draft D.gguf      speculative decoding with draft model D (same vocabulary)\n"
    "  --draft-layers K    speculative decoding, the draft being this model's first K layers\n"
    "  --draft-max N       most tokens drafted per target pass (default 8, 1..32)\n"
    "  --lookup N          speculative decoding by prompt lookup, drafting up to N tokens\n"
    "  --lora A            apply the LoRA adapter A.gguf (scale 1; repeatable)\n"
    "  --lora-scaled A S   apply the LoRA adapter A.gguf with scale S (repeatable)\n";

static int usage(const char *msg, const char *arg) {
    if (msg) fprintf(stderr, "hearth run: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    fputs(usage_text, stderr);
    return 2;
}

typedef struct {
    const char *model, *prompt;
    const char *grammar_file, *schema_file;
    bool json;
    long n_predict, threads, n_ctx;
    const char *draft;
    long draft_layers, draft_max, lookup;
    hearth_kv_type kv_type;
    sample_params sp;
    int n_lora;
    const char *lora_path[16];
    float lora_scale[16];
} run_args;

static int parse_args(int argc, char **argv, run_args *a) {
    a->model = a->prompt = NULL;
    a->grammar_file = a->schema_file = NULL;
    a->json = false;
    a->n_predict = 256;
    a->threads = 0;
    a->n_ctx = 0;
    a->draft = NULL;
    a->draft_layers = a->lookup = 0;
    a->draft_max = 8;
    a->kv_type = HEARTH_KV_F16;
    a->sp = sample_params_default();
    a->n_lora = 0;
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
        if (i + 1 >= argc) return usage("missing value for", o);
        if (!strcmp(o, "--lora") || !strcmp(o, "--lora-scaled")) {
            if (a->n_lora >= 16) return usage("at most 16 adapters:", o);
            float sc = 1.0f;
            const char *path = argv[++i];
            if (!strcmp(o, "--lora-scaled")) {
                if (i + 1 >= argc) return usage("missing scale for --lora-scaled", path);
                if (cli_parse_float(argv[++i], -1e6f, 1e6f, &sc))
                    return usage("bad scale for --lora-scaled:", argv[i]);
            }
            a->lora_path[a->n_lora] = path;
            a->lora_scale[a->n_lora++] = sc;
            continue;
        }
        const char *v = argv[++i];
        long l;
        float f;
        if (!strcmp(o, "-p") || !strcmp(o, "--prompt")) {
            a->prompt = v;
        } else if (!strcmp(o, "-n") || !strcmp(o, "--n-predict")) {
            if (cli_parse_long(v, 0, 1L << 30, &a->n_predict)) return usage("bad value for -n:", v);
        } else if (!strcmp(o, "--temp")) {
            if (cli_parse_float(v, 0.0f, 1e6f, &a->sp.temperature))
                return usage("bad value for --temp:", v);
        } else if (!strcmp(o, "--top-k")) {
            if (cli_parse_long(v, 0, INT32_MAX, &l)) return usage("bad value for --top-k:", v);
            a->sp.top_k = (int32_t)l;
        } else if (!strcmp(o, "--top-p")) {
            if (cli_parse_float(v, 0.0f, 1.0f, &f)) return usage("bad value for --top-p:", v);
            a->sp.top_p = f;
        } else if (!strcmp(o, "--min-p")) {
            if (cli_parse_float(v, 0.0f, 1.0f, &f)) return usage("bad value for --min-p:", v);
            a->sp.min_p = f;
        } else if (!strcmp(o, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') return usage("bad value for --seed:", v);
            a->sp.seed = s;
        } else if (!strcmp(o, "-t") || !strcmp(o, "--threads")) {
            if (cli_parse_long(v, 1, 256, &a->threads)) return usage("bad value for -t:", v);
        } else if (!strcmp(o, "--grammar-file")) {
            a->grammar_file = v;
        } else if (!strcmp(o, "--json-schema")) {
            a->schema_file = v;
        } else if (!strcmp(o, "-c") || !strcmp(o, "--ctx-size")) {
            if (cli_parse_long(v, 1, 1 << 22, &a->n_ctx)) return usage("bad value for -c:", v);
        } else if (!strcmp(o, "--draft")) {
            a->draft = v;
        } else if (!strcmp(o, "--draft-layers")) {
            if (cli_parse_long(v, 1, 512, &a->draft_layers))
                return usage("bad value for --draft-layers:", v);
        } else if (!strcmp(o, "--draft-max")) {
            if (cli_parse_long(v, 1, SPEC_MAX_DRAFT, &a->draft_max))
                return usage("bad value for --draft-max (1..32):", v);
        } else if (!strcmp(o, "--lookup")) {
            if (cli_parse_long(v, 1, SPEC_MAX_DRAFT, &a->lookup))
                return usage("bad value for --lookup (1..32):", v);
        } else if (!strcmp(o, "--kv-type")) {
            if (hearth_kv_type_from_name(v, &a->kv_type))
                return usage("bad value for --kv-type (f16, f32 or q8_0):", v);
        } else {
            return usage("unknown option", o);
        }
    }
    if (!a->model) return usage("missing MODEL.gguf", NULL);
    if (!a->prompt) return usage("missing -p TEXT", NULL);
    if ((a->grammar_file != NULL) + (a->schema_file != NULL) + a->json > 1)
        return usage("use only one of --grammar-file, --json-schema and --json", NULL);
    if ((a->draft != NULL) + (a->draft_layers > 0) + (a->lookup > 0) > 1)
        return usage("use only one of --draft, --draft-layers and --lookup", NULL);
    return 0;
}

/* The grammar text the options ask for (malloc'd), or NULL with a message printed. */
static char *load_grammar_text(const run_args *a) {
    he_error err = {0};
    if (a->grammar_file) {
        FILE *f = fopen(a->grammar_file, "rb");
        if (!f) {
            fprintf(stderr, "hearth run: %s: %s\n", a->grammar_file, strerror(errno));
            return NULL;
        }
        size_t cap = 1 << 20, n = 0;
        char *buf = xmalloc(cap + 1);
        n = fread(buf, 1, cap + 1, f);
        fclose(f);
        if (n > cap) {
            fprintf(stderr, "hearth run: %s: grammar larger than 1 MiB\n", a->grammar_file);
            free(buf);
            return NULL;
        }
        buf[n] = 0;
        return buf;
    }
    json_t *schema;
    if (a->schema_file) {
        json_error_t je;
        schema = json_load_file(a->schema_file, JSON_DECODE_ANY, &je);
        if (!schema) {
            fprintf(stderr, "hearth run: %s:%d:%d: %s\n", a->schema_file, je.line, je.column,
                    je.text);
            return NULL;
        }
    } else {
        schema = json_pack("{s:s}", "type", "object");
    }
    char *text = gram_schema_to_gbnf(schema, &err);
    json_decref(schema);
    if (!text)
        fprintf(stderr, "hearth run: %s: %s\n", a->schema_file ? a->schema_file : "--json",
                err.msg);
    return text;
}

/* Writes the text of token id, as the streaming detokenizer releases it. */
static void emit(tok_detok *d, const tok_vocab *v, int32_t id, char *buf) {
    size_t n = tok_detok_push(d, v, id, false, buf, TOK_DETOK_MAX);
    if (n > TOK_DETOK_MAX) n = TOK_DETOK_MAX;
    if (n) {
        fwrite(buf, 1, n, stdout);
        fflush(stdout);
    }
}

/* Speculative generation (--draft, --draft-layers, --lookup): decodes the prompt and generates
 * through spec.h, streaming each step's tokens. Returns 0, or 1 with a message printed. */
static int generate_spec(const run_args *a, hearth_ctx *c, hearth_ctx *dc, sample_chain *sc,
                         gram_matcher *gm, const tok_vocab *v, const int32_t *ids, size_t n_ids,
                         double *t_prompt, long *n_gen_out) {
    he_error err = {0};
    spec_params sp = spec_params_default();
    sp.draft_max = (int32_t)(a->lookup ? a->lookup : a->draft_max);
    sp.lookup = (int32_t)a->lookup;
    spec_decoder *s = spec_new(c, dc, sc, a->sp.temperature, a->sp.seed, &sp, &err);
    if (!s) {
        fprintf(stderr, "hearth run: %s\n", err.msg);
        return 1;
    }
    spec_set_grammar(s, gm); /* drafts under the grammar; the target's mask decides */
    int rc = 0;
    double t1 = cli_now_s();
    if (spec_prompt(s, ids, (int32_t)n_ids, &err)) {
        fprintf(stderr, "hearth run: %s\n", err.msg);
        spec_free(s);
        return 1;
    }
    *t_prompt = cli_now_s() - t1;
    tok_detok d;
    tok_detok_init(&d);
    char *text = xmalloc(TOK_DETOK_MAX);
    int32_t out[SPEC_MAX_DRAFT + 1];
    long n_gen = 0;
    bool stop = false;
    while (!stop && n_gen < a->n_predict) {
        long want = a->n_predict - n_gen;
        int r =
            spec_step(s, out, want > SPEC_MAX_DRAFT + 1 ? SPEC_MAX_DRAFT + 1 : (int32_t)want, &err);
        if (r < 0) {
            if (err.code == HE_LIMIT)
                fprintf(stderr,
                        "\nhearth run: context full (-c); stopping after %ld generated tokens\n",
                        n_gen);
            else
                fprintf(stderr, "\nhearth run: %s\n", err.msg), rc = 1;
            break;
        }
        for (int i = 0; i < r; i++) {
            if (tok_is_eog(v, out[i])) {
                stop = true;
                break;
            }
            emit(&d, v, out[i], text);
            n_gen++;
        }
        if (spec_done(s)) break; /* the grammar is complete; nothing more may follow */
    }
    size_t n = tok_detok_flush(&d, text, TOK_DETOK_MAX);
    if (n) fwrite(text, 1, n > TOK_DETOK_MAX ? TOK_DETOK_MAX : n, stdout);
    fflush(stdout);
    free(text);
    spec_stats st = spec_get_stats(s);
    fprintf(stderr,
            "\nhearth run: speculative: %lld target passes, %lld drafted, %lld accepted (rate "
            "%.3f), %.2f tokens "
            "per target pass\n",
            (long long)st.steps, (long long)st.drafted, (long long)st.accepted,
            st.drafted ? (double)st.accepted / (double)st.drafted : 0.0,
            st.steps ? (double)st.emitted / (double)st.steps : 0.0);
    *n_gen_out = n_gen;
    spec_free(s);
    return rc;
}

int cmd_run(int argc, char **argv) {
    run_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;

    he_error err = {0};
    hearth_model *m = NULL;
    hearth_ctx *c = NULL, *dc = NULL;
    hearth_model *dm = NULL;
    bool speculative = a.draft || a.draft_layers || a.lookup;
    sample_chain *sc = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    hearth_batch b = {0};
    int status = 1;
    gram_grammar *gg = NULL;
    gram_vocab *gv = NULL;
    gram_matcher *gm = NULL;
    float *scratch = NULL;
    double t_gram = 0;

    double t0 = cli_now_s();
    m = hearth_model_load(a.model, NULL, &err);
    if (!m) {
        fprintf(stderr, "hearth run: %s\n", err.msg);
        goto done;
    }
    for (int i = 0; i < a.n_lora; i++) {
        hearth_lora *ad = hearth_lora_load(m, a.lora_path[i], &err);
        if (!ad || hearth_model_add_lora(m, ad, &err) < 0) {
            hearth_lora_free(ad);
            fprintf(stderr, "hearth run: %s: %s\n", a.lora_path[i], err.msg);
            goto done;
        }
    }
    const tok_vocab *v = hearth_model_vocab(m);
    if (!v) {
        fprintf(stderr, "hearth run: %s has no tokenizer (tokenizer.ggml.* metadata)\n", a.model);
        goto done;
    }
    if (tok_encode(v, a.prompt, strlen(a.prompt), true, true, &ids, &n_ids, &err)) {
        fprintf(stderr, "hearth run: tokenizing the prompt: %s\n", err.msg);
        goto done;
    }
    if (n_ids == 0) {
        fprintf(stderr, "hearth run: the prompt is empty after tokenization\n");
        goto done;
    }
    hearth_ctx_params cp = hearth_ctx_params_default();
    cp.n_ctx = (int32_t)a.n_ctx;
    cp.n_threads = (int32_t)a.threads;
    cp.n_outputs = speculative ? (int32_t)a.draft_max + 1 : 1;
    if (a.lookup) cp.n_outputs = (int32_t)a.lookup + 1;
    cp.kv_type = a.kv_type;
    c = hearth_ctx_new(m, &cp, &err);
    if (!c) {
        fprintf(stderr, "hearth run: %s\n", err.msg);
        goto done;
    }
    if (a.draft || a.draft_layers) {
        hearth_model_params dp = hearth_model_params_default();
        dp.n_layer_use = (int32_t)a.draft_layers;
        /* --draft-layers: the same file mapped again; the page cache holds its bytes once */
        dm = hearth_model_load(a.draft ? a.draft : a.model, &dp, &err);
        if (!dm) {
            fprintf(stderr, "hearth run: draft: %s\n", err.msg);
            goto done;
        }
        if (spec_check_vocab(m, dm, &err)) {
            fprintf(stderr, "hearth run: %s\n", err.msg);
            goto done;
        }
        hearth_ctx_params dcp = cp;
        dcp.n_ctx = hearth_ctx_n_ctx(c);
        dcp.n_outputs = 1;
        dc = hearth_ctx_new(dm, &dcp, &err);
        if (!dc) {
            fprintf(stderr, "hearth run: draft: %s\n", err.msg);
            goto done;
        }
    }
    for (int i = 0; i < a.n_lora; i++)
        if (hearth_ctx_set_lora(c, i, -1, a.lora_scale[i], &err)) {
            fprintf(stderr, "hearth run: %s\n", err.msg);
            goto done;
        }
    int32_t n_ctx = hearth_ctx_n_ctx(c), n_batch = hearth_ctx_n_batch(c);
    if (n_ids > (size_t)n_ctx) {
        fprintf(stderr,
                "hearth run: the prompt is %zu tokens, %zu more than the context size %d (-c)\n",
                n_ids, n_ids - (size_t)n_ctx, n_ctx);
        goto done;
    }
    sc = sample_chain_new(&a.sp, hearth_model_n_vocab(m), &err);
    if (!sc) {
        fprintf(stderr, "hearth run: %s\n", err.msg);
        goto done;
    }
    if (a.grammar_file || a.schema_file || a.json) {
        char *gtext = load_grammar_text(&a);
        if (!gtext) goto done;
        gg = gram_parse(gtext, strlen(gtext), NULL, &err);
        free(gtext);
        if (!gg) {
            fprintf(stderr, "hearth run: %s: %s\n", a.grammar_file ? a.grammar_file : "grammar",
                    err.msg);
            goto done;
        }
        gv = gram_vocab_from_tok(v, &err);
        gm = gv ? gram_matcher_new(gg, gv, &err) : NULL;
        if (!gm) {
            fprintf(stderr, "hearth run: %s\n", err.msg);
            goto done;
        }
        scratch = xmalloc((size_t)hearth_model_n_vocab(m) * sizeof *scratch);
    }
    double t_load = cli_now_s() - t0;
    /* with a sliding-window ring, also what the full cache would take */
    char kv_full[96] = "";
    if (hearth_ctx_kv_bytes(c) != hearth_ctx_kv_bytes_full(c))
        snprintf(kv_full, sizeof kv_full, "; %.2f MiB without the sliding-window ring of %d rows",
                 (double)hearth_ctx_kv_bytes_full(c) / (1024.0 * 1024.0), hearth_ctx_swa_rows(c));
    fprintf(stderr,
            "hearth run: loaded %s (%s, %d layers) in %.3f s; prompt %zu tokens, context %d "
            "(KV %s, %.2f MiB%s), %d threads\n",
            a.model, hearth_model_arch(m), hearth_model_n_layer(m), t_load, n_ids, n_ctx,
            hearth_kv_type_name(a.kv_type), (double)hearth_ctx_kv_bytes(c) / (1024.0 * 1024.0),
            kv_full, hearth_ctx_n_threads(c));

    if (speculative) {
        double t_p = 0, t2s = cli_now_s();
        long n_gen_s = 0;
        status = generate_spec(&a, c, dc, sc, gm, v, ids, n_ids, &t_p, &n_gen_s);
        double t_g = cli_now_s() - t2s - t_p;
        fprintf(stderr,
                "hearth run: prompt %zu tokens in %.3f s (%.1f tok/s); generated %ld tokens in "
                "%.3f s (%.1f "
                "tok/s)\n",
                n_ids, t_p, t_p > 0 ? (double)n_ids / t_p : 0.0, n_gen_s, t_g,
                t_g > 0 ? (double)n_gen_s / t_g : 0.0);
        goto done;
    }
    /* prompt, in chunks; logits only for its last token */
    hearth_batch_init(&b, n_batch);
    double t1 = cli_now_s();
    for (size_t i = 0; i < n_ids; i += (size_t)n_batch) {
        hearth_batch_clear(&b);
        size_t end = i + (size_t)n_batch < n_ids ? i + (size_t)n_batch : n_ids;
        for (size_t j = i; j < end; j++)
            hearth_batch_add(&b, ids[j], (int32_t)j, 0, j == n_ids - 1);
        if (hearth_decode(c, &b, &err)) {
            fprintf(stderr, "hearth run: %s\n", err.msg);
            goto done;
        }
    }
    for (size_t j = 0; j < n_ids; j++)
        sample_chain_accept(sc, ids[j]);
    double t_prompt = cli_now_s() - t1;

    /* generation */
    tok_detok d;
    tok_detok_init(&d);
    char *text = xmalloc(TOK_DETOK_MAX);
    int32_t pos = (int32_t)n_ids;
    const float *logits = hearth_logits(c, b.n_tokens - 1);
    long n_gen = 0;
    double t2 = cli_now_s();
    status = 0;
    while (n_gen < a.n_predict) {
        int32_t id;
        if (gm) {
            double tg = cli_now_s();
            id = gram_sample(gm, sc, logits, scratch, &err);
            t_gram += cli_now_s() - tg;
            if (id < 0) {
                fprintf(stderr, "\nhearth run: %s\n", err.msg);
                status = 1;
                break;
            }
        } else {
            id = sample_chain_sample(sc, logits);
        }
        if (tok_is_eog(v, id)) break;
        emit(&d, v, id, text);
        sample_chain_accept(sc, id);
        n_gen++;
        if (n_gen == a.n_predict) break;
        if (gm && gram_matcher_must_end(gm)) break; /* complete; nothing more may follow */
        if (pos >= n_ctx) {
            fprintf(
                stderr,
                "\nhearth run: context full (%d tokens, -c); stopping after %ld generated tokens\n",
                n_ctx, n_gen);
            break;
        }
        hearth_batch_clear(&b);
        hearth_batch_add(&b, id, pos++, 0, true);
        if (hearth_decode(c, &b, &err)) {
            fprintf(stderr, "\nhearth run: %s\n", err.msg);
            status = 1;
            break;
        }
        logits = hearth_logits(c, 0);
    }
    size_t n = tok_detok_flush(&d, text, TOK_DETOK_MAX);
    if (n) fwrite(text, 1, n > TOK_DETOK_MAX ? TOK_DETOK_MAX : n, stdout);
    fflush(stdout);
    free(text);
    double t_gen = cli_now_s() - t2;
    fprintf(stderr,
            "\nhearth run: prompt %zu tokens in %.3f s (%.1f tok/s); generated %ld tokens in %.3f "
            "s (%.1f tok/s)\n",
            n_ids, t_prompt, t_prompt > 0 ? (double)n_ids / t_prompt : 0.0, n_gen, t_gen,
            t_gen > 0 ? (double)n_gen / t_gen : 0.0);
    if (gm) {
        fprintf(stderr, "hearth run: grammar %.3f s (%.2f ms/token)%s\n", t_gram,
                n_gen ? t_gram * 1e3 / (double)n_gen : 0.0,
                gram_matcher_can_end(gm) ? "; output complete"
                                         : "; output INCOMPLETE (-n reached)");
    }
done:
    gram_matcher_free(gm);
    gram_vocab_free(gv);
    gram_free(gg);
    free(scratch);
    hearth_batch_deinit(&b);
    free(ids);
    sample_chain_free(sc);
    hearth_ctx_free(dc);
    hearth_ctx_free(c);
    hearth_model_free(dm);
    hearth_model_free(m);
    return status;
}
