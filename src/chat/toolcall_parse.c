/* toolcall_parse.c — splitting what a model wrote into content, reasoning and tool calls, in
 * each family's format, incrementally.
 *
 * One scanner serves both tc_parse (one feed, final) and tc_stream (many feeds). It keeps all
 * text fed so far and a position up to which everything has been decided; each step decides
 * only what the text seen so far settles, and otherwise waits for more (or, on the final feed,
 * takes the end of text as the answer). So the deltas of any chunking add up to the same
 * result as one whole feed.
 *
 * Content mode looks for the family's call openers ("<tool_call>", "[TOOL_CALLS]", ...);
 * text that could still be the start of one is held back. At an opener, the family's handler
 * parses the call with a JSON scanner (so "</tool_call>" inside a string is just text) and
 * says OK (calls found, text consumed), NEED (undecided yet) or BAD (left in content:
 * malformed or truncated calls are never dropped). Whitespace between content and calls, and
 * after a reasoning block, is dropped; a whitespace run is emitted only once non-space text
 * follows it. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "chat/toolcall.h"
#include "chat/toolcall_internal.h"

#define TC_STREAM_MAX ((size_t)64 << 20) /* the most output text one stream takes */

/* Opener kinds (anywhere in content). */
enum {
    OP_HERMES,     /* <tool_call> {json} </tool_call> */
    OP_PYTAG,      /* <|python_tag|> {json}; {json} | code */
    OP_MISTRAL,    /* [TOOL_CALLS] [{json}, ...] | name[ARGS]{json} */
    OP_DS_CALLS,   /* <｜tool▁calls▁begin｜> then a call */
    OP_DS_CALL,    /* <｜tool▁call▁begin｜>type<｜tool▁sep｜>name\n```json\n{json}\n```<｜tool▁call▁end｜> */
    OP_DS_END,     /* <｜tool▁calls▁end｜> right after a call: dropped */
    OP_FUNC31,     /* <function=name>{json}</function> */
    OP_V32,        /* >>>recipient\n... */
    OP_R7B_ACTION, /* <|START_ACTION|>[{json}, ...]<|END_ACTION|> */
    OP_DROP        /* a marker that is neither content nor call (<|START_RESPONSE|>) */
};

#define DS_CALLS_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALLS_END "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_CALL_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define DS_CALL_END "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define DS_SEP "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>"

typedef struct {
    const char *text;
    int kind;
} opener;

typedef struct {
    char *name, *args;
} pending_call;

enum { M_CONTENT, M_REASON };
enum { HK_CONTENT, HK_REASON }; /* Harmony message bodies */
enum { S_CONT, S_WAIT, S_NONE }; /* step results: progress made / need more text / not applicable */
enum { H_OK, H_NEED, H_BAD };    /* handler results */

struct tc_stream {
    tc_family f;
    tc_reasoning r;
    bool parse_calls;
    char *buf;
    size_t len, cap, pos;
    long long base; /* bytes dropped from the front of buf */
    int mode;
    bool boundary;     /* whitespace here is dropped (start, after a call or reasoning) */
    bool at_start;     /* no content yet: start-only openers may match */
    bool after_call;   /* the last thing decided was a call */
    bool reason_fresh; /* inside reasoning, nothing emitted yet */
    bool v32_started;  /* Functionary v3.2: the first recipient was looked at */
    bool done;
    const char *think_open, *think_close;
    opener ops[6];
    int n_ops;
    int n_calls;
    long long opener_at;
    long long need_at, need_len; /* the last opener a handler could not decide, and the text
                                  * length then (absolute offsets) */
    pending_call *pend;
    int n_pend, cap_pend;
    tc_delta_fn fn;
    void *user;
    /* Eager argument streaming (tc_stream_set_eager): the calls of the undecided block at
     * eager_at (absolute), announced as their arguments begin; scan is where the next call's
     * text is looked for (absolute). */
    bool eager;
    long long eager_at, eager_scan;
    struct eager_call {
        char id[30];
        char *args; /* compacted arguments streamed so far */
        size_t n_args;
        long long at; /* absolute offset of the next byte of arguments to look at */
        int depth;
        bool in_str, esc, done;
    } * ec;
    int n_ec, cap_ec;
    char code_tool[65]; /* the tool raw <|python_tag|> / python code calls are named */
    /* Harmony (step_harmony): inside a message body (else at a message header), and what the
     * body is */
    bool h_in_body;
    int h_kind;
    long long h_not_header; /* absolute offset of a header start found not to be one */
};

/* A view of the text for one step: t[0, n), final = nothing more will come. */
typedef struct {
    const char *t;
    size_t n;
    bool final;
} cur;

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':';
}

static size_t skip_ws(const cur *c, size_t p) {
    while (p < c->n && is_ws(c->t[p])) p++;
    return p;
}

/* Is the literal s at p? L_YES (p advanced), L_NO, or L_NEED (the text ends inside a prefix
 * of s; never on the final feed). */
enum { L_YES, L_NO, L_NEED };
static int lit(const cur *c, size_t *p, const char *s) {
    size_t m = strlen(s), have = c->n - *p;
    if (have >= m) {
        if (memcmp(c->t + *p, s, m)) return L_NO;
        *p += m;
        return L_YES;
    }
    if (memcmp(c->t + *p, s, have)) return L_NO;
    return c->final ? L_NO : L_NEED;
}

/* A JSON object or array (open is '{' or '[') at *p; on H_OK *p is past it. */
static int json_at(const cur *c, size_t *p, char open) {
    if (*p >= c->n) return c->final ? H_BAD : H_NEED;
    if (c->t[*p] != open) return H_BAD;
    int r = tcj_scan_value(c->t, c->n, p);
    if (r == TCJ_OK) return H_OK;
    if (r == TCJ_NEED && !c->final) return H_NEED;
    return H_BAD;
}

/* ---- Building calls ---- */

static bool valid_name(const char *name, size_t len) {
    if (!len || len > 256) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == '<' || name[i] == '>') return false;
    return true;
}

/* Adds a call (takes args); false (args freed) when the name is empty, too long or holds
 * control characters or markup. */
static bool push_call(tc_stream *s, const char *name, size_t name_len, char *args) {
    if (!valid_name(name, name_len)) {
        free(args);
        return false;
    }
    if (s->n_pend == s->cap_pend) {
        s->cap_pend = s->cap_pend ? 2 * s->cap_pend : 4;
        s->pend = xrealloc(s->pend, (size_t)s->cap_pend * sizeof *s->pend);
    }
    s->pend[s->n_pend].name = xstrndup(name, name_len);
    s->pend[s->n_pend].args = args;
    s->n_pend++;
    return true;
}

static void eager_reset(tc_stream *s);

static void clear_pending(tc_stream *s) {
    for (int i = 0; i < s->n_pend; i++) {
        free(s->pend[i].name);
        free(s->pend[i].args);
    }
    s->n_pend = 0;
}

static json_t *load(const char *t, size_t n) {
    json_error_t je;
    return json_loadb(t, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES, &je);
}

