/* runner.c — measuring an endpoint as a client sees it, then running the suite's cases.
 *
 * Speed comes from streamed chat completions (stream_options.include_usage) and the arrival
 * times of their events: pp = prompt tokens / time to first token on a long prompt, tg =
 * (completion tokens - 1) / (last token - first token). Each request starts with a fresh nonce
 * so no server can answer from a cached prefix, except the turn-5 measurement, where reusing
 * the conversation's prefix is exactly what is being measured. temperature 0 and a fixed seed;
 * no server-specific "ignore EOS" switch, so tg counts whatever tokens come. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "card/card.h"
#include "client/httpc.h"

#define SEED 42
#define MAX_ANSWER_BYTES (4u << 20)

typedef struct {
    int pp_reps, pp_words; /* long-prompt requests, and their length in words */
    int tg_reps, tg_tokens;
    int turn_words, turn_reply; /* the growing conversation: words per user turn, reply tokens */
    int conc_tokens;
    int case_max_tokens; /* a cap on each case's max_tokens (0: the case's own) */
} plan;

static plan plan_for(const card_opts *o) {
    plan p = o->quick ? (plan){1, 64, 1, 16, 12, 4, 12, 64} : (plan){3, 400, 3, 128, 80, 24, 64, 0};
    if (o->max_tokens > 0) p.case_max_tokens = o->max_tokens;
    return p;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- One streamed request ---- */

typedef struct {
    double t0, t_first, t_last; /* request sent; first and last event that carried generated text */
    double t_finish;            /* the event with the finish_reason */
    int events;                 /* events that carried generated text */
    long prompt_tokens, completion_tokens;
    bool usage;
    char *text; /* the content, for the conversation (owned; capped) */
    size_t text_len;
    char error[200]; /* an error event's message */
    int status;      /* the HTTP status (0: no answer) */
} stream_stat;

static int on_event(const char *data, size_t len, void *user) {
    stream_stat *st = user;
    if (len == 6 && !memcmp(data, "[DONE]", 6)) return 1;
    json_t *ev = json_loadb(data, len, 0, NULL);
    if (!ev) return 0;
    json_t *err = json_object_get(ev, "error");
    if (err) {
        const char *m = json_string_value(json_object_get(err, "message"));
        snprintf(st->error, sizeof st->error, "%.190s", m ? m : "an error event");
    }
    json_t *delta = json_object_get(json_array_get(json_object_get(ev, "choices"), 0), "delta");
    json_t *content = json_object_get(delta, "content");
    const char *reasoning = json_string_value(json_object_get(delta, "reasoning_content"));
    bool token = (json_is_string(content) && json_string_length(content)) ||
                 (reasoning && *reasoning) || json_array_size(json_object_get(delta, "tool_calls"));
    if (token) {
        double t = now_s();
        if (!st->events) st->t_first = t;
        st->t_last = t;
        st->events++;
    }
    if (json_is_string(content) && st->text_len + json_string_length(content) < 65536) {
        st->text = xrealloc(st->text, st->text_len + json_string_length(content) + 1);
        memcpy(st->text + st->text_len, json_string_value(content), json_string_length(content));
        st->text_len += json_string_length(content);
        st->text[st->text_len] = 0;
    }
    if (!st->t_finish && json_is_string(json_object_get(
                             json_array_get(json_object_get(ev, "choices"), 0), "finish_reason")))
        st->t_finish = now_s();
    json_t *usage = json_object_get(ev, "usage");
    if (json_is_object(usage)) {
        json_t *p = json_object_get(usage, "prompt_tokens"),
               *c = json_object_get(usage, "completion_tokens");
        if (json_is_integer(p) && json_is_integer(c)) {
            st->prompt_tokens = (long)json_integer_value(p);
            st->completion_tokens = (long)json_integer_value(c);
            st->usage = true;
        }
    }
    json_decref(ev);
    return 0;
}

typedef struct {
    httpc_url url;
    const card_opts *o;
    const char *model;
} target;

static void http_opts(const target *tg, httpc_opts *ho) {
    memset(ho, 0, sizeof *ho);
    ho->api_key = tg->o->api_key;
    ho->total_timeout_s = tg->o->timeout_s > 0 ? tg->o->timeout_s : 300;
    ho->idle_timeout_ms = (int)(ho->total_timeout_s * 1000);
    ho->max_body = MAX_ANSWER_BYTES;
}

/* Sends messages (borrowed) streamed with max_tokens; fills st. Returns 0, or -1 with err (an
 * HTTP error status names the server's message). */
static int stream_chat(const target *tg, json_t *messages, int max_tokens, stream_stat *st,
                       he_error *err) {
    memset(st, 0, sizeof *st);
    json_t *body = json_pack("{s:s, s:O, s:b, s:{s:b}, s:f, s:i, s:i}", "model", tg->model,
                             "messages", messages, "stream", 1, "stream_options", "include_usage",
                             1, "temperature", 0.0, "seed", SEED, "max_tokens", max_tokens);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) return he_fail(err, HE_INVALID, "the request does not encode as JSON");
    httpc_opts ho;
    http_opts(tg, &ho);
    httpc_response resp;
    st->t0 = now_s();
    int rc = httpc_request(&tg->url, "POST", "/v1/chat/completions", text, strlen(text), &ho,
                           on_event, st, &resp, err);
    free(text);
    if (rc) return -1;
    st->status = resp.status;
    if (resp.status != 200) {
        char msg[200];
        const char *m = httpc_error_message(resp.body, resp.body_len, msg, sizeof msg);
        he_fail(err, HE_RUNTIME, "HTTP %d: %s", resp.status, m ? m : "(no message)");
        rc = -1;
    } else if (st->error[0]) {
        he_fail(err, HE_RUNTIME, "%s", st->error);
        rc = -1;
    }
    httpc_response_free(&resp);
    if (!rc && !st->usage) { /* no usage from this server: one event per token is the best guess */
        st->completion_tokens = st->events;
    }
    return rc;
}

