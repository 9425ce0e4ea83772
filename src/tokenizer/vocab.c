/* vocab.c — the vocabulary: token texts, scores and attributes copied into one arena, a hash
 * table from text to id, BPE merge ranks keyed by (left, right), the special-token match table
 * and the end-of-generation set. Every value that came from a file is checked here once, so
 * the encoders and the detokenizer can index without further checks. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/tok_internal.h"

/* ---- Hashing ---- */

uint64_t tok_hash_bytes(const void *p, size_t n, uint64_t seed) {
    /* FNV-1a with a final avalanche: token texts are short, so this is cheap enough. */
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t pair_hash(const char *l, size_t ln, const char *r, size_t rn) {
    return tok_hash_bytes(r, rn, tok_hash_bytes(l, ln, 0) * 0x9e3779b97f4a7c15ull);
}

static int hash_init(tok_hash *h, size_t n_items) {
    size_t cap = 16;
    while (cap < n_items * 2)
        cap <<= 1;
    h->slot = he_malloc(cap * sizeof *h->slot);
    if (!h->slot) return -1;
    memset(h->slot, 0xff, cap * sizeof *h->slot); /* all -1 */
    h->mask = cap - 1;
    return 0;
}

int32_t tok_lookup(const tok_vocab *v, const char *p, size_t n) {
    if (!v->by_text.slot) return -1;
    size_t i = (size_t)tok_hash_bytes(p, n, 0) & v->by_text.mask;
    for (;;) {
        int32_t id = v->by_text.slot[i];
        if (id < 0) return -1;
        if (v->len[id] == n && memcmp(tok_str(v, id), p, n) == 0) return id;
        i = (i + 1) & v->by_text.mask;
    }
}

int32_t tok_merge_rank(const tok_vocab *v, const char *l, size_t ln, const char *r, size_t rn) {
    if (!v->merges.slot) return -1;
    size_t i = (size_t)pair_hash(l, ln, r, rn) & v->merges.mask;
    for (;;) {
        int32_t m = v->merges.slot[i];
        if (m < 0) return -1;
        const char *s = v->merge_arena + v->merge_off[m];
        uint32_t sl = v->merge_split[m];
        if (sl == ln && v->merge_len[m] - sl - 1 == rn && memcmp(s, l, ln) == 0 &&
            memcmp(s + sl + 1, r, rn) == 0)
            return m;
        i = (i + 1) & v->merges.mask;
    }
}

/* ---- Growable output ---- */

int tok_ids_push(tok_ids *o, int32_t id) {
    if (o->failed) return -1;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        int32_t *ids = he_realloc(o->ids, cap * sizeof *ids);
        if (!ids) {
            o->failed = 1;
            return -1;
        }
        o->ids = ids;
        o->cap = cap;
    }
    o->ids[o->n++] = id;
    return 0;
}

/* ---- Building ---- */

static const char *const model_names[] = {"none", "llama", "gpt2", "bert"};

int tok_model_lookup(const char *name, size_t len) {
    for (int i = 0; i < (int)(sizeof model_names / sizeof model_names[0]); i++)
        if (strlen(model_names[i]) == len && memcmp(model_names[i], name, len) == 0) return i;
    return -1;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xXX>" -> XX, or -1 when the text is not exactly that shape. */
static int parse_byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    if (hi < 0 || lo < 0) return -1;
    return hi * 16 + lo;
}

static int check_id(int64_t id, int32_t n, const char *what, int32_t *out, he_error *err) {
    /* -1 and 0xFFFFFFFF (a uint32 -1, as some converters write "none") mean absent. */
    if (id == -1 || id == 0xFFFFFFFFll) {
        *out = -1;
        return 0;
    }
    if (id < 0 || id >= n)
        return he_fail(err, HE_FORMAT, "tokenizer.ggml.%s = %lld is out of range [0, %d)", what,
                       (long long)id, (int)n);
    *out = (int32_t)id;
    return 0;
}

/* ---- Special-token trie ---- */

static bool is_special_attr(uint8_t a) {
    return a == TOK_ATTR_CONTROL || a == TOK_ATTR_USER_DEFINED || a == TOK_ATTR_UNKNOWN;
}

static uint64_t edge_hash(int32_t node, uint8_t b) {
    uint64_t k = ((uint64_t)(uint32_t)node << 8 | b) * 0x9e3779b97f4a7c15ull;
    return k ^ (k >> 29);
}

