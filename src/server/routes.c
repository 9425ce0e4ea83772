/* routes.c — the API routes: OpenAI chat/completions/models, Ollama chat/generate/tags/show/ps.
 *
 * A generation request is: parse + validate (request.c) -> find the served name -> render the
 * chat template and tokenize -> srv_job_submit -> either stream each event as it comes (SSE for
 * OpenAI, NDJSON for Ollama) from MHD's content reader, or collect them and answer once.
 * The admin swap endpoint lives in routes_swap.c.
 *
 * No HTTP thread ever waits for the model: each generation gets a small "pump" thread that
 * blocks in srv_job_next, formats the events into the response buffer and resumes the
 * connection; while there is nothing to send, the connection is suspended (MHD_suspend_connection)
 * so MHD's few event-loop threads keep serving everybody else. The pump also watches its own
 * duplicate of the socket, so a client that hangs up cancels its job within a fraction of a
 * second and the slot is freed. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "chat/toolcall.h"
#include "server/chat.h"
#include "server/ctx_shift.h"
#include "server/http_internal.h"
#include "server/responses.h"
#include "server/route.h"
#include "store/store.h"

#define WAIT_MS 200

/* ---- helpers ---- */

static void rfc3339_now(char *out, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%09ldZ", b, ts.tv_nsec);
}

srv_model *http_acquire(srv_http *h, const char *name) {
    srv_model *m = srv_registry_acquire(h->reg, name);
    size_t n = strlen(name);
    /* Ollama clients add ":latest" to a bare name; a store's "name:latest" is asked as "name" */
    if (!m && n > 7 && !strcmp(name + n - 7, ":latest")) {
        char *bare = xstrndup(name, n - 7);
        m = srv_registry_acquire(h->reg, bare);
        free(bare);
    } else if (!m && !strchr(name, ':') && n < 1024) {
        char tagged[1040];
        snprintf(tagged, sizeof tagged, "%s:latest", name);
        m = srv_registry_acquire(h->reg, tagged);
    }
    return m;
}

static enum MHD_Result model_not_found(http_req *q, const char *name) {
    if (q->ollama) return http_error(q, 404, "model", "model_not_found", "model '%s' not found", name);
    return http_error(q, 404, "model", "model_not_found",
                      "The model '%s' does not exist or you do not have access to it.", name);
}

/* A growing output buffer (the answer's text, SSE/NDJSON not yet sent). Its size follows the
 * request (max_tokens, logprobs), so growth is fallible: on failure `oom` is set, the buffer
 * keeps what it had, and later adds are dropped; the owner answers 503 or ends the stream. */
typedef struct {
    char *b;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *s, const char *p, size_t n) {
    if (s->oom) return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *b = he_realloc(s->b, cap);
        if (!b) {
            s->oom = true;
            return;
        }
        s->b = b;
        s->cap = cap;
    }
    memcpy(s->b + s->len, p, n);
    s->len += n;
    s->b[s->len] = 0;
}

/* Takes j; a NULL j (a value that could not be built) marks the buffer out of memory. */
static void sb_json(sbuf *s, const char *pre, json_t *j, const char *post) {
    size_t n;
    char *t = http_dump(j, &n);
    json_decref(j);
    if (!t) {
        s->oom = true;
        return;
    }
    sb_add(s, pre, strlen(pre));
    sb_add(s, t, n);
    sb_add(s, post, strlen(post));
    free(t);
}

/* ---- generation state ---- */

typedef struct {
    srv_http *h;
    struct MHD_Connection *conn;
    srv_api api;
    srv_model *m;
    const tok_vocab *vocab;
    srv_job *job;
    char id[48];
    char model[260];
    int64_t created;
    bool include_usage;
    int32_t top_logprobs;
    size_t n_prompt;
    double t0, t_last;
    int32_t n_seen;
    bool finished, counted;
    sbuf out;     /* streaming: bytes not yet handed to MHD */
    size_t off;
    sbuf text;    /* non-streaming: the whole output */
    json_t *lp;   /* logprobs collected (chat: content array; completion: object) */
    size_t text_off;
    /* chat routes: the output is split into content, reasoning and tool calls when split */
    bool split, parse_calls;
    tc_family family;
    tc_reasoning reasoning;
    json_t *tools; /* the offered tools (names Llama 3's raw code calls), or NULL */
    tc_stream *ts; /* streaming + split */
    /* The pump (see the file comment). mu guards out/off/finished/suspended/done between the
     * pump and MHD's thread; refs counts the pump and the response (or the http_req). */
    pthread_mutex_t mu;
    atomic_int refs;
    atomic_bool closed; /* MHD is done with the connection: the pump stops */
    bool stream;
    bool suspended;     /* the connection is suspended waiting for the pump */
    bool done;          /* non-streaming: the pump saw the end (done_ev / error / gone) */
    bool gone;          /* the client hung up or the server is stopping */
    bool lost;          /* the job ended without a terminal event */
    bool oom;           /* memory for the answer ran out: 503, or the stream is cut */
    int peer_fd;        /* dup of the socket: the pump polls it for a hang-up */
    json_t *lp_pending; /* Ollama streaming: logprobs of tokens whose text is still held back */
    int32_t *ctx_toks;  /* /api/generate: prompt + generated token ids, returned as `context` */
    size_t n_ctx_toks, cap_ctx_toks;
    srv_event done_ev;  /* non-streaming: the DONE or ERROR event (text pointers not kept) */
    srv_resp *resp;     /* /v1/responses streaming: the items and events builder (responses.h) */
    json_t *resp_echo;  /* /v1/responses: the request fields its response object repeats */
    double load_s;      /* store mode: seconds this request waited for its model to load */
} gen;

static void gen_destroy(gen *g) {
    if (!g->counted) http_metrics_tokens(g->h, srv_model_name(g->m), g->n_prompt, (uint64_t)g->n_seen);
    srv_job_free(g->job);
    srv_model_release(g->m);
    free(g->out.b);
    free(g->text.b);
    json_decref(g->lp);
    tc_stream_free(g->ts);
    json_decref(g->tools);
    srv_resp_free(g->resp);
    json_decref(g->resp_echo);
    json_decref(g->lp_pending);
    free(g->ctx_toks);
    if (g->peer_fd >= 0) close(g->peer_fd);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static void gen_unref(gen *g) {
    if (atomic_fetch_sub(&g->refs, 1) == 1) gen_destroy(g);
}

/* MHD is done with the response (streaming) or the request (non-streaming): stop the pump.
 * Takes no lock that the pump holds while calling into MHD. */
static void gen_free(void *cls) {
    gen *g = cls;
    if (!g) return;
    atomic_store(&g->closed, true);
    srv_job_cancel(g->job);
    gen_unref(g);
}

static json_t *token_bytes_json(const tok_vocab *v, int32_t id, json_t **text) {
    char b[256];
    size_t n = tok_token_bytes(v, id, false, b, sizeof b);
    if (n > sizeof b) n = sizeof b;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_integer((unsigned char)b[i]));
    *text = http_json_text(b, n);
    return arr;
}

/* chat logprobs entry for one token */
static json_t *chat_lp_entry(const gen *g, const srv_event *ev) {
    json_t *txt;
    json_t *bytes = token_bytes_json(g->vocab, ev->token, &txt);
    json_t *tops = json_array();
    for (int32_t i = 0; i < ev->n_top && i < g->top_logprobs; i++) {
        json_t *tt;
        json_t *tb = token_bytes_json(g->vocab, ev->top_token[i], &tt);
        json_array_append_new(tops, json_pack("{s:o, s:f, s:o}", "token", tt, "logprob", (double)ev->top_logprob[i],
                                              "bytes", tb));
    }
    return json_pack("{s:o, s:f, s:o, s:o}", "token", txt, "logprob", (double)ev->logprob, "bytes", bytes,
                     "top_logprobs", tops);
}

static void completion_lp_add(gen *g, json_t *lp, const srv_event *ev) {
    json_t *txt;
    json_decref(token_bytes_json(g->vocab, ev->token, &txt));
    json_array_append_new(json_object_get(lp, "tokens"), txt);
    json_array_append_new(json_object_get(lp, "token_logprobs"), json_real((double)ev->logprob));
    json_t *tops = json_object();
    for (int32_t i = 0; i < ev->n_top && i < g->top_logprobs; i++) {
        json_t *tt;
        json_decref(token_bytes_json(g->vocab, ev->top_token[i], &tt));
        json_object_set_new(tops, json_string_value(tt), json_real((double)ev->top_logprob[i]));
        json_decref(tt);
    }
    json_array_append_new(json_object_get(lp, "top_logprobs"), tops);
    json_array_append_new(json_object_get(lp, "text_offset"), json_integer((json_int_t)g->text_off));
}

static json_t *completion_lp_new(void) {
    return json_pack("{s:[], s:[], s:[], s:[]}", "tokens", "token_logprobs", "top_logprobs", "text_offset");
}

static json_t *usage_json(const srv_event *ev) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", ev->n_prompt, "completion_tokens", ev->n_generated,
                     "total_tokens", ev->n_prompt + ev->n_generated, "prompt_tokens_details", "cached_tokens",
                     ev->n_prompt_cached);
}

