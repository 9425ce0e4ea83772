/* toolcall.c — family detection from a chat template, family names, call ids, and the
 * incremental JSON scanner the parsers share (see toolcall.h and docs/TOOLS.md). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "chat/toolcall.h"
#include "chat/toolcall_internal.h"

/* ---- Detection ---- */

static bool has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

/* Order matters: Functionary v3.1 also mentions <|python_tag|>, Hermes 3 is a Llama 3.1
 * template that also says "parameters", so the most specific markers are tried first. */
tc_family tc_detect(const char *src) {
    if (!src) return TC_GENERIC;
    if (has(src, "<|channel|>") && has(src, "<|message|>")) return TC_HARMONY;
    if (has(src, "<\xef\xbd\x9ctool\xe2\x96\x81""calls\xe2\x96\x81""begin\xef\xbd\x9c>"))
        return TC_DEEPSEEK_R1;
    if (has(src, "<|START_ACTION|>")) return TC_COMMAND_R7B;
    if (has(src, "<function=")) return TC_FUNCTIONARY_V3_1;
    if (has(src, ">>>${recipient}") || has(src, ">>>all")) return TC_FUNCTIONARY_V3_2;
    if (has(src, "[TOOL_CALLS]")) return TC_MISTRAL;
    if (has(src, "<tool_call>")) return TC_HERMES;
    if (has(src, "<|python_tag|>")) return TC_LLAMA3;
    if (has(src, "<|start_header_id|>") && (has(src, "ipython") || has(src, "\"parameters\"")))
        return TC_LLAMA3;
    return TC_GENERIC;
}

static const char *const family_names[TC_N_FAMILIES] = {
    [TC_GENERIC] = "generic",
    [TC_HERMES] = "hermes",
    [TC_LLAMA3] = "llama3",
    [TC_MISTRAL] = "mistral",
    [TC_DEEPSEEK_R1] = "deepseek_r1",
    [TC_FUNCTIONARY_V3_1] = "functionary_v3_1",
    [TC_FUNCTIONARY_V3_2] = "functionary_v3_2",
    [TC_COMMAND_R7B] = "command_r7b",
    [TC_HARMONY] = "harmony",
};

const char *tc_family_name(tc_family f) {
    return (unsigned)f < TC_N_FAMILIES ? family_names[f] : "unknown";
}

/* Case-insensitive, '-' and '.' read as '_' ("DeepSeek-R1", "functionary-v3.2"). */
static bool name_eq(const char *a, const char *b) {
    for (;; a++, b++) {
        char x = *a == '-' || *a == '.' ? '_' : *a, y = *b == '-' || *b == '.' ? '_' : *b;
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) return false;
        if (!x) return true;
    }
}

int tc_family_from_name(const char *name, tc_family *out) {
    static const struct {
        const char *alias;
        tc_family f;
    } aliases[] = {{"qwen", TC_HERMES},        {"qwen2_5", TC_HERMES},       {"qwen3", TC_HERMES},
                   {"llama3_1", TC_LLAMA3},    {"llama", TC_LLAMA3},         {"deepseek", TC_DEEPSEEK_R1},
                   {"r1", TC_DEEPSEEK_R1},     {"functionary", TC_FUNCTIONARY_V3_2},
                   {"command_r", TC_COMMAND_R7B}, {"json", TC_GENERIC},
                   {"gpt_oss", TC_HARMONY},    {"gptoss", TC_HARMONY}};
    if (!name) return -1;
    for (int i = 0; i < TC_N_FAMILIES; i++)
        if (name_eq(name, family_names[i])) {
            *out = (tc_family)i;
            return 0;
        }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (name_eq(name, aliases[i].alias)) {
            *out = aliases[i].f;
            return 0;
        }
    return -1;
}

void tc_reasoning_detect(tc_family f, const char *template_src, const char *prompt, tc_reasoning *out) {
    out->reasoning = f == TC_COMMAND_R7B || f == TC_DEEPSEEK_R1 || f == TC_HARMONY ||
                     (template_src && has(template_src, "</think>"));
    out->starts_in_reasoning = false;
    if (!out->reasoning || !prompt) return;
    /* The generation prompt opens a reasoning block it does not close (DeepSeek R1, QwQ; with
     * thinking off Qwen 3 writes an empty <think>\n\n</think> instead; Command R7B's markers
     * are its plan's). */
    const char *open = tc_reasoning_open(f), *close = tc_reasoning_close(f);
    const char *last_open = NULL, *q = prompt;
    while ((q = strstr(q, open))) last_open = q++;
    if (last_open && !strstr(last_open, close)) {
        const char *e = last_open + strlen(open);
        while (*e == ' ' || *e == '\n' || *e == '\r' || *e == '\t') e++;
        out->starts_in_reasoning = *e == 0;
    }
}

/* ---- Earlier turns ---- */

