/* pretok.c — byte-level BPE pre-tokenizers: the regex lists named by tokenizer.ggml.pre,
 * run with PCRE2 (UTF + UCP, so \p{L}, \p{N} and \s mean what the Hugging Face tokenizers
 * mean). Each regex of a list splits every piece the previous ones produced; text a regex
 * does not match stays as a piece of its own, so the pieces always cover the input exactly.
 * Invalid UTF-8 never matches (PCRE2_MATCH_INVALID_UTF), so such bytes end up in gap pieces
 * and reach byte-level encoding unchanged. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/tok_internal.h"

/* ---- The table ---- */

#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct {
    const char *names; /* NUL-separated aliases, ending with an empty name */
    const char *re[8]; /* applied in order; NULL ends the list */
    bool ignore_merges;
    bool add_bos;
    bool nfc; /* normalize with NFC before splitting */
} pre_def;

// clang-format off
static const pre_def pres[] = {
    /* 0: what llama.cpp uses when tokenizer.ggml.pre is absent or "default" */
    {"default\0", {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]", NULL}, false, false, false},
    {"llama-bpe\0llama3\0llama-v3\0falcon3\0falcon-h1\0dbrx\0smaug-bpe\0",
     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL},
     true, true, false},
    {"qwen2\0deepseek-r1-qwen\0",
     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL},
     false, false, true},
    {"stablelm2\0megrez\0",
     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL},
     false, false, false},
    {"gpt-2\0gpt2\0phi-2\0mpt\0olmo\0jais\0jina-es\0jina-de\0jina-v2-es\0jina-v2-de\0trillion\0",
     {GPT2_RE, NULL}, false, false, false},
    {"starcoder\0refact\0command-r\0smollm\0codeshell\0exaone\0minerva-7b\0",
     {"\\p{N}", GPT2_RE, NULL}, false, false, false},
    {"falcon\0",
     {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]", NULL}, false, false, false},
    {"deepseek-llm\0",
     {"[\\r\\n]",
      "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
      "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}-\\x{377}\\x{37B}-\\x{37D}\\x{37F}"
      "\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}"
      "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}"
      "\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"
      "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"
      "\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
      "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}"
      "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"
      "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}"
      "\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
      "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}-\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"
      "\\x{2CEB}-\\x{2CEE}\\x{2CF2}-\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}"
      "\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"
      "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}"
      "\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}"
      "\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
      "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
      "\\s+$",
      "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
      "\\p{N}+", NULL},
     false, false, false},
    {"deepseek-coder\0",
     {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}", NULL}, false, false, false},
    {"deepseek-v3\0",
     {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      NULL},
     false, false, false},
    {"gpt-4o\0",
     {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL},
     false, false, false},
    {"tekken\0",
     {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)", NULL},
     true, true, false},
};
// clang-format on
#define N_PRE (int)(sizeof pres / sizeof pres[0])

int tok_pre_lookup(const char *name, size_t len) {
    for (int i = 0; i < N_PRE; i++)
        for (const char *a = pres[i].names; *a; a += strlen(a) + 1)
            if (strlen(a) == len && memcmp(a, name, len) == 0) return i;
    return -1;
}

const char *tok_pre_name_at(int pre) { return pre >= 0 && pre < N_PRE ? pres[pre].names : "?"; }
bool tok_pre_ignore_merges(int pre) { return pre >= 0 && pre < N_PRE && pres[pre].ignore_merges; }
bool tok_pre_add_bos(int pre) { return pre >= 0 && pre < N_PRE && pres[pre].add_bos; }
bool tok_pre_nfc(int pre) { return pre >= 0 && pre < N_PRE && pres[pre].nfc; }

/* ---- Compiled regexes: compiled once per process on first use, shared read-only ---- */

static pcre2_code *compiled[N_PRE][8];
static bool jitted[N_PRE][8];
static int compile_state[N_PRE]; /* 0 not yet, 1 ok, -1 failed */
static pthread_mutex_t compile_lock = PTHREAD_MUTEX_INITIALIZER;

static int compile_pre(int pre, he_error *err) {
    pthread_mutex_lock(&compile_lock);
    int rc = 0;
    if (compile_state[pre] == 0) {
        compile_state[pre] = 1;
        for (int k = 0; pres[pre].re[k]; k++) {
            int ec;
            PCRE2_SIZE eo;
            pcre2_code *c = pcre2_compile((PCRE2_SPTR)pres[pre].re[k], PCRE2_ZERO_TERMINATED,
                                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF |
                                              PCRE2_DOLLAR_ENDONLY,
                                          &ec, &eo, NULL);
            if (!c) {
                compile_state[pre] = -1;
                break;
            }
            jitted[pre][k] = pcre2_jit_compile(c, PCRE2_JIT_COMPLETE) == 0;
            compiled[pre][k] = c;
        }
    }
    if (compile_state[pre] < 0)
        rc = he_fail(err, HE_UNSUPPORTED, "tokenizer: pre-tokenizer '%s' regex failed to compile",
                     pres[pre].names);
    pthread_mutex_unlock(&compile_lock);
    return rc;
}

/* ---- Splitting ---- */

typedef struct {
    size_t off, len;
} piece;

typedef struct {
    piece *p;
    size_t n, cap;
} piece_list;

static int piece_push(piece_list *l, size_t off, size_t len) {
    if (len == 0) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        piece *p = he_realloc(l->p, cap * sizeof *p);
        if (!p) return -1;
        l->p = p;
        l->cap = cap;
    }
    l->p[l->n++] = (piece){off, len};
    return 0;
}

