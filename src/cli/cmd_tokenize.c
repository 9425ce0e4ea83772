/* cmd_tokenize.c — `hearth tokenize MODEL.gguf [--no-bos] [--no-special] [--jsonl]`.
 *
 * Loads only the vocabulary of MODEL.gguf (vocab-only files work) and tokenizes stdin.
 * Default: all of stdin, byte for byte (no newline is stripped), is one text; the ids are
 * printed as one JSON array on one line, e.g. `[1, 15043, 3186]`.
 * --jsonl: each stdin line is a JSON string (one text per line; lets tests send many texts to
 * one process); each gets its own output line with its JSON array.
 * --no-bos: add no BOS (nor EOS) even when the vocab asks for them.
 * --no-special: text that spells a control token (e.g. "<|im_start|>") is tokenized as plain
 * text instead of becoming that token. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#define STDIN_LIMIT ((size_t)1 << 31) /* the tokenizer refuses longer texts anyway */

static int usage(void) {
    fprintf(stderr, "usage: hearth tokenize MODEL.gguf [--no-bos] [--no-special] [--jsonl]   (text "
                    "on stdin)\n");
    return 2;
}

static char *read_all(FILE *in, size_t *n_out, he_error *err) {
    size_t cap = 1 << 16, n = 0;
    char *buf = he_malloc(cap);
    if (!buf) goto nomem;
    for (;;) {
        if (n == cap) {
            if (cap >= STDIN_LIMIT) {
                free(buf);
                he_fail(err, HE_LIMIT, "stdin is longer than %zu bytes", STDIN_LIMIT);
                return NULL;
            }
            char *b = he_realloc(buf, cap * 2);
            if (!b) goto nomem;
            buf = b;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, in);
        n += r;
        if (r == 0) break;
    }
    if (ferror(in)) {
        free(buf);
        he_fail(err, HE_IO, "reading stdin failed");
        return NULL;
    }
    *n_out = n;
    return buf;
nomem:
    free(buf);
    he_fail(err, HE_NOMEM, "out of memory reading stdin");
    return NULL;
}

static void print_ids(const int32_t *ids, size_t n) {
    putchar('[');
    for (size_t i = 0; i < n; i++)
        printf(i ? ", %d" : "%d", (int)ids[i]);
    puts("]");
}

static int tokenize_one(const tok_vocab *v, const char *text, size_t len, bool add_special,
                        bool parse_special, he_error *err) {
    int32_t *ids;
    size_t n;
    if (tok_encode(v, text, len, add_special, parse_special, &ids, &n, err) < 0) return -1;
    print_ids(ids, n);
    free(ids);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    bool add_special = true, parse_special = true, jsonl = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-bos"))
            add_special = false;
        else if (!strcmp(argv[i], "--no-special"))
            parse_special = false;
        else if (!strcmp(argv[i], "--jsonl"))
            jsonl = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return usage();
        else if (argv[i][0] == '-' || path)
            return usage();
        else
            path = argv[i];
    }
    if (!path) return usage();

    he_error err = {0};
    int rc = 1;
    char *text = NULL;
    tok_vocab *v = NULL;
    gguf_file *f = gguf_open(path, &err);
    if (!f) goto fail;
    v = tok_vocab_load(f, &err);
    gguf_close(f); /* the vocab keeps its own copy */
    if (!v) goto fail;

    size_t len;
    if (!(text = read_all(stdin, &len, &err))) goto fail;
    if (!jsonl) {
        if (tokenize_one(v, text, len, add_special, parse_special, &err) < 0) goto fail;
    } else {
        size_t line_no = 0;
        for (size_t pos = 0; pos < len;) {
            char *nl = memchr(text + pos, '\n', len - pos);
            size_t end = nl ? (size_t)(nl - text) : len;
            line_no++;
            json_error_t je;
            json_t *s = json_loadb(text + pos, end - pos, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            if (!s || !json_is_string(s)) {
                json_decref(s);
                he_fail(&err, HE_FORMAT, "stdin line %zu: expected a JSON string (%s)", line_no,
                        s ? "not a string" : je.text);
                goto fail;
            }
            int r = tokenize_one(v, json_string_value(s), json_string_length(s), add_special,
                                 parse_special, &err);
            json_decref(s);
            if (r < 0) goto fail;
            pos = end + 1;
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        he_fail(&err, HE_IO, "writing stdout failed");
        goto fail;
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "hearth tokenize: %s\n", err.msg);
out:
    free(text);
    tok_vocab_free(v);
    return rc;
}