/* Arguments text from a JSON object's text t[0, n): validated, compacted. NULL if not an object. */
static char *args_from_object_text(const char *t, size_t n) {
    size_t p = 0;
    while (p < n && is_ws(t[p])) p++;
    size_t s0 = p;
    if (p >= n || t[p] != '{' || tcj_scan_value(t, n, &p) != TCJ_OK) return NULL;
    size_t e = p;
    while (p < n && is_ws(t[p])) p++;
    if (p != n) return NULL;
    json_t *o = load(t + s0, e - s0);
    bool ok = o && json_is_object(o);
    json_decref(o);
    return ok ? tcj_compact(t + s0, e - s0) : NULL;
}


/* Finds the value of key `key` among the members of the valid object t[os, oe): its span. */
static bool find_member(const char *t, size_t os, size_t oe, const char *key, size_t *vs, size_t *ve) {
    size_t p = os + 1, klen = strlen(key);
    for (;;) {
        while (p < oe && is_ws(t[p])) p++;
        if (p >= oe || t[p] != '"') return false;
        size_t ks = p;
        if (tcj_scan_value(t, oe, &p) != TCJ_OK) return false;
        bool match = false;
        if (p - ks - 2 == klen && !memchr(t + ks, '\\', p - ks)) {
            match = !memcmp(t + ks + 1, key, klen);
        } else if (memchr(t + ks, '\\', p - ks)) {
            json_t *k = load(t + ks, p - ks);
            match = json_is_string(k) && json_string_length(k) == klen && !memcmp(json_string_value(k), key, klen);
            json_decref(k);
        }
        while (p < oe && is_ws(t[p])) p++;
        p++; /* ':' */
        while (p < oe && is_ws(t[p])) p++;
        size_t v0 = p;
        if (tcj_scan_value(t, oe, &p) != TCJ_OK) {
            /* a top-level-number-like value ends at the object's end: find its end by hand */
            while (p < oe && !is_ws(t[p]) && t[p] != ',' && t[p] != '}') p++;
        }
        if (match) {
            *vs = v0;
            *ve = p;
            return true;
        }
        while (p < oe && is_ws(t[p])) p++;
        if (p >= oe || t[p] != ',') return false;
        p++;
    }
}

/* A call from the object t[os, oe) whose name is under name_key and whose arguments are under
 * "arguments" or "parameters" (an object, a string holding an object, or absent/null: {}). */
static bool call_from_object(tc_stream *s, const char *t, size_t os, size_t oe, const char *name_key) {
    json_t *o = load(t + os, oe - os);
    bool ok = false;
    if (!json_is_object(o)) goto done;
    json_t *nm = json_object_get(o, name_key);
    if (!json_is_string(nm)) goto done;
    const char *akey = json_object_get(o, "arguments") ? "arguments" : "parameters";
    json_t *a = json_object_get(o, akey);
    char *args = NULL;
    if (!a || json_is_null(a)) {
        args = xstrdup("{}");
    } else if (json_is_object(a)) {
        size_t vs, ve;
        if (!find_member(t, os, oe, akey, &vs, &ve)) goto done;
        args = tcj_compact(t + vs, ve - vs);
    } else if (json_is_string(a)) {
        args = args_from_object_text(json_string_value(a), json_string_length(a));
    }
    if (!args) goto done;
    ok = push_call(s, json_string_value(nm), json_string_length(nm), args);
done:
    json_decref(o);
    return ok;
}

/* A call whose arguments are code: {"code": "..."}. */
static bool call_code(tc_stream *s, const char *name, const char *code, size_t n) {
    while (n && is_ws(code[n - 1])) n--;
    json_t *str = json_stringn(code, n);
    if (!str) return false;
    json_t *o = json_object();
    json_object_set_new(o, "code", str);
    char *args = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!args) return false;
    bool ok = push_call(s, name, strlen(name), xstrdup(args));
    free(args);
    return ok;
}

/* ---- Family handlers: each parses from p (just past the opener) ---- */

/* Skips whitespace and the closer; a missing closer is accepted only at the end of the text. */
static int closer(const cur *c, size_t *p, const char *cl) {
    size_t q = skip_ws(c, *p);
    int r = lit(c, &q, cl);
    if (r == L_YES) {
        *p = q;
        return H_OK;
    }
    if (r == L_NEED) return H_NEED;
    if (q == c->n) {
        *p = q;
        return H_OK;
    }
    return H_BAD;
}

/* One or more JSON call objects separated by ';' or whitespace (Llama 3), p at the first '{'.
 * The first must be a call; a later object that is not one ends the run (it stays content). */
static int llama_calls(tc_stream *s, const cur *c, size_t p, size_t *end) {
    bool first = true;
    for (;;) {
        size_t os = p;
        int r = json_at(c, &p, '{');
        if (r == H_NEED) return H_NEED;
        if (r == H_BAD || !call_from_object(s, c->t, os, p, "name")) {
            if (first) return H_BAD;
            return H_OK; /* *end already past the last call */
        }
        first = false;
        *end = p;
        size_t q = skip_ws(c, p);
        if (q < c->n && c->t[q] == ';') q = skip_ws(c, q + 1);
        if (q >= c->n) return c->final ? H_OK : H_NEED;
        if (c->t[q] != '{') return H_OK;
        p = q;
    }
}

/* Llama 3.1's built-in tool call, t[p, n) the whole rest of the output (after
 * <|python_tag|>, <|eom_id|> removed): NAME.call(key="value", ...) with Python string values
 * (escapes \\ \" \' \n \t \r). Arguments {"key": "value", ...}. false when it is not that. */
static bool builtin_call(tc_stream *s, const char *t, size_t p, size_t n) {
    while (n > p && is_ws(t[n - 1])) n--;
    size_t ns = p;
    while (p < n && ((t[p] >= 'a' && t[p] <= 'z') || (t[p] >= 'A' && t[p] <= 'Z') || (t[p] >= '0' && t[p] <= '9') ||
                     t[p] == '_' || t[p] == '-'))
        p++;
    size_t ne = p;
    if (ne == ns || ne - ns > 64 || n - p < 7 || memcmp(t + p, ".call(", 6) || t[n - 1] != ')') return false;
    char nm[65];
    memcpy(nm, t + ns, ne - ns);
    nm[ne - ns] = 0;
    if (!tc_is_builtin(TC_LLAMA3, nm) || !strcmp(nm, "code_interpreter")) return false; /* other code */
    p += 6;
    n--; /* the closing ')' */
    json_t *o = json_object();
    bool ok = true;
    while (ok) {
        while (p < n && t[p] == ' ') p++;
        if (p >= n) break;
        size_t ks = p;
        while (p < n && ((t[p] >= 'a' && t[p] <= 'z') || (t[p] >= 'A' && t[p] <= 'Z') || (t[p] >= '0' && t[p] <= '9') ||
                         t[p] == '_'))
            p++;
        if (p == ks || p >= n || t[p] != '=') {
            ok = false;
            break;
        }
        size_t ke = p++;
        char q = p < n ? t[p] : 0;
        if (q != '"' && q != '\'') {
            ok = false;
            break;
        }
        p++;
        char *v = xmalloc(n - p + 1);
        size_t vl = 0;
        bool closed = false;
        while (p < n) {
            char ch = t[p++];
            if (ch == q) {
                closed = true;
                break;
            }
            if (ch == '\\' && p < n) {
                char e = t[p++];
                ch = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
                if (e != 'n' && e != 't' && e != 'r' && e != '\\' && e != '"' && e != '\'') v[vl++] = '\\';
            }
            v[vl++] = ch;
        }
        char key[65];
        if (!closed || ke - ks > 64) {
            free(v);
            ok = false;
            break;
        }
        memcpy(key, t + ks, ke - ks);
        key[ke - ks] = 0;
        json_t *str = json_stringn(v, vl);
        free(v);
        if (!str || json_object_get(o, key)) { /* invalid UTF-8, or a repeated key */
            json_decref(str);
            ok = false;
            break;
        }
        json_object_set_new(o, key, str);
        while (p < n && t[p] == ' ') p++;
        if (p < n && t[p] == ',') p++;
        else if (p < n) ok = false;
    }
    char *args = ok ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!args) return false;
    ok = push_call(s, t + ns, ne - ns, xstrdup(args));
    free(args);
    return ok;
}

