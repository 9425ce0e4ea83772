/* test_jinja.c — the Jinja interpreter against golden vectors rendered by Python's Jinja2:
 * the real chat-template cases (tests/data/chat-templates/cases.json), the Qwen 3
 * template from the qwen2 vocab GGUF and a table of small semantics templates (both generated
 * by tools/gen_template_cases.py), plus limits against hostile templates and parser inputs
 * placed against a guard page. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "chat/chat.h"
#include "chat/jinja.h"
#include "fixtures.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

static const struct tm *fixed_now(void) {
    static struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = 2024 - 1900;
    tm.tm_mon = 6;
    tm.tm_mday = 26;
    tm.tm_hour = 12;
    tm.tm_wday = 5; /* Friday */
    tm.tm_yday = 207;
    return &tm;
}

/* Renders src over ctx; returns the output (caller frees) or NULL with err filled. */
static char *render(const char *src, size_t len, const json_t *ctx, const jinja_limits *lim,
                    he_error *err) {
    jinja_template *t = jinja_parse(src, len, err);
    if (!t) return NULL;
    jinja_options opt = {.now = fixed_now()};
    if (lim) opt.limits = *lim;
    char *out = jinja_render(t, ctx, &opt, NULL, err);
    jinja_free(t);
    return out;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Checks one vector; returns 1 when it passes, logging the difference otherwise. */
static int check_vector(const char *name, const char *tmpl, const json_t *ctx,
                        const json_t *expected, const char *error) {
    he_error err = {0};
    char *out = render(tmpl, strlen(tmpl), ctx, NULL, &err);
    int ok;
    if (json_is_string(expected)) {
        ok = out && strcmp(out, json_string_value(expected)) == 0;
        if (!ok) {
            const char *e = json_string_value(expected);
            size_t k = 0;
            while (out && out[k] && out[k] == e[k])
                k++;
            cr_log_error("%s: mismatch at byte %zu: %s\n  expected: %.80s\n  got:      %.80s", name,
                         k, out ? "" : err.msg, e + k, out ? out + k : "(error)");
        }
    } else {
        ok = out == NULL;
        /* the template's own raise_exception must come through verbatim */
        if (ok && error && strncmp(error, "TemplateError: ", 15) == 0)
            ok = ends_with(err.msg, error + 15);
        if (!ok)
            cr_log_error("%s: expected refusal '%s', got %s", name, error,
                         out ? "output" : err.msg);
    }
    free(out);
    return ok;
}

/* Runs a vector file: [{template|name, context, expected, error}], templates inline or in dir. */
static void run_vectors(const char *path, const char *template_dir, int *pass, int *total) {
    json_error_t jerr;
    json_t *cases = json_load_file(path, 0, &jerr);
    cr_assert(cases, "cannot load %s: %s", path, jerr.text);
    size_t i;
    json_t *c;
    *pass = *total = 0;
    json_array_foreach(cases, i, c) {
        const char *tname = json_string_value(json_object_get(c, "template"));
        const char *error = json_string_value(json_object_get(c, "error"));
        char label[256];
        char *tmpl;
        if (template_dir) {
            char tpath[2048];
            snprintf(tpath, sizeof tpath, "%s/%s", template_dir, tname);
            tmpl = slurp(tpath, NULL);
            cr_assert(tmpl, "cannot read %s", tpath);
            snprintf(label, sizeof label, "%s/%s", tname,
                     json_string_value(json_object_get(c, "case")));
        } else {
            tmpl = strdup(tname);
            snprintf(label, sizeof label, "%s", json_string_value(json_object_get(c, "name")));
        }
        *pass += check_vector(label, tmpl, json_object_get(c, "context"),
                              json_object_get(c, "expected"), error);
        (*total)++;
        free(tmpl);
    }
    json_decref(cases);
}

Test(jinja, shared_cases) {
    char path[1200], dir[1024];
    fixture_path(dir, sizeof dir, "chat-templates");
    snprintf(path, sizeof path, "%s/cases.json", dir);
    int pass, total;
    run_vectors(path, dir, &pass, &total);
    cr_log_info("cases.json: %d/%d", pass, total);
    cr_assert_eq(total, 108);
    cr_assert_eq(pass, total, "cases.json: %d/%d pass", pass, total);
}

/* The gpt-oss (Harmony) template, published by OpenAI with gpt-oss-20b/120b, over tools,
 * reasoning_effort, developer/system messages, tool results and multi-turn contexts
 * (tools/gen_gptoss_cases.py, Jinja2). */
Test(jinja, gptoss_cases) {
    char path[1200], dir[1024];
    fixture_path(dir, sizeof dir, "chat-templates");
    snprintf(path, sizeof path, "%s/gptoss_cases.json", dir);
    int pass, total;
    run_vectors(path, dir, &pass, &total);
    cr_log_info("gptoss: %d/%d", pass, total);
    cr_assert_geq(total, 20);
    cr_assert_eq(pass, total, "gptoss: %d/%d pass", pass, total);
}

/* The Gemma 3 (google/gemma-3-4b-it) and Phi-3 (microsoft/Phi-3-mini-4k-instruct) templates:
 * system handling, content parts, multi-turn, tools / tool calls / tool results (neither has a
 * native tool format) and their refusals (tools/gen_gemma3_phi3_cases.py, Jinja2). */
Test(jinja, gemma3_phi3_cases) {
    char path[1200], dir[1024];
    fixture_path(dir, sizeof dir, "chat-templates");
    snprintf(path, sizeof path, "%s/gemma3_phi3_cases.json", dir);
    int pass, total;
    run_vectors(path, dir, &pass, &total);
    cr_log_info("gemma3/phi3: %d/%d", pass, total);
    cr_assert_eq(total, 30);
    cr_assert_eq(pass, total, "gemma3/phi3: %d/%d pass", pass, total);
}

Test(jinja, qwen3_cases) {
    char path[1024];
    int pass, total;
    run_vectors(fixture_path(path, sizeof path, "templates/qwen3_cases.json"), NULL, &pass, &total);
    cr_log_info("qwen3: %d/%d", pass, total);
    cr_assert_gt(total, 10);
    cr_assert_eq(pass, total, "qwen3: %d/%d pass", pass, total);
}

Test(jinja, semantics_cases) {
    char path[1024];
    int pass, total;
    run_vectors(fixture_path(path, sizeof path, "templates/semantics_cases.json"), NULL, &pass,
                &total);
    cr_log_info("semantics: %d/%d", pass, total);
    cr_assert_gt(total, 50);
    cr_assert_eq(pass, total, "semantics: %d/%d pass", pass, total);
}

/* ---- Errors carry line:col ---- */

Test(jinja, error_positions) {
    static const struct {
        const char *src;
        const char *want; /* substring of the message */
    } cases[] = {
        {"line1\n{% for x in y %}\n{% endif %}", "template:3:4: unexpected 'endif'"},
        {"{{ 1 + }}", "template:1:8:"},
        {"{% if x %}abc", "expected 'elif'"},
        {"{{ 'abc }}", "unterminated string"},
        {"{# open", "missing end of comment"},
        {"{{ (1 }}", "unexpected '}'"},
        {"{% include 'x' %}", "not supported"},
        {"ok\n\n   {{ a.b }}", "template:3:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        he_error err = {0};
        json_t *ctx = json_object();
        char *out = render(cases[i].src, strlen(cases[i].src), ctx, NULL, &err);
        json_decref(ctx);
        cr_expect_null(out, "case %zu should fail", i);
        free(out);
        cr_expect(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i, err.msg,
                  cases[i].want);
    }
}

/* ---- Limits: hostile templates fail cleanly ---- */

Test(jinja, limits) {
    static const struct {
        const char *src;
        he_code code;
    } cases[] = {
        /* 10^15 iterations */
        {"{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
         "{% endfor %}{% endfor %}{% endfor %}",
         HE_LIMIT},
        /* unbounded recursion */
        {"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", HE_LIMIT},
        /* exponential output */
        {"{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(64) %}"
         "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
         HE_LIMIT},
        {"{{ 'x' * 100000000000 }}", HE_LIMIT},
        {"{% for i in range(100000) %}{{ "
         "'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy' * 100 }}{% endfor %}",
         HE_LIMIT},
        {"{{ range(10000000) }}", HE_LIMIT},
    };
    jinja_limits lim = {.max_steps = 2000000, .max_output = 1 << 20, .max_memory = 64 << 20};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        he_error err = {0};
        char *out = render(cases[i].src, strlen(cases[i].src), NULL, &lim, &err);
        cr_expect_null(out, "case %zu should hit a limit", i);
        free(out);
        cr_expect_eq(err.code, cases[i].code, "case %zu: code %d (%s)", i, err.code, err.msg);
    }
}

Test(jinja, deep_nesting) {
    /* 100k nested parentheses, brackets and ifs must not overflow the C stack */
    size_t n = 100000;
    char *src = malloc(4 * n + 16);
    size_t k = 0;
    k += (size_t)sprintf(src + k, "{{ ");
    for (size_t i = 0; i < n; i++)
        src[k++] = '(';
    src[k++] = '1';
    for (size_t i = 0; i < n; i++)
        src[k++] = ')';
    k += (size_t)sprintf(src + k, " }}");
    he_error err = {0};
    jinja_template *t = jinja_parse(src, k, &err);
    cr_expect_null(t);
    cr_expect(strstr(err.msg, "nested too deeply") || strstr(err.msg, "too deeply"), "%s", err.msg);
    jinja_free(t);

    k = 0;
    for (size_t i = 0; i < 5000; i++)
        k += (size_t)sprintf(src + k, "{%% if 1 %%}");
    t = jinja_parse(src, k, &err);
    cr_expect_null(t);
    jinja_free(t);
    k = 0;
    k += (size_t)sprintf(src + k, "{{ ");
    for (size_t i = 0; i < 50000; i++)
        k += (size_t)sprintf(src + k, "not ");
    k += (size_t)sprintf(src + k, "1 }}");
    t = jinja_parse(src, k, &err);
    cr_expect_null(t);
    jinja_free(t);
    free(src);
}

/* ---- Parser inputs against a guard page: a one-byte over-read faults ---- */

static void parse_guarded(const char *src) {
    size_t len = strlen(src), page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (len + page - 1) / page + 1;
    char *mem =
        mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(mem != MAP_FAILED);
    cr_assert_eq(mprotect(mem + (pages - 1) * page, page, PROT_NONE), 0);
    char *p = mem + (pages - 1) * page - len;
    memcpy(p, src, len);
    he_error err = {0};
    jinja_template *t = jinja_parse(p, len, &err);
    if (t) {
        json_t *ctx = json_pack("{s:[{s:s,s:s}]}", "messages", "role", "user", "content", "hi");
        jinja_options opt = {.now = fixed_now()};
        char *out = jinja_render(t, ctx, &opt, NULL, &err);
        free(out);
        json_decref(ctx);
    }
    jinja_free(t);
    munmap(mem, pages * page);
}

Test(jinja, guard_page) {
    static const char *const inputs[] = {
        "{",
        "{{",
        "{%",
        "{#",
        "{{ x",
        "{% if",
        "{{ 'abc",
        "{{ \"a\\",
        "{{ 1.",
        "{{ 1e",
        "{{ 0x",
        "{% raw %}",
        "{% raw %}abc{% endraw",
        "{#-",
        "a {%- if x -%",
        "{{ x -",
        "{{ x }",
        "{% set x = [1, 2",
        "{{ '\\u12",
        "{{ '\\x",
        "text",
        "",
        "{%+",
        "{{-",
        "{% for x in messages %}{{ x.content",
        "{{ x|",
        "{{ x is",
        "{{ x[1:",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++)
        parse_guarded(inputs[i]);
}

/* ---- API contract ---- */

Test(jinja, api) {
    jinja_free(NULL);
    he_error err = {0};
    jinja_template *t = jinja_parse("a{{ x }}b", 9, &err);
    cr_assert(t);
    json_t *ctx = json_pack("{s:i}", "x", 5);
    size_t len = 0;
    char *out = jinja_render(t, ctx, NULL, &len, &err);
    cr_assert_str_eq(out, "a5b");
    cr_assert_eq(len, 3);
    free(out);
    /* non-object contexts are refused */
    json_t *arr = json_array();
    out = jinja_render(t, arr, NULL, NULL, &err);
    cr_assert_null(out);
    json_decref(arr);
    json_decref(ctx);
    /* a template renders again with the same result (no state kept between renders) */
    ctx = json_pack("{s:s}", "x", "é");
    for (int i = 0; i < 3; i++) {
        out = jinja_render(t, ctx, NULL, NULL, &err);
        cr_assert_str_eq(out, "aéb");
        free(out);
    }
    json_decref(ctx);
    jinja_free(t);

    /* Hugging Face's {% generation %} marker renders its body unchanged */
    const char *gen = "a{% generation %}b{{ 1 }}{% endgeneration %}c";
    out = render(gen, strlen(gen), NULL, NULL, &err);
    cr_assert_str_eq(out, "ab1c");
    free(out);
}

/* ---- Templates embedded in GGUF files, bos/eos defaulting to the vocab's tokens ---- */

Test(jinja, gguf_cases) {
    char cases_path[1024];
    json_error_t jerr;
    json_t *cases = json_load_file(
        fixture_path(cases_path, sizeof cases_path, "templates/gguf_cases.json"), 0, &jerr);
    cr_assert(cases, "%s", jerr.text);
    size_t i;
    json_t *c;
    int pass = 0, total = 0;
    json_array_foreach(cases, i, c) {
        char rel[256], path[1200], label[256];
        snprintf(rel, sizeof rel, "vocab/%s", json_string_value(json_object_get(c, "gguf")));
        fixture_path(path, sizeof path, rel);
        chat_gguf_info info;
        he_error err = {0};
        cr_assert_eq(chat_gguf_read(path, &info, &err), 0, "%s", err.msg);
        cr_assert(info.template_text, "%s has a chat template", path);
        json_t *ctx = json_deep_copy(json_object_get(c, "context"));
        if (info.bos_token) json_object_set_new(ctx, "bos_token", json_string(info.bos_token));
        if (info.eos_token) json_object_set_new(ctx, "eos_token", json_string(info.eos_token));
        snprintf(label, sizeof label, "%s/%s", json_string_value(json_object_get(c, "gguf")),
                 json_string_value(json_object_get(c, "name")));
        pass += check_vector(label, info.template_text, ctx, json_object_get(c, "expected"),
                             json_string_value(json_object_get(c, "error")));
        total++;
        json_decref(ctx);
        chat_gguf_info_deinit(&info);
    }
    json_decref(cases);
    cr_log_info("gguf: %d/%d", pass, total);
    cr_assert_gt(total, 10);
    cr_assert_eq(pass, total, "gguf: %d/%d pass", pass, total);
}

Test(jinja, gguf_read_errors) {
    chat_gguf_info info;
    he_error err = {0};
    cr_assert_eq(chat_gguf_read("/nonexistent/model.gguf", &info, &err), -1);
    cr_assert_null(info.template_text);
    /* a vocab without a template reads fine, with the template absent */
    char path[1200];
    fixture_path(path, sizeof path, "vocab/ggml-vocab-gpt-2.gguf");
    cr_assert_eq(chat_gguf_read(path, &info, &err), 0, "%s", err.msg);
    cr_assert_null(info.template_text);
    chat_gguf_info_deinit(&info);
    chat_gguf_info_deinit(NULL);
}

/* Values a template builds itself: deep nesting, shared sub-lists, namespaces that contain
 * themselves. Each either renders or fails cleanly, never crashes or runs away. */
Test(jinja, hostile_values) {
    static const char *const srcs[] = {
        /* 100k-deep list, then compared, printed, serialized and sorted */
        "{% set ns = namespace(x=1) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}"
        "{% endfor %}{{ ns.x == ns.x }}{{ [ns.x] < [ns.x] }}",
        "{% set ns = namespace(x=1) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}"
        "{% endfor %}{{ ns.x }}",
        "{% set ns = namespace(x=1) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}"
        "{% endfor %}{{ ns.x|tojson }}",
        /* a DAG with 2^60 paths */
        "{% set ns = namespace(x=1, y=1) %}{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}"
        "{% set ns.y = [ns.y, ns.y] %}{% endfor %}{{ ns.x == ns.y }}{{ ns.x in [ns.y] }}",
        /* a namespace holding itself */
        "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}",
        /* macro recursion through nested blocks */
        "{% macro f(n) %}{% if 1 %}{% if 1 %}{% if 1 %}{% for i in [1] %}{{ f(n + 1) }}"
        "{% endfor %}{% endif %}{% endif %}{% endif %}{% endmacro %}{{ f(0) }}",
    };
    jinja_limits lim = {.max_depth = 100000, .max_steps = 50000000, .max_output = 1 << 20};
    for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
        he_error err = {0};
        char *out = render(srcs[i], strlen(srcs[i]), NULL, &lim, &err);
        if (!out) cr_expect(err.code == HE_LIMIT || err.code == HE_RUNTIME, "case %zu: %s", i, err.msg);
        free(out);
    }
}