/* Speculative decoding's figures for this response (a served name with `draft` or `lookup`),
 * named as llama-server's `timings` names them: tokens drafted, of those accepted, and the
 * target passes that made the output (completion_tokens / target_passes tokens per pass). */
static void spec_timings(json_t *o, const srv_event *ev) {
    if (ev->n_spec_passes <= 0) return;
    json_object_set_new(o, "timings",
                        json_pack("{s:i, s:i, s:i}", "draft_n", ev->n_draft, "draft_n_accepted", ev->n_draft_accepted,
                                  "target_passes", ev->n_spec_passes));
}

static void ollama_timings(json_t *o, const gen *g, const srv_event *ev) {
    int32_t evaluated = ev->n_prompt - ev->n_prompt_cached;
    json_object_set_new(o, "total_duration", json_integer((json_int_t)((http_now() - g->t0) * 1e9)));
    /* 0 when the model was resident; store mode: the load this request waited for */
    json_object_set_new(o, "load_duration", json_integer((json_int_t)(g->load_s * 1e9)));
    json_object_set_new(o, "prompt_eval_count", json_integer(evaluated > 0 ? evaluated : 0));
    json_object_set_new(o, "prompt_eval_duration", json_integer((json_int_t)(ev->prompt_ms * 1e6)));
    json_object_set_new(o, "eval_count", json_integer(ev->n_generated));
    json_object_set_new(o, "eval_duration", json_integer((json_int_t)(ev->generate_ms * 1e6)));
}

/* Ollama extras on the final object: `context` (generate, unless raw) and `logprobs`. */
static void ollama_final_extras(json_t *o, gen *g) {
    if (g->ctx_toks) {
        json_t *c = json_array();
        for (size_t i = 0; i < g->n_ctx_toks; i++) json_array_append_new(c, json_integer(g->ctx_toks[i]));
        json_object_set_new(o, "context", c);
    }
}

static void remember_token(gen *g, const srv_event *ev) {
    if (!g->ctx_toks) return;
    if (g->n_ctx_toks == g->cap_ctx_toks) {
        size_t cap = g->cap_ctx_toks * 2 + 16;
        int32_t *t = he_realloc(g->ctx_toks, cap * sizeof *g->ctx_toks);
        if (!t) {
            g->oom = true;
            return;
        }
        g->ctx_toks = t;
        g->cap_ctx_toks = cap;
    }
    g->ctx_toks[g->n_ctx_toks++] = ev->token;
}

static void observe_token(gen *g) {
    double now = http_now();
    /* metrics by served name (the response echoes the name as asked, e.g. with ":latest") */
    if (g->n_seen == 0) http_metrics_ttft(g->h, srv_model_name(g->m), now - g->t0);
    else http_metrics_token_gap(g->h, srv_model_name(g->m), now - g->t_last);
    g->t_last = now;
    g->n_seen++;
}

static void observe_done(gen *g, const srv_event *ev) {
    http_metrics_tokens(g->h, srv_model_name(g->m), (uint64_t)ev->n_prompt, (uint64_t)ev->n_generated);
    g->counted = true;
}

/* ---- streaming ---- */

static json_t *chat_chunk(const gen *g, json_t *delta, json_t *logprobs, const char *finish) {
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[{s:i, s:o, s:o, s:o}]}", "id", g->id, "object",
                          "chat.completion.chunk", "created", (json_int_t)g->created, "model", g->model,
                          "system_fingerprint", "hearth", "choices", "index", 0, "delta", delta, "logprobs",
                          logprobs ? logprobs : json_null(), "finish_reason", finish ? json_string(finish) : json_null());
    if (g->include_usage) json_object_set_new(c, "usage", json_null());
    return c;
}

static json_t *completion_chunk(const gen *g, json_t *text, json_t *logprobs, const char *finish) {
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[{s:o, s:i, s:o, s:o}]}", "id", g->id, "object",
                          "text_completion", "created", (json_int_t)g->created, "model", g->model,
                          "system_fingerprint", "hearth", "choices", "text", text, "index", 0, "logprobs",
                          logprobs ? logprobs : json_null(), "finish_reason", finish ? json_string(finish) : json_null());
    if (g->include_usage) json_object_set_new(c, "usage", json_null());
    return c;
}

static json_t *ollama_line(const gen *g, const char *text, size_t n, bool done) {
    char ts[48];
    rfc3339_now(ts, sizeof ts);
    if (g->api == SRV_API_OLLAMA_CHAT)
        return json_pack("{s:s, s:s, s:{s:s, s:o}, s:b}", "model", g->model, "created_at", ts, "message", "role",
                         "assistant", "content", http_json_text(text, n), "done", done);
    return json_pack("{s:s, s:s, s:o, s:b}", "model", g->model, "created_at", ts, "response", http_json_text(text, n),
                     "done", done);
}

/* A tool call for the Ollama API: arguments as an object (text when it does not parse). */
static json_t *ollama_call(const char *name, const char *args, size_t args_len) {
    json_t *a = json_loadb(args, args_len, 0, NULL);
    if (!a) a = http_json_text(args, args_len);
    return json_pack("{s:{s:s, s:o}}", "function", "name", name, "arguments", a);
}

static json_t *openai_call(int index, const char *id, const char *name, const char *args, size_t args_len, bool with_index) {
    json_t *c = json_pack("{s:s, s:s, s:{s:s, s:o}}", "id", id, "type", "function", "function", "name", name, "arguments",
                          http_json_text(args, args_len));
    if (with_index) json_object_set_new(c, "index", json_integer(index));
    return c;
}

/* A Responses stream event as SSE (`event:` names its type, as OpenAI sends it). */
static void resp_emit(void *user, const char *type, json_t *ev) {
    gen *g = user;
    char pre[96];
    snprintf(pre, sizeof pre, "event: %s\ndata: ", type);
    sb_json(&g->out, pre, ev, "\n\n");
}

/* One delta of the split output as a chunk (SSE) or an NDJSON line (Ollama). */
static void split_delta(const tc_delta *d, void *user) {
    gen *g = user;
    if ((d->kind == TC_DELTA_CONTENT || d->kind == TC_DELTA_REASONING || d->kind == TC_DELTA_ARGS) && d->len == 0) return;
    if (g->api == SRV_API_RESPONSES) {
        srv_resp_delta(g->resp, d);
        return;
    }
    if (g->api == SRV_API_CHAT) {
        json_t *delta;
        if (d->kind == TC_DELTA_CONTENT)
            delta = json_pack("{s:o}", "content", http_json_text(d->text, d->len));
        else if (d->kind == TC_DELTA_REASONING)
            delta = json_pack("{s:o}", "reasoning_content", http_json_text(d->text, d->len));
        else if (d->kind == TC_DELTA_ARGS) /* as OpenAI streams arguments: index and the fragment */
            delta = json_pack("{s:[{s:i, s:{s:o}}]}", "tool_calls", "index", d->index, "function", "arguments",
                              http_json_text(d->text, d->len));
        else /* a whole call, or the start of one whose arguments follow in fragments */
            delta = json_pack("{s:[o]}", "tool_calls", openai_call(d->index, d->id, d->name, d->text, d->len, true));
        sb_json(&g->out, "data: ", chat_chunk(g, delta, NULL, NULL), "\n\n");
        return;
    }
    json_t *o = ollama_line(g, "", 0, false);
    json_t *msg = json_object_get(o, "message");
    if (d->kind == TC_DELTA_CONTENT)
        json_object_set_new(msg, "content", http_json_text(d->text, d->len));
    else if (d->kind == TC_DELTA_REASONING)
        json_object_set_new(msg, "thinking", http_json_text(d->text, d->len));
    else
        json_object_set_new(msg, "tool_calls", json_pack("[o]", ollama_call(d->name, d->text, d->len)));
    if (g->lp_pending) json_object_set_new(o, "logprobs", g->lp_pending), g->lp_pending = NULL;
    sb_json(&g->out, "", o, "\n");
}

static void stream_split(gen *g, const char *text, size_t len, bool final) {
    he_error e;
    if (tc_stream_feed(g->ts, text, len, final, split_delta, g, &e))
        log_warn("serve: splitting the streamed output failed: %s", e.msg);
}

static void stream_text(gen *g, const srv_event *ev, bool with_lp) {
    bool has_text = ev->text_len > 0;
    if (g->ts) {
        /* content, reasoning and calls come out of the splitter; logprobs ride on their own */
        if (has_text) stream_split(g, ev->text, ev->text_len, false);
        if (with_lp && g->api == SRV_API_CHAT) {
            sb_json(&g->out, "data: ",
                    chat_chunk(g, json_object(), json_pack("{s:[o]}", "content", chat_lp_entry(g, ev)), NULL), "\n\n");
        } else if (with_lp) { /* Ollama: on the next line that goes out */
            if (!g->lp_pending) g->lp_pending = json_array();
            json_array_append_new(g->lp_pending, chat_lp_entry(g, ev));
        }
        g->text_off += ev->text_len;
        return;
    }
    if (!has_text && !with_lp) return;
    switch (g->api) {
    case SRV_API_RESPONSES: {
        tc_delta d = {.kind = TC_DELTA_CONTENT, .text = ev->text, .len = ev->text_len};
        if (has_text) srv_resp_delta(g->resp, &d);
        break;
    }
    case SRV_API_CHAT: {
        json_t *lp = NULL;
        if (with_lp) lp = json_pack("{s:[o]}", "content", chat_lp_entry(g, ev));
        json_t *delta = json_pack("{s:o}", "content", http_json_text(ev->text, ev->text_len));
        sb_json(&g->out, "data: ", chat_chunk(g, delta, lp, NULL), "\n\n");
        break;
    }
    case SRV_API_COMPLETION: {
        json_t *lp = NULL;
        if (with_lp) {
            lp = completion_lp_new();
            completion_lp_add(g, lp, ev);
        }
        sb_json(&g->out, "data: ", completion_chunk(g, http_json_text(ev->text, ev->text_len), lp, NULL), "\n\n");
        break;
    }
    default:
        /* Ollama: each line carries the logprobs of the tokens whose text it releases */
        if (with_lp) {
            if (!g->lp_pending) g->lp_pending = json_array();
            json_array_append_new(g->lp_pending, chat_lp_entry(g, ev));
        }
        if (has_text) {
            json_t *line = ollama_line(g, ev->text, ev->text_len, false);
            if (g->lp_pending) json_object_set_new(line, "logprobs", g->lp_pending), g->lp_pending = NULL;
            sb_json(&g->out, "", line, "\n");
        }
    }
    g->text_off += ev->text_len;
}

