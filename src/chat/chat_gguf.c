/* chat_gguf.c — the chat template and special tokens of a GGUF model, read with the GGUF reader. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "chat/chat.h"
#include "gguf/gguf.h"

/* Text of token `key`'s id in tokenizer.ggml.tokens; 0 with *out NULL when either is absent. */
static int token_text(const gguf_file *f, const gguf_value *tokens, const char *key, char **out,
                      he_error *err) {
    *out = NULL;
    int64_t id;
    int r = gguf_find_i64(f, key, &id, err);
    if (r <= 0 || !tokens) return r;
    if (id < 0 || (uint64_t)id >= tokens->n) return 0; /* some models store an id past the vocab */
    gguf_value v;
    gguf_str s;
    if (gguf_value_elem(tokens, (uint64_t)id, &v, err) < 0 || gguf_value_str(&v, &s, err) < 0)
        return -1;
    *out = xstrndup(s.ptr, (size_t)s.len);
    return 1;
}

int chat_gguf_read(const char *path, chat_gguf_info *out, he_error *err) {
    memset(out, 0, sizeof *out);
    gguf_file *f = gguf_open(path, err);
    if (!f) return -1;
    gguf_str tmpl;
    int r = gguf_find_str(f, "tokenizer.chat_template", &tmpl, err);
    if (r < 0) goto fail;
    if (r > 0) {
        out->template_text = xstrndup(tmpl.ptr, (size_t)tmpl.len);
        out->template_len = (size_t)tmpl.len;
    }
    gguf_value tokens;
    r = gguf_find_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, err);
    if (r < 0) goto fail;
    if (token_text(f, r ? &tokens : NULL, "tokenizer.ggml.bos_token_id", &out->bos_token, err) <
            0 ||
        token_text(f, r ? &tokens : NULL, "tokenizer.ggml.eos_token_id", &out->eos_token, err) < 0)
        goto fail;
    gguf_close(f);
    return 0;
fail:
    he_prefix(err, "%s", path);
    gguf_close(f);
    chat_gguf_info_deinit(out);
    return -1;
}

void chat_gguf_info_deinit(chat_gguf_info *info) {
    if (!info) return;
    free(info->template_text);
    free(info->bos_token);
    free(info->eos_token);
    memset(info, 0, sizeof *info);
}
