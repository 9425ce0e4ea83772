/* card_internal.h — what the card module's files share: the suite compiled into the binary
 * (generated from data/card/cases/ by scripts/embed-card-suite.sh into the build folder). */
#ifndef HEARTH_CARD_INTERNAL_H
#define HEARTH_CARD_INTERNAL_H

#include <stddef.h>

typedef struct {
    const char *name;          /* the file's name, e.g. "simple.json" */
    const unsigned char *data; /* its bytes (NUL-terminated) */
    size_t len;                /* without the NUL */
} card_builtin_file;

extern const card_builtin_file card_builtin_files[];
extern const size_t card_builtin_count;

#endif