static void stream_event(gen *g, const srv_event *ev) {
    if (ev->kind == SRV_EV_TOKEN) {
        observe_token(g);
        remember_token(g, ev);
        stream_text(g, ev, g->top_logprobs >= 0);
        return;
    }
    g->finished = true;
    if (ev->kind == SRV_EV_ERROR) {
        char ee[LOG_ESC_CAP];
        log_warn("serve: generation failed: %s", log_esc(ev->error.msg, ee, sizeof ee));
        if (g->api == SRV_API_RESPONSES)
            srv_resp_error(g->resp, ev->error.msg);
        else if (g->api == SRV_API_CHAT || g->api == SRV_API_COMPLETION)
            sb_json(&g->out, "data: ",
                    json_pack("{s:{s:o, s:s, s:n, s:n}}", "error", "message", http_json_text(ev->error.msg, strlen(ev->error.msg)),
                              "type", "server_error", "param", "code"),
                    "\n\n");
        else
            sb_json(&g->out, "", json_pack("{s:o}", "error", http_json_text(ev->error.msg, strlen(ev->error.msg))), "\n");
        return;
    }
    /* DONE: held-back text first, then the final chunk */
    observe_done(g, ev);
    if (g->ts) {
        stream_split(g, ev->text, ev->text_len, true);
    } else if (ev->text_len) {
        srv_event t = *ev;
        t.kind = SRV_EV_TOKEN;
        stream_text(g, &t, false);
    }
    const char *finish = ev->finish_reason ? ev->finish_reason : "stop";
    if (g->api == SRV_API_RESPONSES) { /* its own closing events; no [DONE] */
        srv_resp_end(g->resp, finish, ev->n_prompt, ev->n_prompt_cached, ev->n_generated);
        return;
    }
    if (g->ts && tc_stream_n_calls(g->ts) > 0 && !strcmp(finish, "stop") && g->api == SRV_API_CHAT)
        finish = "tool_calls";
    switch (g->api) {
    case SRV_API_CHAT: {
        json_t *c = chat_chunk(g, json_object(), NULL, finish);
        spec_timings(c, ev);
        sb_json(&g->out, "data: ", c, "\n\n");
        break;
    }
    case SRV_API_COMPLETION: {
        json_t *c = completion_chunk(g, json_string(""), NULL, ev->finish_reason);
        spec_timings(c, ev);
        sb_json(&g->out, "data: ", c, "\n\n");
        break;
    }
    default: {
        json_t *o = ollama_line(g, "", 0, true);
        json_object_set_new(o, "done_reason", json_string(ev->finish_reason ? ev->finish_reason : "stop"));
        ollama_timings(o, g, ev);
        spec_timings(o, ev);
        ollama_final_extras(o, g);
        if (g->lp_pending) json_object_set_new(o, "logprobs", g->lp_pending), g->lp_pending = NULL;
        sb_json(&g->out, "", o, "\n");
        return;
    }
    }
    if (g->include_usage) {
        json_t *u = g->api == SRV_API_CHAT ? chat_chunk(g, json_object(), NULL, NULL)
                                           : completion_chunk(g, json_string(""), NULL, NULL);
        json_object_set_new(u, "choices", json_array());
        json_object_set_new(u, "usage", usage_json(ev));
        sb_json(&g->out, "data: ", u, "\n\n");
    }
    sb_add(&g->out, "data: [DONE]\n\n", 14);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    gen *g = cls;
    pthread_mutex_lock(&g->mu);
    if (g->off == g->out.len) {
        g->off = g->out.len = 0;
        ssize_t r = 0;
        if (g->gone) r = MHD_CONTENT_READER_END_WITH_ERROR;
        else if (g->finished) r = MHD_CONTENT_READER_END_OF_STREAM;
        else {
            /* Nothing to send yet: park the connection until the pump has more (returning 0
             * without suspending would make MHD call again at once). */
            g->suspended = true;
            MHD_suspend_connection(g->conn);
        }
        pthread_mutex_unlock(&g->mu);
        return r;
    }
    size_t n = g->out.len - g->off;
    if (n > max) n = max;
    memcpy(buf, g->out.b + g->off, n);
    g->off += n;
    pthread_mutex_unlock(&g->mu);
    return (ssize_t)n;
}

/* ---- non-streaming ---- */

/* One event of a non-streaming generation; true when it was the last. */
static bool collect_event(gen *g, const srv_event *ev) {
    if (ev->kind == SRV_EV_ERROR) {
        g->done_ev = *ev;
        return true;
    }
    if (ev->kind == SRV_EV_TOKEN) {
        observe_token(g);
        remember_token(g, ev);
        if (g->lp && g->api == SRV_API_COMPLETION) completion_lp_add(g, g->lp, ev);
        else if (g->lp && json_array_append_new(g->lp, chat_lp_entry(g, ev))) g->oom = true;
    }
    if (ev->text_len) sb_add(&g->text, ev->text, ev->text_len);
    g->text_off = g->text.len;
    if (ev->kind != SRV_EV_DONE) return false;
    g->done_ev = *ev;
    g->done_ev.text = "";
    g->done_ev.text_len = 0;
    return true;
}

/* ---- the pump ---- */

static bool peer_hung_up(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) return true;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void pump_done(srv_http *h);

static void *gen_pump(void *arg) {
    gen *g = arg;
    double last_check = http_now();
    for (bool end = false; !end;) {
        srv_event ev;
        int rc = srv_job_next(g->job, &ev, WAIT_MS);
        double now = http_now();
        bool check = rc == 1 || now - last_check >= WAIT_MS * 1e-3;
        bool gone = atomic_load(&g->closed) || __atomic_load_n(&g->h->stopping, __ATOMIC_ACQUIRE) ||
                    (check && peer_hung_up(g->peer_fd));
        if (check) last_check = now;
        pthread_mutex_lock(&g->mu);
        if (gone) {
            srv_job_cancel(g->job);
            g->gone = g->finished = g->done = end = true;
        } else if (rc < 0) {
            g->lost = g->finished = g->done = end = true;
        } else if (rc == 0) {
            /* jansson drops an element it cannot allocate and goes on: any failed allocation
             * on this thread while formatting the event counts as out of memory */
            unsigned long failed = he_alloc_failures();
            if (g->stream) {
                stream_event(g, &ev);
                end = ev.kind != SRV_EV_TOKEN;
            } else {
                end = g->done = collect_event(g, &ev);
            }
            if (g->oom || g->out.oom || g->text.oom || he_alloc_failures() != failed) {
                /* out of memory for this answer: free the slot; a stream is cut (its 200 is
                 * sent), a parked request is answered 503 (route_generate_resume) */
                srv_job_cancel(g->job);
                g->oom = g->finished = g->done = end = true;
                if (g->stream) g->gone = true;
            }
        }
        /* wake the connection when it waits and there is something for it */
        bool ready = g->stream ? (g->out.len > g->off || g->finished) : g->done;
        if (g->suspended && ready && !atomic_load(&g->closed)) {
            g->suspended = false;
            MHD_resume_connection(g->conn);
        }
        pthread_mutex_unlock(&g->mu);
    }
    /* last: srv_http_stop frees h once no pump is counted (it waits on pump_cv without a time
     * limit), and gen_unref may still use h; after the unlock this thread touches nothing of h */
    srv_http *h = g->h;
    gen_unref(g);
    pump_done(h);
    return NULL;
}

static void pump_done(srv_http *h) {
    pthread_mutex_lock(&h->pump_mu);
    if (--h->pumps == 0) pthread_cond_broadcast(&h->pump_cv);
    pthread_mutex_unlock(&h->pump_mu);
}

/* Starts g's pump; the caller's reference stays with the caller. Fails once srv_http_stop has
 * begun, so no pump can start after stop has seen the last one end. */
static int gen_start_pump(gen *g) {
    srv_http *h = g->h;
    pthread_mutex_lock(&h->pump_mu);
    bool stopping = __atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE);
    if (!stopping) h->pumps++;
    pthread_mutex_unlock(&h->pump_mu);
    if (stopping) return -1;
    atomic_fetch_add(&g->refs, 1);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, (size_t)256 << 10);
    pthread_t t;
    int rc = pthread_create(&t, &at, gen_pump, g);
    pthread_attr_destroy(&at);
    if (rc) {
        atomic_fetch_sub(&g->refs, 1);
        pump_done(h);
        return -1;
    }
    return 0;
}

