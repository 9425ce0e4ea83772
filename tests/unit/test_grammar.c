/* test_grammar.c — GBNF parser (accept/reject with positions), matcher (strings in and out of
 * the language), and the token mask checked against independent oracles on real vocabs:
 * PCRE2 partial matching for grammars that are regular (a token is allowed iff the text so far
 * plus its bytes is a prefix of some sentence), and per-token accept for the rest. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <criterion/criterion.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "grammar/grammar.h"
#include "sample/sample.h"
#include "tokenizer/tokenizer.h"
#include "fixtures.h"
#include "grammar/json_schema.h"

static gram_grammar *parse(const char *text, he_error *err) {
    return gram_parse(text, strlen(text), NULL, err);
}

static void parse_fails(const char *text, const char *msg) {
    he_error err = {0};
    gram_grammar *g = parse(text, &err);
    cr_assert_null(g, "parsed: %s", text);
    cr_expect_str_eq(err.msg, msg, "for grammar: %s", text);
    cr_expect_eq(err.code, HE_INVALID);
}

/* Whether the whole of s is a sentence (1), a proper prefix of one (0), or neither (-1). */
static int judge(const gram_grammar *g, const char *s, size_t n) {
    he_error err;
    gram_matcher *m = gram_matcher_new(g, NULL, &err);
    cr_assert_not_null(m, "%s", err.msg);
    int r = gram_matcher_accept_bytes(m, s, n, &err) ? -1 : gram_matcher_can_end(m) ? 1 : 0;
    gram_matcher_free(m);
    return r;
}

static void expect_lang(const char *grammar, const char *const *yes, const char *const *no) {
    he_error err = {0};
    gram_grammar *g = parse(grammar, &err);
    cr_assert_not_null(g, "%s: %s", grammar, err.msg);
    for (; yes && *yes; yes++)
        cr_expect_eq(judge(g, *yes, strlen(*yes)), 1, "'%s' should match %s", *yes, grammar);
    for (; no && *no; no++)
        cr_expect_neq(judge(g, *no, strlen(*no)), 1, "'%s' should not match %s", *no, grammar);
    gram_free(g);
}

Test(gbnf, parse_errors_with_positions) {
    parse_fails("root ::= \"a\"\nfoo ::= bar\n", "grammar:2:9: undefined rule 'bar'");
    parse_fails("root = \"a\"", "grammar:1:6: expected '::='");
    parse_fails("root ::= \"abc", "grammar:1:10: unterminated literal");
    parse_fails("root ::= [a-", "grammar:1:10: unterminated character class");
    parse_fails("root ::= [z-a]", "grammar:1:11: character range out of order");
    parse_fails("root ::= (\"a\"", "grammar:1:14: expected ')'");
    parse_fails("root ::= \"a\" )", "grammar:1:14: expected a newline or the end after the rule");
    parse_fails("root ::= \"\\q\"", "grammar:1:11: unknown escape '\\q'");
    parse_fails("root ::= \"\\x4\"", "grammar:1:11: escape '\\x' needs 2 hex digits");
    parse_fails("root ::= \"a\"{3,2}", "grammar:1:13: repetition {3,2}: max below min");
    parse_fails("root ::= \"a\"{99999}", "grammar:1:14: repetition count above the limit of 10000");
    parse_fails("root ::= \"a\"\nroot ::= \"b\"", "grammar:2:1: rule 'root' defined twice");
    parse_fails("root ::= \"a\" x ::= \"b\"",
                "grammar:1:14: expected a newline before the next rule 'x'");
    parse_fails("root ::= \"a\"**",
                "grammar:1:14: a repetition cannot follow another; use a group");
    parse_fails("root ::= @", "grammar:1:10: expected '\"' after '@'");
    parse_fails("x ::= \"a\"", "grammar: no rule named 'root'");
    parse_fails(
        "root ::= root \"a\" | \"b\"",
        "grammar: rule 'root' is left-recursive (through 'root'); rewrite it with repetition");
    parse_fails("root ::= a\na ::= b? c\nb ::= \"x\"\nc ::= a \"y\" | \"z\"",
                "grammar: rule 'a' is left-recursive (through 'c'); rewrite it with repetition");
    parse_fails(
        "root ::= (\"a\"?)*",
        "grammar: rule 'root~3' is left-recursive (through 'root~3'); rewrite it with repetition");
    /* nesting and size bounds */
    char deep[400] = "root ::= ";
    for (int i = 0; i < 70; i++)
        strcat(deep, "(");
    parse_fails(deep, "grammar:1:74: groups nested deeper than 64");
    he_error err;
    /* nested repetitions stay linear (a repeated group is one rule reference) ... */
    gram_grammar *g = parse("root ::= ((((\"a\"{10000}){10000}){10000}){10000})", &err);
    cr_expect_not_null(g, "%s", err.msg);
    gram_free(g);
    /* ... and a long flat one hits the size limit */
    char big[4000] = "root ::= ";
    for (int i = 0; i < 150; i++)
        strcat(big, "[a-z]{1,9999} ");
    g = parse(big, &err);
    cr_expect_null(g);
    cr_expect(strstr(err.msg, "too many rules") != NULL, "%s", err.msg);
}