static int h_code_or_json(tc_stream *s, const cur *c, size_t p, size_t *end) {
    p = skip_ws(c, p);
    if (p >= c->n) return c->final ? H_BAD : H_NEED;
    if (c->t[p] == '{') return llama_calls(s, c, p, end);
    /* a built-in tool call or code runs to the end of the output */
    if (!c->final) return H_NEED;
    size_t n = c->n;
    const char *eom = "<|eom_id|>";
    if (n - p >= strlen(eom) && !memcmp(c->t + n - strlen(eom), eom, strlen(eom))) n -= strlen(eom);
    if (s->f == TC_LLAMA3 && builtin_call(s, c->t, p, n)) {
        *end = c->n;
        return H_OK;
    }
    if (!call_code(s, s->code_tool, c->t + p, n - p)) return H_BAD;
    *end = c->n;
    return H_OK;
}

static int h_hermes(tc_stream *s, const cur *c, size_t p, size_t *end) {
    p = skip_ws(c, p);
    size_t os = p;
    int r = json_at(c, &p, '{');
    if (r != H_OK) return r;
    if (!call_from_object(s, c->t, os, p, "name")) return H_BAD;
    r = closer(c, &p, "</tool_call>");
    *end = p;
    return r;
}

static int h_array_calls(tc_stream *s, const cur *c, size_t *p, const char *name_key) {
    size_t as = *p;
    int r = json_at(c, p, '[');
    if (r != H_OK) return r;
    size_t q = as + 1, ae = *p;
    int n = 0;
    for (;;) {
        while (q < ae && is_ws(c->t[q])) q++;
        if (c->t[q] == ']') break;
        size_t os = q;
        if (c->t[q] != '{' || tcj_scan_value(c->t, ae, &q) != TCJ_OK) return H_BAD;
        if (!call_from_object(s, c->t, os, q, name_key)) return H_BAD;
        n++;
        while (q < ae && is_ws(c->t[q])) q++;
        if (c->t[q] == ',') q++;
    }
    return n ? H_OK : H_BAD;
}

static int h_mistral(tc_stream *s, const cur *c, size_t p, size_t *end) {
    p = skip_ws(c, p);
    if (p >= c->n) return c->final ? H_BAD : H_NEED;
    if (c->t[p] == '[') {
        int r = h_array_calls(s, c, &p, "name");
        *end = p;
        return r;
    }
    /* newer Mistral: [TOOL_CALLS]name[ARGS]{json} */
    size_t ns = p;
    while (p < c->n && p - ns <= 256 && is_name_char(c->t[p])) p++;
    if (p == ns || p - ns > 256) return H_BAD;
    size_t ne = p;
    int l = lit(c, &p, "[ARGS]");
    if (l != L_YES) return l == L_NEED ? H_NEED : H_BAD;
    size_t os = p;
    int r = json_at(c, &p, '{');
    if (r != H_OK) return r;
    char *args = args_from_object_text(c->t + os, p - os);
    if (!args) return H_BAD;
    if (!push_call(s, c->t + ns, ne - ns, args)) return H_BAD;
    *end = p;
    return H_OK;
}

/* Text up to `stop` within max bytes from p: H_OK with *e at stop's start. */
static int until(const cur *c, size_t p, const char *stop, size_t max, size_t *e) {
    size_t m = strlen(stop);
    for (size_t i = p; i < c->n && i - p <= max; i++) {
        if (c->n - i >= m ? !memcmp(c->t + i, stop, m) : false) {
            *e = i;
            return H_OK;
        }
    }
    if (c->n - p <= max + m && !c->final) return H_NEED;
    return H_BAD;
}

static int h_ds_call(tc_stream *s, const cur *c, size_t p, size_t *end) {
    size_t e;
    int r = until(c, p, DS_SEP, 64, &e); /* the call type, "function" */
    if (r != H_OK) return r;
    p = e + strlen(DS_SEP);
    r = until(c, p, "\n", 256, &e);
    if (r != H_OK) return r;
    size_t ns = p, ne = e;
    while (ns < ne && is_ws(c->t[ns])) ns++;
    while (ne > ns && is_ws(c->t[ne - 1])) ne--;
    if (ne == ns || memchr(c->t + ns, '<', ne - ns) || memchr(c->t + ns, '`', ne - ns)) return H_BAD;
    p = skip_ws(c, e);
    int l = lit(c, &p, "```json");
    if (l == L_NO) l = lit(c, &p, "```");
    if (l == L_NEED) return H_NEED;
    p = skip_ws(c, p);
    size_t os = p;
    r = json_at(c, &p, '{');
    if (r != H_OK) return r;
    char *args = args_from_object_text(c->t + os, p - os);
    if (!args) return H_BAD;
    if (!push_call(s, c->t + ns, ne - ns, args)) return H_BAD;
    size_t q = skip_ws(c, p);
    l = lit(c, &q, "```");
    if (l == L_NEED) return H_NEED;
    q = skip_ws(c, q);
    l = lit(c, &q, DS_CALL_END);
    if (l == L_NEED) return H_NEED;
    if (l == L_YES || q == c->n) {
        *end = q;
        return H_OK;
    }
    size_t q2 = q;
    l = lit(c, &q2, DS_CALLS_END); /* left for OP_DS_END to drop */
    if (l == L_NEED) return H_NEED;
    if (l == L_YES) {
        *end = q;
        return H_OK;
    }
    return H_BAD;
}

static int h_ds_calls(tc_stream *s, const cur *c, size_t p, size_t *end) {
    p = skip_ws(c, p);
    int l = lit(c, &p, DS_CALL_BEGIN);
    if (l != L_YES) return l == L_NEED ? H_NEED : H_BAD;
    return h_ds_call(s, c, p, end);
}