static enum MHD_Result collect_finish(http_req *q, gen *g);

void route_generate_abandon(http_req *q) {
    gen *g = q->gen;
    q->gen = NULL;
    if (g) gen_free(g);
}

/* Called again by http.c when a suspended non-streaming request is resumed: the pump is done. */
enum MHD_Result route_generate_resume(http_req *q) {
    gen *g = q->gen;
    pthread_mutex_lock(&g->mu);
    bool done = g->done;
    if (!done) { /* spurious: keep waiting */
        g->suspended = true;
        MHD_suspend_connection(q->conn);
    }
    pthread_mutex_unlock(&g->mu);
    if (!done) return MHD_YES;
    q->gen = NULL;
    enum MHD_Result r;
    if (g->gone) {
        q->status = 499;
        r = MHD_NO;
    } else if (g->oom) {
        r = http_error_nomem(q);
    } else if (g->lost) {
        r = http_error(q, 500, NULL, "server_error", "The generation ended without a result.");
    } else if (g->done_ev.kind == SRV_EV_ERROR) {
        r = http_error(q, 500, NULL, "server_error", "Generation failed: %s", g->done_ev.error.msg);
    } else {
        r = collect_finish(q, g);
        g = NULL; /* collect_finish released it */
    }
    if (g) gen_free(g);
    return r;
}

static enum MHD_Result collect_finish(http_req *q, gen *g) {
    srv_event ev = g->done_ev;
    observe_done(g, &ev);
    const char *finish = ev.finish_reason ? ev.finish_reason : "stop";
    /* chat: content, reasoning and tool calls split from the text */
    tc_result tr = {0};
    bool split = false;
    if (g->split) {
        he_error e;
        if (tc_parse_tools(g->family, &g->reasoning, g->parse_calls, g->tools, g->text.b ? g->text.b : "",
                           g->text.len, &tr, &e) == 0)
            split = true;
        else
            log_warn("serve: parsing the output for tool calls failed: %s", e.msg);
    }
    json_t *text = split ? http_json_text(tr.content, strlen(tr.content))
                         : http_json_text(g->text.b ? g->text.b : "", g->text.len);
    json_t *lp = g->lp ? json_incref(g->lp) : json_null();
    json_t *o;
    switch (g->api) {
    case SRV_API_RESPONSES: {
        /* the same builder as the stream's, fed the parsed output in order */
        json_decref(lp);
        json_decref(text);
        srv_resp *rb = srv_resp_new(g->model, g->resp_echo, NULL, NULL);
        if (rb) {
            tc_delta d = {.kind = TC_DELTA_REASONING, .text = split ? tr.reasoning : NULL};
            if (d.text) d.len = strlen(d.text), srv_resp_delta(rb, &d);
            d.kind = TC_DELTA_CONTENT;
            d.text = split ? tr.content : g->text.b ? g->text.b : "";
            d.len = split ? strlen(tr.content) : g->text.len;
            srv_resp_delta(rb, &d);
            for (int i = 0; split && i < tr.n_calls; i++) {
                tc_delta c = {.kind = TC_DELTA_CALL, .text = tr.calls[i].arguments, .len = strlen(tr.calls[i].arguments),
                              .index = i, .id = tr.calls[i].id, .name = tr.calls[i].name};
                srv_resp_delta(rb, &c);
            }
            srv_resp_end(rb, finish, ev.n_prompt, ev.n_prompt_cached, ev.n_generated);
        }
        o = rb ? srv_resp_object(rb) : NULL;
        srv_resp_free(rb);
        /* o shares the echoed values: drop g's copy on this thread too (see below) */
        json_decref(g->resp_echo);
        g->resp_echo = NULL;
        break;
    }
    case SRV_API_CHAT: {
        if (g->lp) {
            json_decref(lp);
            lp = json_pack("{s:O}", "content", g->lp);
        }
        json_t *msg = json_pack("{s:s, s:o, s:n}", "role", "assistant", "content", text, "refusal");
        if (split && tr.reasoning) json_object_set_new(msg, "reasoning_content", json_string(tr.reasoning));
        if (split && tr.n_calls > 0) {
            json_t *calls = json_array();
            for (int i = 0; i < tr.n_calls; i++)
                json_array_append_new(calls, openai_call(i, tr.calls[i].id, tr.calls[i].name, tr.calls[i].arguments,
                                                         strlen(tr.calls[i].arguments), false));
            json_object_set_new(msg, "tool_calls", calls);
            if (!tr.content[0]) json_object_set_new(msg, "content", json_null());
            if (!strcmp(finish, "stop")) finish = "tool_calls";
        }
        o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[{s:i, s:o, s:o, s:s}], s:o}", "id", g->id, "object",
                      "chat.completion", "created", (json_int_t)g->created, "model", g->model, "system_fingerprint",
                      "hearth", "choices", "index", 0, "message", msg, "logprobs", lp, "finish_reason", finish, "usage",
                      usage_json(&ev));
        break;
    }
    case SRV_API_COMPLETION:
        o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[{s:o, s:i, s:o, s:s}], s:o}", "id", g->id, "object",
                      "text_completion", "created", (json_int_t)g->created, "model", g->model, "system_fingerprint",
                      "hearth", "choices", "text", text, "index", 0, "logprobs", lp, "finish_reason",
                      ev.finish_reason ? ev.finish_reason : "stop", "usage", usage_json(&ev));
        break;
    default: {
        json_decref(lp);
        char ts[48];
        rfc3339_now(ts, sizeof ts);
        if (g->api == SRV_API_OLLAMA_CHAT) {
            o = json_pack("{s:s, s:s, s:{s:s, s:o}, s:b}", "model", g->model, "created_at", ts, "message", "role",
                          "assistant", "content", text, "done", 1);
            json_t *msg = json_object_get(o, "message");
            if (split && tr.reasoning) json_object_set_new(msg, "thinking", json_string(tr.reasoning));
            if (split && tr.n_calls > 0) {
                json_t *calls = json_array();
                for (int i = 0; i < tr.n_calls; i++)
                    json_array_append_new(calls, ollama_call(tr.calls[i].name, tr.calls[i].arguments,
                                                             strlen(tr.calls[i].arguments)));
                json_object_set_new(msg, "tool_calls", calls);
            }
        } else
            o = json_pack("{s:s, s:s, s:o, s:b}", "model", g->model, "created_at", ts, "response", text, "done", 1);
        json_object_set_new(o, "done_reason", json_string(ev.finish_reason ? ev.finish_reason : "stop"));
        ollama_timings(o, g, &ev);
        ollama_final_extras(o, g);
        if (g->lp) json_object_set(o, "logprobs", g->lp);
    }
    }
    if (o) spec_timings(o, &ev);
    if (split) tc_result_free(&tr);
    /* o holds its own references; drop g's here, on this thread, so the pump (which may free g
     * last) never touches JSON that this thread is about to serialize */
    json_decref(g->lp);
    g->lp = NULL;
    gen_free(g);
    return http_respond_json(q, 200, o);
}

/* ---- prompt ---- */

/* What the template says about the output: its tool-call family and reasoning. */
typedef struct {
    bool templated;
    tc_family family;
    tc_reasoning reasoning;
    bool thinking_closed; /* the prompt ends with a closed think block: no thinking this turn */
} prompt_info;

/* Qwen 3 with enable_thinking false ends the prompt with an empty "<think>\n\n</think>\n\n":
 * the model is not to think, so a forced call's grammar offers no think block either. */
static bool prompt_closes_thinking(const char *p, size_t len) {
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == ' ' || p[len - 1] == '\r' || p[len - 1] == '\t')) len--;
    return len >= 8 && !memcmp(p + len - 8, "</think>", 8);
}

