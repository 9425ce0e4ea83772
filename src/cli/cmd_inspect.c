/* cmd_inspect.c — placeholder until this subcommand lands. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_inspect(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "hearth %s: not built yet\n", argv[0]);
    return 1;
}
