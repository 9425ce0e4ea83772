/* sched.c — one served model's scheduler: slots, the job queue and continuous batching.
 *
 * Threads: HTTP threads call srv_job_submit / srv_job_next / srv_job_free; one scheduler thread
 * per srv_model owns the hearth_ctx and the slots. Everything the two sides share (the queue,
 * each job's event list and flags, counters) is guarded by the model's mutex `mu`; the decode
 * and the sampling run outside it. The scheduler sleeps on `work` when it has nothing to do;
 * a requester sleeps on its job's `cv` until an event arrives. Nothing polls.
 *
 * Job lifetime: the requester owns the job; while the job sits in the queue or a slot the
 * scheduler also points at it. srv_job_free detaches it: a queued or finished job is freed at
 * once, a job in a slot is marked `abandoned` and freed by the scheduler when it next looks at
 * the slot. A job holds a reference to its model, dropped by srv_job_free, so the model (and
 * its thread) outlive every job the requester still holds.
 *
 * Slots keep the tokens whose K/V they hold after a job ends; a new job goes to the idle slot
 * sharing the longest prefix with its prompt, and only the rest of the prompt is decoded. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/log.h"
#include "model/lora.h"
#include "server/sched.h"
#include "spec/spec.h"
#include "store/store.h"

/* ---- Events ---- */

typedef struct ev_node {
    struct ev_node *next;
    srv_event ev;
    char *text; /* owned; ev.text points here */
} ev_node;

struct srv_job {
    srv_model *m;
    /* immutable after submit */
    float lora[SRV_MAX_LORA]; /* effective adapter scales (config's, overridden by the request) */
    int32_t *prompt;
    size_t n_prompt;
    int32_t max_tokens, top_logprobs;
    bool render_special;
    char **stop;
    size_t *stop_len;
    int32_t n_stop;
    sample_chain *chain; /* used only by the scheduler after submit */
    double t_submit;
    /* grammar (scheduler only after submit): gm is NULL without one; gm_on once it constrains
     * (from the start unless lazy); seen is the output so far while a lazy one waits */
    gram_grammar *grammar;
    gram_matcher *gm;
    bool gm_on;
    char **triggers;
    int32_t n_triggers;
    size_t max_trigger;
    char *seen;
    size_t n_seen, cap_seen, scan;
    char *skip_open, *skip_close; /* lazy: a reasoning block in which triggers do not count */
    bool in_skip;
    /* a bounded reasoning block (srv_job_params.think_*; scheduler only after submit): head
     * holds the output's first bytes while the opener may still come, tail the last bytes
     * inside the block (a closer may be split over tokens); force..force+n_force is the
     * closer text still to be forced */
    char *think_open, *think_close;
    bool think_may_open, in_think, fit;
    int32_t think_budget, think_reserve, think_tokens;
    char head[32], tail[32];
    size_t n_head, n_tail;
    const char *force;
    size_t n_force;
    /* guarded by m->mu */
    struct srv_job *qnext; /* queue link */
    bool queued, in_slot, cancelled, abandoned, ended,
        finished_read; /* ended: final event posted */
    ev_node *ev_head, *ev_tail;
    char *cur_text; /* text of the event last handed out */
    pthread_cond_t cv;
};

typedef enum { SLOT_IDLE, SLOT_PREFILL, SLOT_GEN } slot_state;

typedef struct {
    int32_t id;
    slot_state state;
    srv_job *job;  /* NULL when idle */
    int32_t *hist; /* tokens whose K/V the sequence holds, positions 0 .. n_hist-1 */
    int32_t n_hist;
    size_t n_prompt_done; /* prompt tokens in the KV (cached + decoded) */
    int32_t n_cached;
    int32_t next_tok; /* sampled, not yet decoded */
    int32_t n_gen;
    int32_t batch_idx; /* entry of this step's batch that carries its logits, or -1 */
    tok_detok detok;
    char *pend; /* released by the detokenizer, not yet handed out (stop-string hold) */
    size_t n_pend, cap_pend;
    uint64_t last_used;
    double t_assign, t_first;
    float *scratch; /* n_vocab logits for grammar masking */
    char *tokbuf;   /* TOK_DETOK_MAX: one token's text */
    float lora[SRV_MAX_LORA]; /* the adapter scales its KV was computed with (prefix key) */
    /* speculative decoding (scheduler thread only): draft[0, n_draft) are this step's drafted
     * tokens, verified in the same batch right after next_tok (rows batch_idx + 1 ..); d_valid:
     * the draft context's sequence holds hist[0, d_valid) (a draft model; between steps
     * d_valid <= n_hist); cur_k / rate: the adaptive draft length; the j_* counters are the
     * current job's, reported in its DONE event */
    int32_t draft[SPEC_MAX_DRAFT];
    int32_t n_draft, n_accepted, d_valid, d_idx, cur_k;
    double rate;
    int32_t j_drafted, j_accepted, j_passes;
} slot;