static int build_prompt(const srv_request *r, srv_model *m, int32_t **toks, size_t *n, prompt_info *pi,
                        srv_req_error *e) {
    const hearth_model *hm = srv_model_engine(m);
    const tok_vocab *v = hearth_model_vocab(hm);
    const srv_model_config *cfg = srv_model_config_of(m);
    he_error err = {0};
    if (!v) return srv_req_fail(e, 500, NULL, "server_error", "The served model has no tokenizer.");
    if (r->api == SRV_API_COMPLETION && r->prompt_tokens) {
        for (size_t i = 0; i < r->n_prompt_tokens; i++)
            if (r->prompt_tokens[i] >= tok_n_vocab(v))
                return srv_req_fail(e, 400, "prompt", "invalid_value",
                                    "Invalid 'prompt[%zu]': token id %d is out of range (the vocabulary has %d tokens).",
                                    i, r->prompt_tokens[i], tok_n_vocab(v));
        *toks = he_malloc(r->n_prompt_tokens * sizeof **toks);
        if (!*toks) return srv_req_nomem(e);
        memcpy(*toks, r->prompt_tokens, r->n_prompt_tokens * sizeof **toks);
        *n = r->n_prompt_tokens;
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    tok_range *user = NULL; /* request data inside a templated prompt: never control tokens */
    size_t n_user = 0;
    bool templated = r->api == SRV_API_CHAT || r->api == SRV_API_RESPONSES || r->api == SRV_API_OLLAMA_CHAT ||
                     (r->api == SRV_API_OLLAMA_GENERATE && !r->raw);
    if (templated) {
        json_t *msgs;
        if (r->api == SRV_API_OLLAMA_GENERATE) {
            msgs = json_array();
            /* a continuation (context) already holds the conversation's system prompt */
            const char *sys = r->system ? r->system : r->n_context ? NULL : cfg->system_prompt;
            if (sys) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", sys));
            json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", r->prompt));
        } else {
            msgs = json_deep_copy(r->messages);
            if (!msgs) return srv_req_nomem(e);
            const char *first = json_string_value(json_object_get(json_array_get(msgs, 0), "role"));
            if (cfg->system_prompt && !(first && !strcmp(first, "system")))
                json_array_insert_new(msgs, 0, json_pack("{s:s, s:s}", "role", "system", "content", cfg->system_prompt));
        }
        if (!msgs) return srv_req_nomem(e); /* Ollama generate's array */
        const srv_chat *chat = srv_chat_for(cfg->path, cfg->chat_template, v, &err);
        if (!chat) {
            json_decref(msgs);
            return srv_req_fail(e, 500, NULL, "server_error", "%s", err.msg);
        }
        pi->templated = true;
        pi->family = TC_GENERIC;
        if (cfg->tool_format) {
            if (tc_family_from_name(cfg->tool_format, &pi->family)) pi->family = TC_GENERIC;
        } else if (!srv_chat_is_fallback(chat)) {
            pi->family = tc_detect(srv_chat_source(chat));
        }
        /* earlier turns' calls in the shape this family's template wants (arguments as an
         * object or a string, Mistral's ids) */
        if (tc_prepare_messages(pi->family, msgs, &err)) {
            json_decref(msgs);
            return srv_req_fail(e, 400, "messages", "invalid_value", "%s", err.msg);
        }
        /* a real template that never mentions tools would not show them: describe them and
         * the generic call format in the system message (the ChatML fallback does its own) */
        if (r->tools && !srv_chat_is_fallback(chat) && pi->family == TC_GENERIC &&
            !strstr(srv_chat_source(chat), "tools")) {
            char *ins = tc_generic_instructions(r->tools);
            json_t *m0 = json_array_get(msgs, 0);
            const char *role0 = json_string_value(json_object_get(m0, "role"));
            if (role0 && !strcmp(role0, "system") && json_is_string(json_object_get(m0, "content"))) {
                const char *c0 = json_string_value(json_object_get(m0, "content"));
                size_t l0 = strlen(c0), li = strlen(ins);
                char *both = he_malloc(l0 + li + 3);
                if (!both) {
                    free(ins);
                    json_decref(msgs);
                    return srv_req_nomem(e);
                }
                memcpy(both, c0, l0);
                memcpy(both + l0, "\n\n", 2);
                memcpy(both + l0 + 2, ins, li + 1);
                json_object_set_new(m0, "content", json_string(both));
                free(both);
            } else if (srv_chat_refuses_system(chat)) {
                /* no system turn (Gemma 2): the instructions open the first user message */
                json_t *mu = NULL;
                for (size_t i = 0; i < json_array_size(msgs) && !mu; i++) {
                    json_t *mi = json_array_get(msgs, i);
                    const char *ri = json_string_value(json_object_get(mi, "role"));
                    if (ri && !strcmp(ri, "user") && json_is_string(json_object_get(mi, "content"))) mu = mi;
                }
                if (mu) {
                    const char *cu = json_string_value(json_object_get(mu, "content"));
                    size_t lu = strlen(cu), li = strlen(ins);
                    char *both = he_malloc(lu + li + 3);
                    if (!both) {
                        free(ins);
                        json_decref(msgs);
                        return srv_req_nomem(e);
                    }
                    memcpy(both, ins, li);
                    memcpy(both + li, "\n\n", 2);
                    memcpy(both + li + 2, cu, lu + 1);
                    json_object_set_new(mu, "content", json_string(both));
                    free(both);
                }
            } else {
                json_array_insert_new(msgs, 0, json_pack("{s:s, s:s}", "role", "system", "content", ins));
            }
            free(ins);
        }
        json_t *kw = r->template_kwargs ? json_copy(r->template_kwargs) : NULL;
        if (r->enable_thinking >= 0) {
            if (!kw) kw = json_object();
            json_object_set_new(kw, "enable_thinking", json_boolean(r->enable_thinking));
        }
        /* the level itself, for templates that state it (gpt-oss: "Reasoning: high"); a
         * chat_template_kwargs value wins */
        if (r->reasoning_effort && !(kw && json_object_get(kw, "reasoning_effort"))) {
            if (!kw) kw = json_object();
            json_object_set_new(kw, "reasoning_effort", json_string(r->reasoning_effort));
        }
        /* Llama 3.1's built-in tools: the template announces them itself (builtin_tools) and
         * the model calls them in their own syntax, so they are not listed as functions */
        json_t *tpl_tools = NULL;
        if (pi->family == TC_LLAMA3 && r->tools && !srv_chat_is_fallback(chat) &&
            strstr(srv_chat_source(chat), "builtin_tools")) {
            json_t *names = json_array();
            tpl_tools = json_array();
            for (size_t i = 0; i < json_array_size(r->tools); i++) {
                json_t *t = json_array_get(r->tools, i);
                const char *nm = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
                if (tc_is_builtin(pi->family, nm))
                    json_array_append_new(names, json_string(nm));
                else
                    json_array_append(tpl_tools, t);
            }
            if (json_array_size(names)) {
                if (!kw) kw = json_object();
                if (!json_object_get(kw, "builtin_tools")) json_object_set(kw, "builtin_tools", names);
                if (!json_array_size(tpl_tools)) json_decref(tpl_tools), tpl_tools = json_null();
            } else {
                json_decref(tpl_tools);
                tpl_tools = NULL;
            }
            json_decref(names);
        }
        text = srv_chat_render_spans(chat, msgs, tpl_tools ? (json_is_null(tpl_tools) ? NULL : tpl_tools) : r->tools,
                                     kw, &len, &user, &n_user, &err);
        json_decref(tpl_tools);
        json_decref(kw);
        json_decref(msgs);
        if (!text && err.code == HE_NOMEM) return srv_req_nomem(e);
        if (!text) return srv_req_fail(e, 400, "messages", "template_error", "%s", err.msg);
        tc_reasoning_detect(pi->family, srv_chat_source(chat), text, &pi->reasoning);
        pi->thinking_closed = prompt_closes_thinking(text, len);
    } else {
        /* /v1/completions and Ollama's raw generate: the client wrote the whole prompt,
         * control tokens included, on purpose */
        len = r->prompt ? strlen(r->prompt) : 0;
        text = he_malloc(len + 1);
        if (!text) return srv_req_nomem(e);
        memcpy(text, r->prompt ? r->prompt : "", len + 1);
    }
    int rc = srv_prompt_tokens_spans(v, text, len, user, n_user, toks, n, &err);
    free(user);
    free(text);
    if (rc && err.code == HE_NOMEM) return srv_req_nomem(e);
    if (rc) return srv_req_fail(e, 400, "prompt", "invalid_value", "%s", err.msg);
    if (r->n_context) {
        /* Ollama's `context`: the previous prompt and answer as token ids; the new prompt
         * continues them (without a second BOS). The slot's cached prefix makes this cheap. */
        for (size_t i = 0; i < r->n_context; i++)
            if (r->context[i] >= tok_n_vocab(v)) {
                free(*toks);
                *toks = NULL;
                return srv_req_fail(e, 400, "context", "invalid_value",
                                    "Invalid 'context[%zu]': token id %d is out of range (the vocabulary has %d tokens).",
                                    i, r->context[i], tok_n_vocab(v));
            }
        size_t skip = *n > 0 && tok_bos(v) >= 0 && (*toks)[0] == tok_bos(v) ? 1 : 0;
        int32_t *all = he_malloc((r->n_context + *n - skip + 1) * sizeof *all);
        if (!all) {
            free(*toks);
            *toks = NULL;
            return srv_req_nomem(e);
        }
        memcpy(all, r->context, r->n_context * sizeof *all);
        memcpy(all + r->n_context, *toks + skip, (*n - skip) * sizeof *all);
        free(*toks);
        *toks = all;
        *n = r->n_context + *n - skip;
    }
    if (*n == 0) {
        free(*toks);
        *toks = NULL;
        return srv_req_fail(e, 400, "prompt", "invalid_value", "The prompt is empty.");
    }
    return 0;
}

static enum MHD_Result ollama_load_reply(http_req *q, const srv_request *r, const char *reason) {
    char ts[48];
    rfc3339_now(ts, sizeof ts);
    json_t *o = r->api == SRV_API_OLLAMA_CHAT
                    ? json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:b}", "model", r->model, "created_at", ts, "message", "role",
                                "assistant", "content", "", "done_reason", reason, "done", 1)
                    : json_pack("{s:s, s:s, s:s, s:s, s:b}", "model", r->model, "created_at", ts, "response", "",
                                "done_reason", reason, "done", 1);
    return http_respond_json(q, 200, o);
}

/* ---- routing served names (route.h; docs/SERVER.md "Routing") ---- */

