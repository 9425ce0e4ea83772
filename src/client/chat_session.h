/* chat_session.h — the state of a `hearth chat` conversation, without a terminal or a socket.
 *
 * A session is the system prompt, the request parameters set with `/set parameter`, thinking
 * on/off, and the history (user and assistant turns). It builds the OpenAI chat-completions
 * body for the next turn, saves itself as a JSON file and loads one back (strictly: a file is
 * outside input — every key, type and range is checked; fuzz/fuzz_chat_session.c). It also parses
 * the REPL's slash commands. cmd_chat.c is the terminal around it. */
#ifndef HEARTH_CLIENT_CHAT_SESSION_H
#define HEARTH_CLIENT_CHAT_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/error.h"

#define CHAT_MAX_MESSAGES 100000
#define CHAT_MAX_STOP 16
#define CHAT_MAX_NAME 64

typedef struct {
    char *system;     /* NULL: the served model's default */
    json_t *params;   /* request fields: temperature, top_p, top_k, min_p, seed, max_tokens, ... */
    json_t *messages; /* [{role: "user"|"assistant", content}] */
    int think;        /* -1: the template's default; 0 off; 1 on (enable_thinking) */
} chat_session;

void chat_session_init(chat_session *s);
void chat_session_free(chat_session *s);
/* Forgets the history; the system prompt and parameters stay. */
void chat_session_clear(chat_session *s);
void chat_session_set_system(chat_session *s, const char *text); /* NULL or "": none */
/* `/set parameter NAME VALUE` with Ollama's names: temperature, top_p, top_k, min_p, seed,
 * num_predict (-1: no limit), repeat_penalty, presence_penalty, frequency_penalty, stop
 * (adds one stop string). A bad name or value fails with the reason. */
int chat_session_set_param(chat_session *s, const char *name, const char *value, he_error *err);
/* The body for the next turn: {model, messages: system + history + {user: text}, stream: true,
 * stream_options.include_usage, the parameters, enable_thinking}. A new reference. */
json_t *chat_session_request(const chat_session *s, const char *model, const char *user_text);
void chat_session_add_turn(chat_session *s, const char *user_text, const char *answer);
/* The session as a JSON document {"version": 1, "model", "system", "think", "parameters",
 * "messages"}; malloc'd text. */
char *chat_session_save(const chat_session *s, const char *model);
/* Replaces s with the document's session (s is unchanged on error). */
int chat_session_load(chat_session *s, const char *text, size_t len, he_error *err);
/* A /save or /load name: 1..64 of [A-Za-z0-9._-], not starting with '.'. */
bool chat_name_ok(const char *name);

typedef enum {
    CHAT_CMD_TEXT, /* not a command: a message to send */
    CHAT_CMD_BYE,
    CHAT_CMD_HELP,
    CHAT_CMD_CLEAR,
    CHAT_CMD_SHOW,
    CHAT_CMD_SAVE,       /* arg: the name */
    CHAT_CMD_LOAD,       /* arg: the name */
    CHAT_CMD_SET_SYSTEM, /* arg: the text ("" clears) */
    CHAT_CMD_SET_PARAM,  /* arg: NAME, arg2: VALUE */
    CHAT_CMD_SET_THINK,
    CHAT_CMD_SET_NOTHINK,
    CHAT_CMD_BAD /* a command used wrongly or unknown: message says how */
} chat_cmd_kind;

typedef struct {
    chat_cmd_kind kind;
    char arg[4096], arg2[4096];
    char message[160];
} chat_cmd;

/* Parses one input line (without its newline). */
void chat_cmd_parse(const char *line, chat_cmd *out);

#endif