struct srv_model {
    atomic_int refs;
    srv_model_config cfg; /* defaults resolved; strings owned */
    srv_model_config req; /* as given; strings owned */
    hearth_model *model;
    hearth_ctx *ctx;
    const tok_vocab *vocab;
    gram_vocab *gvocab; /* what each token spells, for grammars (NULL without a vocab) */
    int32_t n_vocab, n_ctx_slot, n_batch;
    slot *slots;
    int32_t n_slots;
    hearth_batch batch;
    he_pool *pool; /* the context's threads, also used to sample the slots side by side */
    uint64_t use_clock;
    /* Speculative decoding (cfg.draft or cfg.lookup; draft_max 0: none): a draft model has its
     * own context with one sequence per slot (same ids as the target's), decoded in batches
     * over all drafting slots; dbatch is its batch. */
    int32_t draft_max;
    hearth_model *dmodel;
    hearth_ctx *dctx;
    hearth_batch dbatch;
    /* An embedding model or reranker (model/embed.h): no context, slots or scheduler thread;
     * requests run one at a time under emb_mu on the requester's thread. */
    hearth_embedder *emb;
    pthread_mutex_t emb_mu;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work;
    bool stop;
    /* guarded by mu */
    srv_job *q_head, *q_tail;
    int32_t n_queued, n_busy;
    uint64_t st_prompt, st_gen, st_requests;
    uint64_t st_spec_passes, st_draft, st_draft_acc, st_spec_emitted;
    double t_active; /* now_ms() of the last submit or job end: idle time for keep_alive */
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void cond_init_mono(pthread_cond_t *cv) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

srv_model_config srv_model_config_default(void) {
    return (srv_model_config){.name = NULL,
                              .path = NULL,
                              .n_ctx = 0,
                              .n_slots = 4,
                              .n_threads = 0,
                              .max_queue = 64,
                              .sampling = sample_params_default(),
                              .system_prompt = NULL,
                              .n_batch = 0,
                              .reasoning_budget = -1,
                              .route_long_prompt = 1024};
}

/* ---- Jobs: free and events (called with mu held unless said) ---- */

static void job_destroy(srv_job *j) {
    for (ev_node *e = j->ev_head, *nx; e; e = nx) {
        nx = e->next;
        free(e->text);
        free(e);
    }
    free(j->cur_text);
    free(j->prompt);
    for (int32_t i = 0; i < j->n_stop; i++)
        free(j->stop[i]);
    free(j->stop);
    free(j->stop_len);
    sample_chain_free(j->chain);
    gram_matcher_free(j->gm);
    gram_free(j->grammar);
    for (int32_t i = 0; i < j->n_triggers; i++)
        free(j->triggers[i]);
    free(j->triggers);
    free(j->seen);
    free(j->skip_open);
    free(j->skip_close);
    free(j->think_open);
    free(j->think_close);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void job_post(srv_job *j, ev_node *e) {
    e->next = NULL;
    if (j->ev_tail)
        j->ev_tail->next = e;
    else
        j->ev_head = e;
    j->ev_tail = e;
    pthread_cond_signal(&j->cv);
}

static ev_node *ev_new(srv_event_kind kind, const char *text, size_t len) {
    ev_node *e = xcalloc(1, sizeof *e);
    e->ev.kind = kind;
    e->text = xmalloc(len + 1);
    if (len) memcpy(e->text, text, len);
    e->text[len] = 0;
    e->ev.text = e->text;
    e->ev.text_len = len;
    e->ev.token = -1;
    return e;
}

static ev_node *ev_cancelled(void) {
    ev_node *e = ev_new(SRV_EV_ERROR, "", 0);
    e->ev.error.code = HE_RUNTIME;
    snprintf(e->ev.error.msg, sizeof e->ev.error.msg, "sched: job cancelled");
    return e;
}

/* ---- Slots ---- */

static void pend_append(slot *s, const char *t, size_t n) {
    if (s->n_pend + n + 1 > s->cap_pend) {
        size_t cap = s->cap_pend ? s->cap_pend : 256;
        while (cap < s->n_pend + n + 1)
            cap *= 2;
        s->pend = xrealloc(s->pend, cap);
        s->cap_pend = cap;
    }
    memcpy(s->pend + s->n_pend, t, n);
    s->n_pend += n;
}

/* Earliest complete stop string in s->pend: its offset, or -1. */
static long stop_find(const srv_job *j, const slot *s) {
    long best = -1;
    for (int32_t k = 0; k < j->n_stop; k++) {
        if (!j->stop_len[k] || j->stop_len[k] > s->n_pend) continue;
        const char *p = memmem(s->pend, s->n_pend, j->stop[k], j->stop_len[k]);
        if (p && (best < 0 || p - s->pend < best)) best = p - s->pend;
    }
    return best;
}

/* How many bytes of s->pend can be released now: everything before the earliest suffix that
 * is a proper prefix of some stop string (that text may yet become a stop string). */
static size_t stop_safe(const srv_job *j, const slot *s) {
    for (size_t i = 0; i < s->n_pend; i++) {
        size_t tail = s->n_pend - i;
        for (int32_t k = 0; k < j->n_stop; k++)
            if (j->stop_len[k] > tail && !memcmp(s->pend + i, j->stop[k], tail)) return i;
    }
    return s->n_pend;
}

/* Moves n bytes from the front of pend into an event text. */
static ev_node *pend_take(slot *s, srv_event_kind kind, size_t n) {
    ev_node *e = ev_new(kind, s->pend, n);
    memmove(s->pend, s->pend + n, s->n_pend - n);
    s->n_pend -= n;
    return e;
}

static void slot_hist_push(srv_model *m, slot *s, int32_t tok) {
    if (s->n_hist < m->n_ctx_slot) s->hist[s->n_hist] = tok;
    s->n_hist++;
}

/* ---- Logprobs ---- */

static void fill_logprobs(const float *logits, int32_t n_vocab, int32_t chosen, int32_t n_top,
                          srv_event *ev) {
    float mx = logits[0];
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; i++)
        sum += exp((double)(logits[i] - mx));
    float lse = mx + (float)log(sum);
    ev->logprob = logits[chosen] - lse;
    if (n_top > SRV_MAX_TOP_LOGPROBS) n_top = SRV_MAX_TOP_LOGPROBS;
    if (n_top > n_vocab) n_top = n_vocab;
    int32_t k = 0;
    for (int32_t i = 0; i < n_vocab && n_top > 0; i++) {
        float l = logits[i];
        if (k == n_top && !(l > logits[ev->top_token[k - 1]])) continue;
        int32_t p = k < n_top ? k++ : k - 1;
        while (p > 0 && l > logits[ev->top_token[p - 1]]) {
            ev->top_token[p] = ev->top_token[p - 1];
            p--;
        }
        ev->top_token[p] = i;
    }
    ev->n_top = k;
    for (int32_t i = 0; i < k; i++)
        ev->top_logprob[i] = logits[ev->top_token[i]] - lse;
}

/* ---- The scheduler thread ---- */

static bool same_lora(const float *a, const float *b, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Gives queued jobs to idle slots (mu held). Picks, for the job at the head of the queue, the
 * idle slot with the longest common prefix; ties go to the least recently used slot. */
static void assign_jobs(srv_model *m) {
    while (m->q_head) {
        srv_job *j = m->q_head;
        int best = -1;
        size_t best_lcp = 0;
        for (int32_t i = 0; i < m->n_slots; i++) {
            slot *s = &m->slots[i];
            if (s->state != SLOT_IDLE) continue;
            /* a prefix computed under other adapter scales is not this job's prefix */
            size_t lcp = same_lora(s->lora, j->lora, m->cfg.n_lora)
                             ? common_prefix(s->hist, (size_t)s->n_hist, j->prompt, j->n_prompt)
                             : 0;
            if (best < 0 || lcp > best_lcp ||
                (lcp == best_lcp && s->last_used < m->slots[best].last_used)) {
                best = i;
                best_lcp = lcp;
            }
        }
        if (best < 0) return;
        m->q_head = j->qnext;
        if (!m->q_head) m->q_tail = NULL;
        j->qnext = NULL;
        j->queued = false;
        m->n_queued--;
        slot *s = &m->slots[best];
        if (m->cfg.no_prefix_reuse) best_lcp = 0;
        /* at least one prompt token must be decoded to get the logits of the next */
        if (best_lcp >= j->n_prompt) best_lcp = j->n_prompt - 1;
        /* Another slot (busy or not) may hold a longer prefix, e.g. the same system prompt:
         * share its cells (hearth_kv_seq_cp copies nothing) instead of recomputing them. No
         * decode is in flight here, so every slot's hist is in the cache. */
        int src = -1;
        size_t src_lcp = best_lcp;
        for (int32_t i = 0; i < m->n_slots && !m->cfg.no_prefix_reuse; i++) {
            if (i == best || !same_lora(m->slots[i].lora, j->lora, m->cfg.n_lora)) continue;
            size_t l =
                common_prefix(m->slots[i].hist, (size_t)m->slots[i].n_hist, j->prompt, j->n_prompt);
            if (l >= j->n_prompt) l = j->n_prompt - 1;
            if (l > src_lcp) {
                src = i;
                src_lcp = l;
            }
        }
        if (src >= 0) {
            hearth_kv_seq_rm(m->ctx, s->id, 0, -1);
            hearth_kv_seq_cp(m->ctx, m->slots[src].id, s->id, 0, (int32_t)src_lcp);
            memcpy(s->hist, m->slots[src].hist, src_lcp * sizeof *s->hist);
            best_lcp = src_lcp;
            if (m->dctx) { /* the draft's cells of that prefix too, as far as it has them */
                int32_t dv = m->slots[src].d_valid < (int32_t)src_lcp ? m->slots[src].d_valid : (int32_t)src_lcp;
                hearth_kv_seq_rm(m->dctx, s->id, 0, -1);
                hearth_kv_seq_cp(m->dctx, m->slots[src].id, s->id, 0, dv);
                s->d_valid = dv;
            }
        }
        hearth_kv_seq_rm(m->ctx, s->id, (int32_t)best_lcp, -1);
        /* a sliding-window ring drops a sequence rolled back past what it keeps (hearth.h):
         * then the prefix is recomputed */
        if (hearth_kv_seq_pos_max(m->ctx, s->id) + 1 < (int32_t)best_lcp)
            best_lcp = (size_t)(hearth_kv_seq_pos_max(m->ctx, s->id) + 1);
        if (m->dctx) {
            if (s->d_valid > (int32_t)best_lcp) s->d_valid = (int32_t)best_lcp;
            hearth_kv_seq_rm(m->dctx, s->id, s->d_valid, -1);
            /* a draft with its own sliding-window ring may hold less */
            if (hearth_kv_seq_pos_max(m->dctx, s->id) + 1 < s->d_valid)
                s->d_valid = hearth_kv_seq_pos_max(m->dctx, s->id) + 1;
        }
        s->n_draft = 0;
        s->cur_k = m->draft_max;
        s->rate = 1.0;
        s->j_drafted = s->j_accepted = s->j_passes = 0;
        /* the slot's sequence now decodes under the job's adapter scales (ids checked at
         * submit; scales finite) */
        for (int32_t a = 0; a < m->cfg.n_lora; a++) {
            hearth_ctx_set_lora(m->ctx, a, s->id, j->lora[a], NULL);
            s->lora[a] = j->lora[a];
        }
        s->n_hist = (int32_t)best_lcp;
        s->n_prompt_done = best_lcp;
        s->n_cached = (int32_t)best_lcp;
        s->job = j;
        j->in_slot = true;
        s->state = SLOT_PREFILL;
        s->n_gen = 0;
        s->n_pend = 0;
        tok_detok_init(&s->detok);
        s->t_assign = now_ms();
        s->last_used = ++m->use_clock;
        m->n_busy++;
        m->st_requests++;
    }
}

/* Ends the slot's job (mu held): posts DONE (or nothing when the requester is gone). */
static void slot_finish(srv_model *m, slot *s, const char *reason) {
    srv_job *j = s->job;
    if (j && !j->abandoned && !j->ended && !j->cancelled) {
        char buf[64];
        size_t n = tok_detok_flush(&s->detok, buf, sizeof buf);
        if (n > sizeof buf) n = sizeof buf;
        pend_append(s, buf, n);
        ev_node *e = pend_take(s, SRV_EV_DONE, s->n_pend);
        double t = now_ms();
        e->ev.finish_reason = reason;
        e->ev.n_prompt = (int32_t)j->n_prompt;
        e->ev.n_generated = s->n_gen;
        e->ev.n_prompt_cached = s->n_cached;
        e->ev.queue_ms = s->t_assign - j->t_submit;
        e->ev.prompt_ms = (s->t_first > 0 ? s->t_first : t) - s->t_assign;
        e->ev.generate_ms = s->t_first > 0 ? t - s->t_first : 0;
        e->ev.n_draft = s->j_drafted;
        e->ev.n_draft_accepted = s->j_accepted;
        e->ev.n_spec_passes = s->j_passes;
        job_post(j, e);
    } else if (j && !j->abandoned && !j->ended) {
        /* cancelled but still held: tell the reader it is over */
        job_post(j, ev_cancelled());
    }
    if (j) {
        j->ended = true;
        j->in_slot = false;
        if (j->abandoned) job_destroy(j);
    }
    s->job = NULL;
    s->state = SLOT_IDLE;
    s->n_pend = 0;
    s->t_first = 0;
    s->last_used = ++m->use_clock;
    m->n_busy--;
    m->t_active = now_ms();
}

static void slot_fail(srv_model *m, slot *s, const he_error *err) {
    srv_job *j = s->job;
    if (j && !j->abandoned && !j->ended) {
        ev_node *e = ev_new(SRV_EV_ERROR, "", 0);
        e->ev.error = *err;
        job_post(j, e);
        j->ended = true; /* no DONE after the error */
    }
    /* the sequence's K/V may not match hist any more: forget it */
    hearth_kv_seq_rm(m->ctx, s->id, 0, -1);
    if (m->dctx) hearth_kv_seq_rm(m->dctx, s->id, 0, -1);
    s->d_valid = 0;
    s->n_draft = 0;
    s->n_hist = 0;
    slot_finish(m, s, "stop");
}

/* What one generating slot produced this step, built outside the lock. */
typedef struct {
    ev_node *ev;        /* TOKEN event or NULL */
    const char *finish; /* finish reason, or NULL to keep going */
    bool failed;        /* the grammar had no way on: err says why */
    he_error err;
} step_out;

/* Earliest occurrence of needle in h[from, n), or -1. */
static long find_from(const char *h, size_t n, size_t from, const char *needle) {
    size_t l = strlen(needle);
    if (!l || from >= n || n - from < l) return -1;
    const char *p = memmem(h + from, n - from, needle, l);
    return p ? p - h : -1;
}

/* A lazy grammar watches the output for a trigger; once one appears the matcher takes the
 * trigger and everything after it, and constrains from the next token. Triggers inside a
 * reasoning block (skip_open .. skip_close) do not count: a model thinking about a call has
 * not started one. scan is where the next search starts (text before it is decided). */
static void lazy_watch(srv_model *m, srv_job *j, int32_t tok) {
    char b[256];
    size_t n = tok_token_bytes(m->vocab, tok, j->render_special, b, sizeof b);
    if (n > sizeof b) n = sizeof b;
    if (j->n_seen + n + 1 > j->cap_seen) {
        size_t cap = j->cap_seen ? j->cap_seen : 256;
        while (cap < j->n_seen + n + 1)
            cap *= 2;
        j->seen = xrealloc(j->seen, cap);
        j->cap_seen = cap;
    }
    memcpy(j->seen + j->n_seen, b, n);
    j->n_seen += n;
    j->seen[j->n_seen] = 0;
    long best = -1;
    for (;;) {
        if (j->in_skip) {
            long c = find_from(j->seen, j->n_seen, j->scan, j->skip_close);
            if (c < 0) break;
            j->in_skip = false;
            j->scan = (size_t)c + strlen(j->skip_close);
            continue;
        }
        best = -1;
        for (int32_t k = 0; k < j->n_triggers; k++) {
            long p = find_from(j->seen, j->n_seen, j->scan, j->triggers[k]);
            if (p >= 0 && (best < 0 || p < best)) best = p;
        }
        long o = j->skip_open ? find_from(j->seen, j->n_seen, j->scan, j->skip_open) : -1;
        if (o >= 0 && (best < 0 || o < best)) {
            j->in_skip = true;
            j->scan = (size_t)o + strlen(j->skip_open);
            best = -1;
            continue;
        }
        break;
    }
    if (best < 0) {
        /* keep the tail that may still become a trigger or a block marker */
        size_t keep = j->in_skip ? strlen(j->skip_close) : j->max_trigger;
        if (j->n_seen + 1 > keep && j->n_seen + 1 - keep > j->scan) j->scan = j->n_seen + 1 - keep;
        return;
    }
    he_error e;
    if (gram_matcher_accept_bytes(j->gm, j->seen + best, j->n_seen - (size_t)best, &e) == 0) {
        j->gm_on = true;
    } else {
        /* what followed the trigger in the same token does not fit: leave this output free
         * (the parser keeps an unparsable call as text) */
        log_warn("sched: a lazy grammar's trigger was followed by text it refuses (%s); generating freely", e.msg);
        gram_matcher_free(j->gm);
        j->gm = NULL;
    }
    free(j->seen);
    j->seen = NULL;
    j->n_seen = j->cap_seen = 0;
}

/* Tokens this slot may still generate, the one being sampled included (max_tokens, and the
 * context: a token sampled with n_hist cells used is still emitted, see slot_sample). */
static int64_t slot_room(const srv_model *m, const slot *s, const srv_job *j) {
    int64_t room = (int64_t)m->n_ctx_slot - s->n_hist + 1;
    if (j->max_tokens > 0 && j->max_tokens - s->n_gen < room) room = j->max_tokens - s->n_gen;
    return room < 1 ? 1 : room;
}

/* Inside a bounded reasoning block: start forcing the closer once the budget is spent or the
 * room left is what the output after the block needs. A closer the model already began
 * (tail) is completed rather than restarted. */
static void think_check(srv_job *j, int64_t room) {
    if (!j->in_think || j->force) return;
    size_t lc = strlen(j->think_close);
    bool spent = j->think_budget >= 0 && j->think_tokens >= j->think_budget;
    bool tight = j->think_reserve > 0 && room <= (int64_t)j->think_reserve + (int64_t)lc;
    if (!spent && !tight) return;
    size_t k = lc - 1 < j->n_tail ? lc - 1 : j->n_tail;
    for (; k > 0; k--)
        if (!memcmp(j->tail + j->n_tail - k, j->think_close, k)) break;
    j->force = j->think_close + k;
    j->n_force = lc - k;
}

/* Follows the reasoning block over token text b[0, n): the opener at the start of the
 * output, the closer inside. */
static void think_track(srv_job *j, const char *b, size_t n) {
    if (j->think_may_open) {
        size_t lo = strlen(j->think_open), take = n < sizeof j->head - j->n_head ? n : sizeof j->head - j->n_head;
        memcpy(j->head + j->n_head, b, take);
        j->n_head += take;
        size_t cmp = j->n_head < lo ? j->n_head : lo;
        if (memcmp(j->head, j->think_open, cmp)) {
            j->think_may_open = false; /* the output does not start with the opener */
        } else if (j->n_head >= lo) {
            j->think_may_open = false;
            j->in_think = true;
            b = j->head + lo; /* what followed the opener in the same token is inside */
            n = j->n_head - lo;
        }
        if (!j->in_think) return;
    } else if (j->in_think) {
        j->think_tokens++;
    } else {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (j->n_tail == sizeof j->tail) {
            memmove(j->tail, j->tail + 1, sizeof j->tail - 1);
            j->n_tail--;
        }
        j->tail[j->n_tail++] = b[i];
        size_t lc = strlen(j->think_close);
        if (j->n_tail >= lc && !memcmp(j->tail + j->n_tail - lc, j->think_close, lc)) {
            j->in_think = false; /* closed: what follows is the answer */
            j->force = NULL;
            j->n_force = 0;
            return;
        }
    }
}

/* Samples the slot's next token from logits and advances its text (outside mu: touches only
 * the slot and the job's immutable fields and chain). */
static step_out slot_sample(srv_model *m, slot *s, const float *logits) {
    srv_job *j = s->job;
    step_out o;
    memset(&o, 0, sizeof o);
    double t = now_ms();
    if (s->t_first <= 0) s->t_first = t;
    int32_t tok = -1;
    int64_t room = slot_room(m, s, j);
    bool engaged = j->gm && j->gm_on;
    if (j->think_close) think_check(j, room);
    if (j->force && m->gvocab) {
        /* the reasoning block must close: the longest token that spells the closer's next
         * bytes (and that the grammar, when engaged, allows) */
        size_t used = 0;
        tok = gram_force_token(m->gvocab, engaged ? j->gm : NULL, j->force, j->n_force, &used);
        if (tok >= 0 && engaged && gram_matcher_accept(j->gm, tok, &o.err)) {
            o.failed = true;
            return o;
        }
        if (tok < 0) {
            log_warn("sched: no token spells the reasoning closer; sampling freely");
            j->force = NULL;
        } else {
            j->force = used < j->n_force ? j->force + used : NULL;
            j->n_force -= used;
        }
    }
    if (tok >= 0) {
        /* forced above */
    } else if (engaged) {
        /* EOG comes out only where the grammar may end; with fit, the grammar keeps room to
         * complete before max_tokens */
        tok = j->fit ? gram_sample_room(j->gm, j->chain, logits, s->scratch, room, &o.err)
                     : gram_sample(j->gm, j->chain, logits, s->scratch, &o.err);
        if (tok < 0) {
            o.failed = true;
            return o;
        }
    } else {
        tok = sample_chain_sample(j->chain, logits);
    }
    if (j->think_close && m->vocab && !tok_is_eog(m->vocab, tok)) {
        char tb[256];
        size_t tn = tok_token_bytes(m->vocab, tok, j->render_special, tb, sizeof tb);
        think_track(j, tb, tn > sizeof tb ? sizeof tb : tn);
    }
    if (m->vocab && tok_is_eog(m->vocab, tok)) {
        o.finish = "stop";
        return o;
    }
    sample_chain_accept(j->chain, tok);
    bool grammar_done = false;
    if (j->gm && !j->gm_on) lazy_watch(m, j, tok);
    if (j->gm && j->gm_on) grammar_done = gram_matcher_must_end(j->gm);
    s->n_gen++;
    s->next_tok = tok;
    if (m->vocab) {
        size_t n = tok_detok_push(&s->detok, m->vocab, tok, j->render_special, s->tokbuf, TOK_DETOK_MAX);
        if (n > TOK_DETOK_MAX) n = TOK_DETOK_MAX;
        pend_append(s, s->tokbuf, n);
    }
    /* a grammar whose text is complete when the room runs out ended well (e.g. the last call
     * of several that may follow): "stop", not "length" */
    bool complete = j->gm && j->gm_on && gram_matcher_can_end(j->gm);
    if (grammar_done)
        o.finish = "stop"; /* the grammar is complete: nothing may follow */
    else if (j->max_tokens > 0 && s->n_gen >= j->max_tokens)
        o.finish = complete ? "stop" : "length";
    else if (s->n_hist >= m->n_ctx_slot)
        o.finish = complete ? "stop" : "length"; /* no room to decode tok */
    size_t release;
    bool stops = j->n_stop && !j->gm_on;
    long at = stops ? stop_find(j, s) : -1;
    if (at >= 0) {
        release = (size_t)at;
        o.finish = "stop";
    } else if (o.finish) {
        /* the end: flush the detokenizer and release everything */
        char buf[64];
        size_t n = tok_detok_flush(&s->detok, buf, sizeof buf);
        if (n > sizeof buf) n = sizeof buf;
        pend_append(s, buf, n);
        release = s->n_pend;
    } else {
        release = stops ? stop_safe(j, s) : s->n_pend;
    }
    o.ev = pend_take(s, SRV_EV_TOKEN, release);
    if (o.finish) {
        /* a matched stop string and what follows are dropped; nothing is left to flush */
        s->n_pend = 0;
        tok_detok_init(&s->detok);
    }
    o.ev->ev.token = tok;
    if (j->top_logprobs >= 0) fill_logprobs(logits, m->n_vocab, tok, j->top_logprobs, &o.ev->ev);
    return o;
}

/* Sampling every slot that has logits this step, spread over the pool: a slot masking under a
 * grammar does not hold up the others (each touches only its own slot, job and chain; the
 * model's vocab and gram_vocab are read-only). */
typedef struct {
    srv_model *m;
    step_out *outs;
    int rc;
} sample_work;

/* Samples the slot's rows of this step into o: one row, or with drafts the rows of next_tok
 * and each drafted token in turn, exactly as plain decoding would sample them one step at a
 * time (same chain, grammar, stop strings; the chain's random draws are the same too). Row r
 * is only valid while the drafts before it were what the target sampled: the first
 * disagreement (or the end of the job) ends the step, and that sampled token is the slot's
 * next_tok. For a drafted point mass d, "sample t from p, keep d when t == d" accepts d with
 * probability p(d) and otherwise yields p conditioned on t != d: the standard rejection rule,
 * so the output's distribution is the target's at any temperature. The events come out as a
 * chain (o->ev .. linked by next). */
static void slot_verify(srv_model *m, slot *s, step_out *o) {
    ev_node *tail = NULL;
    s->n_accepted = 0;
    for (int32_t r = 0; r <= s->n_draft; r++) {
        if (r > 0) slot_hist_push(m, s, s->draft[r - 1]); /* its K/V is in the batch: kept */
        const float *logits = hearth_logits(m->ctx, s->batch_idx + r);
        if (!logits) break;
        step_out one = slot_sample(m, s, logits);
        if (one.ev) {
            one.ev->next = NULL;
            if (tail)
                tail->next = one.ev;
            else
                o->ev = one.ev;
            tail = one.ev;
        }
        o->finish = one.finish;
        if (one.failed) {
            o->failed = true;
            o->err = one.err;
        }
        if (one.failed || one.finish || r == s->n_draft || s->next_tok != s->draft[r]) break;
        s->n_accepted++;
    }
}

static void sample_slots(void *arg, int ith, int nth) {
    sample_work *w = arg;
    srv_model *m = w->m;
    for (int32_t i = ith; i < m->n_slots; i += nth) {
        slot *s = &m->slots[i];
        step_out *o = &w->outs[i];
        o->ev = NULL;
        o->finish = NULL;
        o->failed = false;
        if (w->rc || s->batch_idx < 0) continue;
        slot_verify(m, s, o);
    }
}

/* ---- Drafting (scheduler thread, before the batch is built) ---- */

/* The draft model's pick from logits (its greedy token, under the job's grammar when one is
 * engaged: gm is then a clone that advances over the drafts). -1: stop drafting (no allowed
 * token, an end-of-generation token, or the pick is less likely than draft_min_p). */
static int32_t draft_pick(srv_model *m, slot *s, gram_matcher *gm, const float *logits) {
    int32_t best = 0;
    for (int32_t i = 1; i < m->n_vocab; i++)
        if (logits[i] > logits[best]) best = i;
    if (gm && !gram_matcher_allows(gm, best)) {
        memcpy(s->scratch, logits, (size_t)m->n_vocab * sizeof *logits);
        if (gram_matcher_mask(gm, s->scratch) <= 0) return -1;
        logits = s->scratch;
        best = 0;
        for (int32_t i = 1; i < m->n_vocab; i++)
            if (logits[i] > logits[best]) best = i;
        if (!isfinite(logits[best])) return -1;
    }
    if (m->vocab && tok_is_eog(m->vocab, best)) return -1;
    if (m->cfg.draft_min_p > 0) {
        double sum = 0;
        for (int32_t i = 0; i < m->n_vocab; i++)
            if (isfinite(logits[i])) sum += exp((double)(logits[i] - logits[best]));
        if (1.0 / sum < (double)m->cfg.draft_min_p) return -1;
    }
    if (gm && gram_matcher_accept(gm, best, NULL)) return -1;
    return best;
}

/* How many tokens slot s may draft this step: its adaptive length, bounded by the context
 * (next_tok and the drafts need cells below n_ctx_slot) and by max_tokens (k drafts give up to
 * k + 1 tokens). */
static int32_t draft_budget(const srv_model *m, const slot *s) {
    if (s->state != SLOT_GEN || !s->job) return 0;
    int64_t k = s->cur_k;
    int64_t ctx_room = (int64_t)m->n_ctx_slot - 1 - s->n_hist;
    if (k > ctx_room) k = ctx_room;
    const srv_job *j = s->job;
    if (j->max_tokens > 0 && k > (int64_t)j->max_tokens - s->n_gen - 1) k = (int64_t)j->max_tokens - s->n_gen - 1;
    return k > 0 ? (int32_t)k : 0;
}

/* Sets every generating slot's draft[0, n_draft). Prompt lookup: the tokens that followed the
 * last earlier match of the slot's own last n-gram (cut where an engaged grammar refuses).
 * A draft model: first a catch-up of every drafting slot's sequence to hist + next_tok (one
 * batch over all of them, chunked), then one batch per drafted position, one token per slot
 * still drafting. A failed draft decode only costs this step's drafts. */
static void draft_all(srv_model *m) {
    gram_matcher *gms[HEARTH_MAX_SEQ] = {0};
    int32_t want[HEARTH_MAX_SEQ] = {0};
    int n_want = 0;
    for (int32_t i = 0; i < m->n_slots; i++) {
        slot *s = &m->slots[i];
        s->n_draft = 0;
        s->d_idx = -1;
        want[i] = draft_budget(m, s);
        if (!want[i]) continue;
        srv_job *j = s->job;
        if (j->gm && j->gm_on) gms[i] = gram_matcher_clone(j->gm);
        if (!m->dctx) {
            /* hist has room for next_tok (want > 0 means n_hist < n_ctx_slot - 1) */
            s->hist[s->n_hist] = s->next_tok;
            int32_t n = spec_lookup(s->hist, s->n_hist + 1, 1, 3, want[i], s->draft);
            for (int32_t d = 0; d < n; d++) {
                if (gms[i] && gram_matcher_accept(gms[i], s->draft[d], NULL)) break;
                if (m->vocab && tok_is_eog(m->vocab, s->draft[d])) break;
                s->n_draft++;
            }
        } else {
            n_want++;
        }
    }
    if (m->dctx && n_want) {
        he_error err;
        hearth_batch *db = &m->dbatch;
        int32_t nb = hearth_ctx_n_batch(m->dctx);
        bool ok = true;
        /* catch-up: hist[d_valid, n_hist) and next_tok; logits for next_tok */
        hearth_batch_clear(db);
        for (int32_t i = 0; i < m->n_slots && ok; i++) {
            slot *s = &m->slots[i];
            if (!want[i]) continue;
            for (int32_t p = s->d_valid; p <= s->n_hist && ok; p++) {
                bool last = p == s->n_hist;
                if (last) s->d_idx = db->n_tokens;
                hearth_batch_add(db, last ? s->next_tok : s->hist[p], p, s->id, last);
                if (db->n_tokens == nb) {
                    ok = hearth_decode(m->dctx, db, &err) == 0;
                    for (int32_t q = 0; q <= i && ok; q++) {
                        slot *t = &m->slots[q];
                        if (!want[q] || t->d_idx < 0) continue;
                        int32_t tok = draft_pick(m, t, gms[q], hearth_logits(m->dctx, t->d_idx));
                        t->d_idx = -1;
                        if (tok < 0)
                            want[q] = 0;
                        else
                            t->draft[t->n_draft++] = tok;
                    }
                    hearth_batch_clear(db);
                }
            }
            s->d_valid = s->n_hist + 1;
        }
        if (ok && db->n_tokens) {
            ok = hearth_decode(m->dctx, db, &err) == 0;
            for (int32_t q = 0; q < m->n_slots && ok; q++) {
                slot *t = &m->slots[q];
                if (!want[q] || t->d_idx < 0) continue;
                int32_t tok = draft_pick(m, t, gms[q], hearth_logits(m->dctx, t->d_idx));
                t->d_idx = -1;
                if (tok < 0)
                    want[q] = 0;
                else
                    t->draft[t->n_draft++] = tok;
            }
        }
        /* one position per batch for every slot still drafting */
        for (;;) {
            hearth_batch_clear(db);
            for (int32_t i = 0; i < m->n_slots && ok; i++) {
                slot *s = &m->slots[i];
                if (!want[i] || s->n_draft == 0 || s->n_draft >= want[i]) continue;
                s->d_idx = db->n_tokens;
                hearth_batch_add(db, s->draft[s->n_draft - 1], s->n_hist + s->n_draft, s->id, true);
                s->d_valid = s->n_hist + s->n_draft + 1;
            }
            if (!ok || !db->n_tokens) break;
            ok = hearth_decode(m->dctx, db, &err) == 0;
            for (int32_t q = 0; q < m->n_slots && ok; q++) {
                slot *t = &m->slots[q];
                if (t->d_idx < 0) continue;
                int32_t tok = draft_pick(m, t, gms[q], hearth_logits(m->dctx, t->d_idx));
                t->d_idx = -1;
                if (tok < 0)
                    want[q] = 0;
                else
                    t->draft[t->n_draft++] = tok;
            }
        }
        if (!ok) {
            /* the draft's cache no longer matches what we think it holds: start it over */
            log_warn("sched: '%s': the draft model failed (%s); this step goes without drafts", m->cfg.name,
                     err.msg);
            for (int32_t i = 0; i < m->n_slots; i++) {
                m->slots[i].n_draft = 0;
                m->slots[i].d_idx = -1;
                m->slots[i].d_valid = 0;
                hearth_kv_seq_rm(m->dctx, m->slots[i].id, 0, -1);
            }
        }
    }
    for (int32_t i = 0; i < m->n_slots; i++)
        gram_matcher_free(gms[i]);
}

static void *sched_main(void *arg) {
    srv_model *m = arg;
    he_error err;
    step_out *outs = xcalloc((size_t)m->n_slots, sizeof *outs);
    pthread_mutex_lock(&m->mu);
    for (;;) {
        /* drop cancelled or abandoned jobs */
        for (int32_t i = 0; i < m->n_slots; i++) {
            slot *s = &m->slots[i];
            if (s->job && (s->job->cancelled || s->job->abandoned)) slot_finish(m, s, "stop");
        }
        assign_jobs(m);
        if (m->stop) break;
        if (m->n_busy == 0) {
            pthread_cond_wait(&m->work, &m->mu);
            continue;
        }
        if (m->draft_max) {
            /* only this thread touches the slots and the draft context: no lock needed */
            pthread_mutex_unlock(&m->mu);
            draft_all(m);
            pthread_mutex_lock(&m->mu);
        }
        /* build the batch: every generating slot's next token (and its drafts, to verify in
         * this same pass) first, then prompt chunks */
        hearth_batch *b = &m->batch;
        hearth_batch_clear(b);
        for (int32_t i = 0; i < m->n_slots; i++) {
            slot *s = &m->slots[i];
            s->batch_idx = -1;
            if (s->state != SLOT_GEN) continue;
            s->batch_idx = b->n_tokens;
            hearth_batch_add(b, s->next_tok, s->n_hist, s->id, true);
            for (int32_t d = 0; d < s->n_draft; d++)
                hearth_batch_add(b, s->draft[d], s->n_hist + 1 + d, s->id, true);
            slot_hist_push(m, s, s->next_tok);
        }
        /* prompts in the order they were assigned */
        for (;;) {
            slot *pick = NULL;
            for (int32_t i = 0; i < m->n_slots; i++) {
                slot *s = &m->slots[i];
                if (s->state == SLOT_PREFILL && s->batch_idx == -1 &&
                    s->n_prompt_done < s->job->n_prompt && (!pick || s->t_assign < pick->t_assign))
                    pick = s;
            }
            if (!pick || b->n_tokens >= m->n_batch) break;
            srv_job *j = pick->job;
            while (b->n_tokens < m->n_batch && pick->n_prompt_done < j->n_prompt) {
                bool last = pick->n_prompt_done + 1 == j->n_prompt;
                if (last) pick->batch_idx = b->n_tokens;
                int32_t tok = j->prompt[pick->n_prompt_done++];
                hearth_batch_add(b, tok, pick->n_hist, pick->id, last);
                slot_hist_push(m, pick, tok);
            }
            if (pick->batch_idx < 0) pick->batch_idx = -2; /* took part, no logits yet */
        }
        pthread_mutex_unlock(&m->mu);

        int rc = hearth_decode(m->ctx, b, &err);
        sample_work w = {m, outs, rc};
        int n_sampling = 0;
        for (int32_t i = 0; i < m->n_slots; i++)
            if (!rc && m->slots[i].batch_idx >= 0) n_sampling++;
        int nth = he_pool_size(m->pool) < n_sampling ? he_pool_size(m->pool) : n_sampling;
        if (nth > 1)
            he_pool_run_n(m->pool, nth, sample_slots, &w);
        else
            sample_slots(&w, 0, 1);

        pthread_mutex_lock(&m->mu);
        for (int32_t i = 0; i < m->n_slots; i++) {
            slot *s = &m->slots[i];
            if (s->batch_idx == -1) continue;
            if (rc) {
                slot_fail(m, s, &err);
                continue;
            }
            if (s->state == SLOT_GEN && m->draft_max) {
                /* the cells of rejected drafts go (hist holds next_tok and the kept drafts) */
                if (s->n_draft > s->n_accepted) hearth_kv_seq_rm(m->ctx, s->id, s->n_hist, -1);
                if (m->dctx && s->d_valid > s->n_hist) {
                    hearth_kv_seq_rm(m->dctx, s->id, s->n_hist, -1);
                    s->d_valid = s->n_hist;
                }
                int32_t emitted = 0;
                for (ev_node *e = outs[i].ev; e; e = e->next)
                    emitted++;
                s->j_passes++;
                s->j_drafted += s->n_draft;
                s->j_accepted += s->n_accepted;
                m->st_spec_passes++;
                m->st_draft += (uint64_t)s->n_draft;
                m->st_draft_acc += (uint64_t)s->n_accepted;
                m->st_spec_emitted += (uint64_t)emitted;
                if (s->n_draft > 0) s->cur_k = spec_adapt(&s->rate, s->n_draft, s->n_accepted, m->draft_max);
                s->n_draft = 0;
            }
            if (s->state == SLOT_PREFILL && s->batch_idx >= 0) {
                s->state = SLOT_GEN;
                m->st_prompt += s->job->n_prompt - (size_t)s->n_cached;
            }
            if (outs[i].failed) {
                /* tokens verified before the grammar's dead end still go out, then the error */
                for (ev_node *e = outs[i].ev, *nx; e; e = nx) {
                    nx = e->next;
                    if (s->job->cancelled || s->job->abandoned) {
                        free(e->text);
                        free(e);
                    } else {
                        job_post(s->job, e);
                    }
                }
                slot_fail(m, s, &outs[i].err);
                continue;
            }
            for (ev_node *e = outs[i].ev, *nx; e; e = nx) {
                nx = e->next;
                m->st_gen++;
                if (s->job->cancelled || s->job->abandoned) {
                    free(e->text);
                    free(e);
                } else {
                    job_post(s->job, e);
                }
            }
            if (outs[i].finish) slot_finish(m, s, outs[i].finish);
        }
    }
    pthread_mutex_unlock(&m->mu);
    free(outs);
    return NULL;
}

/* ---- Model lifetime ---- */

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

/* Decodes BOS (or token 0) and a few greedy tokens on sequence 0, then clears the cache: the
 * weights load, the forward pass runs and gives finite logits. */
static int smoke_test(srv_model *m, he_error *err) {
    int32_t tok = m->vocab && tok_bos(m->vocab) >= 0 ? tok_bos(m->vocab) : 0;
    hearth_batch *b = &m->batch;
    int rc = 0;
    for (int32_t pos = 0; pos < 4 && pos < m->n_ctx_slot; pos++) {
        hearth_batch_clear(b);
        hearth_batch_add(b, tok, pos, 0, true);
        if (hearth_decode(m->ctx, b, err)) {
            he_prefix(err, "smoke test");
            rc = -1;
            break;
        }
        const float *l = hearth_logits(m->ctx, 0);
        int32_t best = 0;
        for (int32_t i = 0; i < m->n_vocab; i++) {
            if (!isfinite(l[i])) {
                rc = he_fail(err, HE_FORMAT, "smoke test: logit %d of position %d is not finite", i,
                             pos);
                break;
            }
            if (l[i] > l[best]) best = i;
        }
        if (rc) break;
        tok = best;
    }
    hearth_kv_clear(m->ctx);
    return rc;
}

/* An embedding model or reranker: its embedder (the batch is the whole context) and a smoke
 * test (one short sequence gives a finite result). */
static int embed_start(srv_model *m, he_error *err) {
    if (!m->vocab) return he_fail(err, HE_UNSUPPORTED, "the embedding model has no tokenizer");
    int32_t n_ctx = hearth_model_max_seq_tokens(m->model);
    if (m->cfg.n_ctx > 0 && m->cfg.n_ctx < n_ctx) n_ctx = m->cfg.n_ctx;
    m->cfg.n_ctx = n_ctx;
    m->n_ctx_slot = n_ctx;
    m->n_batch = m->cfg.n_batch > n_ctx ? m->cfg.n_batch : n_ctx;
    if (m->n_batch > 8192) m->n_batch = n_ctx > 8192 ? n_ctx : 8192;
    m->cfg.n_batch = m->n_batch;
    m->n_slots = 0;
    m->pool = he_pool_new(m->cfg.n_threads);
    m->emb = hearth_embedder_new(m->model, m->pool, m->n_batch, err);
    if (!m->emb) return -1;
    int32_t toks[2] = {tok_bos(m->vocab) >= 0 ? tok_bos(m->vocab) : 0,
                       tok_eos(m->vocab) >= 0 ? tok_eos(m->vocab) : 0};
    const int32_t *seqs[1] = {toks};
    int32_t lens[1] = {2}, dim = hearth_model_n_embd_out(m->model);
    float *out = xmalloc((size_t)dim * sizeof(float));
    int rc = hearth_embed(m->emb, seqs, lens, 1, true, out, err);
    for (int32_t i = 0; rc == 0 && i < dim; i++)
        if (!isfinite(out[i]))
            rc = he_fail(err, HE_FORMAT, "smoke test: output %d of the embedding is not finite", i);
    free(out);
    if (rc) return -1;
    log_info("serve: '%s' ready (%s, %s, pooling %s, %d tokens per input, %d threads)",
             m->cfg.name, m->cfg.path, hearth_model_is_reranker(m->model) ? "reranker" : "embeddings",
             hearth_pooling_name(hearth_model_pooling(m->model)), n_ctx, he_pool_size(m->pool));
    return 0;
}

srv_model_kind srv_model_kind_of(const srv_model *m) {
    if (!m->emb) return SRV_MODEL_GENERATOR;
    return hearth_model_is_reranker(m->model) ? SRV_MODEL_RERANKER : SRV_MODEL_EMBEDDER;
}

const char *srv_model_kind_name(srv_model_kind k) {
    return k == SRV_MODEL_EMBEDDER ? "embedding" : k == SRV_MODEL_RERANKER ? "reranking" : "generation";
}

int srv_model_embed(srv_model *m, const int32_t *const *toks, const int32_t *n_toks, int32_t n,
                    bool normalize, float *out, he_error *err) {
    if (!m->emb) return he_fail(err, HE_INVALID, "'%s' is not an embedding model", m->cfg.name);
    pthread_mutex_lock(&m->emb_mu);
    int rc = hearth_embed(m->emb, toks, n_toks, n, normalize, out, err);
    if (rc == 0) {
        uint64_t t = 0;
        for (int32_t i = 0; i < n; i++)
            t += (uint64_t)n_toks[i];
        pthread_mutex_lock(&m->mu);
        m->st_prompt += t;
        m->st_requests++;
        pthread_mutex_unlock(&m->mu);
    }
    pthread_mutex_unlock(&m->emb_mu);
    return rc;
}

static void model_destroy(srv_model *m) {
    if (m->thread) {
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_signal(&m->work);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    /* Only jobs whose requester is gone can remain (others hold references). */
    for (int32_t i = 0; m->slots && i < m->n_slots; i++) {
        slot *s = &m->slots[i];
        if (s->job) job_destroy(s->job);
        free(s->hist);
        free(s->pend);
        free(s->scratch);
        free(s->tokbuf);
    }
    for (srv_job *j = m->q_head, *nx; j; j = nx) {
        nx = j->qnext;
        job_destroy(j);
    }
    free(m->slots);
    hearth_embedder_free(m->emb);
    pthread_mutex_destroy(&m->emb_mu);
    gram_vocab_free(m->gvocab);
    hearth_batch_deinit(&m->batch);
    hearth_batch_deinit(&m->dbatch);
    hearth_ctx_free(m->dctx);
    hearth_model_free(m->dmodel);
    hearth_ctx_free(m->ctx);
    he_pool_free(m->pool);
    hearth_model_free(m->model);
    free((char *)m->cfg.name);
    free((char *)m->cfg.path);
    free((char *)m->cfg.system_prompt);
    free((char *)m->cfg.tool_format);
    free((char *)m->cfg.chat_template);
    free((char *)m->req.name);
    free((char *)m->req.path);
    free((char *)m->req.system_prompt);
    free((char *)m->req.tool_format);
    free((char *)m->cfg.draft);
    free((char *)m->req.draft);
    for (int32_t i = 0; i < m->cfg.n_lora; i++) /* the config's, then the store's */
        free((char *)m->cfg.lora_path[i]);
    for (int32_t i = 0; i < m->req.n_lora; i++)
        free((char *)m->req.lora_path[i]);
    pthread_cond_destroy(&m->work);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* The draft model of cfg.draft (a file or a store name; without it, with draft_layers, the
 * target's own file): its vocabulary must be the target's (spec_check_vocab names the
 * difference), and its context mirrors the target's slots. draft_layers: only that many first
 * layers run (layer skip). */
static int start_draft(srv_model *m, int64_t cells, he_error *err) {
    char resolved[STORE_PATH_MAX];
    const char *what = m->cfg.draft ? m->cfg.draft : m->cfg.path;
    if (store_resolve(what, resolved, sizeof resolved, m->cfg.verify, err) < 0) goto fail;
    hearth_model_params mp = hearth_model_params_default();
    mp.n_layer_use = m->cfg.draft_layers;
    m->dmodel = hearth_model_load(resolved, &mp, err);
    if (!m->dmodel) goto fail;
    if (spec_check_vocab(m->model, m->dmodel, err)) goto fail;
    if (hearth_model_is_embedder(m->dmodel) || hearth_model_is_reranker(m->dmodel)) {
        he_fail(err, HE_INVALID, "it is an embedding model");
        goto fail;
    }
    hearth_ctx_params cp = hearth_ctx_params_default();
    cp.n_ctx = (int32_t)cells;
    cp.n_batch = m->n_batch;
    cp.n_seq = m->n_slots;
    cp.n_outputs = m->n_slots; /* one row per drafting slot per draft pass */
    cp.kv_type = m->cfg.kv_type;
    cp.pool = m->pool; /* never decoding at the same time as the target */
    m->dctx = hearth_ctx_new(m->dmodel, &cp, err);
    if (!m->dctx) goto fail;
    hearth_batch_init(&m->dbatch, m->n_batch);
    return 0;
fail:
    he_prefix(err, "draft %s", what);
    return -1;
}

srv_model *srv_model_start(const srv_model_config *cfg, he_error *err) {
    if (!cfg || !cfg->path) {
        he_fail(err, HE_INVALID, "serve: no model path");
        return NULL;
    }
    const char *name = cfg->name ? cfg->name : cfg->path;
    if (cfg->n_slots < 0 || cfg->n_slots > HEARTH_MAX_SEQ) {
        he_fail(err, HE_INVALID, "serve '%s': slots %d is out of range [1, %d]", name, cfg->n_slots,
                HEARTH_MAX_SEQ);
        return NULL;
    }
    if (cfg->n_ctx < 0 || cfg->n_ctx > (1 << 22) || cfg->max_queue < 0 || cfg->n_batch < 0 ||
        cfg->n_threads < 0) {
        he_fail(err, HE_INVALID, "serve '%s': negative or too large ctx, queue, batch or threads",
                name);
        return NULL;
    }
    srv_model *m = xcalloc(1, sizeof *m);
    atomic_init(&m->refs, 1);
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->emb_mu, NULL);
    pthread_cond_init(&m->work, NULL);
    m->cfg = *cfg;
    m->cfg.name = xstrdup(name);
    m->cfg.path = xstrdup(cfg->path);
    m->cfg.system_prompt = dup_or_null(cfg->system_prompt);
    m->cfg.tool_format = dup_or_null(cfg->tool_format);
    m->cfg.chat_template = NULL; /* set from the store below; owned by m */
    m->req = *cfg;
    m->req.chat_template = NULL;
    m->req.name = xstrdup(name);
    m->req.path = xstrdup(cfg->path);
    if (cfg->n_lora < 0 || cfg->n_lora > SRV_MAX_LORA) {
        m->cfg.n_lora = m->req.n_lora = 0;
        he_fail(err, HE_INVALID, "at most %d LoRA adapters", SRV_MAX_LORA);
        goto fail;
    }
    for (int32_t i = 0; i < cfg->n_lora; i++) {
        m->cfg.lora_path[i] = xstrdup(cfg->lora_path[i]);
        m->req.lora_path[i] = xstrdup(cfg->lora_path[i]);
    }
    m->req.system_prompt = dup_or_null(cfg->system_prompt);
    m->req.tool_format = dup_or_null(cfg->tool_format);
    m->cfg.draft = dup_or_null(cfg->draft);
    m->req.draft = dup_or_null(cfg->draft);
    if (m->cfg.n_slots == 0) m->cfg.n_slots = 4;
    if (m->cfg.max_queue == 0) m->cfg.max_queue = 64;
    m->n_slots = m->cfg.n_slots;
    m->t_active = now_ms();

    /* A file path passes through; a store name becomes its weights blob (re-hashed first when
     * cfg->verify: a changed blob is refused, never served). */
    char resolved[STORE_PATH_MAX];
    if (store_resolve(cfg->path, resolved, sizeof resolved, cfg->verify, err) < 0) goto fail;
    free((char *)m->cfg.path); /* the effective config names the file; req keeps the name */
    m->cfg.path = xstrdup(resolved);
    /* A store model may carry a chat template and default params; the config's own keys win. */
    char *params = NULL, *tmpl = NULL;
    if (store_overrides(cfg->path, &tmpl, &params, err) < 0) goto fail;
    m->cfg.chat_template = tmpl;
    if (params) {
        int prc = srv_config_apply_params(&m->cfg, params, cfg->path, err);
        free(params);
        if (prc) goto fail;
        log_info("serve: '%s': store params applied from %s", name, cfg->path);
    }
    /* A store model's manifest may name adapters (Ollama's ADAPTER): applied at scale 1 after
     * the config's own (lora = ...), so their ids follow the config's. */
    char(*store_ad)[STORE_PATH_MAX] = xmalloc(SRV_MAX_LORA * sizeof *store_ad);
    int n_store_ad =
        store_adapter_paths(cfg->path, store_ad, SRV_MAX_LORA - m->cfg.n_lora, cfg->verify, err);
    for (int i = 0; i < n_store_ad; i++) {
        m->cfg.lora_path[m->cfg.n_lora] = xstrdup(store_ad[i]);
        m->cfg.lora_scale[m->cfg.n_lora++] = 1.0f;
    }
    free(store_ad);
    if (n_store_ad < 0) goto fail;
    if (n_store_ad > 0)
        log_info("serve: '%s': %d LoRA adapter(s) from the store manifest", name, n_store_ad);
    m->model = hearth_model_load(resolved, NULL, err);
    if (!m->model) goto fail;
    for (int32_t i = 0; i < m->cfg.n_lora; i++) {
        hearth_lora *ad = hearth_lora_load(m->model, m->cfg.lora_path[i], err);
        if (!ad || hearth_model_add_lora(m->model, ad, err) < 0) {
            hearth_lora_free(ad);
            he_prefix(err, "LoRA adapter %s", m->cfg.lora_path[i]);
            goto fail;
        }
    }
    m->vocab = hearth_model_vocab(m->model);
    m->n_vocab = hearth_model_n_vocab(m->model);
    if (hearth_model_is_embedder(m->model) || hearth_model_is_reranker(m->model)) {
        if (embed_start(m, err)) goto fail;
        return m;
    }
    int32_t n_ctx = m->cfg.n_ctx;
    if (n_ctx == 0) {
        n_ctx = hearth_model_n_ctx_train(m->model);
        if (n_ctx <= 0 || n_ctx > 4096) n_ctx = 4096;
    }
    m->cfg.n_ctx = n_ctx;
    m->n_ctx_slot = n_ctx;
    int64_t cells = (int64_t)n_ctx * m->n_slots;
    if (cells > (1 << 24)) {
        he_fail(err, HE_LIMIT, "serve '%s': ctx %d x %d slots is too many KV cells", name, n_ctx,
                m->n_slots);
        goto fail;
    }
    if (m->cfg.draft || m->cfg.draft_layers || m->cfg.lookup) {
        if (m->cfg.draft_max < 0 || m->cfg.draft_max > SPEC_MAX_DRAFT || m->cfg.lookup < 0 ||
            m->cfg.lookup > SPEC_MAX_DRAFT || !(m->cfg.draft_min_p >= 0 && m->cfg.draft_min_p <= 1)) {
            he_fail(err, HE_INVALID, "serve '%s': draft_max and lookup must be in 1..%d, draft_min_p in [0, 1]", name,
                    SPEC_MAX_DRAFT);
            goto fail;
        }
        /* lookup = N drafts up to N tokens (draft_max, when given, bounds it further) */
        m->draft_max = m->cfg.draft_max ? m->cfg.draft_max : m->cfg.lookup ? m->cfg.lookup : 8;
        if (m->cfg.lookup && m->cfg.lookup < m->draft_max) m->draft_max = m->cfg.lookup;
    }
    m->n_batch = m->cfg.n_batch ? m->cfg.n_batch : 512;
    if (m->n_batch < m->n_slots) m->n_batch = m->n_slots;
    /* every slot's next token and its drafts fit one batch */
    if (m->n_batch < m->n_slots * (m->draft_max + 1)) m->n_batch = m->n_slots * (m->draft_max + 1);
    m->cfg.n_batch = m->n_batch;
    hearth_ctx_params cp = hearth_ctx_params_default();
    cp.n_ctx = (int32_t)cells;
    cp.n_batch = m->n_batch;
    cp.n_seq = m->n_slots;
    cp.n_outputs = m->n_slots * (m->draft_max + 1); /* next token + drafts per slot per step */
    cp.kv_type = m->cfg.kv_type;
    m->pool = he_pool_new(m->cfg.n_threads);
    cp.pool = m->pool; /* shared with the sampling of the slots */
    m->ctx = hearth_ctx_new(m->model, &cp, err);
    if (!m->ctx) goto fail;
    hearth_batch_init(&m->batch, m->n_batch);
    if ((m->cfg.draft || m->cfg.draft_layers) && start_draft(m, cells, err)) goto fail;
    m->slots = xcalloc((size_t)m->n_slots, sizeof *m->slots);
    for (int32_t i = 0; i < m->n_slots; i++) {
        m->slots[i].id = i;
        m->slots[i].hist = xmalloc((size_t)n_ctx * sizeof(int32_t));
        m->slots[i].batch_idx = -1;
        m->slots[i].d_idx = -1;
        m->slots[i].cur_k = m->draft_max;
        m->slots[i].rate = 1.0;
        m->slots[i].scratch = xmalloc((size_t)m->n_vocab * sizeof(float));
        m->slots[i].tokbuf = xmalloc(TOK_DETOK_MAX);
    }
    if (m->vocab) {
        /* once per model: grammars of every request mask tokens through it */
        m->gvocab = gram_vocab_from_tok(m->vocab, err);
        if (!m->gvocab) goto fail;
    }
    if (smoke_test(m, err)) goto fail;
    if (pthread_create(&m->thread, NULL, sched_main, m)) {
        m->thread = 0;
        he_fail(err, HE_RUNTIME, "serve '%s': cannot start the scheduler thread", name);
        goto fail;
    }
    log_info("serve: '%s' ready (%s, ctx %d x %d slots, batch %d, %d threads)", m->cfg.name,
             m->cfg.path, n_ctx, m->n_slots, m->n_batch, hearth_ctx_n_threads(m->ctx));
    if (m->draft_max)
        log_info("serve: '%s' drafts up to %d tokens per step (%s%s%s)", m->cfg.name, m->draft_max,
                 m->dctx ? "draft model " : "prompt lookup", m->dctx ? (m->cfg.draft ? m->cfg.draft : m->cfg.path) : "",
                 m->cfg.draft_layers ? ", its first layers only" : "");
    return m;
fail:
    if (err) he_prefix(err, "serve '%s'", name);
    model_destroy(m);
    return NULL;
}

const char *srv_model_name(const srv_model *m) { return m->cfg.name; }
const hearth_model *srv_model_engine(const srv_model *m) { return m->model; }
const srv_model_config *srv_model_config_of(const srv_model *m) { return &m->cfg; }
const srv_model_config *srv_model_config_requested(const srv_model *m) { return &m->req; }
int32_t srv_model_n_ctx(const srv_model *m) { return m->n_ctx_slot; }
uint32_t srv_model_max_token_bytes(const srv_model *m) { return gram_vocab_max_piece(m->gvocab); }
const struct gram_vocab *srv_model_gram_vocab(const srv_model *m) { return m->gvocab; }

srv_model *srv_model_retain(srv_model *m) {
    atomic_fetch_add(&m->refs, 1);
    return m;
}

void srv_model_release(srv_model *m) {
    if (!m) return;
    if (atomic_fetch_sub(&m->refs, 1) == 1) model_destroy(m);
}

void srv_model_stats_get(srv_model *m, srv_model_stats *out) {
    pthread_mutex_lock(&m->mu);
    out->slots_busy = m->n_busy;
    out->slots_total = m->n_slots;
    out->queue_depth = m->n_queued;
    out->prompt_tokens = m->st_prompt;
    out->generated_tokens = m->st_gen;
    out->requests = m->st_requests;
    out->kv_bytes = m->ctx ? hearth_ctx_kv_bytes(m->ctx) : 0;
    out->kv_bytes_full = m->ctx ? hearth_ctx_kv_bytes_full(m->ctx) : 0;
    out->spec_passes = m->st_spec_passes;
    out->draft_tokens = m->st_draft;
    out->draft_accepted = m->st_draft_acc;
    out->spec_emitted = m->st_spec_emitted;
    pthread_mutex_unlock(&m->mu);
}

double srv_model_idle_seconds(srv_model *m) {
    pthread_mutex_lock(&m->mu);
    double idle = m->n_busy || m->n_queued ? -1 : (now_ms() - m->t_active) / 1e3;
    if (idle < 0 && !(m->n_busy || m->n_queued)) idle = 0; /* a clock step back */
    pthread_mutex_unlock(&m->mu);
    return idle;
}

/* ---- Jobs: the requester's side ---- */

srv_job *srv_job_submit(srv_model *m, const srv_job_params *p, he_error *err) {
    if (m->emb) {
        he_fail(err, HE_INVALID, "'%s' is an %s model: it does not generate text", m->cfg.name,
                srv_model_kind_name(srv_model_kind_of(m)));
        return NULL;
    }
    if (!p || !p->prompt || p->n_prompt == 0) {
        he_fail(err, HE_INVALID, "the prompt is empty");
        return NULL;
    }
    if (p->n_prompt > (size_t)m->n_ctx_slot) {
        he_fail(err, HE_INVALID, "the prompt is %zu tokens, %zu more than the context size %d",
                p->n_prompt, p->n_prompt - (size_t)m->n_ctx_slot, m->n_ctx_slot);
        return NULL;
    }
    if (p->n_lora < 0 || p->n_lora > SRV_MAX_LORA) {
        he_fail(err, HE_INVALID, "lora: at most %d entries", SRV_MAX_LORA);
        return NULL;
    }
    for (int32_t i = 0; i < p->n_lora; i++) {
        if (p->lora_id[i] < 0 || p->lora_id[i] >= m->cfg.n_lora) {
            he_fail(err, HE_INVALID, "lora: id %d is out of range (the model has %d adapters)",
                    p->lora_id[i], m->cfg.n_lora);
            return NULL;
        }
        if (!isfinite(p->lora_req_scale[i]) || fabsf(p->lora_req_scale[i]) > 1e6f) {
            he_fail(err, HE_INVALID, "lora: scale of id %d is not a finite number", p->lora_id[i]);
            return NULL;
        }
    }
    for (size_t i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= m->n_vocab) {
            he_fail(err, HE_INVALID, "prompt token %zu: id %d is out of range [0, %d)", i,
                    p->prompt[i], m->n_vocab);
            return NULL;
        }
    if (p->n_stop < 0 || p->n_stop > 64 || (p->n_stop && !p->stop)) {
        he_fail(err, HE_INVALID, "stop: %d strings (at most 64)", p->n_stop);
        return NULL;
    }
    if (p->top_logprobs > SRV_MAX_TOP_LOGPROBS) {
        he_fail(err, HE_INVALID, "top_logprobs %d is more than %d", p->top_logprobs,
                SRV_MAX_TOP_LOGPROBS);
        return NULL;
    }
    if (p->grammar && !m->gvocab) {
        he_fail(err, HE_UNSUPPORTED, "grammar: the model has no tokenizer to match tokens against");
        return NULL;
    }
    if (p->grammar && p->lazy && (p->n_triggers <= 0 || p->n_triggers > 64 || !p->triggers)) {
        he_fail(err, HE_INVALID, "grammar: a lazy grammar needs 1 to 64 triggers, got %d", p->n_triggers);
        return NULL;
    }
    gram_matcher *gm = NULL;
    if (p->grammar) {
        gm = gram_matcher_new(p->grammar, m->gvocab, err);
        if (!gm) return NULL;
    }
    sample_chain *chain = sample_chain_new(&p->sampling, m->n_vocab, err);
    if (!chain) {
        gram_matcher_free(gm);
        return NULL;
    }
    srv_job *j = xcalloc(1, sizeof *j);
    j->chain = chain;
    for (int32_t i = 0; i < m->cfg.n_lora; i++)
        j->lora[i] = m->cfg.lora_scale[i];
    for (int32_t i = 0; i < p->n_lora; i++)
        j->lora[p->lora_id[i]] = p->lora_req_scale[i];
    if (gm) {
        j->gm = gm;
        j->gm_on = !p->lazy;
        if (p->lazy) {
            j->triggers = xcalloc((size_t)p->n_triggers, sizeof *j->triggers);
            for (int32_t i = 0; i < p->n_triggers; i++) {
                j->triggers[i] = xstrdup(p->triggers[i] ? p->triggers[i] : "");
                size_t tl = strlen(j->triggers[i]);
                if (tl > j->max_trigger) j->max_trigger = tl;
            }
            j->n_triggers = p->n_triggers;
            if (p->skip_open && p->skip_open[0] && p->skip_close && p->skip_close[0]) {
                j->skip_open = xstrdup(p->skip_open);
                j->skip_close = xstrdup(p->skip_close);
                j->in_skip = p->starts_in_skip;
                size_t ol = strlen(j->skip_open);
                if (ol > j->max_trigger) j->max_trigger = ol;
            }
        }
    }
    if (p->think_open && p->think_open[0] && p->think_close && p->think_close[0] &&
        strlen(p->think_open) < sizeof j->head && strlen(p->think_close) < sizeof j->tail) {
        j->think_open = xstrdup(p->think_open);
        j->think_close = xstrdup(p->think_close);
        j->in_think = p->starts_in_think;
        j->think_may_open = !p->starts_in_think;
        j->think_budget = p->think_budget;
        j->think_reserve = p->think_reserve > 0 ? p->think_reserve : 0;
    }
    j->fit = p->fit;
    j->prompt = he_malloc(p->n_prompt * sizeof(int32_t)); /* request-sized: fallible */
    if (!j->prompt) {
        job_destroy(j);
        he_fail(err, HE_NOMEM, "out of memory for a %zu-token prompt", p->n_prompt);
        return NULL;
    }
    memcpy(j->prompt, p->prompt, p->n_prompt * sizeof(int32_t));
    j->n_prompt = p->n_prompt;
    j->max_tokens = p->max_tokens;
    j->render_special = p->render_special;
    j->top_logprobs = p->top_logprobs < 0 ? -1 : p->top_logprobs;
    if (p->n_stop) {
        j->stop = xcalloc((size_t)p->n_stop, sizeof *j->stop);
        j->stop_len = xcalloc((size_t)p->n_stop, sizeof *j->stop_len);
        for (int32_t i = 0; i < p->n_stop; i++) {
            const char *s = p->stop[i] ? p->stop[i] : "";
            j->stop[j->n_stop] = xstrdup(s);
            j->stop_len[j->n_stop] = strlen(s);
            j->n_stop++;
        }
    }
    for (size_t i = 0; i < p->n_prompt; i++)
        sample_chain_accept(chain, p->prompt[i]);
    cond_init_mono(&j->cv);
    j->t_submit = now_ms();

    pthread_mutex_lock(&m->mu);
    int32_t free_slots = m->n_slots - m->n_busy;
    if (m->stop || m->n_queued >= m->cfg.max_queue + (free_slots > 0 ? free_slots : 0)) {
        int32_t q = m->n_queued;
        pthread_mutex_unlock(&m->mu);
        job_destroy(j); /* not the grammar: the caller keeps it on failure */
        he_fail(err, HE_LIMIT,
                "'%s': all %d slots are busy and %d requests are waiting (max_queue %d)",
                m->cfg.name, m->n_slots, q, m->cfg.max_queue);
        return NULL;
    }
    j->m = srv_model_retain(m);
    j->grammar = p->grammar; /* the job owns it from here */
    j->queued = true;
    if (m->q_tail)
        m->q_tail->qnext = j;
    else
        m->q_head = j;
    m->q_tail = j;
    m->n_queued++;
    m->t_active = now_ms();
    pthread_cond_signal(&m->work);
    pthread_mutex_unlock(&m->mu);
    return j;
}

int srv_job_next(srv_job *j, srv_event *ev, int timeout_ms) {
    srv_model *m = j->m;
    struct timespec dl;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&m->mu);
    if (j->finished_read) {
        pthread_mutex_unlock(&m->mu);
        return -1;
    }
    while (!j->ev_head) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&j->cv, &m->mu);
        } else if (pthread_cond_timedwait(&j->cv, &m->mu, &dl) == ETIMEDOUT && !j->ev_head) {
            pthread_mutex_unlock(&m->mu);
            return 1;
        }
    }
    ev_node *e = j->ev_head;
    j->ev_head = e->next;
    if (!j->ev_head) j->ev_tail = NULL;
    if (e->ev.kind != SRV_EV_TOKEN) j->finished_read = true;
    pthread_mutex_unlock(&m->mu);
    free(j->cur_text);
    j->cur_text = e->text;
    *ev = e->ev;
    free(e);
    return 0;
}

void srv_job_cancel(srv_job *j) {
    if (!j) return;
    srv_model *m = j->m;
    pthread_mutex_lock(&m->mu);
    if (j->queued) {
        /* never started: take it out of the queue and end it here */
        srv_job **pp = &m->q_head;
        srv_job *prev = NULL;
        while (*pp && *pp != j) {
            prev = *pp;
            pp = &(*pp)->qnext;
        }
        if (*pp) {
            *pp = j->qnext;
            if (m->q_tail == j) m->q_tail = prev;
            m->n_queued--;
        }
        j->queued = false;
        j->qnext = NULL;
        if (!j->ended) {
            job_post(j, ev_cancelled());
            j->ended = true;
        }
    }
    j->cancelled = true;
    pthread_cond_signal(&m->work);
    pthread_mutex_unlock(&m->mu);
}

void srv_job_free(srv_job *j) {
    if (!j) return;
    srv_model *m = j->m;
    srv_job_cancel(j);
    pthread_mutex_lock(&m->mu);
    bool now = !j->in_slot;
    if (!now) j->abandoned = true;
    pthread_mutex_unlock(&m->mu);
    if (now) job_destroy(j);
    srv_model_release(m);
}