/* Bytes of prompt text a request carries: message contents (strings or text parts), a
 * generate/completion prompt and system. */
static size_t prompt_chars(const srv_request *r) {
    size_t n = (r->prompt ? strlen(r->prompt) : 0) + (r->system ? strlen(r->system) : 0);
    size_t i;
    json_t *msg;
    json_array_foreach(r->messages, i, msg) {
        json_t *c = json_object_get(msg, "content");
        if (json_is_string(c)) n += json_string_length(c);
        size_t k;
        json_t *part;
        json_array_foreach(c, k, part) {
            json_t *t = json_object_get(part, "text");
            if (json_is_string(t)) n += json_string_length(t);
        }
    }
    return n;
}

/* Usable now: served, a generator, and its queue not full (a full one would answer 429). */
static bool route_usable(srv_model *m) {
    if (!m || srv_model_kind_of(m) != SRV_MODEL_GENERATOR) return false;
    srv_model_stats st;
    srv_model_stats_get(m, &st);
    return !(st.slots_busy >= st.slots_total && st.queue_depth >= srv_model_config_of(m)->max_queue);
}

/* Whether the model store holds name (store mode: a route's target not loaded yet). */
static bool store_has(const http_req *q, const char *name) {
    char path[STORE_PATH_MAX];
    return q->h->sm && store_name_check(name, NULL) == 0 && store_resolve(name, path, sizeof path, false, NULL) == 0;
}

/* When r->model is a routing name: picks the target by the rules, falls back to the other when
 * the chosen one is unusable, renames r->model to the name that answers, and sets the
 * X-Hearth-Route header. In store mode a chosen target that the store holds but that is not
 * loaded is loaded first (the request is parked and runs again once it is; routes_manage.c).
 * Returns 0 (not a route, nothing done), 1 with *out set, or -1 with *res the answer (an
 * error, or the parked request). */
static int route_resolve(http_req *q, srv_request *r, srv_api api, srv_model **out, enum MHD_Result *res) {
    char name[2][CONF_ROUTE_NAME_CAP];
    int32_t long_prompt = 0;
    if (!srv_registry_route(q->h->reg, r->model, name[0], name[1], sizeof name[0], &long_prompt)) return 0;
    srv_route_facts f = {.hint = -1,
                         .tools = r->tools && json_array_size(r->tools) > 0,
                         .json_schema = r->format == SRV_FMT_JSON_SCHEMA,
                         .prompt_chars = prompt_chars(r),
                         .long_prompt = long_prompt};
    json_t *body = json_loadb(q->body ? q->body : "", q->len, 0, NULL);
    json_t *hint = json_object_get(json_object_get(body, "hearth"), "route");
    if (hint) {
        srv_route_target t;
        if (srv_route_target_from_name(json_string_value(hint), &t)) {
            json_decref(body);
            *res = http_error(q, 400, "hearth.route", "invalid_value",
                              "Invalid value for 'hearth.route': expected \"small\" or \"large\".");
            return -1;
        }
        f.hint = (int)t;
    }
    json_decref(body);
    srv_route_reason why;
    srv_route_target t = srv_route_pick(&f, &why);
    srv_model *m = http_acquire(q->h, name[t]);
    if (!m && store_has(q, name[t]) && http_store_load(q, name[t], api, res)) return -1;
    if (!route_usable(m)) {
        srv_model *other = http_acquire(q->h, name[!t]);
        if (route_usable(other) || (!m && other)) {
            srv_model_release(m);
            m = other;
            t = !t;
            why = SRV_ROUTE_FALLBACK;
        } else {
            srv_model_release(other);
        }
    }
    if (!m) {
        *res = http_error(q, 503, "model", "route_unavailable",
                          "Neither model behind the route '%s' ('%s', '%s') is available.", r->model, name[0], name[1]);
        return -1;
    }
    http_metrics_route(q->h, r->model, (int)t, (int)why);
    snprintf(q->route_hdr, sizeof q->route_hdr, "%s (%s)", srv_route_target_name(t), srv_route_reason_name(why));
    free(r->model);
    r->model = xstrdup(name[t]);
    *out = m;
    return 1;
}

/* context_overflow = shift (docs/SERVER.md "Context overflow"): when the chat's prompt (*toks,
 * *n) leaves less than srv_shift_room tokens of the context, its oldest turns are dropped
 * (ctx_shift.h): the fewest that make it fit, found by rendering (a binary search: fewer
 * turns never render longer), or all but the newest when none does (then the usual check
 * decides). r->messages becomes the kept messages, *toks / *n / *pi their prompt; *dropped:
 * the messages left out (0: unchanged). Non-zero with *e set on an error. */
static int shift_prompt(srv_request *r, srv_model *m, int32_t **toks, size_t *n, prompt_info *pi,
                        size_t *dropped, srv_req_error *e) {
    *dropped = 0;
    const int32_t n_ctx = srv_model_n_ctx(m);
    const size_t limit = (size_t)(n_ctx - srv_shift_room(n_ctx, r->max_tokens));
    size_t n_sys = 0;
    const size_t turns = srv_shift_turns(r->messages, &n_sys, NULL, 0);
    if (*n <= limit || turns < 2) return 0;
    size_t lo = 1, hi = turns - 1, best = 0;
    json_t *best_msgs = NULL;
    int32_t *best_toks = NULL;
    size_t best_n = 0, best_dropped = 0;
    prompt_info best_pi = {0};
    while (lo <= hi) {
        const size_t d = lo + (hi - lo) / 2;
        size_t nd = 0;
        json_t *msgs = srv_shift_drop(r->messages, d, &nd);
        if (!msgs) goto nomem;
        srv_request rr = *r;
        rr.messages = msgs;
        int32_t *t = NULL;
        size_t tn = 0;
        prompt_info tpi = {0};
        if (build_prompt(&rr, m, &t, &tn, &tpi, e)) {
            json_decref(msgs);
            json_decref(best_msgs);
            free(best_toks);
            return -1;
        }
        if (tn <= limit) { /* fits: smaller than any fitting count before (hi drops below it) */
            json_decref(best_msgs);
            free(best_toks);
            best = d;
            best_msgs = msgs;
            best_toks = t;
            best_n = tn;
            best_pi = tpi;
            best_dropped = nd;
            hi = d - 1;
        } else {
            json_decref(msgs);
            free(t);
            lo = d + 1;
        }
    }
    if (!best) { /* none fits: all but the newest turn go, and the usual check decides */
        size_t nd = 0;
        best_msgs = srv_shift_drop(r->messages, turns - 1, &nd);
        if (!best_msgs) goto nomem;
        srv_request rr = *r;
        rr.messages = best_msgs;
        if (build_prompt(&rr, m, &best_toks, &best_n, &best_pi, e)) {
            json_decref(best_msgs);
            return -1;
        }
        best_dropped = nd;
    }
    free(*toks);
    *toks = best_toks;
    *n = best_n;
    *pi = best_pi;
    json_decref(r->messages);
    r->messages = best_msgs;
    *dropped = best_dropped;
    return 0;
nomem:
    json_decref(best_msgs);
    free(best_toks);
    return srv_req_nomem(e);
}