static int h_func31(tc_stream *s, const cur *c, size_t p, size_t *end) {
    size_t ns = p;
    while (p < c->n && p - ns <= 256 && is_name_char(c->t[p])) p++;
    if (p >= c->n) return c->final || p - ns > 256 ? H_BAD : H_NEED;
    if (p == ns || c->t[p] != '>') return H_BAD;
    size_t ne = p++;
    p = skip_ws(c, p);
    size_t os = p;
    int r = json_at(c, &p, '{');
    if (r != H_OK) return r;
    char *args = args_from_object_text(c->t + os, p - os);
    if (!args) return H_BAD;
    if (!push_call(s, c->t + ns, ne - ns, args)) return H_BAD;
    r = closer(c, &p, "</function>");
    *end = p;
    return r;
}

/* Functionary v3.2: "recipient\n" then content (recipient "all") or the call's arguments. */
static int h_v32(tc_stream *s, const cur *c, size_t p, size_t *end) {
    size_t ns = p;
    while (p < c->n && p - ns <= 128 && is_name_char(c->t[p])) p++;
    if (p >= c->n) return c->final || p - ns > 128 ? H_BAD : H_NEED;
    if (p == ns || c->t[p] != '\n') return H_BAD;
    size_t ne = p++;
    if (ne - ns == 3 && !memcmp(c->t + ns, "all", 3)) {
        *end = p;
        return H_OK;
    }
    if (!s->parse_calls) return H_BAD;
    p = skip_ws(c, p);
    if (p >= c->n) return c->final ? H_BAD : H_NEED;
    if (c->t[p] == '{') {
        size_t os = p;
        int r = json_at(c, &p, '{');
        if (r != H_OK) return r;
        char *args = args_from_object_text(c->t + os, p - os);
        if (!args) return H_BAD;
        if (!push_call(s, c->t + ns, ne - ns, args)) return H_BAD;
        *end = p;
        return H_OK;
    }
    if (ne - ns == 6 && !memcmp(c->t + ns, "python", 6)) {
        const char *hit = NULL;
        for (size_t i = p; i + 3 <= c->n && !hit; i++)
            if (!memcmp(c->t + i, ">>>", 3)) hit = c->t + i;
        if (!hit && !c->final) return H_NEED;
        size_t e = hit ? (size_t)(hit - c->t) : c->n;
        if (!call_code(s, s->code_tool, c->t + p, e - p)) return H_BAD;
        *end = e;
        return H_OK;
    }
    return H_BAD;
}

static int h_r7b(tc_stream *s, const cur *c, size_t p, size_t *end) {
    p = skip_ws(c, p);
    int r = h_array_calls(s, c, &p, "tool_name");
    if (r != H_OK) return r;
    r = closer(c, &p, "<|END_ACTION|>");
    *end = p;
    return r;
}

static int handle(tc_stream *s, const cur *c, int kind, size_t p, size_t *end) {
    switch (kind) {
    case OP_HERMES: return h_hermes(s, c, p, end);
    case OP_PYTAG: return h_code_or_json(s, c, p, end);
    case OP_MISTRAL: return h_mistral(s, c, p, end);
    case OP_DS_CALLS: return h_ds_calls(s, c, p, end);
    case OP_DS_CALL: return h_ds_call(s, c, p, end);
    case OP_DS_END:
        *end = p;
        return s->after_call ? H_OK : H_BAD;
    case OP_FUNC31: return h_func31(s, c, p, end);
    case OP_V32: return h_v32(s, c, p, end);
    case OP_R7B_ACTION: return h_r7b(s, c, p, end);
    case OP_DROP: *end = p; return H_OK;
    }
    return H_BAD;
}

/* ---- The stream ---- */

static void add_op(tc_stream *s, const char *text, int kind) {
    s->ops[s->n_ops].text = text;
    s->ops[s->n_ops].kind = kind;
    s->n_ops++;
}

tc_stream *tc_stream_new(tc_family f, const tc_reasoning *r, bool parse_calls) {
    tc_stream *s = xcalloc(1, sizeof *s);
    s->f = (unsigned)f < TC_N_FAMILIES ? f : TC_GENERIC;
    if (r) s->r = *r;
    s->parse_calls = parse_calls;
    s->boundary = s->at_start = true;
    s->opener_at = s->need_at = s->eager_at = s->h_not_header = -1;
    strcpy(s->code_tool, "python");
    if (s->f == TC_COMMAND_R7B) {
        s->think_open = "<|START_THINKING|>";
        s->think_close = "<|END_THINKING|>";
        add_op(s, "<|START_RESPONSE|>", OP_DROP);
        add_op(s, "<|END_RESPONSE|>", OP_DROP);
    } else if (s->r.reasoning && s->f != TC_HARMONY) {
        s->think_open = "<think>";
        s->think_close = "</think>";
    }
    if (s->f == TC_HARMONY && s->r.starts_in_reasoning) { /* the prompt opened the analysis */
        s->h_in_body = true;
        s->h_kind = HK_REASON;
    }
    if (s->think_open && s->r.starts_in_reasoning) {
        s->mode = M_REASON;
        s->reason_fresh = true;
    }
    if (s->f == TC_FUNCTIONARY_V3_2) add_op(s, ">>>", OP_V32);
    if (parse_calls) {
        switch (s->f) {
        case TC_HERMES: add_op(s, "<tool_call>", OP_HERMES); break;
        case TC_LLAMA3: add_op(s, "<|python_tag|>", OP_PYTAG); break;
        case TC_MISTRAL: add_op(s, "[TOOL_CALLS]", OP_MISTRAL); break;
        case TC_DEEPSEEK_R1:
            add_op(s, DS_CALLS_BEGIN, OP_DS_CALLS);
            add_op(s, DS_CALL_BEGIN, OP_DS_CALL);
            add_op(s, DS_CALLS_END, OP_DS_END);
            break;
        case TC_FUNCTIONARY_V3_1:
            add_op(s, "<function=", OP_FUNC31);
            add_op(s, "<|python_tag|>", OP_PYTAG);
            break;
        case TC_COMMAND_R7B: add_op(s, "<|START_ACTION|>", OP_R7B_ACTION); break;
        default: break;
        }
    }
    return s;
}

void tc_stream_free(tc_stream *s) {
    if (!s) return;
    clear_pending(s);
    eager_reset(s);
    free(s->ec);
    free(s->pend);
    free(s->buf);
    free(s);
}

void tc_stream_set_eager(tc_stream *s, bool eager) { s->eager = eager; }

int tc_stream_n_calls(const tc_stream *s) { return s->n_calls; }
long long tc_stream_opener_at(const tc_stream *s) { return s->opener_at; }

static void emit(tc_stream *s, tc_delta_kind kind, const char *t, size_t n) {
    if (!n) return;
    tc_delta d = {.kind = kind, .text = t, .len = n, .index = -1};
    s->fn(&d, s->user);
}

static void eager_reset(tc_stream *s) {
    for (int i = 0; i < s->n_ec; i++)
        free(s->ec[i].args);
    s->n_ec = 0;
    s->eager_at = -1;
}

