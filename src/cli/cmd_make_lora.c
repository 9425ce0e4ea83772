/* cmd_make_lora.c — `hearth make-lora`: a random LoRA adapter for a base model (tests, benches). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "model/lora.h"

static void usage(void) {
    fprintf(stderr, "usage: hearth make-lora --base BASE.gguf --rank R [--seed N] [--alpha A] "
                    "[--targets q,k,v,o,gate,up,down] OUT.gguf\n");
}

int cmd_make_lora(int argc, char **argv) {
    const char *base = NULL, *out = NULL;
    long rank = 0, seed = 0;
    float alpha = 0.0f;
    unsigned targets = HEARTH_LORA_ALL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--base") && has_val)
            base = argv[++i];
        else if (!strcmp(a, "--rank") && has_val) {
            if (cli_parse_long(argv[++i], 1, 4096, &rank)) {
                fprintf(stderr, "hearth make-lora: --rank: expected 1..4096, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--seed") && has_val) {
            if (cli_parse_long(argv[++i], 0, 2147483647L, &seed)) {
                fprintf(stderr, "hearth make-lora: --seed: not a number: '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--alpha") && has_val) {
            if (cli_parse_float(argv[++i], 1e-6f, 1e6f, &alpha)) {
                fprintf(stderr, "hearth make-lora: --alpha: expected a positive number, got '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--targets") && has_val) {
            if (hearth_lora_targets_parse(argv[++i], &targets)) {
                fprintf(stderr,
                        "hearth make-lora: --targets: expected names from "
                        "q,k,v,o,gate,up,down, got '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hearth make-lora: unknown or incomplete option '%s'\n", a);
            usage();
            return 2;
        } else if (!out)
            out = a;
        else {
            fprintf(stderr, "hearth make-lora: unexpected argument '%s'\n", a);
            usage();
            return 2;
        }
    }
    if (!base || !out || !rank) {
        usage();
        return 2;
    }
    he_error err = {0};
    if (hearth_lora_make(base, (int32_t)rank, alpha, targets, (uint64_t)seed, out, &err) < 0) {
        fprintf(stderr, "hearth make-lora: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "hearth make-lora: wrote %s (rank %ld)\n", out, rank);
    return 0;
}

/* `hearth lora merge BASE A OUT.gguf [--scale S] [--type T]` */
int cmd_lora(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "merge")) {
        fprintf(
            stderr,
            "usage: hearth lora merge BASE.gguf ADAPTER.gguf OUT.gguf [--scale S] [--type T]\n");
        return 2;
    }
    const char *pos[3] = {0};
    int np = 0;
    float scale = 1.0f;
    const char *type = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            type = argv[++i];
        } else if (!strcmp(argv[i], "--scale") && i + 1 < argc) {
            if (cli_parse_float(argv[++i], -1e6f, 1e6f, &scale)) {
                fprintf(stderr, "hearth lora merge: --scale: not a number: '%s'\n", argv[i]);
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "hearth lora merge: unknown or incomplete option '%s'\n", argv[i]);
            return 2;
        } else if (np < 3)
            pos[np++] = argv[i];
        else {
            fprintf(stderr, "hearth lora merge: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (np != 3) {
        fprintf(
            stderr,
            "usage: hearth lora merge BASE.gguf ADAPTER.gguf OUT.gguf [--scale S] [--type T]\n");
        return 2;
    }
    he_error err = {0};
    if (hearth_lora_merge(pos[0], pos[1], scale, type, pos[2], &err) < 0) {
        fprintf(stderr, "hearth lora merge: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "hearth lora merge: wrote %s\n", pos[2]);
    return 0;
}