Test(gbnf, languages) {
    expect_lang("root ::= \"ab\" | \"c\"", (const char *[]){"ab", "c", NULL},
                (const char *[]){"", "a", "abc", "cc", NULL});
    expect_lang("root ::= [a-c]+ \"!\"?", (const char *[]){"a", "abcabc", "b!", NULL},
                (const char *[]){"", "!", "d", "a!!", NULL});
    expect_lang("root ::= [^\"\\\\]*", (const char *[]){"", "hé", "x y", NULL},
                (const char *[]){"\"", "\\", NULL});
    expect_lang("root ::= \"x\"{2,4} y{0,1}\ny ::= \"-\" [0-9]{3}",
                (const char *[]){"xx", "xxx", "xxxx", "xx-123", NULL},
                (const char *[]){"x", "xxxxx", "xx-12", "xx-1234", NULL});
    expect_lang("root ::= (\"a\" | \"b\"){2,} \"c\"{3}", (const char *[]){"abccc", "bbbbccc", NULL},
                (const char *[]){"accc", "abcc", NULL});
    expect_lang("root ::= . . .", (const char *[]){"abc", "€😀é", NULL},
                (const char *[]){"ab", NULL});
    expect_lang("root ::= [α-ω]+ \"\\u00e9\" \"\\U0001F600\"", (const char *[]){"αβωé😀", NULL},
                (const char *[]){"aé😀", NULL});
    expect_lang("# a comment\nroot ::= # trailing\n  item (\",\" item)*  # more\n\n"
                "item ::=\n  \"x\"\n  | \"yy\"\n",
                (const char *[]){"x", "x,yy,x", NULL}, (const char *[]){"x,", "y", NULL});
    expect_lang("root ::= \"[\" ( \"1\"\n  | \"2\"\n ) \"]\"", (const char *[]){"[1]", "[2]", NULL},
                (const char *[]){"[3]", NULL});
    /* right recursion (deep nesting) and an ambiguous grammar stay bounded */
    expect_lang("root ::= \"(\" root \")\" | \"x\"", (const char *[]){"x", "((((x))))", NULL},
                (const char *[]){"((x)", NULL});
    expect_lang("root ::= (\"a\" | \"a\" | [a-z])* \"b\"", (const char *[]){"aaaab", NULL},
                (const char *[]){"aaaa", NULL});
    /* partial UTF-8 is a prefix, invalid UTF-8 is refused */
    he_error err;
    gram_grammar *g = parse("root ::= \"é\"", &err);
    cr_assert_not_null(g);
    cr_expect_eq(judge(g, "\xc3", 1), 0);
    cr_expect_eq(judge(g, "\xc3\xa9", 2), 1);
    cr_expect_eq(judge(g, "\xc3\x28", 2), -1);
    cr_expect_eq(judge(g, "\xc0\x80", 2), -1);
    gram_free(g);
}

Test(gbnf, deep_nesting_stays_bounded) {
    he_error err;
    gram_grammar *g = parse("root ::= \"[\" root? \"]\"", &err);
    cr_assert_not_null(g);
    gram_matcher *m = gram_matcher_new(g, NULL, &err);
    for (int i = 0; i < 20000; i++)
        cr_assert_eq(gram_matcher_accept_bytes(m, "[", 1, &err), 0, "%d: %s", i, err.msg);
    cr_expect(!gram_matcher_can_end(m));
    for (int i = 0; i < 20000; i++)
        cr_assert_eq(gram_matcher_accept_bytes(m, "]", 1, &err), 0, "%d: %s", i, err.msg);
    cr_expect(gram_matcher_must_end(m));
    cr_expect_eq(gram_matcher_accept_bytes(m, "]", 1, &err), -1);
    gram_matcher_free(m);
    gram_free(g);
}

/* ---- masks on real vocabs ---- */

static tok_vocab *load_vocab(const char *name) {
    char rel[128], path[1024];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    fixture_path(path, sizeof path, rel);
    he_error err;
    gguf_file *f = gguf_open(path, &err);
    cr_assert_not_null(f, "%s", err.msg);
    tok_vocab *v = tok_vocab_load(f, &err);
    cr_assert_not_null(v, "%s", err.msg);
    gguf_close(f);
    return v;
}

/* PCRE2 oracle: is text a prefix of (or a whole) match of the anchored regex? */
static bool regex_prefix_ok_whole(pcre2_code *re, pcre2_match_data *md, const char *s, size_t n) {
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, PCRE2_ANCHORED | PCRE2_PARTIAL_HARD, md, NULL);
    if (rc == PCRE2_ERROR_PARTIAL) return true;
    if (rc < 0) return false;
    return pcre2_get_ovector_pointer(md)[1] == n; /* matched all of it */
}

/* Text ending inside a UTF-8 character: some completion of the character must be a prefix
 * (PCRE2 refuses truncated UTF-8). Completions are enumerated over the first two missing
 * bytes, the last one (4-byte characters) tried at both ends of its range. */