static void flush_calls(tc_stream *s) {
    int streamed = s->n_ec;
    for (int i = 0; i < s->n_pend; i++) {
        if (i < streamed) {
            /* announced while generated: only what the fragments did not carry yet (the
             * parser's arguments are the same compacted text, so the fragments are a prefix) */
            struct eager_call *e = &s->ec[i];
            const char *a = s->pend[i].args;
            size_t n = strlen(a);
            if (e->n_args <= n && !memcmp(a, e->args, e->n_args) && n > e->n_args) {
                tc_delta d = {.kind = TC_DELTA_ARGS, .text = a + e->n_args, .len = n - e->n_args,
                              .index = s->n_calls - streamed + i, .id = e->id, .name = s->pend[i].name};
                s->fn(&d, s->user);
            }
            continue;
        }
        char id[30];
        tc_call_id(id);
        tc_delta d = {.kind = TC_DELTA_CALL,
                      .text = s->pend[i].args,
                      .len = strlen(s->pend[i].args),
                      .index = s->n_calls++,
                      .id = id,
                      .name = s->pend[i].name};
        s->fn(&d, s->user);
    }
    clear_pending(s);
    eager_reset(s);
}

static size_t trim_end(const char *t, size_t p, size_t q) {
    while (q > p && is_ws(t[q - 1])) q--;
    return q;
}

static void emit_content(tc_stream *s, const cur *c, size_t e) {
    if (e <= s->pos) return;
    emit(s, TC_DELTA_CONTENT, c->t + s->pos, e - s->pos);
    s->pos = e;
    s->at_start = s->boundary = s->after_call = false;
    s->v32_started = true;
}

/* Earliest opener at or after p: *at, *k (index into ops), *full. *at = n when none. A text
 * end that could still grow into an opener counts (not full) unless final. */
static void find_opener(const tc_stream *s, const cur *c, size_t p, size_t *at, int *k, bool *full) {
    *at = c->n;
    for (size_t i = p; i < c->n; i++) {
        bool partial = false;
        int hit = -1;
        for (int j = 0; j < s->n_ops; j++) {
            const char *o = s->ops[j].text;
            if (c->t[i] != o[0]) continue;
            size_t m = strlen(o), have = c->n - i;
            if (have >= m) {
                if (!memcmp(c->t + i, o, m) && hit < 0) hit = j;
            } else if (!c->final && !memcmp(c->t + i, o, have)) {
                partial = true;
            }
        }
        if (partial || hit >= 0) {
            *at = i;
            *k = hit;
            *full = !partial;
            return;
        }
    }
}

/* Whether to wait before running a handler again on an opener it could not decide yet: only
 * once the text since the opener has grown by an eighth (at least 64 bytes), or the text now
 * ends the way every call ends ('>', '}' or ']'), so a long call streamed token by token is
 * not rescanned once per token. Decisions do not depend on when they are made (a handler's
 * verdict on a text holds for every longer text), so this changes only when a call is
 * reported, never what. */
static bool defer(tc_stream *s, const cur *c, size_t at) {
    long long abs_at = s->base + (long long)at, len = s->base + (long long)c->n;
    if (c->final || abs_at != s->need_at) return false;
    size_t e = c->n;
    while (e > at && is_ws(c->t[e - 1])) e--;
    if (e > at && (c->t[e - 1] == '>' || c->t[e - 1] == '}' || c->t[e - 1] == ']')) return false;
    long long grow = (s->need_len - abs_at) / 8;
    return len < s->need_len + (grow > 64 ? grow : 64);
}

static void note_need(tc_stream *s, const cur *c, size_t at) {
    s->need_at = s->base + (long long)at;
    s->need_len = s->base + (long long)c->n;
}

static void apply_ok(tc_stream *s, size_t op_at, size_t end, bool call_kind) {
    if (s->n_pend) {
        if (s->opener_at < 0) s->opener_at = s->base + (long long)op_at;
        flush_calls(s);
        s->after_call = true;
    }
    (void)call_kind;
    s->pos = end;
    s->boundary = true;
}

/* Start-only openers: reasoning, a bare JSON call (Llama 3, generic), a v3.2 recipient. */
static int start_json_key(const cur *c, size_t p, const char *key) {
    if (c->t[p] != '{') return L_NO;
    size_t q = skip_ws(c, p + 1);
    if (q >= c->n) return c->final ? L_NO : L_NEED;
    return lit(c, &q, key);
}

static int generic_calls(tc_stream *s, const cur *c, size_t p, size_t *end) {
    size_t os = p;
    int r = json_at(c, &p, '{');
    if (r != H_OK) return r;
    size_t vs, ve;
    if (find_member(c->t, os, p, "tool_calls", &vs, &ve)) {
        cur sub = {c->t, ve, true};
        size_t q = vs;
        if (h_array_calls(s, &sub, &q, "name") != H_OK) return H_BAD;
    } else if (find_member(c->t, os, p, "tool_call", &vs, &ve)) {
        if (c->t[vs] != '{' || !call_from_object(s, c->t, vs, ve, "name")) return H_BAD;
    } else {
        return H_BAD;
    }
    *end = p;
    return H_OK;
}

/* The text in front of a call's name and between its name and its arguments, as the tool-call
 * grammar writes them (toolcall_grammar.c call_body): under a grammar the call is exactly
 * this, so its arguments can be streamed while they are generated. */
static bool eager_shape(tc_family f, const char **pre, const char **mid) {
    switch (f) {
    case TC_HERMES: *pre = "{\"name\": \""; *mid = "\", \"arguments\": "; return true;
    case TC_LLAMA3: *pre = "{\"name\": \""; *mid = "\", \"parameters\": "; return true;
    case TC_MISTRAL: *pre = "{\"name\": \""; *mid = "\", \"arguments\": "; return true;
    case TC_DEEPSEEK_R1: *pre = DS_CALL_BEGIN "function" DS_SEP; *mid = "\n```json\n"; return true;
    case TC_FUNCTIONARY_V3_1: *pre = ""; *mid = ">"; return true;
    case TC_COMMAND_R7B: *pre = "\"tool_name\": \""; *mid = "\", \"parameters\": "; return true;
    case TC_GENERIC: *pre = "{\"name\": \""; *mid = "\", \"arguments\": "; return true;
    case TC_HARMONY: *pre = "<|channel|>commentary to=functions."; *mid = " <|constrain|>json<|message|>"; return true;
    default: return false;
    }
}

/* Eager mode, a block at c->t[at] (its opener ending at body) not decided yet: announces each
 * call whose arguments have begun (TC_DELTA_CALL_START) and streams its arguments, compacted
 * as the parser compacts them, as they grow (TC_DELTA_ARGS). */