static uint64_t mix64(uint64_t x) { /* splitmix64's finalizer: a bijection on 64 bits */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";


/* A stable 9-alphanumeric id for Mistral's template (FNV-1a of the id, in base 62). */
static void mistral_id(const char *id, char out[10]) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
    h = mix64(h);
    for (int i = 0; i < 9; i++) {
        out[i] = alnum[h % 62];
        h /= 62;
    }
    out[9] = 0;
}

static void remap_id(json_t *obj, const char *key) {
    const char *id = json_string_value(json_object_get(obj, key));
    if (!id) return;
    char m[10];
    mistral_id(id, m);
    json_object_set_new(obj, key, json_string(m));
}

/* gpt-oss's template reads an assistant turn's reasoning from `thinking` (OpenAI clients send
 * it back as `reasoning_content`) and tests `"..." in message.content`, which a null content
 * (an OpenAI tool-call turn) would turn into a TypeError: so the reasoning is copied over and a
 * null content left out, as if absent. */
static void harmony_message(json_t *msg) {
    json_t *rc = json_object_get(msg, "reasoning_content");
    if (json_is_string(rc) && !json_object_get(msg, "thinking")) json_object_set(msg, "thinking", rc);
    if (json_is_null(json_object_get(msg, "content"))) json_object_del(msg, "content");
}

int tc_prepare_messages(tc_family f, json_t *messages, he_error *err) {
    if (!json_is_array(messages)) return he_fail(err, HE_INVALID, "messages: must be an array");
    bool want_string = f == TC_DEEPSEEK_R1 || f == TC_FUNCTIONARY_V3_1 || f == TC_FUNCTIONARY_V3_2;
    size_t i;
    json_t *msg;
    json_array_foreach(messages, i, msg) {
        if (!json_is_object(msg)) continue;
        if (f == TC_MISTRAL) remap_id(msg, "tool_call_id");
        if (f == TC_HARMONY) harmony_message(msg);
        json_t *calls = json_object_get(msg, "tool_calls");
        size_t j;
        json_t *call;
        json_array_foreach(calls, j, call) {
            if (!json_is_object(call)) continue;
            if (f == TC_MISTRAL) remap_id(call, "id");
            json_t *fn = json_object_get(call, "function");
            json_t *args = json_object_get(fn, "arguments");
            if (!args) continue;
            if (want_string && !json_is_string(args)) {
                char *text = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
                if (text) json_object_set_new(fn, "arguments", json_string(text));
                free(text);
            } else if (!want_string && json_is_string(args)) {
                json_error_t je;
                json_t *obj = json_loads(json_string_value(args), 0, &je);
                if (json_is_object(obj)) json_object_set_new(fn, "arguments", obj);
                else json_decref(obj);
            }
        }
    }
    return 0;
}

char *tc_generic_instructions(const json_t *tools) {
    json_t *fns = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        json_t *fn = json_object_get(t, "function");
        if (fn) json_array_append(fns, fn);
    }
    char *list = json_dumps(fns, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(fns);
    static const char head[] = "You can call the following tools (JSON Schema of each one's arguments):\n";
    static const char tail[] =
        "\n\nTo call tools, answer with only this JSON and nothing else:\n"
        "{\"tool_calls\": [{\"name\": \"<tool name>\", \"arguments\": {<the arguments>}}]}\n"
        "Otherwise answer the user normally.";
    size_t n = strlen(head) + (list ? strlen(list) : 2) + strlen(tail) + 1;
    char *out = xmalloc(n);
    snprintf(out, n, "%s%s%s", head, list ? list : "[]", tail);
    free(list);
    return out;
}

/* ---- Call ids ---- */

void tc_call_id(char out[30]) {
    static _Atomic uint64_t counter;
    static _Atomic uint64_t key;
    uint64_t k = atomic_load(&key);
    if (!k) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
            seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        seed |= 1;
        uint64_t zero = 0;
        atomic_compare_exchange_strong(&key, &zero, seed);
        k = atomic_load(&key);
    }
    uint64_t c = atomic_fetch_add(&counter, 1);
    /* First 11 characters: a bijection of the counter (62^11 > 2^64), so ids never repeat in
     * this process; the other 13: fresh randomness, so they differ across processes too. */
    uint64_t u = mix64(c ^ k);
    memcpy(out, "call_", 5);
    for (int i = 0; i < 11; i++) {
        out[5 + i] = alnum[u % 62];
        u /= 62;
    }
    uint8_t rnd[13];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        uint64_t v = mix64(k + c * 0x9e3779b97f4a7c15ULL);
        for (int i = 0; i < 13; i++) rnd[i] = (uint8_t)(v >> (i * 5));
    }
    for (int i = 0; i < 13; i++) out[16 + i] = alnum[rnd[i] % 62];
    out[29] = 0;
}

/* ---- Incremental JSON scanner ---- */

