/* cmd_make_model.c — placeholder until this subcommand lands. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_make_model(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "hearth %s: not built yet\n", argv[0]);
    return 1;
}
