/* report.c — the card as JSON (for machines), markdown (for people reading text) and SVG (for
 * people who would rather look than read): one row, or one colour, per model.
 *
 * Model names come from the command line or from an endpoint, so the SVG escapes them for XML
 * and replaces control characters and broken UTF-8, which XML 1.0 cannot carry. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "card/card.h"

/* ---- A growing text buffer ---- */

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int w = vsnprintf(b->s ? b->s + b->n : NULL, room, fmt, ap);
        va_end(ap);
        if (w < 0) return;
        if ((size_t)w < room) {
            b->n += (size_t)w;
            return;
        }
        b->cap = (b->cap + (size_t)w + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
}

/* ---- The machine ---- */

void card_machine_read(card_machine *m) {
    memset(m, 0, sizeof *m);
    snprintf(m->cpu, sizeof m->cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10) && m->cpu[0] == 'u') {
                char *c = strchr(line, ':');
                if (c) {
                    c++;
                    while (*c == ' ' || *c == '\t')
                        c++;
                    c[strcspn(c, "\n")] = 0;
                    snprintf(m->cpu, sizeof m->cpu, "%s", c);
                }
            }
            if (!strncmp(line, "processor", 9)) m->cores++;
        }
        fclose(f);
    }
    if (!m->cores) m->cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    f = fopen("/proc/meminfo", "r");
    if (f) {
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
                m->mem_gib = (double)kb / (1024.0 * 1024.0);
        fclose(f);
    }
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(m->date, sizeof m->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- JSON ---- */

static json_t *num_or_null(double v, int decimals) {
    if (!isfinite(v)) return json_null();
    double k = pow(10.0, decimals);
    return json_real(round(v * k) / k);
}

/* A JSON string of s; where s is not valid UTF-8 (a name from the command line, a reason cut
 * inside a character), the bytes above ASCII become '?'. */
static json_t *text_json(const char *s) {
    json_t *j = json_string(s ? s : "");
    if (j) return j;
    char *c = xstrdup(s);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(c);
    free(c);
    return j;
}

static json_t *tally_json(const card_tally *t) {
    return json_pack("{s:i, s:i, s:i}", "landed", t->landed, "well_formed", t->well_formed, "total",
                     t->total);
}

char *card_report_json(const card_model_result *r, size_t n, const card_machine *m) {
    json_t *models = json_array();
    for (size_t i = 0; i < n; i++) {
        const card_model_result *x = &r[i];
        json_t *by = json_object();
        for (int c = 0; c < CARD_TOOL_CATS; c++)
            json_object_set_new(by, card_category_name((card_category)c), tally_json(&x->cat[c]));
        json_t *tools = tally_json(&x->tools);
        json_object_set_new(tools, "by_category", by);
        const card_tally *jo = &x->cat[CARD_JSON_OBJECT], *js = &x->cat[CARD_STRUCTURED];
        json_t *cases = json_array();
        for (size_t k = 0; k < x->n_cases; k++) {
            const card_case_result *cr = &x->cases[k];
            json_array_append_new(
                cases,
                json_pack("{s:o, s:s, s:b, s:b, s:b, s:o, s:o}", "id", text_json(cr->id),
                          "category", card_category_name(cr->cat), "well_formed", cr->well_formed,
                          "landed", cr->landed, "length_stop", cr->length_stop, "seconds",
                          num_or_null(cr->seconds, 3), "why", text_json(cr->why)));
        }
        json_t *o = json_object();
        json_object_set_new(o, "name", text_json(x->name));
        json_object_set_new(o, "endpoint", text_json(x->endpoint));
        json_object_set_new(o, "pp_tokens_per_s", num_or_null(x->pp_tps, 2));
        json_object_set_new(o, "tg_tokens_per_s", num_or_null(x->tg_tps, 2));
        json_object_set_new(o, "ttft_ms", num_or_null(x->ttft_ms, 1));
        json_object_set_new(o, "ttft_turn5_ms", num_or_null(x->ttft_turn5_ms, 1));
        json_object_set_new(o, "concurrency",
                            json_pack("{s:o, s:o}", "1", num_or_null(x->conc_tps[0], 2), "4",
                                      num_or_null(x->conc_tps[1], 2)));
        json_object_set_new(o, "pp_prompt_tokens", json_integer(x->pp_prompt_tokens));
        json_object_set_new(o, "token_counts", json_string(x->usage_counted ? "usage" : "events"));
        json_object_set_new(o, "tool_calls", tools);
        json_object_set_new(o, "json_valid",
                            json_pack("{s:{s:i, s:i}, s:{s:i, s:i}}", "json_object", "valid",
                                      jo->well_formed, "total", jo->total, "json_schema", "valid",
                                      js->well_formed, "total", js->total));
        json_object_set_new(
            o, "length_stops",
            json_pack(
                "{s:i, s:i, s:o}", "count", x->length_stops, "answers", x->answers, "share",
                num_or_null(x->answers ? (double)x->length_stops / x->answers : (double)NAN, 3)));
        json_object_set_new(o, "errors", json_integer(x->errors));
        if (x->first_error[0]) json_object_set_new(o, "first_error", text_json(x->first_error));
        json_object_set_new(o, "seconds", num_or_null(x->seconds, 1));
        json_object_set_new(o, "cases", cases);
        json_array_append_new(models, o);
    }
    json_t *root = json_pack("{s:o, s:{s:o, s:i, s:o}, s:s}", "models", models, "machine", "cpu",
                             text_json(m->cpu), "cores", m->cores, "memory_gib",
                             num_or_null(m->mem_gib, 1), "date", m->date);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    size_t l = strlen(s);
    char *out = xmalloc(l + 2);
    memcpy(out, s, l);
    out[l] = '\n';
    out[l + 1] = 0;
    free(s);
    return out;
}

/* ---- Markdown ---- */

static void md_num(sbuf *b, double v, int decimals) {
    if (isfinite(v))
        sb_printf(b, " %.*f |", decimals, v);
    else
        sb_printf(b, " – |");
}

static void md_pct(sbuf *b, const card_tally *t) {
    if (t->total)
        sb_printf(b, " %d/%d (%.0f%%) |", t->landed, t->total, 100.0 * t->landed / t->total);
    else
        sb_printf(b, " – |");
}

/* A name in a table cell: '|' and line breaks would break the row. */
static void md_name(sbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '|')
            sb_printf(b, "\\|");
        else if ((unsigned char)*s < 0x20)
            sb_printf(b, " ");
        else
            sb_printf(b, "%c", *s);
    }
}