/* Time to the first token: the first event with text, or, when the tokens that came showed no
 * text (a random model's special tokens; a server that holds back a partial character), the
 * end of generation. NAN when neither came. */
static double first_token_s(const stream_stat *st) {
    double t = st->events ? st->t_first : st->t_finish;
    return t > st->t0 ? t - st->t0 : (double)NAN;
}

static json_t *user_messages(const char *text) {
    return json_pack("[{s:s, s:s}]", "role", "user", "content", text);
}

/* Filler text of about n words (deterministic), after a nonce line that defeats prefix reuse. */
static char *long_prompt(int nonce, int words, const char *ask) {
    static const char *const w[] = {
        "the",     "river", "carried", "small",    "boats",  "past",    "old",
        "mills",   "while", "farmers", "counted",  "sheep",  "under",   "a",
        "grey",    "sky",   "and",     "children", "read",   "letters", "from",
        "distant", "towns", "about",   "winter",   "markets"};
    size_t cap = (size_t)words * 12 + strlen(ask) + 64, o = 0;
    char *s = xmalloc(cap);
    o += (size_t)snprintf(s, cap, "Note %d.\n", nonce);
    unsigned x = 2463534242u + (unsigned)nonce;
    for (int i = 0; i < words; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        o += (size_t)snprintf(s + o, cap - o, "%s%s", w[x % (sizeof w / sizeof w[0])],
                              (i % 12 == 11) ? ".\n" : " ");
    }
    snprintf(s + o, cap - o, "\n%s", ask);
    return s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the finite values among v[0..n) (sorted in place), NAN for none. */
static double median(double *v, int n) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) v[m++] = v[i];
    if (!m) return (double)NAN;
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    return m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
}

/* ---- Progress and errors ---- */

typedef struct {
    const card_opts *o;
    const char *model;
    int done, total;
    card_model_result *r;
} run_state;

static void step(run_state *rs, const char *what) {
    if (rs->o->progress) rs->o->progress(rs->o->user, rs->model, what, rs->done, rs->total);
    rs->done++;
}

static void note_error(run_state *rs, const char *what, const he_error *e) {
    rs->r->errors++;
    if (!rs->r->first_error[0])
        snprintf(rs->r->first_error, sizeof rs->r->first_error, "%s: %.200s", what, e->msg);
}

/* ---- Concurrency ---- */

