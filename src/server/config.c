/* config.c — the served-names file (`hearth serve --config hearth.conf`), format in
 * docs/SERVER.md: INI-like sections, one per served name, each with `key = value` lines.
 *
 *     # comment
 *     [qwen3:8b]
 *     model = /models/qwen3-8b-q4_k_m.gguf
 *     ctx = 8192
 *     slots = 4
 *     system = "You are terse.\nAnswer in English."
 *
 * Everything is validated up front with the file name and line number in the message, so a
 * typo fails `hearth serve` (or a SIGHUP reload) instead of serving something unexpected. The
 * parser never reads past len, caps the file, line, name and section count, and allocates
 * only what it returns. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "chat/toolcall.h"
#include "base/log.h"
#include "server/sched.h"
#include "spec/spec.h"
#include "store/store.h"

#define CONF_MAX_BYTES (1 << 20)
#define CONF_MAX_SECTIONS 256
#define CONF_MAX_NAME 128
#define CONF_MAX_VALUE 65536

typedef struct {
    const char *file;
    int line;
    he_error *err;
    bool store_names; /* store mode: a route may name a store model instead of a section */
} conf_pos;

static int conf_fail(const conf_pos *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int conf_fail(const conf_pos *p, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return he_fail(p->err, HE_FORMAT, "%s:%d: %s", p->file, p->line, msg);
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static bool name_char_ok(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == ':' || c == '/' || c == '@' || c == '+';
}

/* Copies a value: bare (as written, trimmed) or "quoted" with \n \t \" \\ escapes. */
static char *conf_value(const conf_pos *p, const char *s, size_t n) {
    if (n > CONF_MAX_VALUE) {
        conf_fail(p, "value is longer than %d bytes", CONF_MAX_VALUE);
        return NULL;
    }
    if (n == 0 || s[0] != '"') return xstrndup(s, n);
    if (n < 2 || s[n - 1] != '"') {
        conf_fail(p, "unterminated quoted value");
        return NULL;
    }
    char *out = xmalloc(n), *o = out;
    for (size_t i = 1; i + 1 < n; i++) {
        char c = s[i];
        if (c == '\\') {
            if (i + 2 >= n) {
                free(out);
                conf_fail(p, "a backslash ends the quoted value");
                return NULL;
            }
            char e = s[++i];
            if (e == 'n')
                c = '\n';
            else if (e == 't')
                c = '\t';
            else if (e == '"' || e == '\\')
                c = e;
            else {
                char esc[3] = {'\\', e, 0};
                free(out);
                conf_fail(p, "unknown escape '%s' in a quoted value", esc);
                return NULL;
            }
        } else if (c == '"') {
            free(out);
            conf_fail(p, "unescaped '\"' inside a quoted value");
            return NULL;
        }
        *o++ = c;
    }
    *o = 0;
    return out;
}

/* lora = FILE[:SCALE], ... : adapters in id order (scale 1 when no ":SCALE" suffix parses) */
static int parse_lora(const conf_pos *p, const char *v, srv_model_config *c) {
    while (*v) {
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strcspn(v, ",");
        size_t e = n;
        while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e == 0) return conf_fail(p, "'lora': an empty entry");
        if (c->n_lora >= SRV_MAX_LORA) return conf_fail(p, "'lora': at most %d adapters", SRV_MAX_LORA);
        char *item = xstrndup(v, e);
        float scale = 1.0f;
        char *colon = strrchr(item, ':');
        if (colon && colon != item) {
            char *end;
            errno = 0;
            double d = strtod(colon + 1, &end);
            if (end != colon + 1 && !*end && !errno && isfinite(d) && fabs(d) <= 1e6) {
                scale = (float)d;
                *colon = 0;
            }
        }
        c->lora_path[c->n_lora] = item;
        c->lora_scale[c->n_lora++] = scale;
        v += n;
        if (*v == ',') v++;
    }
    if (c->n_lora == 0) return conf_fail(p, "'lora' is empty");
    return 0;
}

/* route = SMALL, LARGE: two served names (checked against the file by check_routes) */
static int parse_route(const conf_pos *p, const char *v, srv_model_config *c) {
    const char *comma = strchr(v, ',');
    if (!comma || strchr(comma + 1, ','))
        return conf_fail(p, "'route' must be two served names: route = SMALL, LARGE");
    const char *part[2][2] = {{v, comma}, {comma + 1, v + strlen(v)}};
    char *names[2];
    for (int i = 0; i < 2; i++) {
        const char *a = part[i][0], *b = part[i][1];
        while (a < b && is_space(*a))
            a++;
        while (b > a && is_space(b[-1]))
            b--;
        if (a == b || b - a > CONF_MAX_NAME) {
            if (i) free(names[0]);
            return conf_fail(p, "'route': the %s served name is empty or too long", i ? "large" : "small");
        }
        names[i] = xstrndup(a, (size_t)(b - a));
    }
    if (!strcmp(names[0], names[1])) {
        conf_fail(p, "'route': small and large are the same name '%s'", names[0]);
        free(names[0]);
        free(names[1]);
        return -1;
    }
    c->route_small = names[0];
    c->route_large = names[1];
    return 0;
}

static int parse_int(const conf_pos *p, const char *key, const char *v, long lo, long hi,
                     int32_t *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        char range[64];
        snprintf(range, sizeof range, "an integer in [%ld, %ld]", lo, hi);
        return conf_fail(p, "'%s' must be %s", key, range);
    }
    *out = (int32_t)x;
    return 0;
}

