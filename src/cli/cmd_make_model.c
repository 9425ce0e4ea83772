/* cmd_make_model.c — `hearth make-model`: a random-weight model of a real architecture's shape. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "model/synth.h"

static void usage(void) {
    fprintf(stderr,
            "usage: hearth make-model --shape SHAPE --type TYPE [--vocab VOCAB.gguf] [--seed N] "
            "[-t THREADS] [--tail L:S] OUT.gguf\n"
            "  --tail L:S: scale the output projections of layers L.. by S (a model whose first L\n"
            "         layers agree with it: the layer-skip speculative draft, docs/ENGINE.md)\n"
            "  SHAPE: %s\n"
            "  TYPE:  f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m\n"
            "         iq4_nl iq4_xs iq3_s tq1_0 tq2_0 mxfp4\n"
            "         (mxfp4 with experts: experts MXFP4, other matrices Q8_0, as llama.cpp's "
            "MXFP4_MOE)\n"
            "  VOCAB: a GGUF whose tokenizer.* keys are copied (omitted or \"\": a built-in "
            "minimal vocab)\n",
            synth_shape_names());
}

int cmd_make_model(int argc, char **argv) {
    synth_params p = {.ftype = QUANT_FTYPE_ALL_F32};
    const char *type = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--shape") && has_val)
            p.shape = argv[++i];
        else if (!strcmp(a, "--type") && has_val)
            type = argv[++i];
        else if (!strcmp(a, "--vocab") && has_val)
            p.vocab_path = argv[++i];
        else if (!strcmp(a, "--seed") && has_val) {
            char *end;
            p.seed = strtoull(argv[++i], &end, 10);
            if (*end || !*argv[i]) {
                fprintf(stderr, "hearth make-model: --seed: not a number: '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--tail") && has_val) {
            char *end;
            long l = strtol(argv[++i], &end, 10);
            float sc = *end == ':' ? strtof(end + 1, &end) : -1.0f;
            if (*end || l < 1 || l > 512 || !(sc >= 0.0f && sc <= 1.0f)) {
                fprintf(stderr,
                        "hearth make-model: --tail: expected LAYER:SCALE (scale 0..1), got '%s'\n",
                        argv[i]);
                return 2;
            }
            p.tail_from = (int32_t)l;
            p.tail_scale = sc;
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val)
            p.n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hearth make-model: unknown or incomplete option '%s'\n", a);
            usage();
            return 2;
        } else if (!out)
            out = a;
        else {
            fprintf(stderr, "hearth make-model: unexpected argument '%s'\n", a);
            usage();
            return 2;
        }
    }
    if (!p.shape || !out) {
        usage();
        return 2;
    }
    he_error err = {0};
    if (type && quant_ftype_from_name(type, &p.ftype, &err) < 0) {
        fprintf(stderr, "hearth make-model: %s\n", err.msg);
        return 2;
    }
    if (!synth_shape_find(p.shape)) {
        fprintf(stderr, "hearth make-model: unknown shape '%s' (expected one of %s)\n", p.shape,
                synth_shape_names());
        return 2;
    }
    double t0 = cli_now_s();
    if (synth_make_model(&p, out, &err) < 0) {
        fprintf(stderr, "hearth make-model: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "hearth make-model: wrote %s (%s, %s) in %.1f s\n", out, p.shape,
            quant_ftype_name(p.ftype), cli_now_s() - t0);
    return 0;
}