/* ---- Linear time: every construct that was quadratic or unbounded ----
 *
 * Each case renders a template over contexts of size n, 2n, 4n and 8n and checks the ratio of
 * CPU times (CLOCK_PROCESS_CPUTIME_ID, so other processes on a busy machine do not count; the
 * minimum of several interleaved runs, so a preemption or a cold cache does not either).
 * Linear work gives ~2x per doubling; the quadratic versions gave ~4x. */

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Minimum CPU time of `runs` renders of t over ctx; fails the test when a render fails. */
static double render_cpu(const jinja_template *t, const json_t *ctx, int runs) {
    double best = 1e30;
    jinja_limits lim = {.max_output = 64u << 20, .max_memory = 1u << 30};
    /* the context is request data, as in the server: the user spans are part of the cost */
    jinja_options opt = {.now = fixed_now(), .limits = lim, .mark_user = true};
    for (int r = 0; r < runs; r++) {
        he_error err = {0};
        double t0 = cpu_seconds();
        char *out = jinja_render(t, ctx, &opt, NULL, &err);
        double dt = cpu_seconds() - t0;
        cr_assert_not_null(out, "render failed: %s", err.msg);
        free(out);
        if (dt < best) best = dt;
    }
    return best;
}

static char *repeat_str(const char *unit, size_t times) {
    size_t u = strlen(unit);
    char *s = malloc(u * times + 1);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * u, unit, u);
    s[u * times] = 0;
    return s;
}