/* Splits text[pc.off, +pc.len) by one regex into matches and the gaps between them. */
static int split_one(const pcre2_code *re, bool jit, pcre2_match_data *md, const char *text,
                     piece pc, piece_list *out, he_error *err) {
    PCRE2_SPTR subj = (PCRE2_SPTR)text + pc.off;
    size_t n = pc.len, last = 0, start = 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    while (start <= n) {
        int rc = jit ? pcre2_jit_match(re, subj, n, start, 0, md, NULL)
                     : pcre2_match(re, subj, n, start, 0, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0)
            return he_fail(err, HE_RUNTIME, "tokenizer: regex match failed (pcre2 error %d)", rc);
        size_t s = ov[0], e = ov[1];
        if (e <= s) { /* empty match: step over one character and try again */
            if (s >= n) break;
            start = s + tok_utf8_len(subj[s]);
            continue;
        }
        if (piece_push(out, pc.off + last, s - last) < 0 || piece_push(out, pc.off + s, e - s) < 0)
            goto nomem;
        last = start = e;
    }
    if (last < n && piece_push(out, pc.off + last, n - last) < 0) goto nomem;
    return 0;
nomem:
    return he_fail(err, HE_NOMEM, "tokenizer: out of memory splitting text");
}

int tok_pre_split(int pre, const char *text, size_t len, tok_piece_fn fn, void *ctx,
                  he_error *err) {
    if (pre < 0 || pre >= N_PRE)
        return he_fail(err, HE_INVALID, "tokenizer: bad pre-tokenizer index");
    if (compile_pre(pre, err) < 0) return -1;
    piece_list cur = {0}, next = {0};
    pcre2_match_data *md = NULL;
    int rc = -1;
    if (piece_push(&cur, 0, len) < 0) goto nomem;
    for (int k = 0; pres[pre].re[k]; k++) {
        pcre2_code *re = compiled[pre][k];
        pcre2_match_data_free(md);
        md = pcre2_match_data_create_from_pattern(re, NULL);
        if (!md) goto nomem;
        next.n = 0;
        for (size_t i = 0; i < cur.n; i++)
            if (split_one(re, jitted[pre][k], md, text, cur.p[i], &next, err) < 0) goto out;
        piece_list t = cur;
        cur = next;
        next = t;
    }
    for (size_t i = 0; i < cur.n; i++)
        if (fn(ctx, text + cur.p[i].off, cur.p[i].len) < 0) goto out;
    rc = 0;
    goto out;
nomem:
    he_fail(err, HE_NOMEM, "tokenizer: out of memory splitting text");
out:
    pcre2_match_data_free(md);
    free(cur.p);
    free(next.p);
    return rc;
}