static int parse_float(const conf_pos *p, const char *key, const char *v, float lo, float hi,
                       float *out) {
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        char range[64];
        snprintf(range, sizeof range, "a number in [%g, %g]", (double)lo, (double)hi);
        return conf_fail(p, "'%s' must be %s", key, range);
    }
    *out = x;
    return 0;
}

/* The keys of a section, in the order conf_key's switch numbers them; a section's `seen` mask
 * has bit i for conf_keys[i]. */
static const char *const conf_keys[] = {"model",
                                        "ctx",
                                        "slots",
                                        "threads",
                                        "queue",
                                        "batch",
                                        "temperature",
                                        "top_p",
                                        "top_k",
                                        "min_p",
                                        "repeat_penalty",
                                        "repeat_last_n",
                                        "frequency_penalty",
                                        "presence_penalty",
                                        "seed",
                                        "system",
                                        "prefix_reuse",
                                        "tool_format",
                                        "kv_type",
                                        "reasoning_budget",
                                        "lora",
                                        "route",
                                        "route_long_prompt",
                                        "context_overflow",
                                        "draft",
                                        "draft_max",
                                        "draft_min_p",
                                        "lookup",
                                        "draft_layers"};

/* seen's bit of a key (section_end's checks name keys, not numbers). */
_Static_assert(sizeof conf_keys / sizeof conf_keys[0] <= 32, "seen is a 32-bit mask");
static unsigned key_bit(const char *key) {
    for (unsigned i = 0; i < sizeof conf_keys / sizeof conf_keys[0]; i++)
        if (!strcmp(conf_keys[i], key)) return 1u << i;
    return 0;
}

