/* encode.c — tok_encode: BOS/EOS, cutting the text at special-token texts, and handing each
 * raw fragment to the model's encoder. Special texts are found leftmost-longest in one pass
 * (candidates bucketed by first byte). Control and unknown tokens are matched only when the
 * caller asks (parse_special); user-defined tokens are always matched, as Hugging Face treats
 * added tokens and llama.cpp does. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tokenizer/tok_internal.h"

#define TOK_MAX_TEXT ((size_t)INT32_MAX) /* SECURITY.md #4: longer prompts are refused */

/* Length of the longest special token that starts at text[i], with its id; 0 if none.
 * Control/unknown tokens may only end before ctl_end (0: never; len: anywhere). */
static size_t match_special(const tok_vocab *v, const char *text, size_t len, size_t i,
                            size_t ctl_end, int32_t *id) {
    size_t best = 0;
    int32_t node = 0;
    for (size_t k = i; k < len && k - i < TOK_SPECIAL_MAX_LEN; k++) {
        node = tok_trie_child(v, node, (uint8_t)text[k]);
        if (node < 0) break;
        int32_t t = k < ctl_end ? v->trie[node].any : v->trie[node].user;
        if (t >= 0) {
            *id = t;
            best = k - i + 1;
        }
    }
    return best;
}

static int encode_fragment(const tok_vocab *v, const char *p, size_t n, tok_ids *out,
                           he_error *err) {
    if (n == 0) return 0;
    switch (v->model) {
    case TOK_MODEL_SPM:
        return tok_spm_encode(v, p, n, v->add_space_prefix, out, err);
    case TOK_MODEL_BPE: {
        char *norm = NULL;
        size_t nn = 0;
        if (tok_pre_nfc(v->pre) && tok_nfc(p, n, &norm, &nn, err) < 0) return -1;
        int rc = norm ? tok_bpe_encode(v, norm, nn, out, err) : tok_bpe_encode(v, p, n, out, err);
        free(norm);
        return rc;
    }
    case TOK_MODEL_WPM:
        return tok_wpm_encode(v, p, n, out, err);
    case TOK_MODEL_NONE:
        break;
    }
    return he_fail(err, HE_UNSUPPORTED, "tokenizer: this vocab (model 'none') cannot encode text");
}

int tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_special,
               bool parse_special, int32_t **out, size_t *n_out, he_error *err) {
    return tok_encode_spans(v, text, len, NULL, 0, add_special, parse_special, out, n_out, err);
}

int tok_encode_spans(const tok_vocab *v, const char *text, size_t len, const tok_range *plain,
                     size_t n_plain, bool add_special, bool parse_special, int32_t **out,
                     size_t *n_out, he_error *err) {
    *out = NULL;
    *n_out = 0;
    for (size_t j = 0; j < n_plain; j++)
        if (plain[j].start >= plain[j].end || plain[j].end > len ||
            (j && plain[j].start < plain[j - 1].end))
            return he_fail(err, HE_INVALID,
                           "tokenizer: plain range %zu [%zu, %zu) is empty, out of order or "
                           "past the text's %zu bytes",
                           j, plain[j].start, plain[j].end, len);
    if (len > TOK_MAX_TEXT)
        return he_fail(err, HE_LIMIT, "tokenizer: text of %zu bytes exceeds the limit of %zu", len,
                       TOK_MAX_TEXT);
    if (v->model == TOK_MODEL_NONE)
        return he_fail(err, HE_UNSUPPORTED,
                       "tokenizer: this vocab (model 'none') cannot encode text");
    tok_ids ids = {0};
    if (add_special && v->add_bos && v->special_bos >= 0 && tok_ids_push(&ids, v->special_bos) < 0)
        goto nomem;
    /* Every raw fragment starts the text or follows a special token, so SPM's space prefix
     * (when the vocab asks for it) applies to each one, as in llama.cpp. */
    size_t start = 0, j = 0; /* plain[j]: the first plain range that ends after i */
    for (size_t i = 0; i < len;) {
        int32_t id;
        size_t ctl_end = 0;
        if (parse_special) {
            while (j < n_plain && plain[j].end <= i)
                j++;
            ctl_end = j == n_plain ? len : plain[j].start > i ? plain[j].start : 0;
        }
        size_t n = v->n_special ? match_special(v, text, len, i, ctl_end, &id) : 0;
        if (n == 0) {
            i++;
            continue;
        }
        if (i > start) {
            if (encode_fragment(v, text + start, i - start, &ids, err) < 0) goto fail;
        }
        if (tok_ids_push(&ids, id) < 0) goto nomem;
        i += n;
        start = i;
        continue;
    }
    if (len > start && encode_fragment(v, text + start, len - start, &ids, err) < 0) goto fail;
    if (add_special && v->add_eos && v->special_eos >= 0 && tok_ids_push(&ids, v->special_eos) < 0)
        goto nomem;
    if (ids.failed) goto nomem;
    *out = ids.ids ? ids.ids : he_malloc(sizeof(int32_t));
    if (!*out) goto nomem;
    *n_out = ids.n;
    return 0;
nomem:
    he_fail(err, HE_NOMEM, "tokenizer: out of memory encoding %zu bytes", len);
fail:
    free(ids.ids);
    return -1;
}