int32_t tok_trie_child(const tok_vocab *v, int32_t node, uint8_t b) {
    if (!v->trie_edges.slot) return -1;
    size_t i = (size_t)edge_hash(node, b) & v->trie_edges.mask;
    for (;;) {
        int32_t c = v->trie_edges.slot[i];
        if (c < 0) return -1;
        if (v->trie[c].parent == node && v->trie[c].byte == b) return c;
        i = (i + 1) & v->trie_edges.mask;
    }
}

static int build_special(tok_vocab *v) {
    size_t n_nodes = 1;
    for (int32_t i = 0; i < v->n; i++)
        if (is_special_attr(v->attr[i]) && v->len[i] > 0 && v->len[i] <= TOK_SPECIAL_MAX_LEN)
            n_nodes += v->len[i];
    if (n_nodes > (size_t)INT32_MAX) return -1;
    v->trie = he_malloc(n_nodes * sizeof *v->trie);
    if (!v->trie || hash_init(&v->trie_edges, n_nodes) < 0) return -1;
    v->trie[0] = (tok_trie_node){-1, -1, -1, 0};
    v->n_trie = 1;
    for (int32_t i = 0; i < v->n; i++) {
        if (!is_special_attr(v->attr[i]) || v->len[i] == 0 || v->len[i] > TOK_SPECIAL_MAX_LEN)
            continue;
        const unsigned char *t = (const unsigned char *)tok_str(v, i);
        int32_t node = 0;
        for (uint32_t k = 0; k < v->len[i]; k++) {
            int32_t c = tok_trie_child(v, node, t[k]);
            if (c < 0) {
                c = (int32_t)v->n_trie++;
                v->trie[c] = (tok_trie_node){-1, -1, node, t[k]};
                size_t h = (size_t)edge_hash(node, t[k]) & v->trie_edges.mask;
                while (v->trie_edges.slot[h] >= 0)
                    h = (h + 1) & v->trie_edges.mask;
                v->trie_edges.slot[h] = c;
            }
            node = c;
        }
        /* ids ascend, so the first id to end at a node is the lowest */
        if (v->trie[node].any < 0) v->trie[node].any = i;
        if (v->attr[i] == TOK_ATTR_USER_DEFINED && v->trie[node].user < 0) v->trie[node].user = i;
        v->n_special++;
    }
    return 0;
}

/* Harmony (gpt-oss): <|end|> closes one message, and the model goes on with the next
 * (`<|end|><|start|>assistant<|channel|>final...`); its turn ends at <|return|> or <|call|>. So
 * a vocab that has both of those as control tokens does not end generation at <|end|> (llama.cpp
 * does the same). */
static int32_t control_id(const tok_vocab *v, const char *text) {
    size_t m = strlen(text);
    for (int32_t i = v->n - 1; i >= 0; i--)
        if (v->attr[i] == TOK_ATTR_CONTROL && v->len[i] == m && !memcmp(tok_str(v, i), text, m)) return i;
    return -1;
}

static void unmark_harmony_end(tok_vocab *v) {
    int32_t ret = control_id(v, "<|return|>"), call = control_id(v, "<|call|>"), end = control_id(v, "<|end|>");
    if (ret >= 0 && call >= 0 && end >= 0 && v->special_eos != end && v->special_eot != end) v->eog[end] = false;
}

/* Texts llama.cpp treats as ending a turn when a vocab marks them special. */
static const char *const eog_texts[] = {
    "<|eot_id|>",
    "<|eom_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<|return|>",
    "<|call|>",
    "<\xef\xbd\x9c"
    "end\xe2\x96\x81"
    "of\xe2\x96\x81"
    "sentence\xef\xbd\x9c>", /* <｜end▁of▁sentence｜> */
};

