/* test_jinja.c — the Jinja interpreter against golden vectors rendered by Python's Jinja2:
 * the real chat-template cases (tests/data/chat-templates/cases.json), the Qwen 3
 * template from the qwen2 vocab GGUF and a table of small semantics templates (both generated
 * by tools/gen_template_cases.py), plus limits against hostile templates and parser inputs
 * placed against a guard page. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
