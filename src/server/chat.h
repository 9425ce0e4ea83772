/* chat.h — turning chat messages into the prompt a served model was trained on.
 *
 * The template comes from the GGUF's tokenizer.chat_template and is rendered with the Jinja
 * engine (src/chat/jinja.h) over {messages, tools, add_generation_prompt, bos_token,
 * eos_token}. A file without a template falls back to ChatML, and says so in the log once.
 * Parsed templates are cached per (path, size, mtime), so a swap to another file picks up that
 * file's template and requests do not re-read the GGUF. */
#ifndef HEARTH_SERVER_CHAT_H
#define HEARTH_SERVER_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

typedef struct srv_chat srv_chat;

/* The (cached, shared) chat template of the GGUF at path; v gives bos/eos texts (may be NULL).
 * NULL with err when the file cannot be read or its template does not parse. Do not free: the
 * cache owns it until srv_chat_cache_clear. */
const srv_chat *srv_chat_get(const char *path, const tok_vocab *v, he_error *err);
/* The template a served model uses: its store override (cfg->chat_template) when it has one,
 * else the GGUF's (srv_chat_get). Overrides are cached by (path, text). */
const srv_chat *srv_chat_for(const char *path, const char *override_source, const tok_vocab *v, he_error *err);
void srv_chat_cache_clear(void);
bool srv_chat_is_fallback(const srv_chat *c);
/* The template raises on a system message but renders without one (Gemma 2). */
bool srv_chat_refuses_system(const srv_chat *c);
/* The template source ("" for the ChatML fallback). */
const char *srv_chat_source(const srv_chat *c);

/* Renders messages (and tools, may be NULL) with add_generation_prompt = true; kwargs (may be
 * NULL) are extra template variables such as enable_thinking (chat_template_kwargs). Returns a
 * malloc'd string (length in *len) or NULL with err (the template's own error message). The
 * ChatML fallback describes tools in a system message and asks for hearth's generic JSON form
 * ({"tool_calls": [...]}, chat/toolcall.h TC_GENERIC). */
char *srv_chat_render(const srv_chat *c, const json_t *messages, const json_t *tools, const json_t *kwargs,
                      size_t *len, he_error *err);
/* srv_chat_render that also returns which bytes of the prompt are request data (message
 * contents, roles, names, tool calls and results, tools, chat_template_kwargs: everything but
 * the vocab's BOS/EOS texts and the template's own text): *user gets a malloc'd array of
 * *n_user ranges for srv_prompt_tokens_spans (NULL when none; caller frees). */
char *srv_chat_render_spans(const srv_chat *c, const json_t *messages, const json_t *tools, const json_t *kwargs,
                            size_t *len, tok_range **user, size_t *n_user, he_error *err);

/* Tokenizes a prompt: BOS first when the vocab adds one and the text does not already start
 * with the BOS text (templates often write it themselves); special tokens are parsed. */
int srv_prompt_tokens(const tok_vocab *v, const char *text, size_t len, int32_t **out, size_t *n_out, he_error *err);
/* The same, where the `user` ranges (from srv_chat_render_spans) are tokenized as plain text:
 * a control token's text there ("<|im_start|>" typed in a message) stays ordinary tokens, so
 * request data cannot forge turns; only the template's own text gives control tokens. */
int srv_prompt_tokens_spans(const tok_vocab *v, const char *text, size_t len, const tok_range *user, size_t n_user,
                            int32_t **out, size_t *n_out, he_error *err);

#endif