/* One `key = value` for section c. seen: bitmask of keys already given. */
static int conf_key(const conf_pos *p, srv_model_config *c, const char *key, const char *v,
                    unsigned *seen) {
    int k = -1;
    for (int i = 0; i < (int)(sizeof conf_keys / sizeof conf_keys[0]); i++)
        if (!strcmp(key, conf_keys[i])) k = i;
    if (k < 0)
        return conf_fail(p,
                         "unknown key '%s' (model, ctx, slots, threads, queue, batch, temperature, "
                         "top_p, top_k, "
                         "min_p, repeat_penalty, repeat_last_n, frequency_penalty, "
                         "presence_penalty, seed, system, prefix_reuse, tool_format, kv_type, reasoning_budget, lora, "
                         "route, route_long_prompt, context_overflow, draft, draft_max, draft_min_p, lookup, draft_layers)",
                         key);
    if (*seen & (1u << k)) return conf_fail(p, "'%s' is given twice in this section", key);
    *seen |= 1u << k;
    /* keys that win over a store model's params (srv_config_apply_params) */
    static const unsigned set_bit[] = {0, SRV_CONF_CTX, 0, 0, 0, 0, SRV_CONF_TEMPERATURE, SRV_CONF_TOP_P,
                                       SRV_CONF_TOP_K, SRV_CONF_MIN_P, SRV_CONF_REPEAT_PENALTY,
                                       SRV_CONF_REPEAT_LAST_N, SRV_CONF_FREQUENCY_PENALTY,
                                       SRV_CONF_PRESENCE_PENALTY, SRV_CONF_SEED, SRV_CONF_SYSTEM, 0, 0, 0, 0, 0, 0, 0,
                                       0, 0, 0, 0, 0, 0};
    _Static_assert(sizeof set_bit / sizeof set_bit[0] == sizeof conf_keys / sizeof conf_keys[0], "one bit per key");
    c->set |= set_bit[k];
    sample_params *s = &c->sampling;
    switch (k) {
    case 0:
        if (!*v) return conf_fail(p, "'model' is empty");
        c->path = xstrdup(v);
        return 0;
    case 1:
        return parse_int(p, key, v, 0, 1 << 22, &c->n_ctx);
    case 2:
        return parse_int(p, key, v, 1, 64, &c->n_slots);
    case 3:
        return parse_int(p, key, v, 0, 1024, &c->n_threads);
    case 4:
        return parse_int(p, key, v, 1, 1 << 20, &c->max_queue);
    case 5:
        return parse_int(p, key, v, 1, 65536, &c->n_batch);
    case 6:
        return parse_float(p, key, v, 0.0f, 100.0f, &s->temperature);
    case 7:
        return parse_float(p, key, v, 0.0f, 1.0f, &s->top_p);
    case 8:
        return parse_int(p, key, v, 0, INT32_MAX, &s->top_k);
    case 9:
        return parse_float(p, key, v, 0.0f, 1.0f, &s->min_p);
    case 10:
        return parse_float(p, key, v, 0.0f, 100.0f, &s->repeat_penalty);
    case 11:
        return parse_int(p, key, v, -1, 1 << 20, &s->repeat_last_n);
    case 12:
        return parse_float(p, key, v, -2.0f, 2.0f, &s->frequency_penalty);
    case 13:
        return parse_float(p, key, v, -2.0f, 2.0f, &s->presence_penalty);
    case 14: {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-')
            return conf_fail(p, "'%s' must be an unsigned integer", key);
        s->seed = x;
        return 0;
    }
    case 15:
        c->system_prompt = xstrdup(v);
        return 0;
    case 17: {
        tc_family f;
        if (tc_family_from_name(v, &f)) {
            char names[256] = "";
            for (int i = 0; i < TC_N_FAMILIES; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                         tc_family_name((tc_family)i));
            return conf_fail(p, "'tool_format' must be one of %s (got '%s')", names, v);
        }
        c->tool_format = xstrdup(v);
        return 0;
    }
    case 18:
        if (hearth_kv_type_from_name(v, &c->kv_type))
            return conf_fail(p, "'kv_type' must be one of f16, f32, q8_0 (got '%s')", v);
        return 0;
    case 19:
        return parse_int(p, key, v, 0, 1 << 20, &c->reasoning_budget); /* request.h SRV_MAX_REASONING_BUDGET */
    case 20:
        return parse_lora(p, v, c);
    case 21:
        return parse_route(p, v, c);
    case 22:
        return parse_int(p, key, v, 0, 1 << 22, &c->route_long_prompt);
    case 23:
        if (!strcmp(v, "error"))
            c->context_overflow = SRV_OVERFLOW_ERROR;
        else if (!strcmp(v, "shift"))
            c->context_overflow = SRV_OVERFLOW_SHIFT;
        else
            return conf_fail(p, "'context_overflow' must be error or shift (got '%s')", v);
        return 0;
    case 24:
        if (!*v) return conf_fail(p, "'draft' is empty");
        c->draft = xstrdup(v);
        return 0;
    case 25:
        return parse_int(p, key, v, 1, SPEC_MAX_DRAFT, &c->draft_max);
    case 26:
        return parse_float(p, key, v, 0.0f, 1.0f, &c->draft_min_p);
    case 27:
        return parse_int(p, key, v, 1, SPEC_MAX_DRAFT, &c->lookup);
    case 28:
        return parse_int(p, key, v, 1, 4096, &c->draft_layers);
    default:
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
            c->no_prefix_reuse = false;
        else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
            c->no_prefix_reuse = true;
        else
            return conf_fail(p, "'%s' must be true or false", key);
        return 0;
    }
}

/* A section is a model (model = PATH) or a routing name (route = SMALL, LARGE, and only
 * route_long_prompt beside it). */