char *card_report_md(const card_model_result *r, size_t n, const card_machine *m) {
    sbuf b = {0};
    sb_printf(&b, "# hearth card\n\n%s · %s, %d cores, %.1f GiB\n\n", m->date, m->cpu, m->cores,
              m->mem_gib);
    sb_printf(&b, "| model | pp t/s | tg t/s | TTFT ms | TTFT turn 5 ms | 1 client t/s | 4 clients "
                  "t/s | tool calls landed | well-formed | JSON valid | length stops |\n");
    sb_printf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < n; i++) {
        const card_model_result *x = &r[i];
        sb_printf(&b, "| ");
        md_name(&b, x->name);
        sb_printf(&b, " |");
        md_num(&b, x->pp_tps, 1);
        md_num(&b, x->tg_tps, 1);
        md_num(&b, x->ttft_ms, 0);
        md_num(&b, x->ttft_turn5_ms, 0);
        md_num(&b, x->conc_tps[0], 1);
        md_num(&b, x->conc_tps[1], 1);
        md_pct(&b, &x->tools);
        sb_printf(&b, " %d/%d |", x->tools.well_formed, x->tools.total);
        int jv = x->cat[CARD_JSON_OBJECT].well_formed + x->cat[CARD_STRUCTURED].well_formed;
        int jt = x->cat[CARD_JSON_OBJECT].total + x->cat[CARD_STRUCTURED].total;
        sb_printf(&b, " %d/%d |", jv, jt);
        sb_printf(&b, " %d/%d |\n", x->length_stops, x->answers);
    }
    sb_printf(&b, "\nTool calls landed per category (landed/total; well-formed in "
                  "parentheses):\n\n| model |");
    for (int c = 0; c < CARD_CAT_COUNT; c++)
        sb_printf(&b, " %s |", card_category_name((card_category)c));
    sb_printf(&b, "\n|---|");
    for (int c = 0; c < CARD_CAT_COUNT; c++)
        sb_printf(&b, "---:|");
    sb_printf(&b, "\n");
    for (size_t i = 0; i < n; i++) {
        sb_printf(&b, "| ");
        md_name(&b, r[i].name);
        sb_printf(&b, " |");
        for (int c = 0; c < CARD_CAT_COUNT; c++) {
            const card_tally *t = &r[i].cat[c];
            if (t->total)
                sb_printf(&b, " %d/%d (%d) |", t->landed, t->total, t->well_formed);
            else
                sb_printf(&b, " – |");
        }
        sb_printf(&b, "\n");
    }
    for (size_t i = 0; i < n; i++)
        if (r[i].errors) {
            sb_printf(&b, "\n%s: %d request errors; the first: ", r[i].name, r[i].errors);
            md_name(&b, r[i].first_error);
            sb_printf(&b, "\n");
        }
    return b.s;
}

