/* test_manage_req.c — store mode's pure parsers (server/manage_req.h): Ollama keep_alive
 * durations, --max-memory sizes and their display, the /api/create body and the params
 * override it produces; and the memory prediction of a generated model (server/memory.h). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/synth.h"
#include "server/manage_req.h"
#include "server/memory.h"

static double ka(const char *json, int *rc) {
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    cr_assert(v, "%s", json);
    double s = -99;
    char why[128];
    *rc = srv_keep_alive_parse(v, &s, why, sizeof why);
    json_decref(v);
    return s;
}

Test(manage_req, keep_alive) {
    static const struct {
        const char *json;
        double want;
    } ok[] = {{"300", 300},           {"0", 0},           {"-1", -1},
              {"1.5", 1.5},           {"\"5m\"", 300},    {"\"1h30m\"", 5400},
              {"\"1.5h\"", 5400},     {"\"300ms\"", 0.3}, {"\"10s\"", 10},
              {"\"0\"", 0},           {"\"-1\"", -1},     {"\"-1m\"", -1},
              {"\"2h45m10s\"", 9910}, {"\"120\"", 120},   {"1e12", -1},
              {"\"+5s\"", 5},         {"\"1us\"", 1e-6},  {"\"3ns\"", 3e-9}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int rc;
        double s = ka(ok[i].json, &rc);
        cr_expect_eq(rc, 0, "%s", ok[i].json);
        cr_expect(fabs(s - ok[i].want) < 1e-9, "%s -> %g, want %g", ok[i].json, s, ok[i].want);
    }
    const char *bad[] = {
        "\"\"", "\"5\\u0000s\"", "\"5 minutes\"", "\"m\"",   "\"5x\"", "\".s\"", "true", "[]",
        "{}",   "null",          "\"--1s\"",      "\"5m \"", "\" 5m\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc;
        ka(bad[i], &rc);
        cr_expect_eq(rc, -1, "%s should be refused", bad[i]);
    }
}

Test(manage_req, sizes) {
    uint64_t v;
    cr_expect_eq(srv_size_parse("512", &v), 0);
    cr_expect_eq(v, 512);
    cr_expect_eq(srv_size_parse("8G", &v), 0);
    cr_expect_eq(v, 8ull << 30);
    cr_expect_eq(srv_size_parse("1.5GiB", &v), 0);
    cr_expect_eq(v, 3ull << 29);
    cr_expect_eq(srv_size_parse("300mb", &v), 0);
    cr_expect_eq(v, 300ull << 20);
    const char *bad[] = {"", "G", "-1", "1.G", "1 G", "5Q", "99999999999T", ".5G", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(srv_size_parse(bad[i], &v), -1, "%s", bad[i] ? bad[i] : "NULL");
    char b[32];
    srv_size_format(1536ull << 20, b, sizeof b);
    cr_expect_str_eq(b, "1.50 GiB");
    srv_size_format(300ull << 20, b, sizeof b);
    cr_expect_str_eq(b, "300 MiB");
    srv_size_format(12, b, sizeof b);
    cr_expect_str_eq(b, "12 B");
}

static int create(const char *body, srv_create_req *r, srv_req_error *e) {
    return srv_create_parse(body, strlen(body), r, e);
}

Test(manage_req, create_body) {
    srv_create_req r;
    srv_req_error e;
    cr_assert_eq(create("{\"model\":\"a:b\",\"from\":\"base\",\"system\":\"S\",\"template\":\"T\","
                        "\"parameters\":"
                        "{\"temperature\":0.5,\"stop\":[\"x\"]},\"messages\":[{\"role\":\"user\","
                        "\"content\":\"hi\","
                        "\"extra\":1}],\"stream\":false}",
                        &r, &e),
                 0, "%s", e.message);
    cr_expect_str_eq(r.model, "a:b");
    cr_expect_str_eq(r.from, "base");
    cr_expect_str_eq(r.system, "S");
    cr_expect_str_eq(r.tmpl, "T");
    cr_expect(!r.stream);
    bool failed;
    char *p = srv_create_params("{\"top_k\":3,\"temperature\":1}", &r, 65536, &failed, &e);
    cr_assert(p && !failed);
    cr_expect_str_eq(
        p,
        "{\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}],\"stop\":[\"x\"],\"system\":\"S\","
        "\"temperature\":0.5,\"top_k\":3}");
    free(p);
    cr_expect_null(srv_create_params("[1]", &r, 65536, &failed, &e));
    cr_expect(failed);
    cr_expect_null(srv_create_params(NULL, &r, 10, &failed, &e));
    cr_expect(failed);
    srv_create_free(&r);
    /* legacy "name"; nothing to add: no params */
    cr_assert_eq(create("{\"name\":\"n\",\"from\":\"m\"}", &r, &e), 0);
    cr_expect_str_eq(r.model, "n");
    cr_expect(r.stream);
    cr_expect_null(srv_create_params(NULL, &r, 100, &failed, &e));
    cr_expect(!failed);
    srv_create_free(&r);

    static const struct {
        const char *body, *param;
    } bad[] = {
        {"{\"from\":\"m\"}", "model"},
        {"{\"model\":\"n\"}", "from"},
        {"{\"model\":1,\"from\":\"m\"}", "model"},
        {"{\"model\":\"n\",\"from\":\"m\",\"files\":{\"a.gguf\":\"sha256:00\"}}", "files"},
        {"{\"model\":\"n\",\"from\":\"m\",\"modelfile\":\"FROM x\"}", "modelfile"},
        {"{\"model\":\"n\",\"from\":\"m\",\"quantize\":\"q4_0\"}", "quantize"},
        {"{\"model\":\"n\",\"from\":\"m\",\"adapters\":{}}", "adapters"},
        {"{\"model\":\"n\",\"from\":\"m\",\"parameters\":[]}", "parameters"},
        {"{\"model\":\"n\",\"from\":\"m\",\"parameters\":{\"a\":{}}}", "parameters"},
        {"{\"model\":\"n\",\"from\":\"m\",\"parameters\":{\"system\":\"x\"}}", "parameters"},
        {"{\"model\":\"n\",\"from\":\"m\",\"messages\":[{\"role\":\"bot\",\"content\":\"x\"}]}",
         "messages"},
        {"{\"model\":\"n\",\"from\":\"m\",\"messages\":{}}", "messages"},
        {"{\"model\":\"n\",\"from\":\"m\",\"stream\":1}", "stream"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(create(bad[i].body, &r, &e), -1, "%s", bad[i].body);
        cr_expect_eq(e.status, 400, "%s", bad[i].body);
        cr_expect_str_eq(e.param, bad[i].param, "%s", bad[i].body);
        cr_expect_null(r.model);
    }
    cr_expect_eq(create("[]", &r, &e), -1);
}