static void eager_progress(tc_stream *s, const cur *c, size_t at, size_t body) {
    const char *pre, *mid;
    if (!s->eager || !eager_shape(s->f, &pre, &mid)) return;
    long long abs_at = s->base + (long long)at;
    if (s->eager_at != abs_at) {
        eager_reset(s);
        s->eager_at = abs_at;
        s->eager_scan = s->base + (long long)body;
    }
    for (;;) {
        struct eager_call *e = s->n_ec ? &s->ec[s->n_ec - 1] : NULL;
        if (e && !e->done) {
            size_t i = (size_t)(e->at - s->base), from = i;
            char *frag = xmalloc(c->n - i + 1);
            size_t nf = 0;
            for (; i < c->n && !e->done; i++) {
                char ch = c->t[i];
                if (e->in_str) {
                    if (e->esc) e->esc = false;
                    else if (ch == '\\') e->esc = true;
                    else if (ch == '"') e->in_str = false;
                } else if (is_ws(ch)) {
                    continue;
                } else if (ch == '"') {
                    e->in_str = true;
                } else if (ch == '{' || ch == '[') {
                    e->depth++;
                } else if (ch == '}' || ch == ']') {
                    if (--e->depth == 0) e->done = true;
                }
                frag[nf++] = ch;
            }
            (void)from;
            e->at = s->base + (long long)i;
            if (nf) {
                e->args = xrealloc(e->args, e->n_args + nf + 1);
                memcpy(e->args + e->n_args, frag, nf);
                e->n_args += nf;
                e->args[e->n_args] = 0;
                tc_delta d = {.kind = TC_DELTA_ARGS, .text = frag, .len = nf, .index = s->n_calls - 1, .id = e->id};
                s->fn(&d, s->user);
            }
            free(frag);
            if (!e->done) return;
            s->eager_scan = e->at;
        }
        /* the next call: pre NAME mid '{' */
        size_t q = (size_t)(s->eager_scan - s->base);
        if (q > c->n) return;
        const char *hit = *pre ? memmem(c->t + q, c->n - q, pre, strlen(pre)) : c->t + q;
        if (!hit) return;
        size_t ns = (size_t)(hit - c->t) + strlen(pre), ne = ns;
        while (ne < c->n && is_name_char(c->t[ne]))
            ne++;
        size_t ml = strlen(mid);
        if (ne == ns || c->n - ne < ml + 1) return;
        if (memcmp(c->t + ne, mid, ml) || c->t[ne + ml] != '{') {
            s->eager = false; /* not the grammar's shape: leave it to the parser */
            return;
        }
        if (s->n_ec == s->cap_ec) {
            s->cap_ec = s->cap_ec ? 2 * s->cap_ec : 4;
            s->ec = xrealloc(s->ec, (size_t)s->cap_ec * sizeof *s->ec);
        }
        e = &s->ec[s->n_ec++];
        memset(e, 0, sizeof *e);
        tc_call_id(e->id);
        e->at = s->base + (long long)(ne + ml);
        char *name = xstrndup(c->t + ns, ne - ns);
        tc_delta d = {.kind = TC_DELTA_CALL_START, .text = "", .len = 0, .index = s->n_calls++, .id = e->id, .name = name};
        s->fn(&d, s->user);
        free(name);
    }
}

static int step_start(tc_stream *s, const cur *c, size_t p) {
    int l;
    size_t q = p, end = p;
    if (s->think_open) {
        l = lit(c, &q, s->think_open);
        if (l == L_NEED) return S_WAIT;
        if (l == L_YES) {
            s->mode = M_REASON;
            s->pos = q;
            s->boundary = true;
            return S_CONT;
        }
    }
    int r = -1;
    if (defer(s, c, p)) {
        /* what waits at p: a bare JSON call, or a call opener step_content met (streamed as
         * there: not Llama 3's <|python_tag|> code nor a v3.2 recipient) */
        size_t at;
        int k = -1;
        bool full = false;
        find_opener(s, c, p, &at, &k, &full);
        if (at == p && full && k >= 0) {
            int kind = s->ops[k].kind;
            if (kind != OP_PYTAG && kind != OP_V32 && kind != OP_DROP && kind != OP_DS_END)
                eager_progress(s, c, p, p + strlen(s->ops[k].text));
        } else if (s->parse_calls && (s->f == TC_LLAMA3 || s->f == TC_GENERIC) && c->t[p] == '{') {
            eager_progress(s, c, p, p);
        }
        return S_WAIT;
    }
    if (s->parse_calls && s->f == TC_LLAMA3) {
        l = start_json_key(c, p, "\"name\"");
        if (l == L_NEED) return S_WAIT;
        if (l == L_YES) r = llama_calls(s, c, p, &end);
    } else if (s->parse_calls && s->f == TC_GENERIC) {
        l = start_json_key(c, p, "\"tool_call");
        if (l == L_NEED) return S_WAIT;
        if (l == L_YES) r = generic_calls(s, c, p, &end);
    } else if (s->f == TC_FUNCTIONARY_V3_2 && !s->v32_started) {
        r = h_v32(s, c, p, &end);
        if (r == H_BAD) {
            clear_pending(s);
            s->v32_started = true;
            return S_NONE;
        }
    }
    if (r < 0) return S_NONE;
    if (r == H_NEED) {
        clear_pending(s);
        note_need(s, c, p);
        if (s->parse_calls && s->f != TC_FUNCTIONARY_V3_2) eager_progress(s, c, p, p);
        if (s->parse_calls && s->opener_at < 0 && s->f != TC_FUNCTIONARY_V3_2)
            s->opener_at = s->base + (long long)p;
        return S_WAIT;
    }
    if (r == H_OK) {
        s->v32_started = true;
        apply_ok(s, p, end, true);
        return S_CONT;
    }
    clear_pending(s); /* a bare JSON that is no call: content */
    eager_reset(s);
    emit_content(s, c, p + 1);
    return S_CONT;
}

static int step_content(tc_stream *s, const cur *c) {
    size_t p = s->pos;
    if (s->boundary) {
        p = skip_ws(c, p);
        s->pos = p;
    }
    if (p >= c->n) return S_WAIT;
    if (s->at_start) {
        int r = step_start(s, c, p);
        if (r != S_NONE) return r;
    }
    size_t at;
    int k = -1;
    bool full = false;
    find_opener(s, c, p, &at, &k, &full);
    emit_content(s, c, trim_end(c->t, p, at));
    if (at == c->n) {
        if (c->final) emit_content(s, c, c->n);
        return S_WAIT;
    }
    if (!full) return S_WAIT;
    size_t m = strlen(s->ops[k].text), end = at + m;
    int kind = s->ops[k].kind;
    bool call_kind = kind != OP_DROP && kind != OP_DS_END;
    bool eager_kind = call_kind && kind != OP_V32 && kind != OP_PYTAG;
    if (defer(s, c, at)) {
        if (eager_kind) eager_progress(s, c, at, at + m);
        return S_WAIT;
    }
    int r = handle(s, c, kind, at + m, &end);
    if (r == H_NEED) {
        clear_pending(s);
        note_need(s, c, at);
        if (eager_kind) eager_progress(s, c, at, at + m);
        if (call_kind && kind != OP_V32 && s->opener_at < 0) s->opener_at = s->base + (long long)at;
        return S_WAIT;
    }
    if (r == H_OK) {
        apply_ok(s, at, end, call_kind);
        return S_CONT;
    }
    clear_pending(s);
    eager_reset(s);
    emit_content(s, c, at + m);
    return S_CONT;
}