/* context {"s": unit * n, "t": unit2 * n2} (t omitted when unit2 is NULL) */
static json_t *str_ctx(const char *unit, size_t n, const char *unit2, size_t n2) {
    json_t *ctx = json_object();
    char *s = repeat_str(unit, n);
    json_object_set_new(ctx, "s", json_string(s));
    free(s);
    if (unit2) {
        char *t = repeat_str(unit2, n2);
        json_object_set_new(ctx, "t", json_string(t));
        free(t);
    }
    return ctx;
}

/* context {"d": {"k0": 0, "k1": 1, ...}} with n keys, as chat_template_kwargs arrive */
static json_t *keys_ctx(size_t n) {
    json_t *d = json_object();
    char k[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "k%zu", i);
        json_object_set_new(d, k, json_integer((json_int_t)i));
    }
    json_t *ctx = json_object();
    json_object_set_new(ctx, "d", d);
    return ctx;
}

/* context {"l": ["w0", "w1", ...]}: n distinct strings */
static json_t *list_ctx(size_t n) {
    json_t *l = json_array();
    char k[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "w%zu", i);
        json_array_append_new(l, json_string(k));
    }
    json_t *ctx = json_object();
    json_object_set_new(ctx, "l", l);
    return ctx;
}

typedef json_t *(*ctx_fn)(size_t n);