tok_vocab *tok_vocab_build(const tok_build *b, he_error *err) {
    if (b->n <= 0 && b->model != TOK_MODEL_NONE) {
        he_fail(err, HE_FORMAT, "tokenizer.ggml.tokens: empty vocabulary");
        return NULL;
    }
    if (b->n > (1 << 24)) {
        he_fail(err, HE_LIMIT, "tokenizer.ggml.tokens: %d tokens exceeds the limit of %d",
                (int)b->n, 1 << 24);
        return NULL;
    }
    tok_vocab *v = xcalloc(1, sizeof *v);
    v->model = b->model;
    v->pre = b->pre;
    v->n = b->n > 0 ? b->n : 0;
    size_t n = (size_t)v->n;

    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (b->tokens[i].n > UINT32_MAX || he_add_overflow(total, b->tokens[i].n + 1, &total)) {
            he_fail(err, HE_LIMIT, "tokenizer.ggml.tokens[%zu]: too long", i);
            goto fail;
        }
    }
    v->arena = he_malloc(total ? total : 1);
    v->off = he_malloc((n ? n : 1) * sizeof *v->off);
    v->len = he_malloc((n ? n : 1) * sizeof *v->len);
    v->score = he_malloc((n ? n : 1) * sizeof *v->score);
    v->attr = he_malloc(n ? n : 1);
    v->eog = he_calloc(n ? n : 1, sizeof *v->eog);
    if (!v->arena || !v->off || !v->len || !v->score || !v->attr || !v->eog) goto nomem;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        v->off[i] = pos;
        v->len[i] = (uint32_t)b->tokens[i].n;
        if (b->tokens[i].n) memcpy(v->arena + pos, b->tokens[i].p, b->tokens[i].n);
        pos += b->tokens[i].n;
        v->arena[pos++] = 0;
        v->score[i] = b->scores ? b->scores[i] : 0.0f;
        v->attr[i] = b->attr ? b->attr[i] : TOK_ATTR_NORMAL;
        if (v->attr[i] > TOK_ATTR_BYTE) {
            he_fail(err, HE_FORMAT, "tokenizer.ggml.token_type[%zu] = %d is not a known token type",
                    i, v->attr[i]);
            goto fail;
        }
    }
    if (hash_init(&v->by_text, n) < 0) goto nomem;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)tok_hash_bytes(tok_str(v, (int32_t)i), v->len[i], 0) & v->by_text.mask;
        for (;;) {
            int32_t id = v->by_text.slot[h];
            if (id < 0) {
                v->by_text.slot[h] = (int32_t)i;
                break;
            }
            if (v->len[id] == v->len[i] &&
                memcmp(tok_str(v, id), tok_str(v, (int32_t)i), v->len[i]) == 0) {
                v->by_text.slot[h] = (int32_t)i; /* duplicate text: the later id wins */
                break;
            }
            h = (h + 1) & v->by_text.mask;
        }
    }

    /* Byte tokens: SPM byte fallback needs <0xXX> for every byte it meets; BPE vocabs have a
     * token for each of the 256 byte-level characters (looked up by the BPE encoder itself). */
    for (int i = 0; i < 256; i++)
        v->byte_tok[i] = -1;
    for (size_t i = 0; i < n; i++) {
        if (v->attr[i] != TOK_ATTR_BYTE) continue;
        int byte = parse_byte_token(tok_str(v, (int32_t)i), v->len[i]);
        if (byte < 0) {
            he_fail(err, HE_FORMAT,
                    "tokenizer.ggml.tokens[%zu]: byte token '%.*s' is not of the form <0xXX>", i,
                    (int)(v->len[i] > 64 ? 64 : v->len[i]), tok_str(v, (int32_t)i));
            goto fail;
        }
        if (v->byte_tok[byte] < 0) v->byte_tok[byte] = (int32_t)i;
    }

    /* Merges: "left right", split at the first space after the first byte. */
    if (b->n_merges > 0) {
        if (b->n_merges > (size_t)INT32_MAX / 2) {
            he_fail(err, HE_LIMIT, "tokenizer.ggml.merges: too many merges (%zu)", b->n_merges);
            goto fail;
        }
        size_t mtotal = 0;
        for (size_t i = 0; i < b->n_merges; i++) {
            if (b->merges[i].n > UINT32_MAX - 1 ||
                he_add_overflow(mtotal, b->merges[i].n + 1, &mtotal)) {
                he_fail(err, HE_LIMIT, "tokenizer.ggml.merges[%zu]: too long", i);
                goto fail;
            }
        }
        v->merge_arena = he_malloc(mtotal ? mtotal : 1);
        v->merge_off = he_malloc(b->n_merges * sizeof *v->merge_off);
        v->merge_split = he_malloc(b->n_merges * sizeof *v->merge_split);
        v->merge_len = he_malloc(b->n_merges * sizeof *v->merge_len);
        if (!v->merge_arena || !v->merge_off || !v->merge_split || !v->merge_len) goto nomem;
        if (hash_init(&v->merges, b->n_merges) < 0) goto nomem;
        size_t mpos = 0;
        for (size_t i = 0; i < b->n_merges; i++) {
            const char *s = b->merges[i].p;
            size_t sn = b->merges[i].n;
            const char *sp = sn > 1 ? memchr(s + 1, ' ', sn - 1) : NULL;
            if (!sp) {
                he_fail(err, HE_FORMAT, "tokenizer.ggml.merges[%zu]: '%.*s' is not 'left right'", i,
                        (int)(sn > 64 ? 64 : sn), s);
                goto fail;
            }
            v->merge_off[v->n_merges] = mpos;
            v->merge_split[v->n_merges] = (uint32_t)(sp - s);
            v->merge_len[v->n_merges] = (uint32_t)sn;
            memcpy(v->merge_arena + mpos, s, sn);
            v->merge_arena[mpos + sn] = 0;
            mpos += sn + 1;
            size_t ln = (size_t)(sp - s), rn = sn - ln - 1;
            size_t h = (size_t)pair_hash(s, ln, sp + 1, rn) & v->merges.mask;
            int dup = 0;
            for (;;) {
                int32_t m = v->merges.slot[h];
                if (m < 0) break;
                if (v->merge_len[m] == sn && v->merge_split[m] == ln &&
                    memcmp(v->merge_arena + v->merge_off[m], s, sn) == 0) {
                    dup = 1; /* the first (best) rank wins */
                    break;
                }
                h = (h + 1) & v->merges.mask;
            }
            if (dup) {
                mpos -= sn + 1;
                continue;
            }
            v->merges.slot[h] = (int32_t)v->n_merges++;
        }
    }

    static const char *const id_names[] = {"bos_token_id",     "eos_token_id", "unknown_token_id",
                                           "padding_token_id", "eot_token_id", "eom_token_id"};
    const int64_t ids[] = {b->bos, b->eos, b->unk, b->pad, b->eot, b->eom};
    int32_t *dst[] = {&v->special_bos, &v->special_eos, &v->special_unk,
                      &v->special_pad, &v->special_eot, &v->special_eom};
    for (int i = 0; i < 6; i++)
        if (check_id(ids[i], v->n, id_names[i], dst[i], err) < 0) goto fail;

    /* Defaults as llama.cpp: SentencePiece adds BOS and a space prefix; byte-level BPE adds
     * BOS only for pre-tokenizers whose models expect it (Llama 3); WordPiece adds CLS/SEP. */
    bool def_bos = false, def_eos = false, def_space = false;
    switch (v->model) {
    case TOK_MODEL_SPM:
        def_bos = true;
        def_space = true;
        break;
    case TOK_MODEL_BPE:
        def_bos = tok_pre_add_bos(v->pre);
        v->ignore_merges = tok_pre_ignore_merges(v->pre);
        break;
    case TOK_MODEL_WPM:
        def_bos = def_eos = true;
        break;
    case TOK_MODEL_NONE:
        break;
    }
    v->add_bos = b->add_bos < 0 ? def_bos : b->add_bos != 0;
    v->add_eos = b->add_eos < 0 ? def_eos : b->add_eos != 0;
    v->add_space_prefix = b->add_space_prefix < 0 ? def_space : b->add_space_prefix != 0;

    if (build_special(v) < 0) goto nomem;

    for (size_t i = 0; i < n; i++) {
        if (v->attr[i] != TOK_ATTR_CONTROL && v->attr[i] != TOK_ATTR_USER_DEFINED) continue;
        for (size_t k = 0; k < sizeof eog_texts / sizeof eog_texts[0]; k++)
            if (strlen(eog_texts[k]) == v->len[i] &&
                memcmp(eog_texts[k], tok_str(v, (int32_t)i), v->len[i]) == 0)
                v->eog[i] = true;
    }
    if (v->special_eos >= 0) v->eog[v->special_eos] = true;
    if (v->special_eot >= 0) v->eog[v->special_eot] = true;
    if (v->special_eom >= 0) v->eog[v->special_eom] = true;
    unmark_harmony_end(v);
    return v;