static int step_reason(tc_stream *s, const cur *c) {
    size_t p = s->pos;
    if (s->boundary) {
        p = skip_ws(c, p);
        s->pos = p;
    }
    if (p >= c->n) return S_WAIT;
    if (s->reason_fresh) { /* a model that repeats the <think> its prompt opened */
        size_t q = p;
        int l = lit(c, &q, s->think_open);
        if (l == L_NEED) return S_WAIT;
        s->reason_fresh = false;
        if (l == L_YES) {
            s->pos = q;
            return S_CONT;
        }
    }
    const char *cl = s->think_close;
    size_t m = strlen(cl), at = c->n;
    bool full = false;
    for (size_t i = p; i < c->n; i++) {
        if (c->t[i] != cl[0]) continue;
        size_t have = c->n - i;
        if (have >= m && !memcmp(c->t + i, cl, m)) {
            at = i;
            full = true;
            break;
        }
        if (have < m && !c->final && !memcmp(c->t + i, cl, have)) {
            at = i;
            break;
        }
    }
    size_t e = trim_end(c->t, p, at);
    if (e > p) {
        emit(s, TC_DELTA_REASONING, c->t + p, e - p);
        s->pos = e;
        s->boundary = false;
    }
    if (full) {
        s->pos = at + m;
        s->mode = M_CONTENT;
        s->boundary = true;
        return S_CONT;
    }
    if (c->final && at == c->n) s->pos = c->n;
    return S_WAIT;
}

/* ---- Harmony (gpt-oss) ----
 *
 * The output is a sequence of messages, each a header and a body:
 *   [<|start|>assistant][ to=functions.NAME]<|channel|>CHANNEL[ to=functions.NAME][ <|constrain|>json]<|message|>BODY
 * ended by <|end|> (another message follows), <|call|> or <|return|> (end-of-generation tokens, so
 * usually absent from the text) or the end of the output. The first header follows the prompt's
 * "<|start|>assistant", so it may begin with " to=" or "<|channel|>". An analysis body is
 * reasoning; a body with a recipient is a call (its arguments a JSON object); any other (final,
 * commentary without a recipient) is content. Text where a header should be that is not one is
 * content up to the next terminator, so nothing is ever dropped; whitespace between messages
 * is. */
#define H_HEADER_MAX 512 /* a header longer than this is not one */

/* Is a (prefix of a) header start at p? L_YES / L_NO / L_NEED. */
static int harmony_header_start(const cur *c, size_t p) {
    static const char *const starts[] = {"<|start|>", "<|channel|>", " to=", "to="};
    int any = L_NO;
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        size_t q = p;
        int l = lit(c, &q, starts[i]);
        if (l == L_YES) return L_YES;
        if (l == L_NEED) any = L_NEED;
    }
    return any;
}

/* The word after `key` in the header h[0, n) (channel names, recipients): *w, *wl. */
static bool header_word(const char *h, size_t n, const char *key, const char **w, size_t *wl) {
    const char *k = memmem(h, n, key, strlen(key));
    if (!k) return false;
    const char *b = k + strlen(key), *e = b;
    while (e < h + n && !is_ws(*e) && *e != '<') e++;
    *w = b;
    *wl = (size_t)(e - b);
    return true;
}

/* Is the header h[0, hn) exactly the call grammar's ("<|start|>assistant" after an analysis
 * message, then "<|channel|>commentary to=functions.NAME <|constrain|>json"), NAME being
 * name[0, nl)? */
static bool harmony_grammar_header(const char *h, size_t hn, const char *name, size_t nl) {
    static const char next[] = "<|start|>assistant", pre[] = "<|channel|>commentary to=functions.",
                      post[] = " <|constrain|>json";
    if (hn >= sizeof next - 1 && !memcmp(h, next, sizeof next - 1)) h += sizeof next - 1, hn -= sizeof next - 1;
    return hn == sizeof pre - 1 + nl + sizeof post - 1 && !memcmp(h, pre, sizeof pre - 1) &&
           !memcmp(h + sizeof pre - 1, name, nl) && !memcmp(h + sizeof pre - 1 + nl, post, sizeof post - 1);
}

/* The body of a content or reasoning message from s->pos: emitted up to a terminator (or a
 * text end that could still become one, held back). */
static int harmony_body(tc_stream *s, const cur *c) {
    /* content also ends where a new header begins (not consumed): a call a lazy grammar
     * started after text, a message the model began without closing the last */
    static const char *const ends_content[] = {"<|end|>", "<|return|>", "<|call|>", "<|start|>", "<|channel|>"};
    /* reasoning ends only at <|end|>, as the grammar's analysis block does (tc-think) */
    size_t n_ends = s->h_kind == HK_REASON ? 1 : 5;
    size_t p = s->pos, at = c->n, m = 0;
    bool full = false, consumed = false;
    for (size_t i = p; i < c->n; i++) {
        if (c->t[i] != '<') continue;
        bool part = false;
        int hit = -1;
        for (size_t k = 0; k < n_ends && hit < 0; k++) {
            /* a header start already refused at this offset is text */
            if (k >= 3 && s->base + (long long)i == s->h_not_header) continue;
            const char *e = ends_content[k];
            size_t el = strlen(e), have = c->n - i;
            if (have >= el && !memcmp(c->t + i, e, el)) hit = (int)k;
            else if (have < el && !c->final && !memcmp(c->t + i, e, have)) part = true;
        }
        if (hit >= 0) {
            at = i;
            full = true;
            m = strlen(ends_content[hit]);
            consumed = hit < 3; /* the terminators; a header start stays for the next message */
            break;
        }
        if (part) {
            at = i;
            break;
        }
    }
    if (at > p) emit(s, s->h_kind == HK_REASON ? TC_DELTA_REASONING : TC_DELTA_CONTENT, c->t + p, at - p);
    s->pos = at;
    if (full) {
        s->pos = consumed ? at + m : at;
        s->h_in_body = false;
        return S_CONT;
    }
    return S_WAIT;
}

/* Leaves the message at hs as content: its header text now, its body as a content body. */
static int harmony_as_content(tc_stream *s, const cur *c, size_t hs, size_t body) {
    clear_pending(s);
    eager_reset(s);
    s->h_not_header = s->base + (long long)hs;
    if (body > hs) emit(s, TC_DELTA_CONTENT, c->t + hs, body - hs);
    s->pos = body;
    s->h_in_body = true;
    s->h_kind = HK_CONTENT;
    return S_CONT;
}