static bool regex_prefix_ok(pcre2_code *re, pcre2_match_data *md, char *s, size_t n) {
    size_t lead = n;
    int back = 0;
    while (lead > 0 && back < 3 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--, back++;
    int need = 0;
    if (lead > 0) {
        unsigned char b = (unsigned char)s[lead - 1];
        int len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        if (len > 1 && len - 1 > back) need = len - 1 - back;
    }
    if (!need) return regex_prefix_ok_whole(re, md, s, n);
    char buf[4200];
    memcpy(buf, s, n);
    for (int a = 0x80; a <= 0xBF; a++) {
        buf[n] = (char)a;
        if (need == 1) {
            if (regex_prefix_ok_whole(re, md, buf, n + 1)) return true;
            continue;
        }
        for (int b = 0x80; b <= 0xBF; b++) {
            buf[n + 1] = (char)b;
            if (need == 2) {
                if (regex_prefix_ok_whole(re, md, buf, n + 2)) return true;
                continue;
            }
            for (int c = 0x80; c <= 0xBF; c += 0x3F) {
                buf[n + 2] = (char)c;
                if (regex_prefix_ok_whole(re, md, buf, n + 3)) return true;
            }
        }
    }
    return false;
}

static void check_mask_vs_regex(const tok_vocab *tv, const gram_vocab *gv, const char *grammar,
                                const char *regex, const char *const *prefixes) {
    he_error err;
    gram_grammar *g = parse(grammar, &err);
    cr_assert_not_null(g, "%s", err.msg);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
    cr_assert_not_null(re, "regex %s", regex);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int32_t n = tok_n_vocab(tv);
    float *logits = malloc((size_t)n * sizeof *logits);
    char *buf = malloc(4096);
    for (const char *const *pp = prefixes; *pp; pp++) {
        gram_matcher *m = gram_matcher_new(g, gv, &err);
        cr_assert_not_null(m);
        size_t pl = strlen(*pp);
        cr_assert_eq(gram_matcher_accept_bytes(m, *pp, pl, &err), 0, "prefix '%s': %s", *pp,
                     err.msg);
        for (int32_t i = 0; i < n; i++)
            logits[i] = 0.0f;
        int32_t allowed = gram_matcher_mask(m, logits);
        int32_t expect_allowed = 0;
        memcpy(buf, *pp, pl);
        for (int32_t t = 0; t < n; t++) {
            bool want;
            if (tok_is_eog(tv, t)) {
                want = regex_prefix_ok(re, md, buf, pl) &&
                       pcre2_match(re, (PCRE2_SPTR)buf, pl, 0, PCRE2_ANCHORED, md, NULL) >= 0 &&
                       pcre2_get_ovector_pointer(md)[1] == pl;
            } else if (tok_is_control(tv, t) || tok_attr(tv, t) == TOK_ATTR_UNUSED ||
                       tok_attr(tv, t) == TOK_ATTR_UNKNOWN) {
                want = false;
            } else {
                size_t k = tok_token_bytes(tv, t, false, buf + pl, 4096 - pl);
                want = k > 0 && k <= 4096 - pl && regex_prefix_ok(re, md, buf, pl + k);
            }
            bool got = !isinf(logits[t]);
            expect_allowed += want;
            if (want != got) {
                cr_expect_eq(got, want, "grammar %s, prefix '%s', token %d '%s': mask %d oracle %d",
                             grammar, *pp, t, tok_text(tv, t), got, want);
                break;
            }
            cr_assert_eq(gram_matcher_allows(m, t), want, "allows() disagrees on token %d", t);
        }
        cr_expect_eq(allowed, expect_allowed);
        gram_matcher_free(m);
    }
    free(buf);
    free(logits);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    gram_free(g);
}

static void mask_suite(const char *vocab_name) {
    tok_vocab *tv = load_vocab(vocab_name);
    he_error err;
    gram_vocab *gv = gram_vocab_from_tok(tv, &err);
    cr_assert_not_null(gv, "%s", err.msg);
    check_mask_vs_regex(tv, gv, "root ::= [0-9]+ (\".\" [0-9]{1,3})?", "^[0-9]+(\\.[0-9]{1,3})?$",
                        (const char *[]){"", "12", "3.", "3.14", "3.141", NULL});
    check_mask_vs_regex(
        tv, gv, "root ::= \"{\\\"name\\\": \\\"\" [a-zA-Z ]* \"\\\"}\"",
        "^\\{\"name\": \"[a-zA-Z ]*\"\\}$",
        (const char *[]){"", "{", "{\"name\": \"", "{\"name\": \"Bob", "{\"name\": \"Bob\"", NULL});
    check_mask_vs_regex(tv, gv, "root ::= (\"yes\" | \"no\" | \"maybe so\") \"\\n\"",
                        "^(yes|no|maybe so)\\n$", (const char *[]){"", "ma", "no", NULL});
    check_mask_vs_regex(tv, gv, "root ::= [^a-z]{0,3} [é€]", "^[^a-z]{0,3}[é€]$",
                        (const char *[]){"", "\xe2", "\xe2\x82", "AB", NULL});
    check_mask_vs_regex(tv, gv, "root ::= \" \"? [a-z]+ (\" \" [a-z]+)*", "^ ?[a-z]+( [a-z]+)*$",
                        (const char *[]){"", " the", "the cat ", NULL});
    gram_vocab_free(gv);
    tok_vocab_free(tv);
}

Test(mask, bpe_qwen2_vs_regex_oracle, .timeout = 120) { mask_suite("qwen2"); }
Test(mask, spm_llama_vs_regex_oracle, .timeout = 120) { mask_suite("llama-spm"); }

/* A context-free (non-regular) grammar: the mask agrees with per-token accept, and sampling
 * under random logits always yields sentences. */
static const char JSON_GBNF[] =
    "root   ::= object\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\")\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\"\n"
    "array  ::= \"[\" ws ( value (\",\" ws value)* )? \"]\"\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" "
    "[0-9a-fA-F]{4}) )* \"\\\"\"\n"
    "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9]{1,3})?\n"
    "ws     ::= | \" \" | \"\\n\"\n";

Test(mask, json_mask_agrees_with_accept_and_sampling_ends, .timeout = 120) {
    tok_vocab *tv = load_vocab("qwen2");
    he_error err;
    gram_vocab *gv = gram_vocab_from_tok(tv, &err);
    cr_assert_not_null(gv);
    gram_grammar *g = gram_parse(JSON_GBNF, sizeof JSON_GBNF - 1, NULL, &err);
    cr_assert_not_null(g, "%s", err.msg);
    int32_t n = tok_n_vocab(tv);
    float *logits = malloc((size_t)n * sizeof *logits),
          *scratch = malloc((size_t)n * sizeof *scratch);
    const char *prefixes[] = {"", "{\"a\": [1, {\"b\": \"x\\u00", "{\"k\": -", "{\"k\": tr", NULL};
    for (const char *const *pp = prefixes; *pp; pp++) {
        gram_matcher *m = gram_matcher_new(g, gv, &err);
        cr_assert_eq(gram_matcher_accept_bytes(m, *pp, strlen(*pp), &err), 0, "%s", err.msg);
        for (int32_t i = 0; i < n; i++)
            logits[i] = 0.0f;
        gram_matcher_mask(m, logits);
        for (int32_t t = 0; t < n; t += 7) { /* every 7th token: accept on a fresh copy */
            gram_matcher *c = gram_matcher_new(g, gv, &err);
            gram_matcher_accept_bytes(c, *pp, strlen(*pp), NULL);
            bool ok = gram_matcher_accept(c, t, NULL) == 0;
            cr_assert_eq(ok, !isinf(logits[t]), "prefix '%s' token %d '%s'", *pp, t,
                         tok_text(tv, t));
            gram_matcher_free(c);
        }
        gram_matcher_free(m);
    }
    /* sampling with random logits: every output is complete JSON within the token budget when
     * the logits favour closing (we bias '}' and ']' a little so sentences end) */
    sample_params sp = sample_params_default();
    sp.temperature = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    for (int run = 0; run < 5; run++) {
        sp.seed = (uint64_t)run + 1;
        sample_chain *sc = sample_chain_new(&sp, n, &err);
        gram_matcher *m = gram_matcher_new(g, gv, &err);
        uint64_t x = 88172645463325252ull + (uint64_t)run;
        char out[8192];
        size_t ol = 0;
        int steps = 0;
        for (; steps < 400 && !gram_matcher_must_end(m); steps++) {
            for (int32_t i = 0; i < n; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                logits[i] = (float)(x % 1000) / 100.0f;
            }
            for (int32_t e = 0; e < n; e++)
                if (tok_is_eog(tv, e)) logits[e] = 30.0f;
            int32_t t = gram_sample(m, sc, logits, scratch, &err);
            cr_assert_geq(t, 0, "%s", err.msg);
            if (tok_is_eog(tv, t)) break;
            sample_chain_accept(sc, t);
            ol += tok_token_bytes(tv, t, false, out + ol, sizeof out - ol - 1);
            cr_assert_lt(ol, sizeof out - 1);
        }
        out[ol] = 0;
        if (gram_matcher_can_end(m))
            cr_expect_eq(judge(g, out, ol), 1, "%s", out);
        else
            cr_expect_eq(judge(g, out, ol), 0, "%s", out);
        gram_matcher_free(m);
        sample_chain_free(sc);
    }
    free(logits);
    free(scratch);
    gram_free(g);
    gram_vocab_free(gv);
    tok_vocab_free(tv);
}

Test(mask, synthetic_vocab_eog_and_never) {
    const char *pieces[] = {"a", "b", "ab", "", "<ctl>", "</s>", "\xc3", "\xa9", "é"};
    size_t lens[] = {1, 1, 2, 0, 5, 4, 1, 1, 2};
    uint8_t kinds[] = {0, 0, 0, 0, GRAM_TOKEN_NEVER, GRAM_TOKEN_EOG, 0, 0, 0};
    he_error err;
    gram_vocab *gv = gram_vocab_new(9, pieces, lens, kinds, &err);
    cr_assert_not_null(gv);
    gram_grammar *g = parse("root ::= \"a\" \"b\"? \"é\"?", &err);
    gram_matcher *m = gram_matcher_new(g, gv, &err);
    float l[9] = {0};
    cr_expect_eq(gram_matcher_mask(m, l), 2); /* a, ab */
    cr_expect(!isinf(l[0]) && !isinf(l[2]) && isinf(l[1]) && isinf(l[3]) && isinf(l[4]) &&
              isinf(l[5]));
    cr_assert_eq(gram_matcher_accept(m, 0, &err), 0);
    cr_expect(gram_matcher_can_end(m));
    cr_expect(!gram_matcher_must_end(m));
    for (int i = 0; i < 9; i++)
        l[i] = 0;
    cr_expect_eq(gram_matcher_mask(m, l), 4); /* b, </s>, \xc3 (partial é), é */
    cr_expect(!isinf(l[5]) && !isinf(l[6]) && isinf(l[7]) && !isinf(l[8]));
    cr_assert_eq(gram_matcher_accept(m, 6, &err), 0); /* half a character */
    cr_expect(!gram_matcher_can_end(m));
    cr_expect(!gram_matcher_allows(m, 5));
    cr_expect(gram_matcher_allows(m, 7));
    cr_expect_eq(gram_matcher_accept(m, 1, &err), -1); /* matcher unchanged after a refusal */
    cr_assert_eq(gram_matcher_accept(m, 7, &err), 0);
    cr_expect(gram_matcher_must_end(m));
    cr_expect_eq(gram_matcher_accept(m, 5, &err), 0);
    gram_matcher_reset(m);
    cr_expect(!gram_matcher_can_end(m));
    cr_expect(gram_matcher_allows(m, 2));
    gram_matcher_free(m);
    gram_free(g);
    gram_vocab_free(gv);
}

/* gram_matcher_clone (speculative drafting): the clone starts where the original is, mid
 * character included, and the two then move independently. */
Test(mask, clone_is_independent) {
    const char *pieces[] = {"a", "b", "ab", "{", "}", "</s>", "\xc3", "\xa9", "\"", "x"};
    size_t lens[] = {1, 1, 2, 1, 1, 4, 1, 1, 1, 1};
    uint8_t kinds[] = {0, 0, 0, 0, 0, GRAM_TOKEN_EOG, 0, 0, 0, 0};
    he_error err;
    gram_vocab *gv = gram_vocab_new(10, pieces, lens, kinds, &err);
    cr_assert_not_null(gv);
    gram_grammar *g = parse("root ::= \"{\" item* \"}\"\nitem ::= \"a\" | \"b\" | \"\\\"\" [a-z\u00e9]* \"\\\"\"", &err);
    cr_assert_not_null(g, "%s", err.msg);
    gram_matcher *m = gram_matcher_new(g, gv, &err);
    int32_t prefix[] = {3, 0, 8, 9, 6}; /* {a"x and half of é */
    for (int i = 0; i < 5; i++)
        cr_assert_eq(gram_matcher_accept(m, prefix[i], &err), 0, "token %d: %s", i, err.msg);
    gram_matcher *c = gram_matcher_clone(m);
    /* the clone finishes the character and the string, then closes */
    cr_assert_eq(gram_matcher_accept(c, 7, &err), 0, "%s", err.msg);
    cr_assert_eq(gram_matcher_accept(c, 8, &err), 0, "%s", err.msg);
    cr_assert_eq(gram_matcher_accept(c, 4, &err), 0, "%s", err.msg);
    cr_expect(gram_matcher_must_end(c));
    /* the original has not moved: still inside the character, the closer is not allowed */
    cr_expect(!gram_matcher_allows(m, 4));
    cr_expect(gram_matcher_allows(m, 7));
    cr_expect(!gram_matcher_can_end(m));
    float l[10] = {0}, lc[10] = {0};
    cr_expect_eq(gram_matcher_mask(m, l), 1); /* only the continuation byte */
    /* and moving the original leaves the clone where it was */
    cr_assert_eq(gram_matcher_accept(m, 7, &err), 0);
    cr_assert_eq(gram_matcher_accept(m, 9, &err), 0);
    cr_expect(!gram_matcher_can_end(m));
    cr_expect(gram_matcher_must_end(c));
    /* a second clone of the advanced original masks as the original does */
    gram_matcher *c2 = gram_matcher_clone(m);
    for (int i = 0; i < 10; i++)
        l[i] = lc[i] = 0;
    cr_expect_eq(gram_matcher_mask(m, l), gram_matcher_mask(c2, lc));
    for (int i = 0; i < 10; i++)
        cr_expect_eq(isinf(l[i]), isinf(lc[i]), "token %d", i);
    gram_matcher_free(c2);
    gram_matcher_free(c);
    gram_matcher_free(m);
    gram_free(g);
    gram_vocab_free(gv);
}

/* gram_sample: the chain's pick when allowed (no mask), else the best allowed token (greedy);
 * a dead end is an error, not a token. */
Test(mask, sample_prefers_the_chains_pick_then_the_best_allowed) {
    const char *pieces[] = {"x", "a", "b", "</s>"};
    size_t lens[] = {1, 1, 1, 4};
    uint8_t kinds[] = {0, 0, 0, GRAM_TOKEN_EOG};
    he_error err;
    gram_vocab *gv = gram_vocab_new(4, pieces, lens, kinds, &err);
    gram_grammar *g = parse("root ::= [ab] \"x\"", &err);
    gram_matcher *m = gram_matcher_new(g, gv, &err);
    sample_params sp = sample_params_default();
    sp.temperature = 0.0f;
    sample_chain *sc = sample_chain_new(&sp, 4, &err);
    float logits[4] = {9.0f, 1.0f, 2.0f, 8.0f}, scratch[4];
    cr_expect_eq(gram_sample(m, sc, logits, scratch, &err), 2); /* x and </s> refused: b */
    cr_expect_eq(gram_sample(m, sc, logits, scratch, &err), 0); /* x is the pick and allowed */
    cr_expect(gram_matcher_must_end(m));
    cr_expect_eq(gram_sample(m, sc, logits, scratch, &err), 3); /* only </s> remains */
    gram_matcher_free(m);
    gram_free(g);
    /* a grammar that is complete where the vocab has no EOG: a clean error */
    const char *p2[] = {"a"};
    size_t l2[] = {1};
    uint8_t k2[] = {0};
    gram_vocab *gv2 = gram_vocab_new(1, p2, l2, k2, &err);
    g = parse("root ::= \"a\"", &err);
    m = gram_matcher_new(g, gv2, &err);
    sample_chain *sc1 = sample_chain_new(&sp, 1, &err);
    float one[1] = {0.0f}, s1[1];
    cr_expect_eq(gram_sample(m, sc1, one, s1, &err), 0);
    cr_expect_eq(gram_sample(m, sc1, one, s1, &err), -1);
    cr_expect(strstr(err.msg, "no end-of-generation token") != NULL, "%s", err.msg);
    gram_matcher_free(m);
    gram_free(g);
    sample_chain_free(sc1);
    sample_chain_free(sc);
    gram_vocab_free(gv);
    gram_vocab_free(gv2);
}

/* ---- room: lengths, need, finishing within a number of tokens ---- */

Test(room, rule_bounds_and_need) {
    he_error err;
    gram_grammar *g = parse("root ::= \"ab\" x? y\nx ::= [a-c]{2,3}\ny ::= \"é\" | \"zz\" | \"q\"*", &err);
    cr_assert_not_null(g, "%s", err.msg);
    int64_t mn, mx;
    cr_assert_eq(gram_rule_bounds(g, NULL, &mn, &mx), 0);
    cr_expect_eq(mn, 2);  /* "ab" then y = "" */
    cr_expect_eq(mx, -1); /* "q"* is unbounded */
    cr_assert_eq(gram_rule_bounds(g, "x", &mn, &mx), 0);
    cr_expect(mn == 2 && mx == 3);
    cr_expect_eq(gram_rule_bounds(g, "nope", &mn, &mx), -1);
    gram_free(g);
    g = parse("root ::= \"{\" [0-9]{1,4} (\",\" \"é\")? \"}\"", &err);
    cr_assert_eq(gram_rule_bounds(g, NULL, &mn, &mx), 0);
    cr_expect(mn == 3 && mx == 9, "%lld %lld", (long long)mn, (long long)mx); /* é is 2 bytes */
    const char *pieces[] = {"{", "1", "}", ",", "\xc3", "\xa9", "12345", "</s>"};
    size_t lens[] = {1, 1, 1, 1, 1, 1, 5, 4};
    uint8_t kinds[] = {0, 0, 0, 0, 0, 0, 0, GRAM_TOKEN_EOG};
    gram_vocab *gv = gram_vocab_new(8, pieces, lens, kinds, &err);
    gram_matcher *m = gram_matcher_new(g, gv, &err);
    cr_expect_eq(gram_matcher_need(m), 3);
    cr_assert_eq(gram_matcher_accept(m, 0, &err), 0);
    cr_expect_eq(gram_matcher_need(m), 2); /* a digit and "}" */
    cr_assert_eq(gram_matcher_accept(m, 1, &err), 0);
    cr_expect_eq(gram_matcher_need(m), 1);
    cr_assert_eq(gram_matcher_accept(m, 3, &err), 0);
    cr_expect_eq(gram_matcher_need(m), 3); /* é (2 bytes) and } */
    cr_assert_eq(gram_matcher_accept(m, 4, &err), 0);
    cr_expect_eq(gram_matcher_need(m), 2); /* the rest of é, then } */
    cr_assert_eq(gram_matcher_accept(m, 5, &err), 0);
    cr_assert_eq(gram_matcher_accept(m, 2, &err), 0);
    cr_expect_eq(gram_matcher_need(m), 0);
    /* the longest token spelling the start of a text, and what the grammar allows of it */
    gram_matcher_reset(m);
    size_t used;
    cr_expect_eq(gram_force_token(gv, NULL, "12345}", 6, &used), 6);
    cr_expect_eq(used, 5);
    cr_expect_eq(gram_force_token(gv, m, "12345}", 6, &used), -1); /* the grammar wants "{" */
    cr_expect_eq(gram_force_token(gv, m, "{1", 2, &used), 0);
    cr_expect_eq(used, 1);
    gram_matcher_free(m);
    gram_free(g);
    gram_vocab_free(gv);
}

/* A model that never wants to finish (it always picks a token that goes on) still completes
 * the grammar within the room it is given, for every room from the shortest form up. */
Test(room, sample_room_finishes_in_time) {
    he_error err;
    const char *pieces[] = {"a", "b", "\"", "{", "}", ":", ",", "k", "</s>", "aaaa"};
    size_t lens[] = {1, 1, 1, 1, 1, 1, 1, 1, 4, 4};
    uint8_t kinds[] = {0, 0, 0, 0, 0, 0, 0, 0, GRAM_TOKEN_EOG, 0};
    gram_vocab *gv = gram_vocab_new(10, pieces, lens, kinds, &err);
    /* the think block is unbounded text; the object after it has an unbounded string */
    gram_grammar *g =
        parse("root ::= [ab]* \"}\" obj\nobj ::= \"{\" \"\\\"k\\\":\\\"\" [ab]* \"\\\"\" (\",\" \"\\\"k\\\":\\\"\" [ab]* \"\\\"\")* \"}\"",
              &err);
    cr_assert_not_null(g, "%s", err.msg);
    int64_t need0;
    gram_rule_bounds(g, NULL, &need0, NULL);
    cr_expect_eq(need0, 1 + 8);
    sample_params sp = sample_params_default();
    sp.temperature = 0.0f;
    for (int64_t room = need0; room < need0 + 30; room++) {
        gram_matcher *m = gram_matcher_new(g, gv, &err);
        sample_chain *sc = sample_chain_new(&sp, 10, &err);
        float logits[10] = {5, 4, 0, 0, 0, 0, 3, 0, -9, 6}, scratch[10]; /* "aaaa", a, b ... never the end */
        int64_t left = room;
        while (!gram_matcher_must_end(m) && left > 0) {
            int32_t t = gram_sample_room(m, sc, logits, scratch, left, &err);
            cr_assert_geq(t, 0, "%s", err.msg);
            if (t == 8) break; /* EOG where it may end */
            left--;
        }
        cr_expect(gram_matcher_can_end(m), "room %lld: the text completed", (long long)room);
        cr_expect(left >= 0);
        gram_matcher_free(m);
        sample_chain_free(sc);
    }
    gram_free(g);
    /* complete, but more may follow (several tool calls): near the end, more is refused and
     * the end-of-generation token comes instead */
    g = parse("root ::= \"a\" (\",\" \"aaaa\")*", &err);
    for (int64_t room = 1; room < 12; room++) {
        gram_matcher *m = gram_matcher_new(g, gv, &err);
        sample_chain *sc = sample_chain_new(&sp, 10, &err);
        float logits[10] = {5, 0, 0, 0, 0, 0, 9, 0, -9, 6}, scratch[10]; /* "," first, never the end */
        int64_t left = room;
        int32_t t = -1;
        while (left > 0) {
            t = gram_sample_room(m, sc, logits, scratch, left, &err);
            cr_assert_geq(t, 0, "%s", err.msg);
            left--;
            if (t == 8) break;
        }
        cr_expect(t == 8 || gram_matcher_can_end(m), "room %lld: ended where the grammar may", (long long)room);
        gram_matcher_free(m);
        sample_chain_free(sc);
    }
    gram_free(g);
    gram_vocab_free(gv);
}

/* ---- markers: special tokens under a grammar ---- */

/* With `@"MARKER"` the model must write the marker as its one special token: the mask allows
 * that token and nothing that spells the marker's text; sampling under random logits emits the
 * token id; the text spelled out is refused token by token; gram_matcher_accept_bytes (text
 * already written: a lazy trigger) reads the text as the marker. */
static void marker_suite(const char *vocab_name, const char *marker) {
    tok_vocab *tv = load_vocab(vocab_name);
    he_error err;
    gram_vocab *gv = gram_vocab_from_tok(tv, &err);
    cr_assert_not_null(gv, "%s", err.msg);
    int32_t special = gram_vocab_special(gv, marker, strlen(marker));
    cr_assert_geq(special, 0, "%s has %s as one token", vocab_name, marker);
    char *lit = gram_literal(marker, strlen(marker));
    char text[512];
    snprintf(text, sizeof text, "root ::= \"x\"? @%s \"{\\\"a\\\": \" [0-9]{1,3} \"}\"", lit);
    gram_grammar *g = gram_parse(text, strlen(text), NULL, &err);
    cr_assert_not_null(g, "%s: %s", text, err.msg);
    int32_t n = tok_n_vocab(tv);
    float *logits = malloc((size_t)n * sizeof *logits), *scratch = malloc((size_t)n * sizeof *scratch);
    /* the mask at the start: "x" tokens and the marker token; nothing spelling the marker */
    gram_matcher *m = gram_matcher_new(g, gv, &err);
    for (int32_t i = 0; i < n; i++)
        logits[i] = 0.0f;
    gram_matcher_mask(m, logits);
    cr_expect(!isinf(logits[special]), "the marker token is allowed");
    for (int32_t t = 0; t < n; t++) {
        if (isinf(logits[t]) || t == special) continue;
        cr_expect_eq(strcmp(tok_text(tv, t), "x"), 0, "only 'x' or the marker: token %d '%s' allowed", t,
                     tok_text(tv, t));
    }
    cr_expect(gram_matcher_allows(m, special));
    /* the marker's text spelled out is refused: its first character, and the longest
     * ordinary token that begins it */
    int32_t lt = tok_find(tv, "<", 1);
    cr_assert_geq(lt, 0);
    cr_expect(!gram_matcher_allows(m, lt), "'<' as text is refused where the marker must come");
    int n_prefix = 0;
    for (int32_t t = 0; t < n; t++) { /* every ordinary token that begins the marker's text */
        const char *tx = tok_text(tv, t);
        if (t == special || tok_attr(tv, t) == TOK_ATTR_CONTROL || !tx || !*tx ||
            strncmp(marker, tx, strlen(tx)))
            continue;
        n_prefix++;
        cr_expect(!gram_matcher_allows(m, t), "'%s' is refused", tx);
    }
    cr_expect_gt(n_prefix, 0);
    gram_matcher_free(m);
    /* sampling under random logits: the output's token ids contain the marker's id */
    sample_params sp = sample_params_default();
    sp.temperature = 1.0f, sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f;
    uint64_t rs = 99;
    for (int round = 0; round < 4; round++) {
        sp.seed = 77 + (uint64_t)round;
        sample_chain *sc = sample_chain_new(&sp, n, &err);
        m = gram_matcher_new(g, gv, &err);
        bool saw = false;
        int steps = 0;
        while (!gram_matcher_must_end(m) && steps++ < 40) {
            for (int32_t i = 0; i < n; i++)
                logits[i] = (float)((rs = rs * 6364136223846793005ull + 1442695040888963407ull) >> 40) / (float)(1 << 24) * 4.0f;
            int32_t t = gram_sample(m, sc, logits, scratch, &err);
            cr_assert_geq(t, 0, "%s", err.msg);
            saw |= t == special;
        }
        cr_expect(gram_matcher_must_end(m), "the sentence completes");
        cr_expect(saw, "round %d: the marker came as token %d", round, special);
        gram_matcher_free(m);
        sample_chain_free(sc);
    }
    /* the forced completion (room guard) emits the marker token too */
    m = gram_matcher_new(g, gv, &err);
    sp.temperature = 0.0f;
    sample_chain *sc = sample_chain_new(&sp, n, &err);
    for (int32_t i = 0; i < n; i++)
        logits[i] = 0.0f;
    logits[lt] = 50.0f; /* the model wants to spell the marker */
    int64_t need = gram_matcher_need(m);
    int32_t t = gram_sample_room(m, sc, logits, scratch, need, &err);
    cr_expect_eq(t, special, "the room guard forces the marker token (got %d)", t);
    gram_matcher_free(m);
    sample_chain_free(sc);
    /* text already written (a lazy trigger) is read as the marker */
    m = gram_matcher_new(g, gv, &err);
    snprintf(text, sizeof text, "%s{\"a\": 12}", marker);
    cr_expect_eq(gram_matcher_accept_bytes(m, text, strlen(text), &err), 0, "%s", err.msg);
    cr_expect(gram_matcher_must_end(m));
    gram_matcher_free(m);
    /* a plain literal stays text: the spelled form is allowed there */
    snprintf(text, sizeof text, "root ::= %s", lit);
    gram_grammar *g2 = gram_parse(text, strlen(text), NULL, &err);
    m = gram_matcher_new(g2, gv, &err);
    cr_expect(gram_matcher_allows(m, lt));
    gram_matcher_free(m);
    gram_free(g2);
    free(lit);
    free(logits);
    free(scratch);
    gram_free(g);
    gram_vocab_free(gv);
    tok_vocab_free(tv);
}

Test(marker, qwen2_tool_call_token, .timeout = 60) { marker_suite("qwen2", "<tool_call>"); }
/* a control token (this Llama 3 vocab predates <|python_tag|>; the same kind of token) */
Test(marker, llama3_control_token, .timeout = 60) { marker_suite("llama-bpe", "<|start_header_id|>"); }

Test(marker, parse_and_lengths) {
    he_error err;
    parse_fails("root ::= @x", "grammar:1:10: expected '\"' after '@'");
    parse_fails("root ::= @\"\"", "grammar:1:10: empty marker");
    gram_grammar *g = parse("root ::= @\"<m>\" \"ab\" @\"<m>\"", &err);
    cr_assert_not_null(g, "%s", err.msg);
    int64_t lo, hi;
    cr_assert_eq(gram_rule_bounds(g, NULL, &lo, &hi), 0);
    cr_expect_eq(lo, 4 + 2 + 4, "a marker counts as 4 bytes (one token, at least)");
    /* without a vocab, the text reads as the marker; text never otherwise matches it */
    gram_matcher *m = gram_matcher_new(g, NULL, &err);
    cr_expect_eq(gram_matcher_accept_bytes(m, "<m>ab<m>", 8, &err), 0, "%s", err.msg);
    cr_expect(gram_matcher_must_end(m));
    gram_matcher_free(m);
    gram_free(g);
    /* negated classes and '.' never take a marker's place */
    g = parse("root ::= [^a] | .", &err);
    m = gram_matcher_new(g, NULL, &err);
    cr_expect_neq(gram_matcher_accept_bytes(m, "\xf4\x90\x80\x80", 4, &err), 0);
    gram_matcher_free(m);
    gram_free(g);
}
