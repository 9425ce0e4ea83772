/* test_tokenizer.c — the tokenizer against llama.cpp's vocab test vectors (every
 * fixtures/vocab/NAME.gguf with .inp/.out), detokenization round trips, streaming UTF-8 holding,
 * special-token matching, BOS/EOS defaults, and hostile vocab metadata (SECURITY.md G22–G24)
 * built as GGUF bytes in memory. The vocab files and stories260K come from tests/data (fixtures.h). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "fixtures.h"

/* ---- Helpers ---- */

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)l + 1);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)l, f), (size_t)l);
    b[l] = 0;
    fclose(f);
    *n = (size_t)l;
    return b;
}

static tok_vocab *load_vocab_file(const char *path) {
    he_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    cr_assert(f, "%s: %s", path, err.msg);
    tok_vocab *v = tok_vocab_load(f, &err);
    gguf_close(f);
    cr_assert(v, "%s: %s", path, err.msg);
    return v;
}

static tok_vocab *load_fixture(const char *name) {
    char rel[128], path[1024];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    return load_vocab_file(fixture_path(path, sizeof path, rel));
}

static void encode(const tok_vocab *v, const char *text, size_t len, bool add_special,
                   bool parse_special, int32_t **ids, size_t *n) {
    he_error err = {0};
    int rc = tok_encode(v, text, len, add_special, parse_special, ids, n, &err);
    cr_assert_eq(rc, 0, "encode: %s", err.msg);
}

/* Concatenated bytes of ids (render_special off), malloc'd, NUL-terminated; *n its length. */
static char *decode_all(const tok_vocab *v, const int32_t *ids, size_t n_ids, size_t *n) {
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++)
        total += tok_token_bytes(v, ids[i], false, NULL, 0);
    char *out = malloc(total + 1);
    size_t pos = 0;
    for (size_t i = 0; i < n_ids; i++)
        pos += tok_token_bytes(v, ids[i], false, out + pos, total - pos);
    out[pos] = 0;
    *n = pos;
    return out;
}

/* Streams ids through tok_detok; returns the text (malloc'd). */
static char *stream_all(const tok_vocab *v, const int32_t *ids, size_t n_ids, size_t *n) {
    size_t cap = (n_ids + 2) * TOK_DETOK_MAX, pos = 0;
    char *out = malloc(cap + 1);
    tok_detok d;
    tok_detok_init(&d);
    for (size_t i = 0; i < n_ids; i++)
        pos += tok_detok_push(&d, v, ids[i], false, out + pos, TOK_DETOK_MAX);
    pos += tok_detok_flush(&d, out + pos, TOK_DETOK_MAX);
    out[pos] = 0;
    *n = pos;
    return out;
}

static void expect_ids(const int32_t *got, size_t n, const int32_t *want, size_t wn,
                       const char *what);

/* ---- llama.cpp test vectors ---- */

typedef struct {
    int pass, total;
    int roundtrip_ok;
} vec_result;

/* The .out lines were produced with add_special = false and parse_special = false (llama.cpp's
 * test-tokenizer-0 calls common_tokenize(ctx, text, false)); the vectors confirm it: no line
 * starts with BOS. */
static vec_result run_vectors(const char *name, bool roundtrip) {
    char rel[128], path[1024];
    size_t ni, no;
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.inp", name);
    fixture_path(path, sizeof path, rel);
    char *inp = slurp(path, &ni);
    cr_assert(inp, "%s missing", path);
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.out", name);
    fixture_path(path, sizeof path, rel);
    char *outp = slurp(path, &no);
    cr_assert(outp, "%s missing", path);
    tok_vocab *v = load_fixture(name);
    bool spm = !strcmp(tok_model_name(v), "llama");

    vec_result r = {0, 0, 0};
    const char *sep = "\n__ggml_vocab_test__\n";
    char *p = inp, *o = outp;
    for (;;) {
        char *e = strstr(p, sep);
        char *ol = strchr(o, '\n');
        if (!e || !ol) break;
        *e = 0;
        *ol = 0;
        size_t tl = (size_t)(e - p);
        int32_t *ids;
        size_t n;
        encode(v, p, tl, false, false, &ids, &n);
        char got[1 << 16];
        size_t gl = 0;
        for (size_t i = 0; i < n && gl + 16 < sizeof got; i++)
            gl += (size_t)snprintf(got + gl, sizeof got - gl, " %d", ids[i]);
        got[gl] = 0;
        const char *want = o, *have = got;
        while (*want == ' ')
            want++;
        while (*have == ' ')
            have++;
        r.total++;
        if (!strcmp(want, have))
            r.pass++;
        else
            cr_log_warn("%s: %s\n  want: %s\n  got:  %s", name, p, want, have);

        /* Round trip: byte-level BPE gives the text back exactly; SentencePiece gives it with the
         * space prefix it added. Streaming yields the same bytes as whole-token decoding. */
        size_t dl, sl;
        char *dec = decode_all(v, ids, n, &dl);
        char *str = stream_all(v, ids, n, &sl);
        bool prefix = spm && tl > 0;
        bool ok =
            dl == tl + prefix && memcmp(dec + prefix, p, tl) == 0 && (!prefix || dec[0] == ' ');
        ok = ok && sl == dl && memcmp(str, dec, dl) == 0;
        if (ok)
            r.roundtrip_ok++;
        else if (roundtrip)
            cr_log_warn("%s: round trip of '%s' gave '%s' / streamed '%s'", name, p, dec, str);
        free(dec);
        free(str);
        free(ids);
        p = e + strlen(sep);
        o = ol + 1;
    }
    cr_log_info("%s: %d/%d vectors, %d/%d round trips", name, r.pass, r.total, r.roundtrip_ok,
                r.total);
    fprintf(stderr, "vocab %-16s %d/%d vectors, %d/%d round trips\n", name, r.pass, r.total,
            r.roundtrip_ok, r.total);
    tok_vocab_free(v);
    free(inp);
    free(outp);
    return r;
}

