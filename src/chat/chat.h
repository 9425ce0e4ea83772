/* chat.h — chat-template plumbing around the Jinja interpreter (jinja.h): reading a model's
 * template and special-token texts from its GGUF metadata. */
#ifndef HEARTH_CHAT_CHAT_H
#define HEARTH_CHAT_CHAT_H

#include <stddef.h>

#include "base/error.h"

typedef struct {
    char *template_text; /* tokenizer.chat_template (owned, NUL-terminated), NULL if absent */
    size_t template_len;
    char *bos_token; /* text of tokenizer.ggml.tokens[bos_token_id] (owned), NULL if absent */
    char *eos_token; /* same for eos_token_id */
} chat_gguf_info;

/* Reads the chat template and BOS/EOS token texts of the GGUF file at path into *out (zeroed
 * first). Missing keys leave fields NULL; a malformed file or wrongly typed key fails with err
 * filled. Release with chat_gguf_info_deinit. */
int chat_gguf_read(const char *path, chat_gguf_info *out, he_error *err);
void chat_gguf_info_deinit(chat_gguf_info *info);

#endif