static json_t *ctx_replace(size_t n) { return str_ctx("ab", n / 2, NULL, 0); }
static json_t *ctx_split(size_t n) { return str_ctx("ab  ", n / 4, NULL, 0); }
static json_t *ctx_rfind(size_t n) {
    /* "aaaa…" searched for "aaa…ab" (n/4 a's): the naive backward scan was O(n*m) */
    json_t *ctx = str_ctx("a", n, "a", n / 4);
    json_t *t = json_object_get(ctx, "t");
    char *tb = malloc(n / 4 + 2);
    memcpy(tb, json_string_value(t), n / 4);
    tb[n / 4] = 'b';
    tb[n / 4 + 1] = 0;
    json_object_set_new(ctx, "t", json_string(tb));
    free(tb);
    return ctx;
}
static json_t *ctx_strip(size_t n) {
    /* strip(chars) with chars as long as the string, all of it stripped */
    json_t *ctx = json_object();
    char *s = repeat_str("z", n);
    json_object_set_new(ctx, "s", json_string(s));
    free(s);
    char *t = malloc(3 * n + 2);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) { /* n distinct CJK code points, then 'z' last */
        unsigned c = 0x4E00 + (unsigned)(i % 20000);
        t[k++] = (char)(0xE0 | (c >> 12));
        t[k++] = (char)(0x80 | ((c >> 6) & 0x3F));
        t[k++] = (char)(0x80 | (c & 0x3F));
    }
    t[k++] = 'z';
    t[k] = 0;
    json_object_set_new(ctx, "t", json_string(t));
    free(t);
    return ctx;
}