#define VECTORS(id, name, roundtrip)                                                               \
    Test(vectors, id) {                                                                            \
        vec_result r = run_vectors(name, roundtrip);                                               \
        cr_assert_gt(r.total, 0);                                                                  \
        cr_expect_eq(r.pass, r.total, "%s: %d/%d vectors pass", name, r.pass, r.total);            \
        if (roundtrip)                                                                             \
            cr_expect_eq(r.roundtrip_ok, r.total, "%s: %d/%d round trips", name, r.roundtrip_ok,   \
                         r.total);                                                                 \
    }

/* must pass */
VECTORS(llama_spm, "llama-spm", true)
VECTORS(llama_bpe, "llama-bpe", true)
VECTORS(qwen2, "qwen2", true)
VECTORS(gpt_2, "gpt-2", true)
VECTORS(phi_3, "phi-3", true)
/* the other pre-tokenizers. Round trips are not asserted where user-defined tokens change the
 * text on the way back (none of these do today, but the vectors are not ours to choose). */
VECTORS(deepseek_coder, "deepseek-coder", true)
VECTORS(deepseek_llm, "deepseek-llm", true)
VECTORS(falcon, "falcon", true)
VECTORS(mpt, "mpt", true)
VECTORS(refact, "refact", true)
VECTORS(starcoder, "starcoder", true)
/* gpt-oss: o200k_harmony (tools/gen_o200k_harmony_vocab.mjs; ids by js-tiktoken) */
VECTORS(o200k_harmony, "o200k-harmony", true)

/* WordPiece: the text comes back lower-cased and without accents, so no round trip */
VECTORS(bert_bge, "bert-bge", false)

Test(vectors, bert_adds_cls_and_sep) {
    tok_vocab *v = load_fixture("bert-bge");
    int32_t *ids;
    size_t n;
    encode(v, "Hello world", 11, true, true, &ids, &n);
    expect_ids(ids, n, (int32_t[]){101, 7592, 2088, 102}, 4, "bert cls/sep");
    free(ids);
    tok_vocab_free(v);
}

Test(vectors, vocab_only_files_without_vectors_load) {
    const char *names[] = {"baichuan", "gpt-neox"};
    for (size_t i = 0; i < 2; i++) {
        tok_vocab *v = load_fixture(names[i]);
        int32_t *ids;
        size_t n;
        encode(v, "Hello world", 11, true, true, &ids, &n);
        cr_assert_gt(n, 1);
        free(ids);
        tok_vocab_free(v);
    }
}

/* ---- BOS/EOS, specials, end of generation ---- */

static void expect_ids(const int32_t *got, size_t n, const int32_t *want, size_t wn,
                       const char *what) {
    cr_assert_eq(n, wn, "%s: %zu ids, want %zu", what, n, wn);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "%s: id[%zu] = %d, want %d", what, i, got[i], want[i]);
}

Test(specials, bos_defaults) {
    tok_vocab *spm = load_fixture("llama-spm"), *l3 = load_fixture("llama-bpe"),
              *qw = load_fixture("qwen2");
    int32_t *ids;
    size_t n;
    cr_assert(tok_add_bos(spm) && tok_add_bos(l3) && !tok_add_bos(qw));
    cr_assert(!tok_add_eos(spm) && !tok_add_eos(l3) && !tok_add_eos(qw));
    encode(spm, "Hello world", 11, true, false, &ids, &n);
    expect_ids(ids, n, (int32_t[]){1, 15043, 3186}, 3, "llama-spm");
    free(ids);
    encode(l3, "Hello world", 11, true, false, &ids, &n);
    cr_assert_eq(ids[0], 128000);
    cr_assert_eq(n, 3);
    free(ids);
    encode(qw, "Hello world", 11, true, false, &ids, &n);
    cr_assert_eq(n, 2); /* Qwen adds no BOS */
    free(ids);
    cr_assert_eq(tok_bos(qw), -1);
    cr_assert_eq(tok_eos(qw), 151645);
    tok_vocab_free(spm);
    tok_vocab_free(l3);
    tok_vocab_free(qw);
}

Test(specials, control_tokens_only_when_asked) {
    tok_vocab *v = load_fixture("qwen2");
    const char *t = "<|im_start|>user\nhi<|im_end|>";
    int32_t *ids;
    size_t n;
    encode(v, t, strlen(t), false, true, &ids, &n);
    cr_assert_eq(ids[0], 151644);
    cr_assert_eq(ids[n - 1], 151645);
    free(ids);
    encode(v, t, strlen(t), false, false, &ids, &n);
    for (size_t i = 0; i < n; i++)
        cr_assert(ids[i] != 151644 && ids[i] != 151645);
    size_t dl;
    char *dec = decode_all(v, ids, n, &dl);
    cr_assert_str_eq(dec, t);
    free(dec);
    free(ids);
    /* user-defined tokens (<think>) are matched even without parse_special, like HF added tokens */
    encode(v, "<think>x", 8, false, false, &ids, &n);
    cr_assert_eq(ids[0], 151667);
    free(ids);
    cr_assert(tok_is_eog(v, 151645) && tok_is_eog(v, 151643) && !tok_is_eog(v, 151644));
    cr_assert(tok_is_control(v, 151644) && !tok_is_control(v, 151667));
    /* control tokens render only on request */
    char buf[64];
    cr_assert_eq(tok_token_bytes(v, 151644, false, buf, sizeof buf), 0);
    cr_assert_eq(tok_token_bytes(v, 151644, true, buf, sizeof buf), 12);
    cr_assert(!memcmp(buf, "<|im_start|>", 12));
    tok_vocab_free(v);
}

