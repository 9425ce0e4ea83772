/* utf8.h — UTF-8 encoding shared by the tokenizer and the template engine. */
#ifndef HEARTH_BASE_UTF8_H
#define HEARTH_BASE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Writes code point cp (< 0x110000; callers validate) as 1-4 bytes to out; returns the count. */
size_t utf8_encode(uint32_t cp, char out[4]);

#endif