Test(jinja, linear_time) {
    /* Fixed malloc thresholds: glibc adapts them as blocks are freed, so renders of the same
     * size would otherwise alternate between reusing heap memory and faulting in fresh pages;
     * the test measures the interpreter, not that. (Each Criterion test is its own process.) */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    static const struct {
        const char *name, *tmpl;
        ctx_fn ctx;
        size_t n;
    } cases[] = {
        /* converting the request into values: dict inserts were a scan each */
        {"dict from JSON", "{{ d.k7 }}{{ d|length }}", keys_ctx, 12500},
        {"dict lookups", "{% for k in d %}{{ d[k] if loop.index0 % 10000 == 0 }}{% endfor %}",
         keys_ctx, 12500},
        {"unique", "{{ l|unique|list|length }}", list_ctx, 12500},
        {"dict()", "{{ dict(d)|length }}", keys_ctx, 12500},
        {"replace('', x)", "{{ s.replace('', '-')|length }}", ctx_replace, 250000},
        {"replace filter ''", "{{ s|replace('', '') == s }}", ctx_replace, 250000},
        {"split()", "{{ s.split()|length }}", ctx_split, 250000},
        {"rsplit()", "{{ s.rsplit(None, 3)|length }}{{ s.rsplit()|length }}", ctx_split, 250000},
        {"rfind", "{{ s.rfind(t) }}", ctx_rfind, 1000000},
        {"rsplit(sep)", "{{ s.rsplit(t)|length }}", ctx_rfind, 1000000},
        {"slice", "{{ s[1:-1]|length }}{{ s[::-3]|length }}{{ s[-2:1:-1]|length }}", ctx_replace,
         250000},
        {"strip(chars)", "{{ s.strip(t)|length }}{{ s.rstrip(t)|length }}", ctx_strip, 50000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        he_error err = {0};
        jinja_template *t = jinja_parse(cases[i].tmpl, strlen(cases[i].tmpl), &err);
        cr_assert_not_null(t, "%s: %s", cases[i].name, err.msg);
        enum { NS = 4 }; /* sizes n, 2n, 4n, 8n */
        json_t *c[NS];
        for (int k = 0; k < NS; k++)
            c[k] = cases[i].ctx(cases[i].n << k);
        render_cpu(t, c[NS - 1], 1); /* warm-up: page faults, locale loading */
        /* interleaved, so all sizes see the allocator and caches in the same state */
        double tm[NS];
        for (int k = 0; k < NS; k++)
            tm[k] = 1e30;
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < NS; k++) {
                double dt = render_cpu(t, c[k], 1);
                tm[k] = dt < tm[k] ? dt : tm[k];
            }
        /* A doubling that crosses a cache size can cost ~3x even for linear work (hashed dicts
         * touch memory at random), so the best of the three doublings must be <= 2.5x; a
         * quadratic construct is ~4x at every one. */
        double ratio = 1e30, r[NS - 1];
        for (int k = 0; k + 1 < NS; k++) {
            r[k] = tm[k + 1] / (tm[k] > 1e-6 ? tm[k] : 1e-6);
            ratio = r[k] < ratio ? r[k] : ratio;
        }
        cr_log_info("linear_time %-18s n=%-8zu %.4fs %.4fs %.4fs %.4fs  ratios %.2f %.2f %.2f",
                    cases[i].name, cases[i].n, tm[0], tm[1], tm[2], tm[3], r[0], r[1], r[2]);
        cr_expect(ratio <= 2.5, "%s: 2x input took %.2fx / %.2fx / %.2fx the CPU time",
                  cases[i].name, r[0], r[1], r[2]);
        for (int k = 0; k < NS; k++)
            json_decref(c[k]);
        jinja_free(t);
    }
}