Test(specials, leftmost_longest_and_spm_prefix_after_special) {
    tok_vocab *v = load_fixture("llama-spm");
    int32_t *ids;
    size_t n;
    /* "<s>" typed in text is not the control token unless parse_special */
    encode(v, "<s>Hello", 8, false, true, &ids, &n);
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(ids[1], 15043); /* "▁Hello": the space prefix follows a special token */
    free(ids);
    encode(v, "<s>Hello", 8, false, false, &ids, &n);
    for (size_t i = 0; i < n; i++)
        cr_assert_neq(ids[i], 1);
    free(ids);
    tok_vocab_free(v);
}

Test(specials, llama3_eog_set) {
    tok_vocab *v = load_fixture("llama-bpe");
    cr_assert(tok_is_eog(v, 128009)); /* <|eot_id|>, the file's eos */
    cr_assert(tok_is_eog(v, 128001)); /* <|end_of_text|> */
    cr_assert(!tok_is_eog(v, 128000));
    cr_assert(!tok_is_eog(v, -1) && !tok_is_eog(v, 1 << 30));
    tok_vocab_free(v);
}

/* ---- stories260K, what `hearth run` tokenizes ---- */

Test(stories, prompt_and_continuation) {
    char path[1024];
    fixture_path(path, sizeof path, "models/stories260K.gguf");
    tok_vocab *v = load_vocab_file(path);
    int32_t *ids;
    size_t n;
    encode(v, "Once upon a time", 16, true, true, &ids, &n);
    expect_ids(ids, n, (int32_t[]){1, 403, 407, 261, 378}, 5, "stories260K prompt");
    free(ids);
    /* the reference continuation begins with 432: the first printed text starts with "," and
     * no leading space is removed from any token */
    char buf[64];
    size_t k = tok_token_bytes(v, 432, false, buf, sizeof buf);
    cr_assert(k >= 1 && buf[0] == ',');
    int32_t there = tok_find(v, "\xe2\x96\x81there", 8);
    if (there >= 0) {
        tok_detok d;
        tok_detok_init(&d);
        char out[TOK_DETOK_MAX];
        size_t m = tok_detok_push(&d, v, there, false, out, sizeof out);
        cr_assert_eq(m, 6);
        cr_assert(!memcmp(out, " there", 6));
    }
    tok_vocab_free(v);
}

/* Every case of stories260K.reference.json: the prompt encodes to prompt_ids, and streaming the
 * generated ids reproduces llama.cpp's text exactly. */
Test(stories, reference_prompts_and_texts) {
    char path[1024];
    fixture_path(path, sizeof path, "models/stories260K.gguf");
    tok_vocab *v = load_vocab_file(path);
    fixture_path(path, sizeof path, "models/stories260K.reference.json");
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    cr_assert(ref, "%s: %s", path, je.text);
    json_t *cases = json_object_get(ref, "cases");
    cr_assert_gt(json_array_size(cases), 0);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c);
        const char *prompt = json_string_value(json_object_get(cs, "prompt"));
        json_t *pids = json_object_get(cs, "prompt_ids"), *ids = json_object_get(cs, "ids");
        int32_t *got;
        size_t n;
        encode(v, prompt, strlen(prompt), true, true, &got, &n);
        cr_assert_eq(n, json_array_size(pids), "case %zu", c);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(got[i], json_integer_value(json_array_get(pids, i)), "case %zu id %zu", c,
                         i);
        free(got);
        size_t m = json_array_size(ids), len = 0;
        int32_t *gen = malloc(m * sizeof *gen);
        for (size_t i = 0; i < m; i++)
            gen[i] = (int32_t)json_integer_value(json_array_get(ids, i));
        char *text = stream_all(v, gen, m, &len);
        cr_assert_str_eq(text, json_string_value(json_object_get(cs, "text")), "case %zu", c);
        free(text);
        free(gen);
    }
    json_decref(ref);
    tok_vocab_free(v);
}

/* ---- Streaming detokenizer ---- */

Test(detok, holds_split_utf8_until_complete) {
    tok_vocab *v = load_fixture("llama-spm");
    /* 🦙 = F0 9F A6 99 is spelled with four byte tokens */
    int32_t bytes[4];
    const unsigned char llama[] = {0xF0, 0x9F, 0xA6, 0x99};
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", llama[i]);
        bytes[i] = tok_find(v, name, 6);
        cr_assert_geq(bytes[i], 0);
    }
    tok_detok d;
    tok_detok_init(&d);
    char out[TOK_DETOK_MAX];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tok_detok_push(&d, v, bytes[i], false, out, sizeof out), 0);
    cr_assert_eq(tok_detok_push(&d, v, bytes[3], false, out, sizeof out), 4);
    cr_assert(!memcmp(out, llama, 4));
    /* an incomplete character at the end becomes U+FFFD */
    cr_assert_eq(tok_detok_push(&d, v, bytes[0], false, out, sizeof out), 0);
    cr_assert_eq(tok_detok_flush(&d, out, sizeof out), 3);
    cr_assert(!memcmp(out, "\xef\xbf\xbd", 3));
    /* a lone continuation byte cannot start a character: replaced at once */
    size_t m = tok_detok_push(&d, v, bytes[2], false, out, sizeof out);
    cr_assert_eq(m, 3);
    cr_assert_eq(tok_detok_flush(&d, out, sizeof out), 0);
    tok_vocab_free(v);
}