typedef struct {
    const target *tg;
    int nonce, max_tokens;
    double t_first, t_end; /* first token, end of generation */
    long tokens;
    int rc;
    he_error err;
} worker;

static void *work(void *p) {
    worker *w = p;
    char ask[160];
    snprintf(ask, sizeof ask, "Client %d: write a long story about a lighthouse keeper.", w->nonce);
    json_t *m = user_messages(ask);
    stream_stat st;
    w->rc = stream_chat(w->tg, m, w->max_tokens, &st, &w->err);
    w->t_end = st.t_finish > 0 ? st.t_finish : now_s();
    w->t_first = st.t0 + first_token_s(&st);
    w->tokens = st.completion_tokens;
    free(st.text);
    json_decref(m);
    return NULL;
}

static double aggregate_tps(run_state *rs, const target *tg, int clients, int max_tokens,
                            int nonce) {
    worker w[4];
    pthread_t th[4];
    int started = 0;
    for (int i = 0; i < clients && i < 4; i++) {
        w[i] = (worker){.tg = tg, .nonce = nonce + i, .max_tokens = max_tokens};
        if (pthread_create(&th[i], NULL, work, &w[i])) break;
        started++;
    }
    double t0 = (double)INFINITY, t1 = 0;
    long tokens = 0;
    bool ok = started == clients;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        if (w[i].rc) {
            note_error(rs, "concurrency", &w[i].err);
            ok = false;
            continue;
        }
        if (!isfinite(w[i].t_first)) continue; /* no token came */
        tokens += w[i].tokens;
        if (w[i].t_first < t0) t0 = w[i].t_first;
        if (w[i].t_end > t1) t1 = w[i].t_end;
    }
    return ok && tokens > 0 && t1 > t0 ? (double)tokens / (t1 - t0) : (double)NAN;
}

/* ---- Speed ---- */

static void measure_speed(run_state *rs, const target *tg, const plan *p) {
    card_model_result *r = rs->r;
    he_error e = {0};
    double v[8];
    int nonce = (int)(time(NULL) % 100000) * 10;
    r->usage_counted = true;
    /* pp: a long prompt, one token out; a prompt over the context (HTTP 400) is halved */
    int words = p->pp_words;
    for (int i = 0; i < p->pp_reps; i++) {
        step(rs, "prompt processing");
        stream_stat st;
        v[i] = (double)NAN;
        int rc;
        for (;;) {
            char *text = long_prompt(nonce++, words, "Summarise the notes above in one word.");
            json_t *m = user_messages(text);
            rc = stream_chat(tg, m, 1, &st, &e);
            free(text);
            json_decref(m);
            if (!rc || st.status != 400 || words < 32) break;
            free(st.text);
            words /= 2;
        }
        if (rc)
            note_error(rs, "pp", &e);
        else {
            double ft = first_token_s(&st);
            if (st.prompt_tokens > 0 && isfinite(ft)) {
                v[i] = (double)st.prompt_tokens / ft;
                r->pp_prompt_tokens = (int)st.prompt_tokens;
            }
            if (!st.usage) r->usage_counted = false;
        }
        free(st.text);
    }
    r->pp_tps = median(v, p->pp_reps);
    /* tg and the short prompt's time to first token */
    double ttft[8];
    for (int i = 0; i < p->tg_reps; i++) {
        step(rs, "generation");
        char ask[160];
        snprintf(ask, sizeof ask, "Note %d. Write a long story about a lighthouse keeper.",
                 nonce++);
        json_t *m = user_messages(ask);
        stream_stat st;
        v[i] = ttft[i] = (double)NAN;
        if (stream_chat(tg, m, p->tg_tokens, &st, &e))
            note_error(rs, "tg", &e);
        else {
            if (!st.usage) r->usage_counted = false;
            ttft[i] = 1000.0 * first_token_s(&st);
            if (st.completion_tokens >= 2 && st.t_last > st.t_first)
                v[i] = (double)(st.completion_tokens - 1) / (st.t_last - st.t_first);
        }
        free(st.text);
        json_decref(m);
    }
    r->tg_tps = median(v, p->tg_reps);
    r->ttft_ms = median(ttft, p->tg_reps);
    /* a conversation that grows for 5 turns: the 5th turn's time to first token (restarted with
       shorter turns when it outgrows the context) */
    words = p->turn_words;
    for (int attempt = 0; attempt < 4; attempt++, words /= 2) {
        json_t *conv = json_array();
        bool too_long = false;
        int base = nonce++;
        for (int turn = 1; turn <= 5; turn++) {
            char label[64];
            snprintf(label, sizeof label, "conversation turn %d", turn);
            if (!attempt) step(rs, label);
            char ask[96];
            snprintf(ask, sizeof ask, "Turn %d: what is the most important word in these notes?",
                     turn);
            char *text = long_prompt(base * 8 + turn, words, ask);
            json_array_append_new(conv, json_pack("{s:s, s:s}", "role", "user", "content", text));
            free(text);
            stream_stat st;
            if (stream_chat(tg, conv, p->turn_reply, &st, &e)) {
                free(st.text);
                if (st.status == 400 && words >= 16)
                    too_long = true;
                else
                    note_error(rs, "conversation", &e);
                break;
            }
            if (turn == 5) r->ttft_turn5_ms = 1000.0 * first_token_s(&st);
            json_array_append_new(conv, json_pack("{s:s, s:s}", "role", "assistant", "content",
                                                  st.text_len ? st.text : "OK."));
            free(st.text);
        }
        json_decref(conv);
        if (!too_long) break;
    }
    /* aggregate generation speed with 1 and 4 clients: all tokens over the window from the first
       token any client saw to the last (so waiting for prompts before the window is left out) */
    step(rs, "1 client");
    r->conc_tps[0] = aggregate_tps(rs, tg, 1, p->conc_tokens, nonce);
    nonce += 4;
    step(rs, "4 clients");
    r->conc_tps[1] = aggregate_tps(rs, tg, 4, p->conc_tokens, nonce);
}