/* Empty sequences repeated 2^63 times are empty at once, as in Python; non-empty ones hit
 * the output limit; scans repeated in loops (length, indexing, `in`, comparisons) are charged
 * to the step limit instead of running for hours. */
Test(jinja, unbounded_loops) {
    static const struct {
        const char *src, *want; /* want NULL: must fail with HE_LIMIT */
    } cases[] = {
        {"{{ '' * 9223372036854775807 }}|{{ ([] * 9223372036854775807)|length }}", "|0"},
        {"{{ 9223372036854775807 * '' }}{{ (9223372036854775807 * ())|length }}", "0"},
        {"{{ 'x' * 9223372036854775807 }}", NULL},
        {"{{ [1] * 9223372036854775807 }}", NULL},
        {"{{ 'x' * 1 * 9223372036854775807 }}", NULL},
        {"{% for i in range(100000) %}{{ s|length }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ s[i] }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ s[5:6] }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ 'q' in s }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ s == s ~ '' }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ s < s ~ '' }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ s.find('q') }}{{ s.rfind('q') }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ s.count('q') }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ ''.join(l) }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ 'q' in l }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ l|max }}{% endfor %}", NULL},
        {"{% set m = l + [] %}{% for i in range(100000) %}{{ l == m }}{% endfor %}", NULL},
        {"{% set m = l + ['x'] %}{% for i in range(100000) %}{{ l < m }}{% endfor %}", NULL},
        {"{% set m = l + [] %}{% for i in range(100000) %}{{ m is eq(l) }}{% endfor %}", NULL},
        {"{% for i in range(100000) %}{{ l.count('x') }}{% endfor %}", NULL},
    };
    json_t *ctx = str_ctx("a", 4u << 20, NULL, 0);
    json_t *l = json_array();
    for (int i = 0; i < 200000; i++)
        json_array_append_new(l, json_string(""));
    json_object_set_new(ctx, "l", l);
    jinja_limits lim = {.max_steps = 500000};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        he_error err = {0};
        jinja_template *t = jinja_parse(cases[i].src, strlen(cases[i].src), &err);
        cr_assert_not_null(t, "case %zu: %s", i, err.msg);
        jinja_options opt = {.now = fixed_now(), .limits = lim};
        double t0 = cpu_seconds();
        char *out = jinja_render(t, ctx, &opt, NULL, &err);
        double dt = cpu_seconds() - t0;
        cr_log_info("unbounded_loops case %zu: %.3fs CPU", i, dt);
        if (cases[i].want) {
            cr_expect(out && strcmp(out, cases[i].want) == 0, "case %zu: got '%s' (%s)", i,
                      out ? out : "(null)", err.msg);
        } else {
            cr_expect_null(out, "case %zu should hit a limit", i);
            cr_expect_eq(err.code, HE_LIMIT, "case %zu: code %d (%s)", i, err.code, err.msg);
        }
        free(out);
        jinja_free(t);
    }
    json_decref(ctx);
}