static int section_end(conf_pos *p, const srv_model_config *c, unsigned seen, int section_line) {
    int l = p->line, rc = 0;
    p->line = section_line;
    if (c->route_small) {
        if (seen & ~(key_bit("route") | key_bit("route_long_prompt")))
            rc = conf_fail(p, "section [%s] is a route: only 'route' and 'route_long_prompt' may be set", c->name);
    } else if (seen & key_bit("route_long_prompt")) {
        rc = conf_fail(p, "section [%s]: 'route_long_prompt' without 'route'", c->name);
    } else if (!c->path) {
        rc = conf_fail(p, "section [%s] has no 'model = PATH' (or 'route = SMALL, LARGE')", c->name);
    } else if ((c->draft || c->draft_layers) && c->lookup) {
        rc = conf_fail(p, "section [%s]: 'draft' / 'draft_layers' and 'lookup' are two ways to draft: set one",
                       c->name);
    } else if ((seen & (key_bit("draft_max") | key_bit("draft_min_p"))) && !c->draft && !c->draft_layers && !c->lookup) {
        rc = conf_fail(p, "section [%s]: 'draft_max' / 'draft_min_p' without 'draft', 'draft_layers' or 'lookup'",
                       c->name);
    } else if ((seen & key_bit("draft_min_p")) && !c->draft && !c->draft_layers) {
        rc = conf_fail(p, "section [%s]: 'draft_min_p' needs a draft model ('draft')", c->name);
    }
    p->line = l;
    return rc;
}

/* Every route names two other sections of the file that are models (no route of routes). */
static int check_routes(const conf_pos *p, const srv_model_config *cfgs, int n) {
    for (int i = 0; i < n; i++) {
        if (!cfgs[i].route_small) continue;
        const char *t[2] = {cfgs[i].route_small, cfgs[i].route_large};
        for (int k = 0; k < 2; k++) {
            int j = 0;
            while (j < n && strcmp(cfgs[j].name, t[k]))
                j++;
            if (j == i)
                return he_fail(p->err, HE_FORMAT, "%s: route [%s] names itself", p->file, cfgs[i].name);
            if (j == n && p->store_names && store_name_check(t[k], NULL) == 0)
                continue; /* a store model, loaded on first use (checked when a request comes) */
            if (j == n)
                return he_fail(p->err, HE_FORMAT, "%s: route [%s] names '%s', which is not a served name of this file%s",
                               p->file, cfgs[i].name, t[k], p->store_names ? " nor a model store name" : "");
            if (cfgs[j].route_small)
                return he_fail(p->err, HE_FORMAT, "%s: route [%s] names '%s', which is itself a route", p->file,
                               cfgs[i].name, t[k]);
        }
    }
    return 0;
}

void srv_config_free(srv_model_config *cfgs, int n) {
    if (!cfgs) return;
    for (int i = 0; i < n; i++) {
        for (int32_t j = 0; j < cfgs[i].n_lora; j++)
            free((char *)cfgs[i].lora_path[j]);
        free((char *)cfgs[i].name);
        free((char *)cfgs[i].path);
        free((char *)cfgs[i].system_prompt);
        free((char *)cfgs[i].tool_format);
        free((char *)cfgs[i].route_small);
        free((char *)cfgs[i].route_large);
        free((char *)cfgs[i].draft);
    }
    free(cfgs);
}

int srv_config_parse(const char *text, size_t len, const char *name, srv_model_config **out,
                     int *n_out, he_error *err) {
    return srv_config_parse_ex(text, len, name, false, out, n_out, err);
}