static int step_harmony(tc_stream *s, const cur *c) {
    if (s->h_in_body) return harmony_body(s, c);
    size_t hs = skip_ws(c, s->pos);
    s->pos = hs;
    if (hs >= c->n) return S_WAIT;
    int l = harmony_header_start(c, hs);
    if (l == L_NEED) return S_WAIT;
    if (l == L_NO) return harmony_as_content(s, c, hs, hs);
    size_t he;
    int r = until(c, hs, "<|message|>", H_HEADER_MAX, &he);
    if (r == H_NEED) return S_WAIT;
    if (r == H_BAD || memmem(c->t + hs, he - hs, "<|end|>", 7)) return harmony_as_content(s, c, hs, hs);
    size_t body = he + strlen("<|message|>");
    const char *h = c->t + hs, *w;
    size_t hn = he - hs, wl;
    bool analysis = header_word(h, hn, "<|channel|>", &w, &wl) && wl == 8 && !memcmp(w, "analysis", 8);
    const char *to;
    size_t tl;
    if (!header_word(h, hn, "to=", &to, &tl)) {
        s->pos = body;
        s->h_in_body = true;
        s->h_kind = analysis ? HK_REASON : HK_CONTENT;
        return S_CONT;
    }
    /* a message to a recipient: a call (functions.NAME: NAME; a built-in tool keeps its name) */
    if (!s->parse_calls) return harmony_as_content(s, c, hs, hs);
    for (size_t i = 0; i < tl; i++)
        if (!is_name_char(to[i])) return harmony_as_content(s, c, hs, hs);
    if (tl > 10 && !memcmp(to, "functions.", 10)) to += 10, tl -= 10;
    /* arguments stream early only under the grammar's exact header, so that the call
     * announced is the call parsed */
    bool eager = harmony_grammar_header(h, hn, to, tl);
    if (defer(s, c, hs)) {
        if (eager) eager_progress(s, c, hs, hs);
        return S_WAIT;
    }
    size_t q = skip_ws(c, body), os = q;
    r = json_at(c, &q, '{');
    char *args = NULL;
    if (r == H_OK && !(args = args_from_object_text(c->t + os, q - os))) r = H_BAD;
    if (r == H_OK && !push_call(s, to, tl, args)) r = H_BAD;
    if (r == H_OK) {
        size_t e = skip_ws(c, q);
        int lc = lit(c, &e, "<|call|>");
        if (lc == L_NO) lc = lit(c, &e, "<|end|>");
        if (lc == L_NEED || (lc == L_NO && e == c->n && !c->final)) r = H_NEED;
        else if (lc == L_NO && e != c->n) r = H_BAD;
        else q = e;
    }
    if (r == H_NEED) {
        clear_pending(s);
        note_need(s, c, hs);
        if (eager) eager_progress(s, c, hs, hs);
        if (s->opener_at < 0) s->opener_at = s->base + (long long)hs;
        return S_WAIT;
    }
    if (r == H_BAD) return harmony_as_content(s, c, hs, body);
    if (s->opener_at < 0) s->opener_at = s->base + (long long)hs;
    flush_calls(s);
    s->pos = q;
    return S_CONT;
}

int tc_stream_feed(tc_stream *s, const char *text, size_t len, bool final, tc_delta_fn fn, void *user,
                   he_error *err) {
    if (s->done) return 0;
    if (len) {
        if (s->len + len > TC_STREAM_MAX || s->len + len < s->len)
            return he_fail(err, HE_LIMIT, "toolcall: output longer than %zu bytes", TC_STREAM_MAX);
        if (s->pos > 4096 && s->pos * 2 > s->len) { /* drop what is decided */
            memmove(s->buf, s->buf + s->pos, s->len - s->pos);
            s->len -= s->pos;
            s->base += (long long)s->pos;
            s->pos = 0;
        }
        if (s->len + len + 1 > s->cap) {
            size_t cap = s->cap ? s->cap : 256;
            while (cap < s->len + len + 1) cap *= 2;
            char *nb = he_realloc(s->buf, cap);
            if (!nb) return he_fail(err, HE_NOMEM, "toolcall: out of memory for %zu bytes of output", cap);
            s->buf = nb;
            s->cap = cap;
        }
        memcpy(s->buf + s->len, text, len);
        s->len += len;
        s->buf[s->len] = 0;
    }
    s->fn = fn;
    s->user = user;
    cur c = {s->buf ? s->buf : "", s->len, final};
    for (;;) {
        int r = s->f == TC_HARMONY ? step_harmony(s, &c) : s->mode == M_REASON ? step_reason(s, &c) : step_content(s, &c);
        if (r == S_WAIT) break;
    }
    if (final) s->done = true;
    return 0;
}

/* ---- Whole outputs ---- */

typedef struct {
    char *content, *reasoning;
    size_t clen, rlen;
    bool has_reasoning;
    tc_call *calls;
    int n_calls, cap_calls;
} collector;

static void append(char **buf, size_t *len, const char *t, size_t n) {
    *buf = xrealloc(*buf, *len + n + 1);
    memcpy(*buf + *len, t, n);
    *len += n;
    (*buf)[*len] = 0;
}

static void collect(const tc_delta *d, void *user) {
    collector *col = user;
    if (d->kind == TC_DELTA_CONTENT) {
        append(&col->content, &col->clen, d->text, d->len);
    } else if (d->kind == TC_DELTA_REASONING) {
        col->has_reasoning = true;
        append(&col->reasoning, &col->rlen, d->text, d->len);
    } else {
        if (col->n_calls == col->cap_calls) {
            col->cap_calls = col->cap_calls ? 2 * col->cap_calls : 4;
            col->calls = xrealloc(col->calls, (size_t)col->cap_calls * sizeof *col->calls);
        }
        tc_call *k = &col->calls[col->n_calls++];
        k->id = xstrdup(d->id);
        k->name = xstrdup(d->name);
        k->arguments = xstrndup(d->text, d->len);
    }
}

bool tc_is_builtin(tc_family f, const char *name) {
    return f == TC_LLAMA3 && name &&
           (!strcmp(name, "brave_search") || !strcmp(name, "wolfram_alpha") || !strcmp(name, "code_interpreter"));
}

void tc_stream_set_tools(tc_stream *s, const json_t *tools) {
    if (s->f != TC_LLAMA3) return;
    bool ci = false, py = false;
    for (size_t i = 0; i < json_array_size(tools); i++) {
        const char *nm = json_string_value(json_object_get(json_object_get(json_array_get(tools, i), "function"), "name"));
        if (!nm) continue;
        ci |= !strcmp(nm, "code_interpreter");
        py |= !strcmp(nm, "python");
    }
    strcpy(s->code_tool, ci && !py ? "code_interpreter" : "python");
}

int tc_parse(tc_family f, const tc_reasoning *r, bool parse_calls, const char *text, size_t len,
             tc_result *out, he_error *err) {
    return tc_parse_tools(f, r, parse_calls, NULL, text, len, out, err);
}

int tc_parse_tools(tc_family f, const tc_reasoning *r, bool parse_calls, const json_t *tools, const char *text,
                   size_t len, tc_result *out, he_error *err) {
    memset(out, 0, sizeof *out);
    collector col = {0};
    tc_stream *s = tc_stream_new(f, r, parse_calls);
    if (tools) tc_stream_set_tools(s, tools);
    int rc = tc_stream_feed(s, text, len, true, collect, &col, err);
    tc_stream_free(s);
    out->content = col.content ? col.content : xstrdup("");
    out->reasoning = col.reasoning;
    out->calls = col.calls;
    out->n_calls = col.n_calls;
    if (rc < 0) tc_result_free(out);
    return rc;
}

void tc_result_free(tc_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_calls; i++) {
        free(r->calls[i].id);
        free(r->calls[i].name);
        free(r->calls[i].arguments);
    }
    free(r->calls);
    free(r->content);
    free(r->reasoning);
    memset(r, 0, sizeof *r);
}