Test(detok, capacity_is_respected) {
    tok_vocab *v = load_fixture("qwen2");
    int32_t id = tok_find(v, "\xc4\xa0the", 5); /* "Ġthe" */
    cr_assert_geq(id, 0);
    char buf[8] = "xxxxxxx";
    cr_assert_eq(tok_token_bytes(v, id, false, NULL, 0), 4);
    cr_assert_eq(tok_token_bytes(v, id, false, buf, 2), 4);
    cr_assert(!memcmp(buf, " txxxxx", 7));
    cr_assert_eq(tok_token_bytes(v, -1, false, buf, sizeof buf), 0);
    cr_assert_eq(tok_token_bytes(v, tok_n_vocab(v), false, buf, sizeof buf), 0);
    cr_assert_null(tok_text(v, tok_n_vocab(v)));
    tok_vocab_free(v);
}

/* Qwen's Hugging Face tokenizer NFC-normalizes; hearth does too for that pre-tokenizer. */
Test(input, qwen_normalizes_nfc) {
    tok_vocab *v = load_fixture("qwen2");
    const char *pairs[][2] = {
        {"e\xcc\x81", "\xc3\xa9"},                                /* e + U+0301 -> é */
        {"\xe2\x84\xab", "\xc3\x85"},                             /* Angstrom sign -> Å */
        {"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"}, /* jamo -> 각 */
        {"a\xcc\x81\xcc\xa8", "\xc4\x85\xcc\x81"}, /* marks reordered, then ą + U+0301 */
    };
    for (size_t i = 0; i < 4; i++) {
        int32_t *a, *b;
        size_t na, nb;
        encode(v, pairs[i][0], strlen(pairs[i][0]), false, false, &a, &na);
        encode(v, pairs[i][1], strlen(pairs[i][1]), false, false, &b, &nb);
        expect_ids(a, na, b, nb, pairs[i][1]);
        free(a);
        free(b);
    }
    tok_vocab_free(v);
    /* Llama 3's tokenizer does not normalize: the decomposed form stays different */
    v = load_fixture("llama-bpe");
    int32_t *a, *b;
    size_t na, nb;
    encode(v, "e\xcc\x81", 3, false, false, &a, &na);
    encode(v, "\xc3\xa9", 2, false, false, &b, &nb);
    cr_assert(na != nb || memcmp(a, b, na * sizeof *a) != 0);
    free(a);
    free(b);
    tok_vocab_free(v);
}

/* ---- Invalid UTF-8 and odd input ---- */

Test(input, invalid_utf8_round_trips) {
    const char *names[] = {"llama-spm", "qwen2", "gpt-2"};
    const char text[] = "a\xff\xfe b\xc3 \xe2\x82 \x80\x80z\xf0\x9f\xa6";
    size_t tl = sizeof text - 1;
    for (size_t k = 0; k < 3; k++) {
        tok_vocab *v = load_fixture(names[k]);
        int32_t *ids;
        size_t n, dl;
        encode(v, text, tl, false, true, &ids, &n);
        char *dec = decode_all(v, ids, n, &dl);
        size_t off = !strcmp(names[k], "llama-spm"); /* SPM's space prefix */
        cr_assert_eq(dl, tl + off, "%s", names[k]);
        cr_assert(!memcmp(dec + off, text, tl), "%s", names[k]);
        free(dec);
        free(ids);
        /* embedded NUL bytes are text too */
        encode(v, "a\0b", 3, false, true, &ids, &n);
        dec = decode_all(v, ids, n, &dl);
        cr_assert_eq(dl, 3 + off);
        free(dec);
        free(ids);
        tok_vocab_free(v);
    }
}

Test(input, one_megabyte_is_fast, .timeout = 60) {
    tok_vocab *v = load_fixture("qwen2");
    size_t len = 1 << 20;
    char *text = malloc(len);
    const char *words[] = {"hello ", "world, ", "12345 ",    "\xe4\xbd\xa0\xe5\xa5\xbd ",
                           "    ",   "\n",      "tokenizer", "\xf0\x9f\x98\x80",
                           "x=1;"};
    unsigned s = 12345;
    for (size_t i = 0; i < len;) {
        s = s * 1103515245u + 12345u;
        const char *w = words[(s >> 16) % 9];
        for (size_t j = 0; w[j] && i < len; j++)
            text[i++] = w[j];
    }
    clock_t t0 = clock();
    int32_t *ids;
    size_t n;
    encode(v, text, len, false, false, &ids, &n);
    double sec = (double)(clock() - t0) / CLOCKS_PER_SEC;
    cr_log_info("1 MiB -> %zu tokens in %.2f s", n, sec);
    cr_assert_gt(n, len / 16);
    size_t dl;
    char *dec = decode_all(v, ids, n, &dl);
    cr_assert_eq(dl, len);
    cr_assert(!memcmp(dec, text, len));
    free(dec);
    free(ids);
    /* one long word without spaces must not go quadratic either */
    memset(text, 'a', len);
    encode(v, text, len, false, false, &ids, &n);
    cr_assert_gt(n, 0);
    free(ids);
    free(text);
    tok_vocab_free(v);
}

