/* test_srvconfig.c — the served-names config file (docs/SERVER.md): every key, defaults,
 * quoting, paths relative to the file, and line-numbered errors for each kind of mistake. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/sched.h"

static int parse(const char *text, srv_model_config **c, int *n, he_error *err) {
    return srv_config_parse(text, strlen(text), "hearth.conf", c, n, err);
}

Test(srvconfig, every_key) {
    const char *text = "# served names\n"
                       "\n"
                       "[qwen3:8b]\n"
                       "model = /models/qwen3 8b.gguf\n"
                       "ctx = 8192\n"
                       "slots = 3\n"
                       "threads = 2\n"
                       "queue = 10\n"
                       "batch = 256\n"
                       "  temperature=0.25  \n"
                       "top_p = 0.9\n"
                       "top_k = 20\n"
                       "min_p = 0.1\n"
                       "repeat_penalty = 1.1\n"
                       "repeat_last_n = -1\n"
                       "frequency_penalty = 0.5\n"
                       "presence_penalty = -0.5\n"
                       "seed = 18446744073709551615\n"
                       "system = \"Be terse.\\n\\\"Really\\\" \\\\ terse.\"\n"
                       "; other\n"
                       "[stories]\r\n"
                       "model = stories.gguf\r\n"
                       "system = plain = text # not a comment\n"
                       "prefix_reuse = off\n"
                       "kv_type = Q8_0\n";
    srv_model_config *c;
    int n;
    he_error err = {0};
    cr_assert_eq(parse(text, &c, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(c[0].name, "qwen3:8b");
    cr_assert_str_eq(c[0].path, "/models/qwen3 8b.gguf");
    cr_assert_eq(c[0].n_ctx, 8192);
    cr_assert_eq(c[0].n_slots, 3);
    cr_assert_eq(c[0].n_threads, 2);
    cr_assert_eq(c[0].max_queue, 10);
    cr_assert_eq(c[0].n_batch, 256);
    cr_assert_float_eq(c[0].sampling.temperature, 0.25f, 1e-6f);
    cr_assert_float_eq(c[0].sampling.top_p, 0.9f, 1e-6f);
    cr_assert_eq(c[0].sampling.top_k, 20);
    cr_assert_float_eq(c[0].sampling.min_p, 0.1f, 1e-6f);
    cr_assert_float_eq(c[0].sampling.repeat_penalty, 1.1f, 1e-6f);
    cr_assert_eq(c[0].sampling.repeat_last_n, -1);
    cr_assert_float_eq(c[0].sampling.frequency_penalty, 0.5f, 1e-6f);
    cr_assert_float_eq(c[0].sampling.presence_penalty, -0.5f, 1e-6f);
    cr_assert_eq(c[0].sampling.seed, UINT64_MAX);
    cr_assert_str_eq(c[0].system_prompt, "Be terse.\n\"Really\" \\ terse.");
    /* defaults */
    srv_model_config d = srv_model_config_default();
    cr_assert_str_eq(c[1].name, "stories");
    cr_assert_str_eq(c[1].path, "stories.gguf");
    cr_assert_eq(c[1].n_slots, d.n_slots);
    cr_assert_eq(c[1].max_queue, d.max_queue);
    cr_assert_eq(c[1].n_ctx, 0);
    cr_assert_eq(memcmp(&c[1].sampling, &d.sampling, sizeof d.sampling), 0);
    cr_assert_str_eq(c[1].system_prompt, "plain = text # not a comment");
    cr_assert(!c[0].no_prefix_reuse);
    cr_assert(c[1].no_prefix_reuse);
    cr_assert_eq(c[0].kv_type, HEARTH_KV_F16);
    cr_assert_eq(c[1].kv_type, HEARTH_KV_Q8_0);
    srv_config_free(c, n);
    srv_config_free(NULL, 0);
}

static void expect_error(const char *text, int line, const char *needle) {
    srv_model_config *c = (srv_model_config *)1;
    int n = 5;
    he_error err = {0};
    cr_assert_eq(parse(text, &c, &n, &err), -1, "accepted: %s", text);
    cr_assert_null(c);
    cr_assert_eq(n, 0);
    cr_assert_eq(err.code, HE_FORMAT, "%s", err.msg);
    char where[64];
    if (line > 0)
        snprintf(where, sizeof where, "hearth.conf:%d: ", line);
    else
        snprintf(where, sizeof where, "hearth.conf: ");
    cr_assert(!strncmp(err.msg, where, strlen(where)), "'%s' should start with '%s'", err.msg,
              where);
    cr_assert(strstr(err.msg, needle), "'%s' should contain '%s'", err.msg, needle);
}