enum MHD_Result route_generate(http_req *q, srv_api api) {
    srv_request r;
    srv_req_error e;
    if (srv_request_parse(api, q->body ? q->body : "", q->len, &r, &e)) return http_req_error(q, &e);
    srv_model *m = NULL;
    enum MHD_Result rres;
    int routed = route_resolve(q, &r, api, &m, &rres);
    if (routed < 0) {
        srv_request_free(&r);
        return rres;
    }
    if (!routed) m = http_acquire(q->h, r.model);
    if (!m) {
        enum MHD_Result res;
        /* store mode: a stored model is loaded first (routes_manage.c), then this runs again */
        if (!http_store_load(q, r.model, api, &res)) res = model_not_found(q, r.model);
        srv_request_free(&r);
        return res;
    }
    if (srv_model_kind_of(m) != SRV_MODEL_GENERATOR) {
        enum MHD_Result res = route_wrong_kind(q, m, SRV_MODEL_GENERATOR);
        srv_model_release(m);
        srv_request_free(&r);
        return res;
    }
    if ((api == SRV_API_OLLAMA_CHAT && json_array_size(r.messages) == 0) ||
        (api == SRV_API_OLLAMA_GENERATE && !r.prompt[0] && !r.system)) {
        /* Ollama's load request; with keep_alive 0 its unload request */
        bool unloaded = r.has_keep_alive && r.keep_alive == 0 && http_store_unload(q->h, m);
        if (!unloaded) http_store_touch(q->h, m, &r);
        srv_model_release(m);
        enum MHD_Result res = ollama_load_reply(q, &r, unloaded ? "unload" : "load");
        srv_request_free(&r);
        return res;
    }
    http_store_touch(q->h, m, &r); /* keep_alive (0: unloaded once this generation ends) */
    int32_t *toks = NULL;
    size_t n = 0;
    prompt_info pi = {0};
    if (build_prompt(&r, m, &toks, &n, &pi, &e)) {
        srv_model_release(m);
        srv_request_free(&r);
        return http_req_error(q, &e);
    }
    if (srv_model_config_of(m)->context_overflow == SRV_OVERFLOW_SHIFT && r.messages &&
        (api == SRV_API_CHAT || api == SRV_API_RESPONSES || api == SRV_API_OLLAMA_CHAT)) {
        size_t dropped = 0;
        if (shift_prompt(&r, m, &toks, &n, &pi, &dropped, &e)) {
            free(toks);
            srv_model_release(m);
            srv_request_free(&r);
            return http_req_error(q, &e);
        }
        if (dropped) {
            snprintf(q->shift_hdr, sizeof q->shift_hdr, "%zu", dropped);
            http_metrics_shift(q->h, srv_model_config_of(m)->name, dropped);
            log_info("'%s': context shift dropped the %zu oldest messages (prompt now %zu tokens)",
                     srv_model_config_of(m)->name, dropped, n);
        }
    }
    bool chat_api = api == SRV_API_CHAT || api == SRV_API_RESPONSES || api == SRV_API_OLLAMA_CHAT;
    bool parse_calls = chat_api && r.tools && r.tool_choice != TC_CHOICE_NONE;
    const srv_model_config *cfg = srv_model_config_of(m);
    /* Reasoning (docs/TOOLS.md "Reasoning budget"): the template makes the model think first
     * (or lets it) unless the prompt already closed the block. A forced output — a required
     * or named tool call, a JSON format — gets a budget even when nobody set one, and room
     * kept for itself; otherwise only a budget that was set applies. */
    bool thinks = chat_api && pi.templated && pi.reasoning.reasoning && !pi.thinking_closed;
    bool forced_calls = parse_calls && (r.tool_choice == TC_CHOICE_REQUIRED || r.tool_choice == TC_CHOICE_NAMED);
    bool json_format = r.format == SRV_FMT_JSON_SCHEMA || r.format == SRV_FMT_JSON_OBJECT;
    int32_t budget = r.reasoning_budget >= 0 ? r.reasoning_budget : cfg->reasoning_budget;
    /* a budget of 0 before an optional block: the grammar offers no block at all */
    bool block = thinks && (budget != 0 || pi.reasoning.starts_in_reasoning);
    /* The grammar: tool calls under required / a named function (from the first token), or
     * under auto (lazily, from the family's opener on) unless a structured output format is
     * asked, which then constrains the whole answer; else the format's or raw grammar. */
    gram_grammar *grammar = NULL;
    tc_grammar tg = {0};
    bool tools_grammar = parse_calls && !(r.tool_choice == TC_CHOICE_AUTO && r.grammar);
    if (tools_grammar) {
        tc_spec spec = {.family = pi.family,
                        .tools = r.tools,
                        .choice = r.tool_choice,
                        .named = r.tool_named,
                        .parallel = r.parallel_tool_calls,
                        .reasoning = block ? &pi.reasoning : NULL,
                        .vocab = srv_model_gram_vocab(m)};
        he_error ge = {0};
        int brc = tc_grammar_build(&spec, &tg, &ge);
        if (brc == 0 && tg.gbnf) grammar = gram_parse(tg.gbnf, strlen(tg.gbnf), NULL, &ge);
        if (brc != 0 || (tg.gbnf && !grammar)) {
            free(toks);
            tc_grammar_free(&tg);
            srv_model_release(m);
            srv_request_free(&r);
            return http_error(q, 400, "tools", "invalid_tools", "Invalid 'tools': %s", ge.msg);
        }
    }
    bool forced = (tools_grammar && forced_calls) || (!tools_grammar && json_format && r.format_schema);
    if (!tools_grammar && json_format && r.format_schema && chat_api && block) {
        /* the format's answer comes after the reasoning block, not inside it */
        he_error ge = {0};
        char *gbnf = tc_format_grammar(pi.family, &pi.reasoning, r.format_schema, &ge);
        gram_grammar *wrapped = gbnf ? gram_parse(gbnf, strlen(gbnf), NULL, &ge) : NULL;
        free(gbnf);
        if (!wrapped) {
            free(toks);
            srv_model_release(m);
            srv_request_free(&r);
            return http_error(q, 400, "response_format", "invalid_schema", "Invalid 'response_format': %s", ge.msg);
        }
        gram_free(r.grammar);
        r.grammar = wrapped;
    }
    /* Room for the forced output, from its grammar. Every token spells at least one byte, so
     * a shortest form of B bytes surely fits B tokens (the room guard then completes it);
     * it cannot fit fewer than B / (the longest token) tokens: that is a 400. In between it
     * usually fits, not surely: generation goes on and may end with "length". After
     * reasoning, the shortest form plus a margin is kept free. */
    int32_t reserve = 0;
    if (forced) {
        const gram_grammar *fg = grammar ? grammar : r.grammar;
        int64_t need0 = -1, out_min = 0, out_max = -1, one_min = 0, one_max = -1;
        gram_rule_bounds(fg, NULL, &need0, NULL);
        if (grammar) {
            gram_rule_bounds(fg, "tc-calls", &out_min, NULL);
            gram_rule_bounds(fg, "tc-call", &one_min, &one_max);
            out_max = one_max < 0 ? -1 : one_max + out_min - one_min;
        } else if (gram_rule_bounds(fg, "tc-output", &out_min, &out_max) < 0) {
            gram_rule_bounds(fg, NULL, &out_min, &out_max);
        }
        int64_t room = (int64_t)srv_model_n_ctx(m) - (int64_t)n + 1;
        if (r.max_tokens > 0 && r.max_tokens < room) room = r.max_tokens;
        int64_t longest = srv_model_max_token_bytes(m) ? srv_model_max_token_bytes(m) : 1;
        if (need0 > room * longest) {
            free(toks);
            if (grammar) gram_free(grammar);
            tc_grammar_free(&tg);
            srv_model_release(m);
            bool by_ctx = r.max_tokens <= 0 || room < r.max_tokens;
            enum MHD_Result res =
                http_error(q, 400, by_ctx ? "messages" : "max_tokens", by_ctx ? "context_length_exceeded" : "invalid_value",
                           "The forced %s cannot fit: its shortest form is %lld bytes, and %lld tokens of at most "
                           "%lld bytes each are %s%s.",
                           forced_calls ? "tool call" : "structured output", (long long)need0, (long long)room, (long long)longest,
                           by_ctx ? "left in the context" : "all max_tokens allows",
                           by_ctx ? "" : "; raise max_tokens");
            srv_request_free(&r);
            return res;
        }
        /* The longest form in bytes is the sure bound, but a loose one (whitespace, byte-wise
         * escapes: several times what a model writes); past the shortest form plus a margin
         * the room guard (gram_sample_room) still makes the output complete in time */
        int64_t res_bytes = out_min + SRV_OUTPUT_RESERVE;
        if (out_max >= 0 && out_max < res_bytes) res_bytes = out_max;
        reserve = res_bytes + 2 > INT32_MAX ? INT32_MAX : (int32_t)res_bytes + 2; /* + [ \n]{0,2} after the closer */
        if (budget < 0) budget = SRV_DEFAULT_REASONING_BUDGET;
    }
    srv_job_params p = {0};
    p.prompt = toks;
    p.n_prompt = n;
    p.sampling = cfg->sampling;
    srv_request_apply_sampling(&r, &p.sampling);
    p.max_tokens = r.max_tokens;
    p.stop = (const char *const *)r.stop;
    p.n_stop = r.n_stop;
    p.top_logprobs = r.top_logprobs;
    p.n_lora = r.n_lora;
    for (int32_t i = 0; i < r.n_lora; i++) {
        p.lora_id[i] = r.lora_id[i];
        p.lora_req_scale[i] = r.lora_scale[i];
    }
    /* several families' call markers are control tokens; Harmony's every message header */
    p.render_special = parse_calls || (chat_api && pi.templated && pi.family == TC_HARMONY);
    if (thinks && (forced || budget >= 0)) {
        p.think_open = tc_reasoning_open(pi.family);
        p.think_close = tc_reasoning_close(pi.family);
        p.starts_in_think = pi.reasoning.starts_in_reasoning;
        p.think_budget = budget;
        p.think_reserve = forced ? reserve : 0;
    }
    p.fit = tools_grammar || forced;
    if (grammar) {
        p.grammar = grammar;
        p.lazy = tg.lazy;
        p.triggers = (const char *const *)tg.triggers;
        p.n_triggers = tg.n_triggers;
        if (tg.lazy && pi.reasoning.reasoning) { /* a call thought about is not a call made */
            p.skip_open = tc_reasoning_open(pi.family);
            p.skip_close = tc_reasoning_close(pi.family);
            p.starts_in_skip = pi.reasoning.starts_in_reasoning;
        }
    } else if (r.grammar) {
        p.grammar = r.grammar;
    }
    for (int32_t i = 0; i < r.n_lora; i++)
        if (r.lora_id[i] >= cfg->n_lora) {
            free(toks);
            if (grammar) gram_free(grammar);
            tc_grammar_free(&tg);
            srv_model_release(m);
            enum MHD_Result res = http_error(q, 400, "lora", "invalid_value",
                                             "Invalid value for 'lora': adapter id %d does not exist (the model has %d).",
                                             r.lora_id[i], cfg->n_lora);
            srv_request_free(&r);
            return res;
        }
    he_error err = {0};
    /* anything built so far on this thread (prompt messages, tool grammar) that lost an
     * allocation is not the request: 503 rather than a generation from a partial prompt */
    srv_job *job = he_alloc_failures() == q->fail_mark ? srv_job_submit(m, &p, &err) : NULL;
    if (!job && !err.code) err.code = HE_NOMEM;
    tc_grammar_free(&tg);
    if (job && p.grammar == r.grammar) r.grammar = NULL; /* the job owns it now */
    if (!job) {
        free(toks);
        if (grammar) gram_free(grammar);
        srv_model_release(m);
        enum MHD_Result res;
        if (err.code == HE_LIMIT)
            res = http_error(q, 429, NULL, "rate_limit_exceeded", "The server is busy (%s); retry shortly.", err.msg);
        else if (err.code == HE_NOMEM)
            res = http_error_nomem(q);
        else if (err.code == HE_INVALID)
            res = http_error(q, 400, api == SRV_API_RESPONSES ? "input" : chat_api ? "messages" : "prompt",
                             "context_length_exceeded", "%s", err.msg);
        else
            res = http_error(q, 500, NULL, "server_error", "%s", err.msg);
        srv_request_free(&r);
        return res;
    }
    gen *g = he_calloc(1, sizeof *g);
    if (!g) {
        srv_job_free(job);
        srv_model_release(m);
        free(toks);
        srv_request_free(&r);
        return http_error_nomem(q);
    }
    pthread_mutex_init(&g->mu, NULL);
    atomic_init(&g->refs, 1);
    atomic_init(&g->closed, false);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    g->peer_fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
    g->h = q->h;
    g->conn = q->conn;
    g->api = api;
    g->m = m;
    g->vocab = hearth_model_vocab(srv_model_engine(m));
    g->job = job;
    g->n_prompt = n;
    http_random_id(api == SRV_API_CHAT ? "chatcmpl-" : "cmpl-", g->id, sizeof g->id);
    snprintf(g->model, sizeof g->model, "%s", r.model);
    g->created = (int64_t)time(NULL);
    g->include_usage = r.include_usage;
    g->top_logprobs = r.top_logprobs;
    if (api == SRV_API_OLLAMA_GENERATE && !r.raw) { /* `context` comes back: the prompt, then what is generated */
        g->cap_ctx_toks = n + 64;
        g->ctx_toks = he_malloc(g->cap_ctx_toks * sizeof *g->ctx_toks);
        if (g->ctx_toks) memcpy(g->ctx_toks, toks, n * sizeof *toks);
        g->n_ctx_toks = n;
    }
    free(toks);
    if (api == SRV_API_OLLAMA_GENERATE && !r.raw && !g->ctx_toks) {
        srv_request_free(&r);
        gen_free(g);
        return http_error_nomem(q);
    }
    g->t0 = q->t0;
    g->load_s = q->load_seconds;
    g->parse_calls = parse_calls;
    g->family = pi.family;
    g->reasoning = pi.reasoning;
    g->tools = parse_calls ? json_incref(r.tools) : NULL;
    g->split = chat_api && pi.templated && (parse_calls || pi.reasoning.reasoning);
    bool stream = r.stream;
    g->stream = stream;
    if (stream && g->split) g->ts = tc_stream_new(g->family, &g->reasoning, g->parse_calls);
    if (g->ts && g->tools) tc_stream_set_tools(g->ts, g->tools);
    /* OpenAI streams a call's arguments as they are generated; under the tool-call grammar a
     * call that begins is a call, so that is safe (Ollama's clients expect whole calls) */
    if (g->ts && tools_grammar && grammar && (api == SRV_API_CHAT || api == SRV_API_RESPONSES))
        tc_stream_set_eager(g->ts, true);
    if (api == SRV_API_RESPONSES) {
        /* streaming: the builder (used by the pump only) takes what it echoes now */
        if (!stream) g->resp_echo = json_incref(r.resp_echo);
        if (stream && !(g->resp = srv_resp_new(g->model, r.resp_echo, resp_emit, g))) {
            srv_request_free(&r);
            gen_free(g);
            return http_error_nomem(q);
        }
    }
    srv_request_free(&r);
    if (!stream) {
        if (g->top_logprobs >= 0) {
            g->lp = g->api == SRV_API_COMPLETION ? completion_lp_new() : json_array();
            if (!g->lp) {
                gen_free(g);
                return http_error_nomem(q);
            }
        }
        /* Park the request until the pump has the whole answer (route_generate_resume). */
        pthread_mutex_lock(&g->mu);
        if (gen_start_pump(g)) {
            pthread_mutex_unlock(&g->mu);
            gen_free(g);
            return http_error(q, 503, NULL, "server_error", "Cannot start a generation thread; retry shortly.");
        }
        q->gen = g;
        g->suspended = true;
        MHD_suspend_connection(q->conn);
        pthread_mutex_unlock(&g->mu);
        return MHD_YES;
    }
    bool sse = api == SRV_API_CHAT || api == SRV_API_COMPLETION || api == SRV_API_RESPONSES;
    if (api == SRV_API_RESPONSES) srv_resp_begin(g->resp);
    if (sse && api == SRV_API_CHAT) {
        /* The first chunk announces the role, as OpenAI's does. */
        sb_json(&g->out, "data: ", chat_chunk(g, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL, NULL),
                "\n\n");
    }
    if (gen_start_pump(g)) {
        gen_free(g);
        return http_error(q, 503, NULL, "server_error", "Cannot start a generation thread; retry shortly.");
    }
    return http_respond_stream(q, stream_reader, g, gen_free, sse ? "text/event-stream" : "application/x-ndjson");
}