/* ---- Cases ---- */

static bool in_run(const card_opts *o, const card_case *c) { return !o->quick || c->quick; }

static void run_case(run_state *rs, const target *tg, const plan *p, const card_case *c,
                     card_case_result *cr) {
    card_model_result *r = rs->r;
    json_t *body = json_deep_copy(c->request);
    json_object_set_new(body, "model", json_string(tg->model));
    json_object_set_new(body, "temperature", json_real(0.0));
    json_object_set_new(body, "seed", json_integer(SEED));
    json_object_set_new(body, "stream", json_false());
    json_int_t mt = json_integer_value(json_object_get(body, "max_tokens"));
    if (p->case_max_tokens && (mt > p->case_max_tokens || tg->o->max_tokens > 0))
        json_object_set_new(body, "max_tokens", json_integer(p->case_max_tokens));
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text) text = xstrdup("{}"); /* cannot happen: the suite and the name are valid UTF-8 */
    json_decref(body);
    httpc_opts ho;
    http_opts(tg, &ho);
    httpc_response resp;
    he_error e = {0};
    memset(cr, 0, sizeof *cr);
    snprintf(cr->id, sizeof cr->id, "%s", c->id);
    cr->cat = c->cat;
    double t0 = now_s();
    card_verdict v;
    if (httpc_request(&tg->url, "POST", "/v1/chat/completions", text, strlen(text), &ho, NULL, NULL,
                      &resp, &e)) {
        note_error(rs, c->id, &e);
        memset(&v, 0, sizeof v);
        snprintf(v.why, sizeof v.why, "request failed: %.180s", e.msg);
    } else {
        if (resp.status != 200) {
            char msg[160];
            const char *m = httpc_error_message(resp.body, resp.body_len, msg, sizeof msg);
            he_fail(&e, HE_RUNTIME, "HTTP %d: %s", resp.status, m ? m : "(no message)");
            note_error(rs, c->id, &e);
            memset(&v, 0, sizeof v);
            snprintf(v.why, sizeof v.why, "%.190s", e.msg);
        } else
            card_score(c, resp.body, resp.body_len, &v);
        httpc_response_free(&resp);
    }
    free(text);
    cr->seconds = now_s() - t0;
    cr->well_formed = v.well_formed;
    cr->landed = v.landed;
    cr->length_stop = v.length_stop;
    snprintf(cr->why, sizeof cr->why, "%s", v.why);
    card_tally *t = &r->cat[c->cat];
    t->total++;
    t->well_formed += v.well_formed;
    t->landed += v.landed;
    if (c->cat < CARD_TOOL_CATS) {
        r->tools.total++;
        r->tools.well_formed += v.well_formed;
        r->tools.landed += v.landed;
    }
    r->answers += v.answered;
    r->length_stops += v.length_stop;
}