Test(srvconfig, errors_name_the_line) {
    expect_error("model = x\n", 1, "before any [served-name]");
    expect_error("[a]\nctx = 10\n", 1, "has no 'model = PATH'");
    expect_error("[a]\nctx = 10\n[b]\nmodel = y\n", 1, "section [a] has no");
    expect_error("[a]\nmodel = x\n\n[a]\nmodel = y\n", 4, "appears twice");
    expect_error("[a]\nmodel = x\ntmp = 1\n", 3, "unknown key 'tmp'");
    expect_error("[a]\nmodel = x\nmodel = y\n", 3, "given twice");
    expect_error("[a b]\nmodel = x\n", 1, "not allowed in a served name");
    expect_error("[]\nmodel = x\n", 1, "empty served name");
    expect_error("[a\nmodel = x\n", 1, "must end with ']'");
    expect_error("[a]\nmodel = \"x\\q\"\n", 2, "unknown escape");
    expect_error("[a]\nmodel = \"x\n", 2, "unterminated");
    expect_error("[a]\nmodel = \"x\"y\"\n", 2, "unescaped");
    expect_error("[a]\nmodel = x\nslots = 65\n", 3, "'slots' must be an integer in [1, 64]");
    expect_error("[a]\nmodel = x\nctx = 12abc\n", 3, "'ctx' must be");
    expect_error("[a]\nmodel = x\ntemperature = nan\n", 3, "'temperature' must be");
    expect_error("[a]\nmodel = x\ntop_p = 1.5\n", 3, "'top_p'");
    expect_error("[a]\nmodel = x\nseed = -1\n", 3, "'seed'");
    expect_error("[a]\nmodel =\n", 2, "'model' is empty");
    expect_error("[a]\nmodel = x\njust words\n", 3, "expected 'key = value'");
    expect_error("[a]\nmodel = x\nprefix_reuse = maybe\n", 3,
                 "'prefix_reuse' must be true or false");
    expect_error("[a]\n= x\n", 2, "missing or overlong key");
    expect_error("[a]\nmodel = x\nkv_type = q4_0\n", 3,
                 "'kv_type' must be one of f16, f32, q8_0 (got 'q4_0')");
    expect_error("", 0, "no [served-name] sections");
    expect_error("# nothing\n", 0, "no [served-name] sections");
    const char nul[] = "[a]\nmodel = x\0y\n";
    srv_model_config *c;
    int n;
    he_error err = {0};
    cr_assert_eq(srv_config_parse(nul, sizeof nul - 1, "hearth.conf", &c, &n, &err), -1);
    cr_assert(strstr(err.msg, "hearth.conf:2: NUL"), "%s", err.msg);
}

Test(srvconfig, load_resolves_relative_paths) {
    char dir[] = "/tmp/test_srvconfig_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/hearth.conf", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("[rel]\nmodel = m/x.gguf\ndraft = d/small.gguf\n[abs]\nmodel = /abs/y.gguf\ndraft = /abs/d.gguf\n", f);
    fclose(f);
    srv_model_config *c;
    int n;
    he_error err = {0};
    cr_assert_eq(srv_config_load(path, &c, &n, &err), 0, "%s", err.msg);
    char want[300];
    snprintf(want, sizeof want, "%s/m/x.gguf", dir);
    cr_assert_str_eq(c[0].path, want);
    cr_assert_str_eq(c[1].path, "/abs/y.gguf");
    snprintf(want, sizeof want, "%s/d/small.gguf", dir);
    cr_assert_str_eq(c[0].draft, want, "a draft path is relative to the config file too");
    cr_assert_str_eq(c[1].draft, "/abs/d.gguf");
    srv_config_free(c, n);
    unlink(path);
    rmdir(dir);
    cr_assert_eq(srv_config_load(path, &c, &n, &err), -1);
    cr_assert_eq(err.code, HE_IO);
    cr_assert(strstr(err.msg, "hearth.conf"), "%s", err.msg);
}

/* A store model's params (srv_config_apply_params): applied as defaults, config keys win,
 * unknown keys ignored, bad types and ranges refused with the key named. */
