/* fuzz_manifest.c — store_manifest_parse over arbitrary bytes. Invariants: it never crashes or
 * leaks; an accepted manifest has a valid name and only valid digests, and dumping and parsing it
 * again gives the same manifest (round trip). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    store_manifest m, back;
    he_error err;
    if (store_manifest_parse((const char *)data, size, &m, &err) < 0) return 0;
    if (store_name_check(m.name, NULL) != 0) abort();
    store_blob_ref refs[STORE_MAX_ADAPTERS + 3];
    int n = store_manifest_blobs(&m, refs, STORE_MAX_ADAPTERS + 3);
    for (int i = 0; i < n; i++)
        if (!store_digest_valid(refs[i].digest)) abort();
    char *j = store_manifest_dump(&m);
    if (!j) return 0;
    if (store_manifest_parse(j, strlen(j), &back, &err) < 0) abort();
    free(j);
    if (strcmp(m.name, back.name) || m.n_adapters != back.n_adapters ||
        strcmp(m.weights.digest, back.weights.digest) || m.weights.size != back.weights.size ||
        m.has_template != back.has_template || m.has_params != back.has_params)
        abort();
    return 0;
}
