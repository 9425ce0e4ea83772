/* wpm_tables.h — Unicode tables for WordPiece's basic tokenizer (generated into wpm_tables.c by
 * tools/gen_wpm_tables.py). All arrays are sorted by code point for binary search. */
#ifndef HEARTH_TOK_WPM_TABLES_H
#define HEARTH_TOK_WPM_TABLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t lo, hi; /* inclusive */
} tok_cp_range;

typedef struct {
    uint32_t cp;
    uint32_t to[3]; /* NFD without nonspacing marks, lower-cased; 0-padded */
} tok_cp_fold;

extern const tok_cp_range
    tok_wpm_removed[]; /* control, format, unassigned, private use, NUL, U+FFFD */
extern const size_t tok_wpm_removed_n;
extern const tok_cp_range tok_wpm_space[];
extern const size_t tok_wpm_space_n;
extern const tok_cp_range tok_wpm_punct[]; /* Unicode P* and ASCII symbols */
extern const size_t tok_wpm_punct_n;
extern const tok_cp_fold tok_wpm_fold[];
extern const size_t tok_wpm_fold_n;

#endif