int srv_config_parse_ex(const char *text, size_t len, const char *name, bool store_names, srv_model_config **out,
                        int *n_out, he_error *err) {
    *out = NULL;
    *n_out = 0;
    conf_pos p = {name ? name : "config", 0, err, store_names};
    if (len > CONF_MAX_BYTES) return he_fail(err, HE_LIMIT, "%s: larger than 1 MiB", p.file);
    srv_model_config *cfgs = NULL;
    int n = 0, cap = 0, section_line = 0;
    unsigned seen = 0;
    size_t i = 0;
    while (i < len) {
        p.line++;
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        size_t a = i, b = e;
        i = e + 1;
        while (a < b && is_space(text[a]))
            a++;
        while (b > a && is_space(text[b - 1]))
            b--;
        if (memchr(text + a, 0, b - a)) {
            conf_fail(&p, "NUL byte in the line");
            goto fail;
        }
        if (a == b || text[a] == '#' || text[a] == ';') continue;
        if (text[a] == '[') {
            if (text[b - 1] != ']') {
                conf_fail(&p, "a section header must end with ']'");
                goto fail;
            }
            if (n && section_end(&p, &cfgs[n - 1], seen, section_line)) goto fail;
            size_t na = a + 1, nb = b - 1;
            while (na < nb && is_space(text[na]))
                na++;
            while (nb > na && is_space(text[nb - 1]))
                nb--;
            if (na == nb) {
                conf_fail(&p, "empty served name");
                goto fail;
            }
            if (nb - na > CONF_MAX_NAME) {
                conf_fail(&p, "served name longer than %d characters", CONF_MAX_NAME);
                goto fail;
            }
            for (size_t k = na; k < nb; k++)
                if (!name_char_ok((unsigned char)text[k])) {
                    char ch[8];
                    snprintf(ch, sizeof ch, (unsigned char)text[k] < 0x20 ? "\\x%02x" : "%c",
                             (unsigned char)text[k]);
                    conf_fail(&p,
                              "character '%s' is not allowed in a served name (letters, digits, . "
                              "_ - : / @ +)",
                              ch);
                    goto fail;
                }
            char *sname = xstrndup(text + na, nb - na);
            for (int k = 0; k < n; k++)
                if (!strcmp(cfgs[k].name, sname)) {
                    conf_fail(&p, "served name [%s] appears twice", sname);
                    free(sname);
                    goto fail;
                }
            if (n == CONF_MAX_SECTIONS) {
                free(sname);
                conf_fail(&p, "more than %d served names", CONF_MAX_SECTIONS);
                goto fail;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 4;
                cfgs = xrealloc(cfgs, (size_t)cap * sizeof *cfgs);
            }
            cfgs[n] = srv_model_config_default();
            cfgs[n].name = sname;
            n++;
            seen = 0;
            section_line = p.line;
            continue;
        }
        const char *eq = memchr(text + a, '=', b - a);
        if (!eq) {
            conf_fail(&p, "expected 'key = value' or '[name]'");
            goto fail;
        }
        size_t ka = a, kb = (size_t)(eq - text);
        while (kb > ka && is_space(text[kb - 1]))
            kb--;
        size_t va = (size_t)(eq - text) + 1;
        while (va < b && is_space(text[va]))
            va++;
        char key[32];
        if (kb == ka || kb - ka >= sizeof key) {
            conf_fail(&p, "missing or overlong key before '='");
            goto fail;
        }
        memcpy(key, text + ka, kb - ka);
        key[kb - ka] = 0;
        if (!n) {
            conf_fail(&p, "'%s' before any [served-name] section", key);
            goto fail;
        }
        char *val = conf_value(&p, text + va, b - va);
        if (!val) goto fail;
        int rc = conf_key(&p, &cfgs[n - 1], key, val, &seen);
        free(val);
        if (rc) goto fail;
    }
    if (n && section_end(&p, &cfgs[n - 1], seen, section_line)) goto fail;
    if (!n) {
        he_fail(err, HE_FORMAT, "%s: no [served-name] sections", p.file);
        goto fail;
    }
    if (check_routes(&p, cfgs, n)) goto fail;
    *out = cfgs;
    *n_out = n;
    return 0;
fail:
    srv_config_free(cfgs, n);
    return -1;
}

int srv_config_load(const char *path, srv_model_config **out, int *n_out, he_error *err) {
    return srv_config_load_ex(path, false, out, n_out, err);
}

