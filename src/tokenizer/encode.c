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

/* Length of the special token that starts at text[i], with its id; 0 if none. */
static size_t match_special(const tok_vocab *v, const char *text, size_t len, size_t i, bool parse_special,
                            int32_t *id) {
    unsigned char b = (unsigned char)text[i];
    for (uint32_t k = v->first_idx[b]; k < v->first_idx[b + 1]; k++) {
        int32_t t = v->special[k];
        if (!parse_special && v->attr[t] != TOK_ATTR_USER_DEFINED) continue;
        size_t n = v->len[t];
        if (n <= len - i && memcmp(text + i, tok_str(v, t), n) == 0) {
            *id = t;
            return n;
        }
    }
    return 0;
}

static int encode_fragment(const tok_vocab *v, const char *p, size_t n, bool after_special, tok_ids *out,
                           he_error *err) {
    if (n == 0) return 0;
    switch (v->model) {
    case TOK_MODEL_SPM:
        return tok_spm_encode(v, p, n, v->add_space_prefix && after_special, out, err);
    case TOK_MODEL_BPE:
        return tok_bpe_encode(v, p, n, out, err);
    case TOK_MODEL_WPM:
        return tok_wpm_encode(v, p, n, out, err);
    case TOK_MODEL_NONE:
        break;
    }
    return he_fail(err, HE_UNSUPPORTED, "tokenizer: this vocab (model 'none') cannot encode text");
}

int tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
               int32_t **out, size_t *n_out, he_error *err) {
    *out = NULL;
    *n_out = 0;
    if (len > TOK_MAX_TEXT)
        return he_fail(err, HE_LIMIT, "tokenizer: text of %zu bytes exceeds the limit of %zu", len, TOK_MAX_TEXT);
    if (v->model == TOK_MODEL_NONE)
        return he_fail(err, HE_UNSUPPORTED, "tokenizer: this vocab (model 'none') cannot encode text");
    tok_ids ids = {0};
    if (add_special && v->add_bos && v->special_bos >= 0 && tok_ids_push(&ids, v->special_bos) < 0) goto nomem;
    bool after_special = true; /* SPM's space prefix goes at the start and after each special token */
    size_t start = 0;
    for (size_t i = 0; i < len;) {
        int32_t id;
        size_t n = v->n_special ? match_special(v, text, len, i, parse_special, &id) : 0;
        if (n == 0) {
            i++;
            continue;
        }
        if (i > start) {
            if (encode_fragment(v, text + start, i - start, after_special, &ids, err) < 0) goto fail;
        }
        if (tok_ids_push(&ids, id) < 0) goto nomem;
        after_special = true;
        i += n;
        start = i;
        continue;
    }
    if (len > start && encode_fragment(v, text + start, len - start, after_special, &ids, err) < 0) goto fail;
    if (add_special && v->add_eos && v->special_eos >= 0 && tok_ids_push(&ids, v->special_eos) < 0) goto nomem;
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
