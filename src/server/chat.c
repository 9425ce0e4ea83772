/* chat.c — chat template lookup, cache and rendering (see chat.h). */
#include "server/chat.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/log.h"
#include "chat/jinja.h"
#include "gguf/gguf.h"

struct srv_chat {
    char *path;
    off_t size;
    struct timespec mtime;
    char *source;          /* template text, "" for the fallback */
    jinja_template *tmpl;  /* NULL: ChatML fallback */
    bool override;         /* source is a store template override, not the GGUF's */
    bool no_system;        /* the template raises on a system message (Gemma 2's does) */
    char *bos, *eos;       /* texts of the vocab's special tokens ("" when none) */
    struct srv_chat *next;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct srv_chat *cache;

static char *special_text(const tok_vocab *v, int32_t id) {
    const char *t = v && id >= 0 ? tok_text(v, id) : NULL;
    return xstrdup(t ? t : "");
}

/* Whether the template refuses a system message (Gemma's raise "System role not supported"):
 * rendered once per template with a two-message probe, so that the server can put what it
 * would have said in a system message (tool instructions) into the first user turn instead.
 * A template that fails on the probe for another reason is treated as accepting one: its real
 * requests then fail with the template's own message, as before. */
static void probe_system(struct srv_chat *c) {
    json_t *with = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content", "s", "role", "user",
                             "content", "u");
    json_t *without = json_pack("[{s:s,s:s}]", "role", "user", "content", "u");
    he_error e = {0};
    size_t n;
    char *a = with ? srv_chat_render(c, with, NULL, NULL, &n, &e) : NULL;
    char *b = a || !without ? NULL : srv_chat_render(c, without, NULL, NULL, &n, &e);
    c->no_system = !a && b;
    free(a);
    free(b);
    json_decref(with);
    json_decref(without);
}

static struct srv_chat *chat_load(const char *path, const struct stat *st, const tok_vocab *v, he_error *err) {
    gguf_file *f = gguf_open(path, err);
    if (!f) return NULL;
    struct srv_chat *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    c->size = st->st_size;
    c->mtime = st->st_mtim;
    c->bos = special_text(v, v ? tok_bos(v) : -1);
    c->eos = special_text(v, v ? tok_eos(v) : -1);
    gguf_str s;
    he_error e2;
    if (gguf_find_str(f, "tokenizer.chat_template", &s, &e2) == 1 && s.len > 0) {
        c->source = xstrndup(s.ptr, s.len);
        c->tmpl = jinja_parse(c->source, s.len, err);
        if (!c->tmpl) {
            he_prefix(err, "%s: tokenizer.chat_template", path);
            gguf_close(f);
            free(c->source), free(c->path), free(c->bos), free(c->eos), free(c);
            return NULL;
        }
        log_info("serve: %s: using the model's chat template (%zu bytes)", path, (size_t)s.len);
        probe_system(c);
    } else {
        c->source = xstrdup("");
        log_warn("serve: %s has no tokenizer.chat_template; using the ChatML fallback", path);
    }
    gguf_close(f);
    return c;
}

const srv_chat *srv_chat_get(const char *path, const tok_vocab *v, he_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        he_fail(err, HE_IO, "%s: cannot stat the model file", path);
        return NULL;
    }
    pthread_mutex_lock(&cache_mu);
    for (struct srv_chat *c = cache; c; c = c->next)
        if (!c->override && !strcmp(c->path, path) && c->size == st.st_size && c->mtime.tv_sec == st.st_mtim.tv_sec &&
            c->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            pthread_mutex_unlock(&cache_mu);
            return c;
        }
    struct srv_chat *c = chat_load(path, &st, v, err);
    if (c) {
        c->next = cache;
        cache = c;
    }
    pthread_mutex_unlock(&cache_mu);
    return c;
}

const srv_chat *srv_chat_for(const char *path, const char *override_source, const tok_vocab *v, he_error *err) {
    if (!override_source) return srv_chat_get(path, v, err);
    pthread_mutex_lock(&cache_mu);
    for (struct srv_chat *c = cache; c; c = c->next)
        if (c->override && !strcmp(c->path, path) && !strcmp(c->source, override_source)) {
            pthread_mutex_unlock(&cache_mu);
            return c;
        }
    size_t n = strlen(override_source);
    jinja_template *t = jinja_parse(override_source, n, err);
    if (!t) {
        pthread_mutex_unlock(&cache_mu);
        he_prefix(err, "%s: the store's chat template override", path);
        return NULL;
    }
    struct srv_chat *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    c->override = true;
    c->source = xstrdup(override_source);
    c->tmpl = t;
    c->bos = special_text(v, v ? tok_bos(v) : -1);
    c->eos = special_text(v, v ? tok_eos(v) : -1);
    probe_system(c);
    c->next = cache;
    cache = c;
    pthread_mutex_unlock(&cache_mu);
    log_info("serve: %s: using the store's chat template override (%zu bytes)", path, n);
    return c;
}