/* ---- The card for one model ---- */

static int target_init(target *tg, const card_opts *o, const char *model, he_error *err) {
    char url[2300];
    snprintf(url, sizeof url, "%s", o->url ? o->url : "");
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        url[--n] = 0;
    if (n >= 3 && !strcmp(url + n - 3, "/v1")) url[n - 3] = 0;
    tg->o = o;
    tg->model = model;
    return httpc_url_parse(url, &tg->url, err);
}

json_t *card_list_models(const card_opts *o, he_error *err) {
    target tg;
    if (target_init(&tg, o, "", err)) return NULL;
    httpc_opts ho;
    http_opts(&tg, &ho);
    httpc_response resp;
    if (httpc_request(&tg.url, "GET", "/v1/models", NULL, 0, &ho, NULL, NULL, &resp, err))
        return NULL;
    json_t *root = resp.status == 200 ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    json_t *ids = NULL;
    if (!json_is_array(json_object_get(root, "data")))
        he_fail(err, HE_FORMAT, "GET /v1/models: HTTP %d, not a model list", resp.status);
    else {
        ids = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(root, "data"), i, m) {
            json_t *id = json_object_get(m, "id");
            if (json_is_string(id) && json_array_size(ids) < 64) json_array_append(ids, id);
        }
    }
    json_decref(root);
    httpc_response_free(&resp);
    return ids;
}

int card_steps(const card_opts *o, const card_suite *s) {
    plan p = plan_for(o);
    int n = 1 + p.pp_reps + p.tg_reps + 5 + 2;
    for (size_t i = 0; i < s->n; i++)
        n += in_run(o, &s->cases[i]);
    return n;
}

int card_run_model(const card_opts *o, const card_suite *s, const char *model, card_model_result *r,
                   he_error *err) {
    memset(r, 0, sizeof *r);
    r->name = xstrdup(model);
    r->endpoint = xstrdup(o->url ? o->url : "");
    r->pp_tps = r->tg_tps = r->ttft_ms = r->ttft_turn5_ms = r->conc_tps[0] = r->conc_tps[1] = (double)NAN;
    target tg;
    if (target_init(&tg, o, r->name, err)) return -1;
    json_t *check = json_string(model); /* the name goes into every JSON body */
    if (!check) return he_fail(err, HE_INVALID, "model name '%s' is not valid UTF-8", model);
    json_decref(check);
    plan p = plan_for(o);
    run_state rs = {.o = o, .model = model, .total = card_steps(o, s), .r = r};
    double t0 = now_s();
    /* warm-up (untimed): the model loads, and a name the endpoint does not serve fails here */
    step(&rs, "warm-up");
    json_t *m = user_messages("Hello.");
    stream_stat st;
    int rc = stream_chat(&tg, m, 4, &st, err);
    free(st.text);
    json_decref(m);
    if (rc) {
        he_prefix(err, "model '%s' at %s", model, r->endpoint);
        return -1;
    }
    measure_speed(&rs, &tg, &p);
    r->cases = xcalloc(s->n ? s->n : 1, sizeof *r->cases);
    for (size_t i = 0; i < s->n; i++) {
        if (!in_run(o, &s->cases[i])) continue;
        step(&rs, s->cases[i].id);
        run_case(&rs, &tg, &p, &s->cases[i], &r->cases[r->n_cases++]);
    }
    r->seconds = now_s() - t0;
    if (o->progress) o->progress(o->user, model, "done", rs.total, rs.total);
    return 0;
}

void card_result_free(card_model_result *r) {
    if (!r) return;
    free(r->name);
    free(r->endpoint);
    free(r->cases);
    memset(r, 0, sizeof *r);
}