/* Many special tokens sharing a prefix must not make matching quadratic (a trie, capped length). */
Test(input, many_special_tokens_stay_fast, .timeout = 30) {
    enum { N = 20000 };
    char **toks = malloc(N * sizeof *toks);
    int32_t *types = malloc(N * sizeof *types);
    for (int i = 0; i < N; i++) {
        toks[i] = malloc(32);
        snprintf(toks[i], 32, i < 256 ? "%c" : "<|aaaa%d|>", i < 256 ? (i ? i : 1) : i);
        types[i] = i < 256 ? TOK_ATTR_NORMAL : TOK_ATTR_CONTROL;
    }
    toks[0][0] = 'z'; /* avoid an empty text */
    char long_tok[400];
    free(toks[N - 1]);
    memset(long_tok, 'a', sizeof long_tok - 1);
    long_tok[sizeof long_tok - 1] = 0;
    toks[N - 1] = long_tok; /* longer than TOK_SPECIAL_MAX_LEN: never matched in text */
    tok_vocab_desc d = {.model = "gpt2",
                        .pre = "gpt-2",
                        .n_vocab = N,
                        .tokens = (const char *const *)toks,
                        .types = types,
                        .bos = -1,
                        .eos = -1,
                        .unk = -1,
                        .pad = -1,
                        .eot = -1,
                        .eom = -1,
                        .add_bos = -1,
                        .add_eos = -1,
                        .add_space_prefix = -1};
    he_error err = {0};
    tok_vocab *v = tok_vocab_new(&d, &err);
    cr_assert(v, "%s", err.msg);
    size_t len = 1 << 18;
    char *text = malloc(len);
    for (size_t i = 0; i < len; i++)
        text[i] = "<|aaaa"[i % 6];
    int32_t *ids;
    size_t n;
    clock_t t0 = clock();
    encode(v, text, len, false, true, &ids, &n);
    cr_assert_lt((double)(clock() - t0) / CLOCKS_PER_SEC, 5.0);
    free(ids);
    memcpy(text, "<|aaaa300|>", 11);
    encode(v, text, 11, false, true, &ids, &n);
    expect_ids(ids, n, (int32_t[]){300}, 1, "special in a crowd");
    free(ids);
    tok_vocab_free(v);
    for (int i = 0; i < N - 1; i++)
        free(toks[i]);
    free(toks);
    free(types);
    free(text);
}

/* ---- Hostile metadata (SECURITY.md G22–G24), as GGUF bytes built in memory ---- */

typedef struct {
    unsigned char *b;
    size_t n, cap;
    uint64_t n_kv;
} gbuf;

static void put(gbuf *g, const void *p, size_t n) {
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2 + 256;
        g->b = realloc(g->b, g->cap);
    }
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void put_u32(gbuf *g, uint32_t x) { put(g, &x, 4); }
static void put_u64(gbuf *g, uint64_t x) { put(g, &x, 8); }
static void put_str(gbuf *g, const char *s) {
    put_u64(g, strlen(s));
    put(g, s, strlen(s));
}
static void kv_str(gbuf *g, const char *k, const char *v) {
    put_str(g, k);
    put_u32(g, GGUF_TYPE_STRING);
    put_str(g, v);
    g->n_kv++;
}
static void kv_u32(gbuf *g, const char *k, uint32_t v) {
    put_str(g, k);
    put_u32(g, GGUF_TYPE_UINT32);
    put_u32(g, v);
    g->n_kv++;
}
static void kv_i32(gbuf *g, const char *k, int32_t v) {
    put_str(g, k);
    put_u32(g, GGUF_TYPE_INT32);
    put(g, &v, 4);
    g->n_kv++;
}
static void kv_strs(gbuf *g, const char *k, const char *const *s, size_t n) {
    put_str(g, k);
    put_u32(g, GGUF_TYPE_ARRAY);
    put_u32(g, GGUF_TYPE_STRING);
    put_u64(g, n);
    for (size_t i = 0; i < n; i++)
        put_str(g, s[i]);
    g->n_kv++;
}
static void kv_arr(gbuf *g, const char *k, gguf_type t, const void *data, size_t n, size_t elem) {
    put_str(g, k);
    put_u32(g, GGUF_TYPE_ARRAY);
    put_u32(g, t);
    put_u64(g, n);
    put(g, data, n * elem);
    g->n_kv++;
}

/* Wraps the collected kvs in a GGUF v3 header (no tensors) and loads it. */
static tok_vocab *load_kvs(gbuf *kvs, he_error *err) {
    gbuf g = {0};
    put(&g, "GGUF", 4);
    put_u32(&g, 3);
    put_u64(&g, 0);
    put_u64(&g, kvs->n_kv);
    put(&g, kvs->b, kvs->n);
    while (g.n % 32)
        put(&g, "", 1);
    gguf_file *f = gguf_open_buffer(g.b, g.n, err);
    cr_assert(f, "test GGUF rejected by the reader: %s", err->msg);
    tok_vocab *v = tok_vocab_load(f, err);
    gguf_close(f);
    free(g.b);
    free(kvs->b);
    return v;
}

static const char *const spm_tokens[] = {"<unk>",
                                         "<s>",
                                         "</s>",
                                         "<0x41>",
                                         ("\xe2\x96\x81"
                                          "a"),
                                         "b"};
static const float spm_scores[] = {0, 0, 0, 0, -1, -2};
static const int32_t spm_types[] = {2, 3, 3, 6, 1, 1};

/* A valid 6-token SPM vocab; each test breaks one thing (skip = which key to leave out). */
static void base_kvs(gbuf *g, const char *skip) {
    kv_str(g, "tokenizer.ggml.model", "llama");
    if (strcmp(skip, "tokens")) kv_strs(g, "tokenizer.ggml.tokens", spm_tokens, 6);
    if (strcmp(skip, "scores"))
        kv_arr(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, spm_scores, 6, 4);
    if (strcmp(skip, "types"))
        kv_arr(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, spm_types, 6, 4);
    if (strcmp(skip, "bos")) kv_u32(g, "tokenizer.ggml.bos_token_id", 1);
}