Test(srvconfig, store_params) {
    srv_model_config *c = NULL;
    int n = 0;
    he_error err = {0};
    cr_assert_eq(parse("[a]\nmodel = m.gguf\ntemperature = 0.5\nctx = 128\n", &c, &n, &err), 0, "%s", err.msg);
    cr_expect_eq(c[0].set, SRV_CONF_TEMPERATURE | SRV_CONF_CTX);
    const char *p = "{\"temperature\": 0, \"top_k\": 7, \"num_ctx\": 999, \"seed\": 42, \"min_p\": 0.25,"
                    " \"system\": \"S\", \"mirostat\": 2}";
    cr_assert_eq(srv_config_apply_params(&c[0], p, "m", &err), 0, "%s", err.msg);
    cr_expect_float_eq(c[0].sampling.temperature, 0.5f, 1e-6f, "the config wins");
    cr_expect_eq(c[0].n_ctx, 128, "the config wins");
    cr_expect_eq(c[0].sampling.top_k, 7);
    cr_expect_eq(c[0].sampling.seed, 42u);
    cr_expect_float_eq(c[0].sampling.min_p, 0.25f, 1e-6f);
    cr_expect_str_eq(c[0].system_prompt, "S");
    static const char *const bad[][2] = {
        {"[1]", "not a JSON object"},
        {"{\"top_k\": 1.5}", "'top_k' must be an integer"},
        {"{\"top_p\": 2}", "'top_p' must be a number in [0, 1]"},
        {"{\"temperature\": \"hot\"}", "'temperature' must be a number"},
        {"{\"system\": 3}", "'system' must be a string"},
        {"{\"seed\": -1}", "'seed' must be an integer"},
        {"{\"a\": 1, \"a\": 2}", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        he_error e = {0};
        cr_expect_eq(srv_config_apply_params(&c[0], bad[i][0], "tiny:x", &e), -1, "%s", bad[i][0]);
        cr_expect(strstr(e.msg, bad[i][1]) && strstr(e.msg, "tiny:x"), "%s -> %s", bad[i][0], e.msg);
    }
    srv_config_free(c, n);
}

Test(srvconfig, reasoning_budget) {
    srv_model_config *c = NULL;
    int n = 0;
    he_error err = {0};
    const char *t = "[a]\nmodel = x\nreasoning_budget = 64\n[b]\nmodel = y\n";
    cr_assert_eq(srv_config_parse(t, strlen(t), "hearth.conf", &c, &n, &err), 0, "%s", err.msg);
    cr_expect_eq(c[0].reasoning_budget, 64);
    cr_expect_eq(c[1].reasoning_budget, -1, "not given: the server's default");
    cr_expect(!srv_model_config_same(&c[0], &c[1]));
    srv_config_free(c, n);
    expect_error("[a]\nmodel = x\nreasoning_budget = -3\n", 3, "'reasoning_budget' must be an integer in [0, 1048576]");
}

/* Routing served names (docs/SERVER.md "Routing"): route = SMALL, LARGE. */
Test(srvconfig, route) {
    const char *text = "[tiny]\nmodel = /m/tiny.gguf\n"
                       "[big]\nmodel = /m/big.gguf\n"
                       "[auto]\nroute =  tiny ,big \nroute_long_prompt = 200\n"
                       "[auto2]\nroute = big, tiny\n";
    srv_model_config *c;
    int n;
    he_error err = {0};
    cr_assert_eq(parse(text, &c, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 4);
    cr_assert_null(c[2].path);
    cr_assert_str_eq(c[2].route_small, "tiny");
    cr_assert_str_eq(c[2].route_large, "big");
    cr_assert_eq(c[2].route_long_prompt, 200);
    cr_assert_str_eq(c[3].route_small, "big");
    cr_assert_eq(c[3].route_long_prompt, 1024, "the default");
    cr_assert_null(c[0].route_small);
    srv_config_free(c, n);
}

Test(srvconfig, route_errors) {
    const char *models = "[tiny]\nmodel = a\n[big]\nmodel = b\n";
    static const char *const bad[][2] = {
        {"[r]\nroute = tiny, nope\n", "names 'nope', which is not a served name"},
        {"[r]\nroute = r, big\n", "route [r] names itself"},
        {"[r]\nroute = tiny, big\n[s]\nroute = r, big\n", "which is itself a route"},
        {"[r]\nroute = tiny\n", "must be two served names"},
        {"[r]\nroute = tiny, big, x\n", "must be two served names"},
        {"[r]\nroute = , big\n", "small served name is empty"},
        {"[r]\nroute = big, big\n", "the same name"},
        {"[r]\nroute = tiny, big\nmodel = c\n", "is a route: only"},
        {"[r]\nroute = tiny, big\nctx = 5\n", "is a route: only"},
        {"[r]\nmodel = c\nroute_long_prompt = 5\n", "without 'route'"},
        {"[r]\nroute = tiny, big\nroute_long_prompt = -1\n", "'route_long_prompt' must be"},
        {"[r]\nroute = tiny, big\nroute = tiny, big\n", "given twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s", models, bad[i][0]);
        srv_model_config *c = (srv_model_config *)1;
        int n = 5;
        he_error err = {0};
        cr_assert_eq(parse(text, &c, &n, &err), -1, "accepted: %s", bad[i][0]);
        cr_assert_null(c);
        cr_assert(strstr(err.msg, bad[i][1]), "%s: got '%s'", bad[i][0], err.msg);
    }
}

/* context_overflow = error (the default) | shift; anything else names the line. */
Test(srvconfig, context_overflow) {
    srv_model_config *c;
    int n;
    he_error err = {0};
    cr_assert_eq(parse("[a]\nmodel = x\n[b]\nmodel = y\ncontext_overflow = shift\n[c]\nmodel = z\n"
                       "context_overflow = error\n",
                       &c, &n, &err),
                 0, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_assert_eq(c[0].context_overflow, SRV_OVERFLOW_ERROR);
    cr_assert_eq(c[1].context_overflow, SRV_OVERFLOW_SHIFT);
    cr_assert_eq(c[2].context_overflow, SRV_OVERFLOW_ERROR);
    srv_config_free(c, n);
    cr_assert_neq(parse("[a]\nmodel = x\ncontext_overflow = drop\n", &c, &n, &err), 0);
    cr_assert_not_null(strstr(err.msg, ":3:"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "'context_overflow' must be error or shift (got 'drop')"),
                       "%s", err.msg);
}

/* Speculative decoding keys (docs/SERVER.md "Speculative decoding"). */
Test(srvconfig, speculative) {
    const char *text = "[a]\nmodel = t.gguf\ndraft = small.gguf\ndraft_max = 5\ndraft_min_p = 0.4\n"
                       "[b]\nmodel = t.gguf\nlookup = 7\n"
                       "[c]\nmodel = t.gguf\n"
                       "[d]\nmodel = t.gguf\ndraft_layers = 3\ndraft_max = 4\ndraft_min_p = 0.2\n";
    srv_model_config *c;
    int n;
    he_error err = {0};
    cr_assert_eq(parse(text, &c, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 4);
    cr_assert_eq(c[3].draft_layers, 3, "layer skip: the target's own first layers");
    cr_assert_null(c[3].draft);
    cr_assert_str_eq(c[0].draft, "small.gguf");
    cr_assert_eq(c[0].draft_max, 5);
    cr_assert_float_eq(c[0].draft_min_p, 0.4f, 1e-6f);
    cr_assert_eq(c[1].lookup, 7);
    cr_assert_null(c[1].draft);
    cr_assert_null(c[2].draft);
    cr_assert_eq(c[2].lookup, 0);
    cr_assert(!srv_model_config_same(&c[1], &c[2]), "lookup is part of what a name serves");
    srv_config_free(c, n);
    const char *bad[][2] = {
        {"[r]\nmodel = t\ndraft = d\nlookup = 3\n", "two ways to draft"},
        {"[r]\nmodel = t\ndraft_max = 3\n", "without 'draft', 'draft_layers' or 'lookup'"},
        {"[r]\nmodel = t\nlookup = 3\ndraft_min_p = 0.5\n", "needs a draft model"},
        {"[r]\nmodel = t\ndraft = d\ndraft_max = 33\n", "'draft_max' must be"},
        {"[r]\nmodel = t\nlookup = 0\n", "'lookup' must be"},
        {"[r]\nmodel = t\ndraft = d\ndraft_min_p = 2\n", "'draft_min_p' must be"},
        {"[r]\nmodel = t\ndraft =\n", "'draft' is empty"},
        {"[r]\nmodel = t\ndraft_layers = 2\nlookup = 3\n", "two ways to draft"},
        {"[r]\nmodel = t\ndraft_layers = 0\n", "'draft_layers' must be"},
        {"[m]\nmodel = t\n[r]\nroute = m, m2\ndraft = d\n[m2]\nmodel = t\n", "is a route: only"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srv_model_config *cc = (srv_model_config *)1;
        int nn = 5;
        he_error e = {0};
        cr_assert_eq(parse(bad[i][0], &cc, &nn, &e), -1, "accepted: %s", bad[i][0]);
        cr_assert(strstr(e.msg, bad[i][1]), "%s: got '%s'", bad[i][0], e.msg);
    }
}

/* Store mode (srv_config_parse_ex with store_names): a route may name store models that are not
 * sections; a name that cannot be a store name is still refused, and so is a route of routes. */
Test(srvconfig, route_to_store_names) {
    const char *text = "[auto]\nroute = qwen3:0.6b, big\n[big]\nmodel = b.gguf\n";
    srv_model_config *c;
    int n;
    he_error err = {0};
    cr_assert_eq(srv_config_parse_ex(text, strlen(text), "hearth.conf", true, &c, &n, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c[0].route_small, "qwen3:0.6b");
    srv_config_free(c, n);
    cr_assert_eq(parse(text, &c, &n, &err), -1, "without store mode the name must be a section");
    cr_assert(strstr(err.msg, "names 'qwen3:0.6b', which is not a served name of this file"), "%s", err.msg);
    const char *bad = "[auto]\nroute = bad name!, big\n[big]\nmodel = b.gguf\n";
    cr_assert_eq(srv_config_parse_ex(bad, strlen(bad), "hearth.conf", true, &c, &n, &err), -1);
    cr_assert(strstr(err.msg, "nor a model store name") || strstr(err.msg, "route"), "%s", err.msg);
}