nomem:
    he_fail(err, HE_NOMEM, "tokenizer: out of memory building a vocabulary of %zu tokens", n);
fail:
    tok_vocab_free(v);
    return NULL;
}

void tok_vocab_free(tok_vocab *v) {
    if (!v) return;
    free(v->arena);
    free(v->off);
    free(v->len);
    free(v->score);
    free(v->attr);
    free(v->by_text.slot);
    free(v->merge_arena);
    free(v->merge_off);
    free(v->merge_split);
    free(v->merge_len);
    free(v->merges.slot);
    free(v->trie);
    free(v->trie_edges.slot);
    free(v->eog);
    free(v);
}

tok_vocab *tok_vocab_new(const tok_vocab_desc *d, he_error *err) {
    const char *model = d->model ? d->model : "llama";
    int m = tok_model_lookup(model, strlen(model));
    if (m < 0) {
        he_fail(err, HE_UNSUPPORTED, "tokenizer.ggml.model '%s' is not supported", model);
        return NULL;
    }
    const char *pre = d->pre ? d->pre : "default";
    int p =
        m == TOK_MODEL_BPE ? tok_pre_lookup(pre, strlen(pre)) : 0; /* only BPE has pre-tokenizers */
    if (p < 0) {
        he_fail(err, HE_UNSUPPORTED, "tokenizer.ggml.pre '%s' is not a known pre-tokenizer", pre);
        return NULL;
    }
    if (d->n_vocab < 0 || d->n_merges < 0 || (d->n_vocab > 0 && !d->tokens) ||
        (d->n_merges > 0 && !d->merges)) {
        he_fail(err, HE_INVALID, "tokenizer: bad vocab description");
        return NULL;
    }
    size_t n = (size_t)d->n_vocab, nm = (size_t)d->n_merges;
    tok_span *toks = xmalloc((n ? n : 1) * sizeof *toks);
    tok_span *merges = xmalloc((nm ? nm : 1) * sizeof *merges);
    uint8_t *attr = xmalloc(n ? n : 1);
    tok_vocab *v = NULL;
    for (size_t i = 0; i < n; i++) {
        toks[i].p = d->tokens[i];
        toks[i].n = strlen(d->tokens[i]);
        int32_t t = d->types ? d->types[i] : TOK_ATTR_NORMAL;
        if (t < 0 || t > TOK_ATTR_BYTE) {
            he_fail(err, HE_FORMAT, "tokenizer.ggml.token_type[%zu] = %d is not a known token type",
                    i, (int)t);
            goto out;
        }
        attr[i] = (uint8_t)t;
    }
    for (size_t i = 0; i < nm; i++) {
        merges[i].p = d->merges[i];
        merges[i].n = strlen(d->merges[i]);
    }
    tok_build b = {
        .model = (tok_model)m,
        .pre = p,
        .n = d->n_vocab,
        .tokens = toks,
        .scores = d->scores,
        .attr = attr,
        .n_merges = nm,
        .merges = merges,
        .bos = d->bos,
        .eos = d->eos,
        .unk = d->unk,
        .pad = d->pad,
        .eot = d->eot,
        .eom = d->eom,
        .add_bos = d->add_bos,
        .add_eos = d->add_eos,
        .add_space_prefix = d->add_space_prefix,
    };
    v = tok_vocab_build(&b, err);
out:
    free(toks);
    free(merges);
    free(attr);
    return v;
}