/* ---- model listings ---- */

enum MHD_Result route_models(http_req *q, const char *id) {
    srv_http *h = q->h;
    if (id) {
        srv_model *m = srv_registry_acquire(h->reg, id);
        char small[CONF_ROUTE_NAME_CAP], large[CONF_ROUTE_NAME_CAP];
        int32_t lp;
        if (!m && srv_registry_route(h->reg, id, small, large, sizeof small, &lp))
            return http_respond_json(q, 200, json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created",
                                                       (json_int_t)0, "owned_by", "hearth"));
        if (!m) return model_not_found(q, id);
        struct stat st;
        int64_t created = stat(srv_model_config_of(m)->path, &st) == 0 ? (int64_t)st.st_mtime : 0;
        srv_model_release(m);
        return http_respond_json(q, 200, json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created",
                                                   (json_int_t)created, "owned_by", "hearth"));
    }
    int n = 0;
    char **names = srv_registry_names(h->reg, &n);
    json_t *data = json_array();
    for (int i = 0; i < n; i++) {
        srv_model *m = srv_registry_acquire(h->reg, names[i]);
        if (!m) continue;
        struct stat st;
        int64_t created = stat(srv_model_config_of(m)->path, &st) == 0 ? (int64_t)st.st_mtime : 0;
        srv_model_release(m);
        json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", names[i], "object", "model", "created",
                                              (json_int_t)created, "owned_by", "hearth"));
    }
    srv_names_free(names, n);
    names = srv_registry_route_names(h->reg, &n); /* routing names: no file of their own */
    for (int i = 0; i < n; i++)
        json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", names[i], "object", "model", "created",
                                              (json_int_t)0, "owned_by", "hearth"));
    srv_names_free(names, n);
    http_store_list_models(h, data); /* store mode: the stored models not loaded yet */
    return http_respond_json(q, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

enum MHD_Result route_lora_adapters(http_req *q) {
    srv_http *h = q->h;
    int n = 0;
    char **names = srv_registry_names(h->reg, &n);
    json_t *out = json_array();
    for (int i = 0; i < n; i++) {
        srv_model *m = srv_registry_acquire(h->reg, names[i]);
        if (!m) continue;
        const srv_model_config *cfg = srv_model_config_of(m);
        for (int32_t a = 0; a < cfg->n_lora; a++) {
            const char *slash = strrchr(cfg->lora_path[a], '/');
            json_array_append_new(out, json_pack("{s:i, s:s, s:f, s:s}", "id", (int)a, "path",
                                                 slash ? slash + 1 : cfg->lora_path[a], "scale",
                                                 (double)cfg->lora_scale[a], "model", names[i]));
        }
        srv_model_release(m);
    }
    srv_names_free(names, n);
    return http_respond_json(q, 200, out);
}

/* ---- smoke hook ---- */

int srv_http_smoke(srv_model *m, void *user, he_error *err) {
    (void)user;
    if (srv_model_kind_of(m) != SRV_MODEL_GENERATOR) return 0; /* no chat template to render */
    const hearth_model *hm = srv_model_engine(m);
    const tok_vocab *v = hearth_model_vocab(hm);
    if (!v) return he_fail(err, HE_UNSUPPORTED, "the model has no tokenizer");
    const srv_chat *chat = srv_chat_for(srv_model_config_of(m)->path, srv_model_config_of(m)->chat_template, v, err);
    if (!chat) return -1;
    /* a template without a system turn (Gemma 2's) is smoke-tested without one */
    json_t *msgs = srv_chat_refuses_system(chat)
                       ? json_pack("[{s:s, s:s}]", "role", "user", "content", "Hello")
                       : json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content", "You are helpful.",
                                   "role", "user", "content", "Hello");
    size_t len;
    char *s = srv_chat_render(chat, msgs, NULL, NULL, &len, err);
    json_decref(msgs);
    if (!s) return -1;
    free(s);
    return 0;
}