/* ---- SVG ---- */

/* Writes s as XML character data: escaped, control characters and invalid UTF-8 as '?', at
 * most max code points (then an ellipsis). */
static void xml_text(sbuf *b, const char *s, size_t max) {
    const unsigned char *p = (const unsigned char *)s;
    size_t cps = 0;
    while (*p) {
        if (cps++ == max) {
            sb_printf(b, "…");
            return;
        }
        unsigned char c = *p;
        if (c == '&')
            sb_printf(b, "&amp;");
        else if (c == '<')
            sb_printf(b, "&lt;");
        else if (c == '>')
            sb_printf(b, "&gt;");
        else if (c == '"')
            sb_printf(b, "&quot;");
        else if (c == '\'')
            sb_printf(b, "&apos;");
        else if (c < 0x20 || c == 0x7f)
            sb_printf(b, "?");
        else if (c < 0x80)
            sb_printf(b, "%c", c);
        else {
            int len = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
            bool ok = len > 0;
            for (int i = 1; ok && i < len; i++)
                if ((p[i] & 0xC0) != 0x80) ok = false;
            if (ok && len == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)))
                ok = false;
            if (ok && len == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)))
                ok = false;
            if (ok && len == 3 && c == 0xEF && p[1] == 0xBF && p[2] >= 0xBE)
                ok = false; /* U+FFFE, U+FFFF */
            if (!ok) {
                sb_printf(b, "?");
                p++;
                continue;
            }
            sb_printf(b, "%.*s", len, (const char *)p);
            p += len;
            continue;
        }
        p++;
    }
}

static const char *const palette[] = {"#2f6fdf", "#e8743b", "#19a979", "#945ecf",
                                      "#ed4a7b", "#13a4b4", "#bf8b00", "#6c8893"};
#define PALETTE_N (sizeof palette / sizeof palette[0])

typedef struct {
    const char *label;
    double v[64]; /* per model; NAN: none */
    char text[64][24];
} bar_group;

/* One panel of grouped bars: groups side by side, one bar per model in each; each group scaled
 * to its own largest value (scale_max <= 0) or to scale_max. */
static void svg_panel(sbuf *b, double y0, const char *title, const bar_group *g, int ng, size_t nm,
                      double scale_max) {
    const double x0 = 40, width = 880, height = 140;
    sb_printf(b, "<text x=\"%.0f\" y=\"%.0f\" class=\"h\">", x0, y0 + 16);
    xml_text(b, title, 200);
    sb_printf(b, "</text>\n");
    double top = y0 + 40, base = top + height;
    sb_printf(b, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#999\"/>\n", x0,
              base, x0 + width, base);
    double gw = width / ng, bw = (gw - 16) / (double)(nm ? nm : 1);
    if (bw > 60) bw = 60;
    for (int gi = 0; gi < ng; gi++) {
        double mx = scale_max;
        if (mx <= 0)
            for (size_t i = 0; i < nm; i++)
                if (isfinite(g[gi].v[i]) && g[gi].v[i] > mx) mx = g[gi].v[i];
        double gx = x0 + gi * gw + (gw - bw * (double)nm) / 2;
        for (size_t i = 0; i < nm; i++) {
            double x = gx + (double)i * bw;
            double v = g[gi].v[i];
            double h = isfinite(v) && mx > 0 ? height * fmin(v / mx, 1.0) : 0;
            if (h > 0 && h < 1) h = 1;
            sb_printf(b,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
                      x + 2, base - h, bw - 4, h, palette[i % PALETTE_N]);
            sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"v\">", x + bw / 2, base - h - 4);
            xml_text(b, g[gi].text[i], 24);
            sb_printf(b, "</text>\n");
        }
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"g\">", x0 + gi * gw + gw / 2, base + 16);
        xml_text(b, g[gi].label, 40);
        sb_printf(b, "</text>\n");
    }
}

static void fmt_num(char *out, double v, const char *suffix) {
    if (!isfinite(v))
        snprintf(out, 24, "–");
    else if (v >= 100)
        snprintf(out, 24, "%.0f%s", v, suffix);
    else
        snprintf(out, 24, "%.1f%s", v, suffix);
}

