/* cmd_quantize.c — `hearth quantize IN.gguf OUT.gguf TYPE`: convert a model's weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "model/quantize.h"

static void usage(void) {
    fprintf(stderr, "usage: hearth quantize [-t THREADS] IN.gguf OUT.gguf TYPE\n"
                    "  TYPE: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m\n"
                    "        iq4_nl iq4_xs iq3_s tq1_0 tq2_0 mxfp4\n"
                    "        (mxfp4 with experts: experts MXFP4, other matrices Q8_0, as "
                    "llama.cpp's MXFP4_MOE)\n");
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3];
    int n_pos = 0, n_threads = 0;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--threads")) && i + 1 < argc)
            n_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "hearth quantize: unknown or incomplete option '%s'\n", argv[i]);
            usage();
            return 2;
        } else if (n_pos < 3)
            pos[n_pos++] = argv[i];
        else {
            fprintf(stderr, "hearth quantize: unexpected argument '%s'\n", argv[i]);
            usage();
            return 2;
        }
    }
    if (n_pos != 3) {
        usage();
        return 2;
    }
    he_error err = {0};
    quant_ftype ftype;
    if (quant_ftype_from_name(pos[2], &ftype, &err) < 0) {
        fprintf(stderr, "hearth quantize: %s\n", err.msg);
        return 2;
    }
    double t0 = cli_now_s();
    if (quant_model_file(pos[0], pos[1], ftype, n_threads, &err) < 0) {
        fprintf(stderr, "hearth quantize: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "hearth quantize: wrote %s (%s) in %.1f s\n", pos[1], quant_ftype_name(ftype),
            cli_now_s() - t0);
    return 0;
}