void srv_chat_cache_clear(void) {
    pthread_mutex_lock(&cache_mu);
    while (cache) {
        struct srv_chat *c = cache;
        cache = c->next;
        jinja_free(c->tmpl);
        free(c->source), free(c->path), free(c->bos), free(c->eos), free(c);
    }
    pthread_mutex_unlock(&cache_mu);
}

bool srv_chat_is_fallback(const srv_chat *c) { return c->tmpl == NULL; }

bool srv_chat_refuses_system(const srv_chat *c) { return c->no_system; }
const char *srv_chat_source(const srv_chat *c) { return c->source; }

/* The fallback's prompt being built: text plus the ranges that are request data. The prompt
 * grows with the request's messages, so growth is fallible: on failure everything is freed and
 * `failed` set; later adds do nothing and the render returns NULL (HE_NOMEM). */
typedef struct {
    char *b;
    size_t n, cap;
    tok_range *sp;
    size_t nsp, capsp;
    bool failed;
} chatml_buf;

static void buf_fail(chatml_buf *o) {
    free(o->b);
    free(o->sp);
    *o = (chatml_buf){.failed = true};
}

static void buf_add(chatml_buf *o, const char *s, size_t n) {
    if (o->failed) return;
    if (o->n + n + 1 > o->cap) {
        size_t c = o->cap;
        while (o->n + n + 1 > c) c = c ? c * 2 : 256;
        char *nb = he_realloc(o->b, c);
        if (!nb) {
            buf_fail(o);
            return;
        }
        o->b = nb;
        o->cap = c;
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
    o->b[o->n] = 0;
}

static void buf_str(chatml_buf *o, const char *s) { buf_add(o, s, strlen(s)); }

/* request data: its bytes are never read as control tokens */
static void buf_user(chatml_buf *o, const char *s, size_t n) {
    size_t at = o->n;
    buf_add(o, s, n);
    if (n == 0 || o->failed) return;
    if (o->nsp && o->sp[o->nsp - 1].end == at) {
        o->sp[o->nsp - 1].end = o->n;
        return;
    }
    if (o->nsp == o->capsp) {
        size_t c = o->capsp ? o->capsp * 2 : 16;
        tok_range *ns = he_realloc(o->sp, c * sizeof *ns);
        if (!ns) {
            buf_fail(o);
            return;
        }
        o->sp = ns;
        o->capsp = c;
    }
    o->sp[o->nsp++] = (tok_range){at, o->n};
}

static void buf_json(chatml_buf *o, const json_t *j) {
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (t) buf_user(o, t, strlen(t));
    else buf_fail(o); /* j could not be built or dumped: out of memory */
    free(t);
}

/* <|im_start|>role\ncontent<|im_end|>\n ... <|im_start|>assistant\n. Tools go in a first
 * system turn that asks for the generic JSON form; earlier calls are written in that form. */
static char *render_chatml(const json_t *messages, const json_t *tools, size_t *len, tok_range **user,
                           size_t *n_user) {
    chatml_buf o = {0};
    size_t i;
    json_t *m;
    if (tools && json_array_size(tools) > 0) {
        buf_str(&o, "<|im_start|>system\nYou can call these tools:\n");
        buf_json(&o, tools);
        buf_str(&o,
                "\nTo call tools, answer with only a JSON object: {\"tool_calls\": [{\"name\": <tool name>, "
                "\"arguments\": <arguments object>}]}<|im_end|>\n");
    }
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        buf_str(&o, "<|im_start|>");
        if (role)
            buf_user(&o, role, strlen(role));
        else
            buf_str(&o, "user");
        buf_str(&o, "\n");
        if (json_is_string(content)) buf_user(&o, json_string_value(content), json_string_length(content));
        json_t *calls = json_object_get(m, "tool_calls");
        if (json_array_size(calls) > 0) {
            json_t *w = json_pack("{s:[]}", "tool_calls");
            size_t k;
            json_t *c;
            json_array_foreach(calls, k, c) {
                json_t *fn = json_object_get(c, "function");
                json_t *nm = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
                json_array_append_new(json_object_get(w, "tool_calls"),
                                      json_pack("{s:O?, s:O?}", "name", nm, "arguments", args));
            }
            buf_json(&o, w);
            json_decref(w);
        }
        buf_str(&o, "<|im_end|>\n");
    }
    buf_str(&o, "<|im_start|>assistant\n");
    if (o.failed) return NULL;
    *len = o.n;
    if (user) {
        *user = o.sp;
        *n_user = o.nsp;
    } else {
        free(o.sp);
    }
    return o.b;
}