static void expect_fail(gbuf *g, he_code code, const char *needle) {
    he_error err = {0};
    tok_vocab *v = load_kvs(g, &err);
    cr_assert_null(v, "expected an error mentioning '%s'", needle);
    cr_assert_eq(err.code, code, "code %d (%s)", err.code, err.msg);
    cr_assert(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
}

Test(hostile, valid_base_loads) {
    gbuf g = {0};
    base_kvs(&g, "");
    he_error err = {0};
    tok_vocab *v = load_kvs(&g, &err);
    cr_assert(v, "%s", err.msg);
    int32_t *ids;
    size_t n;
    encode(v, "ab", 2, true, false, &ids, &n);
    expect_ids(ids, n, (int32_t[]){1, 4, 5}, 3, "tiny spm");
    free(ids);
    encode(v, "A", 1, false, false, &ids,
           &n); /* "▁" unknown -> <unk> (no byte token), "A" -> <0x41> */
    cr_assert_eq(ids[n - 1], 3);
    free(ids);
    tok_vocab_free(v);
}

Test(hostile, tokens_not_strings) {
    gbuf g = {0};
    base_kvs(&g, "tokens");
    int32_t bad[6] = {0};
    kv_arr(&g, "tokenizer.ggml.tokens", GGUF_TYPE_INT32, bad, 6, 4);
    expect_fail(&g, HE_FORMAT, "tokenizer.ggml.tokens");
}

Test(hostile, scores_uint8) {
    gbuf g = {0};
    base_kvs(&g, "scores");
    uint8_t bad[6] = {0};
    kv_arr(&g, "tokenizer.ggml.scores", GGUF_TYPE_UINT8, bad, 6, 1);
    expect_fail(&g, HE_FORMAT, "tokenizer.ggml.scores");
}

Test(hostile, scores_too_short) {
    gbuf g = {0};
    base_kvs(&g, "scores");
    kv_arr(&g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, spm_scores, 5, 4);
    expect_fail(&g, HE_FORMAT, "tokenizer.ggml.scores");
}

Test(hostile, token_type_too_long) {
    gbuf g = {0};
    base_kvs(&g, "types");
    int32_t t[7] = {1, 1, 1, 1, 1, 1, 1};
    kv_arr(&g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, t, 7, 4);
    expect_fail(&g, HE_FORMAT, "tokenizer.ggml.token_type");
}

Test(hostile, token_type_float) {
    gbuf g = {0};
    base_kvs(&g, "types");
    kv_arr(&g, "tokenizer.ggml.token_type", GGUF_TYPE_FLOAT32, spm_scores, 6, 4);
    expect_fail(&g, HE_FORMAT, "tokenizer.ggml.token_type");
}

Test(hostile, token_type_unknown_value) {
    gbuf g = {0};
    base_kvs(&g, "types");
    int32_t t[6] = {2, 3, 3, 6, 1, 99};
    kv_arr(&g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, t, 6, 4);
    expect_fail(&g, HE_FORMAT, "token_type[5]");
}

Test(hostile, bos_out_of_range) {
    const int64_t bad[] = {6, 1000000, 0x7FFFFFFF, 0xFFFFFFFEll};
    for (size_t i = 0; i < 4; i++) {
        gbuf g = {0};
        base_kvs(&g, "bos");
        kv_u32(&g, "tokenizer.ggml.bos_token_id", (uint32_t)bad[i]);
        expect_fail(&g, HE_FORMAT, "bos_token_id");
    }
    gbuf g = {0};
    base_kvs(&g, "");
    kv_i32(&g, "tokenizer.ggml.eos_token_id", -7);
    expect_fail(&g, HE_FORMAT, "eos_token_id");
}

Test(hostile, none_ids_are_accepted) {
    gbuf g = {0};
    base_kvs(&g, "bos");
    kv_u32(&g, "tokenizer.ggml.bos_token_id",
           0xFFFFFFFFu); /* what stories260K's converter writes */
    kv_i32(&g, "tokenizer.ggml.eos_token_id", -1);
    he_error err = {0};
    tok_vocab *v = load_kvs(&g, &err);
    cr_assert(v, "%s", err.msg);
    cr_assert_eq(tok_bos(v), -1);
    cr_assert_eq(tok_eos(v), -1);
    tok_vocab_free(v);
}

Test(hostile, bad_byte_tokens) {
    const char *bad[] = {"<0x-1>", "<0xZZ>", "<0x100>", "<0x4>", "<0x41", "0x41>", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *toks[] = {"<unk>",
                              "<s>",
                              "</s>",
                              bad[i],
                              ("\xe2\x96\x81"
                               "a"),
                              "b"};
        gbuf g = {0};
        kv_str(&g, "tokenizer.ggml.model", "llama");
        kv_strs(&g, "tokenizer.ggml.tokens", toks, 6);
        kv_arr(&g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, spm_types, 6, 4);
        expect_fail(&g, HE_FORMAT, "byte token");
    }
}

Test(hostile, unknown_model_and_pre) {
    gbuf g = {0};
    kv_str(&g, "tokenizer.ggml.model", "rwkv-world");
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 6);
    expect_fail(&g, HE_UNSUPPORTED, "rwkv-world");

    const char *toks[] = {"a", "b", "ab"};
    const char *merges[] = {"a b"};
    gbuf h = {0};
    kv_str(&h, "tokenizer.ggml.model", "gpt2");
    kv_str(&h, "tokenizer.ggml.pre", "no-such-pre");
    kv_strs(&h, "tokenizer.ggml.tokens", toks, 3);
    kv_strs(&h, "tokenizer.ggml.merges", merges, 1);
    expect_fail(&h, HE_UNSUPPORTED, "no-such-pre");
}