/* The tester's figure: 100 000 keys (chat_template_kwargs) took 21.6 s. */
Test(jinja, many_context_keys) {
    json_t *ctx = keys_ctx(100000);
    json_t *d = json_object_get(ctx, "d");
    json_object_update(ctx, d); /* also as top-level variables, as kwargs are */
    const char *src = "{{ k99999 }}{{ d.k5 }}";
    he_error err = {0};
    jinja_template *t = jinja_parse(src, strlen(src), &err);
    cr_assert_not_null(t);
    double dt = render_cpu(t, ctx, 3);
    cr_log_info("100k context keys: %.4fs CPU", dt);
#ifdef __SANITIZE_ADDRESS__
    const double bound = 1.0; /* ASan's allocator and checks cost ~2x */
#else
    const double bound = 0.5;
#endif
    cr_expect(dt < bound, "100k keys took %.3fs", dt);
    jinja_free(t);
    json_decref(ctx);
}

/* ---- User spans: which output bytes came from request data ---- */

/* Renders src with u = "USER", d = {"ab": 1}, n = 5 marked as request data and t = "tm"
 * trusted; returns the output and, in *mask, one character per byte: 'u' for a user byte,
 * '.' for a template byte. */
static char *render_mask(const char *src, char **mask) {
    json_t *ctx = json_pack("{s:s, s:{s:i}, s:i, s:s, s:[s,s]}", "u", "USER", "d", "ab", 1, "n", 5,
                            "t", "tm", "l", "x", "yz");
    static const char *const trusted[] = {"t", NULL};
    jinja_options opt = {.now = fixed_now(), .mark_user = true, .trusted = trusted};
    he_error err = {0};
    jinja_template *t = jinja_parse(src, strlen(src), &err);
    cr_assert_not_null(t, "%s: %s", src, err.msg);
    size_t len, nsp;
    jinja_span *sp;
    char *out = jinja_render_spans(t, ctx, &opt, &len, &sp, &nsp, &err);
    cr_assert_not_null(out, "%s: %s", src, err.msg);
    *mask = malloc(len + 1);
    memset(*mask, '.', len);
    (*mask)[len] = 0;
    for (size_t i = 0; i < nsp; i++) {
        cr_assert(sp[i].start < sp[i].end && sp[i].end <= len, "%s: bad span", src);
        cr_assert(i == 0 || sp[i].start > sp[i - 1].end, "%s: spans not sorted/merged", src);
        memset(*mask + sp[i].start, 'u', sp[i].end - sp[i].start);
    }
    free(sp);
    jinja_free(t);
    json_decref(ctx);
    return out;
}