/* ---- Accessors ---- */

int32_t tok_n_vocab(const tok_vocab *v) { return v->n; }
int32_t tok_bos(const tok_vocab *v) { return v->special_bos; }
int32_t tok_eos(const tok_vocab *v) { return v->special_eos; }
bool tok_add_bos(const tok_vocab *v) { return v->add_bos; }
bool tok_add_eos(const tok_vocab *v) { return v->add_eos; }

bool tok_is_eog(const tok_vocab *v, int32_t id) { return id >= 0 && id < v->n && v->eog[id]; }
bool tok_is_control(const tok_vocab *v, int32_t id) {
    return id >= 0 && id < v->n && v->attr[id] == TOK_ATTR_CONTROL;
}
const char *tok_text(const tok_vocab *v, int32_t id) {
    return id >= 0 && id < v->n ? tok_str(v, id) : NULL;
}
int tok_attr(const tok_vocab *v, int32_t id) { return id >= 0 && id < v->n ? v->attr[id] : -1; }
int32_t tok_find(const tok_vocab *v, const char *text, size_t len) {
    return tok_lookup(v, text, len);
}
const char *tok_model_name(const tok_vocab *v) { return model_names[v->model]; }
const char *tok_pre_name(const tok_vocab *v) { return tok_pre_name_at(v->pre); }