Test(manage_req, memory_prediction) {
    char path[] = "/tmp/hearth-mem-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    he_error err = {0};
    synth_params sp = {
        .shape = "tiny-qwen3", .ftype = QUANT_FTYPE_ALL_F32, .seed = 1, .n_threads = 2};
    cr_assert_eq(synth_make_model(&sp, path, &err), 0, "%s", err.msg);
    srv_mem_prediction p, p2;
    cr_assert_eq(srv_mem_predict(path, 0, 4, HEARTH_KV_F16, 0, 2, &p, &err), 0, "%s", err.msg);
    cr_expect_eq(p.n_ctx, 512, "min(training context, 4096)");
    /* tiny-qwen3: 2 layers, 2 KV heads of 128: (256 + 256) * 2 bytes per cell and layer */
    cr_expect_eq(p.kv, 512ull * 4 * 2 * 1024 + 512ull * 4 * 16);
    cr_expect_eq(p.total, p.weights + p.kv + p.scratch);
    cr_expect_gt(p.scratch, 0);
    cr_assert_eq(srv_mem_predict(path, 256, 4, HEARTH_KV_Q8_0, 0, 2, &p2, &err), 0);
    cr_expect_eq(p2.kv, 256ull * 4 * 2 * 512 / 32 * 34 + 256ull * 4 * 16);
    cr_expect_eq(srv_mem_predict("/nonexistent.gguf", 0, 1, HEARTH_KV_F16, 0, 1, &p, &err), -1);
    unlink(path);
    cr_expect_gt(srv_mem_available(), 0);
    cr_expect_gt(srv_mem_rss(), 0);
}