Test(jinja, user_spans) {
    static const struct {
        const char *src, *out, *mask;
    } cases[] = {
        {"{{ u }}", "USER", "uuuu"},
        {"[{{ u }}]", "[USER]", ".uuuu."},
        {"{{ t }}{{ n }}{{ u|length }}", "tm54", "...."},
        {"{{ '<' + u + '>' }}", "<USER>", ".uuuu."},
        {"{{ '<' ~ u ~ t ~ n }}", "<USERtm5", ".uuuu..."},
        {"{{ u[1:3] }}|{{ u[::-1] }}|{{ u[0] }}|{{ u|first }}", "SE|RESU|U|U", "uu.uuuu.u.u"},
        {"{{ (t ~ u)[1:4] }}", "mUS", ".uu"},
        {"{{ ('  ' ~ u ~ '  ')|trim }}|{{ u.strip('UR') }}", "USER|SE", "uuuu.uu"},
        {"{% for w in (u ~ ' ab').split(' ') %}{{ w }}|{% endfor %}", "USER|ab|", "uuuu...."},
        {"{% for c in u %}{{ c }}-{% endfor %}", "U-S-E-R-", "u.u.u.u."},
        {"{{ u.replace('S', '<|x|>') }}", "U<|x|>ER", "u.....uu"},
        {"{{ 'a-b'.replace('-', u) }}|{{ u.replace('', '.') }}", "aUSERb|.U.S.E.R.",
         ".uuuu...u.u.u.u."},
        {"{{ [u, 'x']|join(',') }}|{{ u.join(['a', 'b']) }}|{{ l|join(u) }}",
         "USER,x|aUSERb|xUSERyz", "uuuu....uuuu..uuuuuuu"},
        {"{{ u|upper }}|{{ (t ~ u)|lower }}|{{ u|reverse }}", "USER|tmuser|RESU",
         "uuuu.uuuuuu.uuuu"},
        {"{{ u|tojson }}|{{ {'k': u}|tojson }}", "\"USER\"|{\"k\": \"USER\"}",
         "uuuuuu.......uuuuuu."},
        {"{{ d|tojson }}|{% for k in d %}{{ k }}{% endfor %}", "{\"ab\": 1}|ab", ".uuuu.....uu"},
        {"{{ [u] }}", "['USER']", ".uuuuuu."},
        {"{{ (u ~ '&')|e }}", "USER&amp;", "uuuuuuuuu"},
        {"{% set x %}<{{ u }}>{% endset %}{{ x }}", "<USER>", ".uuuu."},
        {"{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m(u) }}", "[USER]", ".uuuu."},
        {"{{ '%s!' % u }}|{{ '{}!'.format(u) }}|{{ u|format() }}", "USER!|USER!|USER",
         "uuuu..uuuu..uuuu"},
        {"{{ u * 2 }}|{{ (u ~ '.') * 2 }}", "USERUSER|USER.USER.", "uuuuuuuu.uuuu.uuuu."},
        {"{{ ('a\\n' ~ u)|indent(2) }}", "a\n  USER", "....uuuu"},
        {"{{ u|string }}{{ u if u else 'x' }}{{ u|default('z') }}", "USERUSERUSER", "uuuuuuuuuuuu"},
        {"{{ u.split('S')|last }}{{ u.rsplit('S', 1)|first }}", "ERU", "uuu"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *mask;
        char *out = render_mask(cases[i].src, &mask);
        cr_expect_str_eq(out, cases[i].out, "case %zu: %s", i, cases[i].src);
        cr_expect_str_eq(mask, cases[i].mask, "case %zu: %s -> '%s' mask %s", i, cases[i].src, out,
                         mask);
        free(out);
        free(mask);
    }
}

/* Without mark_user nothing is marked, and the plain API is unchanged. */
Test(jinja, user_spans_off) {
    const char *src = "{{ u }}";
    json_t *ctx = json_pack("{s:s}", "u", "USER");
    he_error err = {0};
    jinja_template *t = jinja_parse(src, strlen(src), &err);
    size_t len, nsp = 99;
    jinja_span *sp = (jinja_span *)1;
    char *out = jinja_render_spans(t, ctx, NULL, &len, &sp, &nsp, &err);
    cr_assert_str_eq(out, "USER");
    cr_expect_null(sp);
    cr_expect_eq(nsp, 0);
    free(out);
    jinja_free(t);
    json_decref(ctx);
}