char *card_report_svg(const card_model_result *r, size_t n, const card_machine *m) {
    if (n > 64) n = 64;
    sbuf b = {0};
    double legend_h = 24.0 * (double)((n + 2) / 3);
    double h = 70 + legend_h + 3 * 210 + 20;
    sb_printf(&b,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"%.0f\" viewBox=\"0 "
              "0 960 %.0f\" role=\"img\">\n",
              h, h);
    sb_printf(
        &b,
        "<title>hearth "
        "card</"
        "title>\n<style>text{font-family:sans-serif;fill:#222}.t{font-size:20px;font-weight:bold}"
        ".h{font-size:15px;font-weight:bold}.v{font-size:11px;text-anchor:middle}.g{font-size:12px;"
        "text-anchor:middle}"
        ".l{font-size:13px}.s{font-size:12px;fill:#666}</style>\n");
    sb_printf(&b, "<rect width=\"960\" height=\"%.0f\" fill=\"#fff\"/>\n", h);
    sb_printf(&b, "<text x=\"40\" y=\"30\" class=\"t\">hearth card</text>\n<text x=\"40\" y=\"50\" "
                  "class=\"s\">");
    char sub[300];
    snprintf(sub, sizeof sub, "%s · %s · %d cores · %.1f GiB", m->date, m->cpu, m->cores,
             m->mem_gib);
    xml_text(&b, sub, 200);
    sb_printf(&b, "</text>\n");
    for (size_t i = 0; i < n; i++) {
        double x = 40 + (double)(i % 3) * 300, y = 66 + 24.0 * (double)(i / 3);
        sb_printf(&b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"14\" fill=\"%s\"/>\n", x,
                  y, palette[i % PALETTE_N]);
        sb_printf(&b, "<text x=\"%.0f\" y=\"%.0f\" class=\"l\">", x + 20, y + 12);
        xml_text(&b, r[i].name, 36);
        sb_printf(&b, "</text>\n");
    }
    double y = 70 + legend_h;
    bar_group *g = xcalloc(CARD_CAT_COUNT + 2, sizeof *g);
    /* speed */
    const char *sl[4] = {"prompt (pp)", "generation (tg)", "1 client", "4 clients"};
    for (int k = 0; k < 4; k++) {
        g[k].label = sl[k];
        for (size_t i = 0; i < n; i++) {
            g[k].v[i] = k == 0 ? r[i].pp_tps : k == 1 ? r[i].tg_tps : r[i].conc_tps[k - 2];
            fmt_num(g[k].text[i], g[k].v[i], "");
        }
    }
    svg_panel(&b, y,
              "Speed: tokens/s as a client sees it (higher is better; each group to its own scale)",
              g, 4, n, 0);
    y += 210;
    const char *ll[2] = {"short prompt", "turn 5 of a conversation"};
    for (int k = 0; k < 2; k++) {
        g[k].label = ll[k];
        for (size_t i = 0; i < n; i++) {
            g[k].v[i] = k == 0 ? r[i].ttft_ms : r[i].ttft_turn5_ms;
            fmt_num(g[k].text[i], g[k].v[i], " ms");
        }
    }
    svg_panel(&b, y, "Time to first token, ms (lower is better)", g, 2, n, 0);
    y += 210;
    int ng = 0;
    for (int c = 0; c < CARD_TOOL_CATS; c++, ng++) {
        g[ng].label = card_category_name((card_category)c);
        for (size_t i = 0; i < n; i++) {
            const card_tally *t = &r[i].cat[c];
            g[ng].v[i] = t->total ? 100.0 * t->landed / t->total : (double)NAN;
            snprintf(g[ng].text[i], 24, "%d/%d", t->landed, t->total);
        }
    }
    g[ng].label = "all landed";
    g[ng + 1].label = "well-formed";
    for (size_t i = 0; i < n; i++) {
        const card_tally *t = &r[i].tools;
        g[ng].v[i] = t->total ? 100.0 * t->landed / t->total : (double)NAN;
        g[ng + 1].v[i] = t->total ? 100.0 * t->well_formed / t->total : (double)NAN;
        snprintf(g[ng].text[i], 24, "%d/%d", t->landed, t->total);
        snprintf(g[ng + 1].text[i], 24, "%d/%d", t->well_formed, t->total);
    }
    svg_panel(&b, y, "Tool calls landed, % of cases per category", g, ng + 2, n, 100);
    free(g);
    sb_printf(&b, "</svg>\n");
    return b.s;
}