char *srv_chat_render(const srv_chat *c, const json_t *messages, const json_t *tools, const json_t *kwargs,
                      size_t *len, he_error *err) {
    return srv_chat_render_spans(c, messages, tools, kwargs, len, NULL, NULL, err);
}

char *srv_chat_render_spans(const srv_chat *c, const json_t *messages, const json_t *tools, const json_t *kwargs,
                            size_t *len, tok_range **user, size_t *n_user, he_error *err) {
    if (user) {
        *user = NULL;
        *n_user = 0;
    }
    if (!c->tmpl) {
        char *out = render_chatml(messages, tools, len, user, n_user);
        if (!out) he_fail(err, HE_NOMEM, "chat template: out of memory");
        return out;
    }
    unsigned long failed = he_alloc_failures(); /* jansson drops what it cannot store */
    json_t *ctx = json_object();
    if (kwargs) json_object_update(ctx, (json_t *)kwargs);
    json_object_set(ctx, "messages", (json_t *)messages);
    json_object_set_new(ctx, "add_generation_prompt", json_true());
    json_object_set_new(ctx, "bos_token", json_string(c->bos));
    json_object_set_new(ctx, "eos_token", json_string(c->eos));
    if (tools) json_object_set(ctx, "tools", (json_t *)tools);
    if (!ctx || he_alloc_failures() != failed) {
        json_decref(ctx);
        he_fail(err, HE_NOMEM, "chat template: out of memory");
        return NULL;
    }
    /* everything but the vocab's own BOS/EOS texts came with the request */
    static const char *const trusted[] = {"bos_token", "eos_token", NULL};
    jinja_options opt = {.mark_user = true, .trusted = trusted};
    jinja_span *sp = NULL;
    size_t nsp = 0;
    char *out = jinja_render_spans(c->tmpl, ctx, &opt, len, user ? &sp : NULL, &nsp, err);
    json_decref(ctx);
    if (!out) he_prefix(err, "chat template");
    if (out && user && nsp) {
        /* same layout, but the modules do not share a type */
        *user = he_malloc(nsp * sizeof **user);
        if (!*user) {
            free(sp);
            free(out);
            he_fail(err, HE_NOMEM, "chat template: out of memory");
            return NULL;
        }
        for (size_t i = 0; i < nsp; i++)
            (*user)[i] = (tok_range){sp[i].start, sp[i].end};
        *n_user = nsp;
    }
    free(sp);
    return out;
}

int srv_prompt_tokens(const tok_vocab *v, const char *text, size_t len, int32_t **out, size_t *n_out, he_error *err) {
    return srv_prompt_tokens_spans(v, text, len, NULL, 0, out, n_out, err);
}

int srv_prompt_tokens_spans(const tok_vocab *v, const char *text, size_t len, const tok_range *user, size_t n_user,
                            int32_t **out, size_t *n_out, he_error *err) {
    int32_t *toks = NULL;
    size_t n = 0;
    if (tok_encode_spans(v, text, len, user, n_user, false, true, &toks, &n, err)) return -1;
    int32_t bos = tok_bos(v);
    bool add = tok_add_bos(v) && bos >= 0 && !(n > 0 && toks[0] == bos);
    if (add) {
        int32_t *t = he_malloc((n + 1) * sizeof *t);
        if (!t) {
            free(toks);
            return he_fail(err, HE_NOMEM, "prompt: out of memory");
        }
        t[0] = bos;
        if (n) memcpy(t + 1, toks, n * sizeof *t);
        free(toks);
        toks = t;
        n++;
    }
    *out = toks;
    *n_out = n;
    return 0;
}
