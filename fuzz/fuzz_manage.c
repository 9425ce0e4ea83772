/* fuzz_manage.c — store mode's request parsers (server/manage_req.h) over arbitrary bytes: the
 * input as a keep_alive string, as a JSON keep_alive value, as a --max-memory size, and as an
 * /api/create body, whose params override is then built (over the input as the base params
 * too). Invariants: a parsed keep_alive is -1 (forever) or within [0, SRV_KEEP_ALIVE_MAX]; a
 * size is at most 2^62; a parsed create body has a model and a from, and its params override is
 * a JSON object holding every parameter, the system prompt and the messages it was given;
 * a refused body leaves nothing allocated and a 400 with a message. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/manage_req.h"

static void check_keep(const json_t *v) {
    double s = -99;
    char why[128];
    if (srv_keep_alive_parse(v, &s, why, sizeof why) == 0) {
        if (!(s == SRV_KEEP_ALIVE_FOREVER || (s >= 0 && s <= SRV_KEEP_ALIVE_MAX))) abort();
    } else if (!why[0]) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    json_t *str = json_stringn_nocheck(buf, size);
    check_keep(str);
    json_decref(str);
    json_t *any = json_loadb(buf, size, JSON_DECODE_ANY, NULL);
    if (any) check_keep(any);
    json_decref(any);
    uint64_t bytes;
    if (srv_size_parse(buf, &bytes) == 0 && bytes > (1ull << 62)) abort();
    char shown[32];
    srv_size_format(bytes, shown, sizeof shown);

    srv_create_req r;
    srv_req_error e;
    if (srv_create_parse(buf, size, &r, &e) == 0) {
        if (!r.model || !r.from) abort();
        const char *bases[2] = {NULL, buf};
        for (int b = 0; b < 2; b++) {
            bool failed;
            char *p = srv_create_params(bases[b], &r, 65536, &failed, &e);
            if (p) {
                json_t *o = json_loads(p, 0, NULL);
                if (!json_is_object(o)) abort();
                const char *k;
                json_t *v;
                if (r.parameters)
                    json_object_foreach(r.parameters, k,
                                        v) if (!json_equal(json_object_get(o, k), v)) abort();
                if (r.system) {
                    json_t *want = json_string_nocheck(r.system);
                    if (!json_equal(json_object_get(o, "system"), want)) abort();
                    json_decref(want);
                }
                if (r.messages && !json_equal(json_object_get(o, "messages"), r.messages)) abort();
                json_decref(o);
                free(p);
            } else if (failed ? !e.message[0]
                              : (bases[b] || r.parameters || r.system || r.messages)) {
                abort();
            }
        }
        srv_create_free(&r);
    } else {
        if (r.model || r.from || r.parameters || !e.message[0] || e.status != 400) abort();
    }
    free(buf);
    return 0;
}
