/* json_schema.h — JSON Schema to GBNF, and a builder that composes several schemas (one per
 * tool) and hand-written rules into one grammar.
 *
 * Supported keywords (anything else that constrains values is refused with HE_INVALID naming
 * the keyword and its JSON pointer, never silently ignored; annotations such as title,
 * description, examples, default, $schema, $id, $comment are ignored): type (incl. unions),
 * properties, required, additionalProperties, enum, const, items, prefixItems,
 * minItems/maxItems, anyOf/oneOf (only provably exclusive branches)/allOf, $ref/$defs (local
 * refs), minLength/maxLength, minimum/maximum/exclusiveMinimum/exclusiveMaximum (integers, and
 * decimals of at most 15 significant digits without exponent), string format date, time,
 * date-time, uuid, pattern (documented subset). The JSON the grammar produces has bounded
 * whitespace, so a model cannot pad forever. Objects get their declared properties in declared
 * order (required ones always, optional ones may be left out) and no others, whatever
 * additionalProperties says (leaving allowed extras out is valid and keeps outputs bounded).
 * docs/GRAMMAR.md has every choice. */
#ifndef HEARTH_GRAMMAR_JSON_SCHEMA_H
#define HEARTH_GRAMMAR_JSON_SCHEMA_H

#include <stddef.h>

#include <jansson.h>

#include "base/error.h"

typedef struct gram_builder gram_builder;

gram_builder *gram_builder_new(void);
void gram_builder_free(gram_builder *b); /* NULL is a no-op */

/* Adds the rules for values valid under schema (a JSON object, or true/false); returns the
 * name of the rule that matches them (owned by b), derived from name_hint (sanitized, made
 * unique). NULL with err (HE_INVALID: "schema: unsupported keyword 'not' at #/properties/x")
 * when the schema is malformed or uses what is not supported. */
const char *gram_builder_add_schema(gram_builder *b, const json_t *schema, const char *name_hint,
                                    he_error *err);
/* Adds `name ::= body` verbatim (GBNF body text). -1 with err when name is taken or invalid. */
int gram_builder_add_rule(gram_builder *b, const char *name, const char *body, he_error *err);
/* The GBNF text of every rule added (malloc'd, *len set when len is not NULL). The caller
 * must have added a rule named "root". NULL with err when root is missing. */
char *gram_builder_text(const gram_builder *b, size_t *len, he_error *err);

/* GBNF literal for bytes s[0, n): "..." with escapes. malloc'd. */
char *gram_literal(const char *s, size_t n);

/* One-shot: a complete grammar (root = the schema's rule) for schema. malloc'd text. */
char *gram_schema_to_gbnf(const json_t *schema, he_error *err);

#endif