Test(hostile, bad_merges) {
    const char *toks[] = {"a", "b", "ab"};
    const char *merges[] = {"a b", "ab"};
    gbuf g = {0};
    kv_str(&g, "tokenizer.ggml.model", "gpt2");
    kv_strs(&g, "tokenizer.ggml.tokens", toks, 3);
    kv_strs(&g, "tokenizer.ggml.merges", merges, 2);
    expect_fail(&g, HE_FORMAT, "merges[1]");

    gbuf h = {0};
    kv_str(&h, "tokenizer.ggml.model", "gpt2");
    kv_strs(&h, "tokenizer.ggml.tokens", toks, 3);
    int32_t m[1] = {0};
    kv_arr(&h, "tokenizer.ggml.merges", GGUF_TYPE_INT32, m, 1, 4);
    expect_fail(&h, HE_FORMAT, "tokenizer.ggml.merges");
}

Test(hostile, missing_tokens) {
    gbuf g = {0};
    base_kvs(&g, "tokens");
    expect_fail(&g, HE_FORMAT, "tokenizer.ggml.tokens");
}

/* ---- In-memory vocabs (tok_vocab_new) ---- */

Test(memory, bpe_tiny_vocab_merges_by_rank) {
    /* byte-level: "Ġ" is the space character */
    const char *toks[] = {"a", "b", "c", "ab", "bc", "abc", "\xc4\xa0"};
    const char *merges[] = {"b c", "a b", "a bc"};
    tok_vocab_desc d = {.model = "gpt2",
                        .pre = "gpt-2",
                        .n_vocab = 7,
                        .tokens = toks,
                        .n_merges = 3,
                        .merges = merges,
                        .bos = -1,
                        .eos = -1,
                        .unk = -1,
                        .pad = -1,
                        .eot = -1,
                        .eom = -1,
                        .add_bos = -1,
                        .add_eos = -1,
                        .add_space_prefix = -1};
    he_error err = {0};
    tok_vocab *v = tok_vocab_new(&d, &err);
    cr_assert(v, "%s", err.msg);
    int32_t *ids;
    size_t n;
    /* "b c" ranks first, so "abc" -> a + bc -> abc */
    encode(v, "abc", 3, true, false, &ids, &n);
    expect_ids(ids, n, (int32_t[]){5}, 1, "abc");
    free(ids);
    encode(v, "ab ab", 5, true, false, &ids, &n);
    expect_ids(ids, n, (int32_t[]){3, 6, 3}, 3, "ab ab");
    free(ids);
    tok_vocab_free(v);
}

Test(memory, every_pre_tokenizer_compiles) {
    const char *pres[] = {"default", "llama-bpe",    "qwen2",          "gpt-2",       "starcoder",
                          "falcon",  "deepseek-llm", "deepseek-coder", "deepseek-v3", "gpt-4o",
                          "tekken",  "mpt",          "refact"};
    const char *toks[] = {"a", "b"};
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        tok_vocab_desc d = {.model = "gpt2",
                            .pre = pres[i],
                            .n_vocab = 2,
                            .tokens = toks,
                            .bos = -1,
                            .eos = -1,
                            .unk = -1,
                            .pad = -1,
                            .eot = -1,
                            .eom = -1,
                            .add_bos = -1,
                            .add_eos = -1,
                            .add_space_prefix = -1};
        he_error err = {0};
        tok_vocab *v = tok_vocab_new(&d, &err);
        cr_assert(v, "%s: %s", pres[i], err.msg);
        int32_t *ids;
        size_t n;
        const char *t = "Hello, world! 12345 \xe4\xbd\xa0\xe5\xa5\xbd  \n\n x";
        cr_assert_eq(tok_encode(v, t, strlen(t), false, false, &ids, &n, &err), 0, "%s: %s",
                     pres[i], err.msg);
        free(ids);
        cr_assert_not_null(tok_pre_name(v));
        tok_vocab_free(v);
    }
}

/* ---- tok_encode_spans: control tokens only outside the plain (user) ranges ---- */