int srv_config_load_ex(const char *path, bool store_names, srv_model_config **out, int *n_out, he_error *err) {
    *out = NULL;
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return he_fail(err, HE_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = xmalloc(CONF_MAX_BYTES + 1);
    size_t n = fread(buf, 1, CONF_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return he_fail(err, HE_IO, "%s: read error", path);
    }
    int rc = srv_config_parse_ex(buf, n, path, store_names, out, n_out, err);
    free(buf);
    if (rc) return rc;
    /* model paths (the model's and its draft's) are relative to the config file's folder */
    const char *slash = strrchr(path, '/');
    if (slash) {
        size_t dl = (size_t)(slash - path) + 1;
        for (int i = 0; i < *n_out; i++) {
            const char **fields[2] = {&(*out)[i].path, &(*out)[i].draft};
            for (int fi = 0; fi < 2; fi++) {
                const char *mp = *fields[fi];
                if (!mp || mp[0] == '/') continue; /* a route has no path; most have no draft */
                size_t ml = strlen(mp);
                char *full = xmalloc(dl + ml + 1);
                memcpy(full, path, dl);
                memcpy(full + dl, mp, ml + 1);
                /* a model store name ("qwen3:8b") stays a name unless such a file exists there */
                struct stat st;
                if (store_name_check(mp, NULL) == 0 && stat(full, &st) != 0) {
                    free(full);
                    continue;
                }
                free((char *)mp);
                *fields[fi] = full;
            }
        }
    }
    return 0;
}

/* ---- store params overrides ---- */

int srv_config_apply_params(srv_model_config *c, const char *json, const char *what, he_error *err) {
    json_error_t je;
    json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return he_fail(err, HE_FORMAT, "%s: params: not a JSON object%s%s", what, o ? "" : ": ", o ? "" : je.text);
    }
    static const struct {
        const char *key;
        unsigned bit;
        double lo, hi;
        bool integer;
    } keys[] = {
        {"temperature", SRV_CONF_TEMPERATURE, 0, 100, false},
        {"top_p", SRV_CONF_TOP_P, 0, 1, false},
        {"top_k", SRV_CONF_TOP_K, 0, INT32_MAX, true},
        {"min_p", SRV_CONF_MIN_P, 0, 1, false},
        {"repeat_penalty", SRV_CONF_REPEAT_PENALTY, 0, 100, false},
        {"repeat_last_n", SRV_CONF_REPEAT_LAST_N, -1, 1 << 20, true},
        {"frequency_penalty", SRV_CONF_FREQUENCY_PENALTY, -2, 2, false},
        {"presence_penalty", SRV_CONF_PRESENCE_PENALTY, -2, 2, false},
        {"seed", SRV_CONF_SEED, 0, 18446744073709551615.0, true},
        {"num_ctx", SRV_CONF_CTX, 0, 1 << 22, true},
    };
    sample_params *s = &c->sampling;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!strcmp(k, "system")) {
            if (!json_is_string(v)) {
                he_fail(err, HE_FORMAT, "%s: params: 'system' must be a string", what);
                json_decref(o);
                return -1;
            }
            if (!(c->set & SRV_CONF_SYSTEM)) {
                free((char *)c->system_prompt);
                c->system_prompt = xstrdup(json_string_value(v));
            }
            continue;
        }
        int i = -1;
        for (int j = 0; j < (int)(sizeof keys / sizeof keys[0]); j++)
            if (!strcmp(k, keys[j].key)) i = j;
        if (i < 0) {
            log_warn("%s: params: ignoring unknown key '%.64s'", what, k);
            continue;
        }
        double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : (double)NAN;
        bool ok = json_is_number(v) && d >= keys[i].lo && d <= keys[i].hi && (!keys[i].integer || json_is_integer(v));
        if (!ok) { /* k belongs to o: report before letting go of it */
            he_fail(err, HE_FORMAT, "%s: params: '%s' must be %s in [%g, %g]", what, k,
                    keys[i].integer ? "an integer" : "a number", keys[i].lo, keys[i].hi);
            json_decref(o);
            return -1;
        }
        if (c->set & keys[i].bit) continue; /* the config file (or command line) wins */
        switch (keys[i].bit) {
        case SRV_CONF_TEMPERATURE: s->temperature = (float)d; break;
        case SRV_CONF_TOP_P: s->top_p = (float)d; break;
        case SRV_CONF_TOP_K: s->top_k = (int32_t)json_integer_value(v); break;
        case SRV_CONF_MIN_P: s->min_p = (float)d; break;
        case SRV_CONF_REPEAT_PENALTY: s->repeat_penalty = (float)d; break;
        case SRV_CONF_REPEAT_LAST_N: s->repeat_last_n = (int32_t)json_integer_value(v); break;
        case SRV_CONF_FREQUENCY_PENALTY: s->frequency_penalty = (float)d; break;
        case SRV_CONF_PRESENCE_PENALTY: s->presence_penalty = (float)d; break;
        case SRV_CONF_SEED: s->seed = (uint64_t)json_integer_value(v); break;
        default: c->n_ctx = (int32_t)json_integer_value(v); break;
        }
    }
    json_decref(o);
    return 0;
}
