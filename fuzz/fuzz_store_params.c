/* fuzz_store_params.c — libFuzzer target: any bytes as a store model's params override
 * (srv_config_apply_params). It must never crash or leak, must either fail with a message or
 * leave every value in its documented range, and must never touch a key the config set. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/sched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 65536) return 0;
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    srv_model_config c = srv_model_config_default();
    c.set = data[0] & 1 ? SRV_CONF_TEMPERATURE | SRV_CONF_CTX | SRV_CONF_SYSTEM : 0;
    c.sampling.temperature = 0.125f;
    he_error err = {0};
    int rc = srv_config_apply_params(&c, text, "fuzz", &err);
    if (rc == 0) {
        const sample_params *s = &c.sampling;
        if (!(s->temperature >= 0.0f && s->temperature <= 100.0f) || !(s->top_p >= 0.0f && s->top_p <= 1.0f) ||
            !(s->min_p >= 0.0f && s->min_p <= 1.0f) || s->top_k < 0 || s->repeat_last_n < -1 || c.n_ctx < 0 ||
            c.n_ctx > (1 << 22))
            abort();
        if (c.set && (s->temperature != 0.125f || c.n_ctx != 0 || c.system_prompt)) abort();
    } else if (rc != -1 || !err.msg[0]) {
        abort();
    }
    free((char *)c.system_prompt);
    free(text);
    return 0;
}
