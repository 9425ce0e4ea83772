/* nfc_tables.h — Unicode data for NFC normalization (generated into nfc_tables.c by
 * tools/gen_nfc_tables.py). Arrays are sorted for binary search; Hangul is algorithmic. */
#ifndef HEARTH_TOK_NFC_TABLES_H
#define HEARTH_TOK_NFC_TABLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t cp;
    uint8_t ccc; /* canonical combining class (only nonzero ones are listed) */
} tok_nfc_ccc;

typedef struct {
    uint32_t cp, a, b; /* cp -> a b (b = 0 for a singleton) */
} tok_nfc_dec;

typedef struct {
    uint32_t a, b, cp; /* a + b compose to cp; sorted by (a, b) */
} tok_nfc_comp;

extern const tok_nfc_ccc tok_nfc_ccc_tab[];
extern const size_t tok_nfc_ccc_n;
extern const tok_nfc_dec tok_nfc_dec_tab[];
extern const size_t tok_nfc_dec_n;
extern const tok_nfc_comp tok_nfc_comp_tab[];
extern const size_t tok_nfc_comp_n;

#endif