#define TCJ_MAX_DEPTH 128

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int skip_ws(const char *t, size_t n, size_t *p) {
    while (*p < n && is_ws(t[*p])) (*p)++;
    return *p < n ? TCJ_OK : TCJ_NEED;
}

static int scan_string(const char *t, size_t n, size_t *p) {
    size_t i = *p + 1; /* past the opening quote */
    for (;;) {
        if (i >= n) return TCJ_NEED;
        unsigned char c = (unsigned char)t[i];
        if (c == '"') break;
        if (c < 0x20) return TCJ_BAD;
        if (c == '\\') {
            if (++i >= n) return TCJ_NEED;
            char e = t[i];
            if (e == 'u') {
                for (int k = 0; k < 4; k++) {
                    if (++i >= n) return TCJ_NEED;
                    if (!is_hex(t[i])) return TCJ_BAD;
                }
            } else if (!strchr("\"\\/bfnrt", e) || !e) {
                return TCJ_BAD;
            }
        }
        i++;
    }
    *p = i + 1;
    return TCJ_OK;
}

static int scan_digits(const char *t, size_t n, size_t *i) {
    if (*i >= n) return TCJ_NEED;
    if (!is_digit(t[*i])) return TCJ_BAD;
    while (*i < n && is_digit(t[*i])) (*i)++;
    return *i < n ? TCJ_OK : TCJ_NEED;
}

static int scan_number(const char *t, size_t n, size_t *p) {
    size_t i = *p;
    if (t[i] == '-') i++;
    if (i >= n) return TCJ_NEED;
    if (t[i] == '0') {
        i++;
    } else {
        int r = scan_digits(t, n, &i);
        if (r) return r;
    }
    if (i >= n) return TCJ_NEED;
    if (t[i] == '.') {
        i++;
        int r = scan_digits(t, n, &i);
        if (r) return r;
    }
    if (t[i] == 'e' || t[i] == 'E') {
        i++;
        if (i >= n) return TCJ_NEED;
        if (t[i] == '+' || t[i] == '-') i++;
        int r = scan_digits(t, n, &i);
        if (r) return r;
    }
    *p = i;
    return TCJ_OK;
}

static int scan_word(const char *t, size_t n, size_t *p, const char *w) {
    size_t i = *p;
    for (; *w; w++, i++) {
        if (i >= n) return TCJ_NEED;
        if (t[i] != *w) return TCJ_BAD;
    }
    *p = i;
    return TCJ_OK;
}

static int scan_value(const char *t, size_t n, size_t *p, int depth);

static int scan_container(const char *t, size_t n, size_t *p, int depth) {
    char close = t[*p] == '{' ? '}' : ']';
    bool obj = close == '}';
    size_t i = *p + 1;
    int r;
    if (depth >= TCJ_MAX_DEPTH) return TCJ_BAD;
    if ((r = skip_ws(t, n, &i))) return r;
    if (t[i] == close) {
        *p = i + 1;
        return TCJ_OK;
    }
    for (;;) {
        if (obj) {
            if (t[i] != '"') return TCJ_BAD;
            if ((r = scan_string(t, n, &i))) return r;
            if ((r = skip_ws(t, n, &i))) return r;
            if (t[i] != ':') return TCJ_BAD;
            i++;
            if ((r = skip_ws(t, n, &i))) return r;
        }
        if ((r = scan_value(t, n, &i, depth + 1))) return r;
        if ((r = skip_ws(t, n, &i))) return r;
        if (t[i] == close) {
            *p = i + 1;
            return TCJ_OK;
        }
        if (t[i] != ',') return TCJ_BAD;
        i++;
        if ((r = skip_ws(t, n, &i))) return r;
    }
}

static int scan_value(const char *t, size_t n, size_t *p, int depth) {
    if (*p >= n) return TCJ_NEED;
    switch (t[*p]) {
    case '{':
    case '[': return scan_container(t, n, p, depth);
    case '"': return scan_string(t, n, p);
    case 't': return scan_word(t, n, p, "true");
    case 'f': return scan_word(t, n, p, "false");
    case 'n': return scan_word(t, n, p, "null");
    default:
        if (t[*p] == '-' || is_digit(t[*p])) return scan_number(t, n, p);
        return TCJ_BAD;
    }
}

int tcj_scan_value(const char *t, size_t n, size_t *p) {
    size_t i = *p;
    int r = scan_value(t, n, &i, 0);
    if (r == TCJ_OK) *p = i;
    return r;
}

char *tcj_compact(const char *t, size_t n) {
    char *out = xmalloc(n + 1);
    size_t o = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (in_str) {
            out[o++] = c;
            if (c == '\\' && i + 1 < n) out[o++] = t[++i];
            else if (c == '"') in_str = false;
        } else if (!is_ws(c)) {
            out[o++] = c;
            if (c == '"') in_str = true;
        }
    }
    out[o] = 0;
    return out;
}