/* GPT-2's byte -> printable code point, as UTF-8 */
static void gpt2_byte(int b, char out[4]) {
    int cp = b, k = 0;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
        for (int x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) k++;
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

Test(specials, plain_ranges) {
    /* every byte its own token (no merges), then a control and a user-defined token */
    static char bytes[256][4];
    const char *toks[258];
    int32_t types[258];
    for (int b = 0; b < 256; b++) {
        gpt2_byte(b, bytes[b]);
        toks[b] = bytes[b];
        types[b] = TOK_ATTR_NORMAL;
    }
    toks[256] = "<|c|>", types[256] = TOK_ATTR_CONTROL;
    toks[257] = "<u>", types[257] = TOK_ATTR_USER_DEFINED;
    tok_vocab_desc d = {.model = "gpt2",
                        .pre = "gpt-2",
                        .n_vocab = 258,
                        .tokens = toks,
                        .types = types,
                        .bos = -1,
                        .eos = -1,
                        .unk = -1,
                        .pad = -1,
                        .eot = -1,
                        .eom = -1,
                        .add_bos = 0,
                        .add_eos = 0,
                        .add_space_prefix = -1};
    he_error err = {0};
    tok_vocab *v = tok_vocab_new(&d, &err);
    cr_assert(v, "%s", err.msg);
    /*                 0    5   9    14  18  22 */
    const char *t = "<|c|>ab<|c|>xy<u>z<|c|>";
    size_t len = strlen(t);
    static const struct {
        tok_range r[2];
        size_t nr;
        bool parse_special;
        size_t controls; /* how many <|c|> come out as the control token */
    } cases[] = {
        {{{0, 0}}, 0, true, 3},
        {{{5, 17}}, 1, true, 2},          /* the middle one is typed by a user */
        {{{2, 4}}, 1, true, 2},           /* a range inside a control text blocks it */
        {{{21, 23}}, 1, true, 2},         /* ... also at its end */
        {{{0, 5}, {18, 23}}, 2, true, 1}, /* two ranges */
        {{{5, 7}}, 1, true, 3},           /* no special text inside: nothing changes */
        {{{0, 0}}, 0, false, 0},
        {{{0, 23}}, 1, true, 0},
    };
    int32_t *ref;
    size_t nref;
    cr_assert_eq(tok_encode(v, t, len, false, true, &ref, &nref, &err), 0, "%s", err.msg);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int32_t *ids;
        size_t n;
        cr_assert_eq(tok_encode_spans(v, t, len, cases[i].r, cases[i].nr, false,
                                      cases[i].parse_special, &ids, &n, &err),
                     0, "case %zu: %s", i, err.msg);
        size_t c = 0, u = 0;
        for (size_t k = 0; k < n; k++)
            c += ids[k] == 256, u += ids[k] == 257;
        cr_expect_eq(c, cases[i].controls, "case %zu: %zu control tokens", i, c);
        cr_expect_eq(u, 1, "case %zu: the user-defined <u> is matched everywhere", i);
        /* what is not a control token is the text byte for byte */
        size_t dl;
        char *dec = decode_all(v, ids, n, &dl);
        size_t want = len - 5 * cases[i].controls;
        cr_expect_eq(dl, want, "case %zu: %zu bytes decoded, want %zu", i, dl, want);
        free(dec);
        if (cases[i].controls == 3)
            expect_ids(ids, n, ref, nref, "no special text in the plain range: same ids");
        free(ids);
    }
    free(ref);
    /* ranges must be sorted, disjoint, non-empty and inside the text */
    static const tok_range bad[][2] = {{{3, 3}}, {{0, 24}}, {{5, 9}, {8, 10}}, {{9, 10}, {1, 2}}};
    static const size_t nbad[] = {1, 1, 2, 2};
    for (size_t i = 0; i < sizeof nbad / sizeof *nbad; i++) {
        int32_t *ids = NULL;
        size_t n;
        cr_expect_eq(tok_encode_spans(v, t, len, bad[i], nbad[i], false, true, &ids, &n, &err), -1,
                     "bad ranges %zu accepted", i);
        cr_expect_eq(err.code, HE_INVALID);
        free(ids);
    }
    tok_vocab_free(v);
}

/* gpt-oss (o200k_harmony): Harmony's markers are control tokens at OpenAI's ids, a turn ends at
 * <|return|> or <|call|> but not at <|end|> (the model goes on with its next message), and
 * Harmony texts with the markers parsed give js-tiktoken's ids. */
Test(vectors, o200k_harmony_specials) {
    tok_vocab *v = load_fixture("o200k-harmony");
    cr_assert_eq(tok_n_vocab(v), 201088);
    static const struct {
        const char *text;
        int32_t id;
        bool eog;
    } sp[] = {{"<|startoftext|>", 199998, false}, {"<|endoftext|>", 199999, true},
              {"<|return|>", 200002, true},       {"<|constrain|>", 200003, false},
              {"<|channel|>", 200005, false},     {"<|start|>", 200006, false},
              {"<|end|>", 200007, false},         {"<|message|>", 200008, false},
              {"<|call|>", 200012, true},         {"<|endofprompt|>", 200018, false},
              {"<|reserved_200000|>", 200000, false}, {"<|reserved_201087|>", 201087, false}};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
        cr_expect_eq(tok_find(v, sp[i].text, strlen(sp[i].text)), sp[i].id, "%s", sp[i].text);
        cr_expect_eq(tok_is_eog(v, sp[i].id), sp[i].eog, "%s eog", sp[i].text);
    }
    cr_expect_eq(tok_bos(v), 199998);
    cr_expect_eq(tok_eos(v), 200002);
    /* ids from js-tiktoken's o200k_base with the Harmony specials allowed */
    static const struct {
        const char *text;
        int32_t ids[20];
        size_t n;
    } vec[] = {
        {"<|channel|>analysis<|message|>Hmm.<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>",
         {200005, 35644, 200008, 112576, 13, 200007, 200006, 173781, 200005, 17196, 200008, 19, 200002}, 13},
        {"<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>",
         {200005, 12606, 815, 316, 28, 44580, 775, 170154, 220, 200003, 4108, 200008, 10848, 17500, 7534, 72782,
          18583, 200012},
         18},
    };
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        int32_t *ids;
        size_t n;
        encode(v, vec[i].text, strlen(vec[i].text), true, true, &ids, &n); /* no BOS: add_bos_token false */
        cr_expect_eq(n, vec[i].n, "%s: %zu ids", vec[i].text, n);
        for (size_t k = 0; k < n && k < vec[i].n; k++) cr_expect_eq(ids[k], vec[i].ids[k], "%s: id %zu", vec[i].text, k);
        free(ids);
    }
    tok_vocab_free(v);
}
