/* test_webui.c — the web chat UI's embedded files (server/webui.h: every file is there with its
 * type and a build-time ETag; index.html at "/") and the header checks its answers use
 * (If-None-Match, Accept). */
#include <criterion/criterion.h>
#include <string.h>

#include "server/webui.h"

Test(webui, embedded_files) {
    const char *want[][2] = {{"/", "text/html; charset=utf-8"},
                             {"/ui/app.js", "text/javascript; charset=utf-8"},
                             {"/ui/markdown.js", "text/javascript; charset=utf-8"},
                             {"/ui/style.css", "text/css; charset=utf-8"},
                             {"/ui/icon.svg", "image/svg+xml"}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const srv_webui_asset *a = srv_webui_find(want[i][0]);
        cr_assert(a, "%s", want[i][0]);
        cr_expect_str_eq(a->ctype, want[i][1]);
        cr_expect_gt(a->len, 100);
        cr_expect_eq(strlen((const char *)a->data), a->len, "%s has no NUL and ends with one",
                     a->path);
        cr_expect_eq(strlen(a->etag), 34);
        cr_expect(a->etag[0] == '"' && a->etag[33] == '"');
    }
    const srv_webui_asset *idx = srv_webui_find("/");
    cr_expect(strstr((const char *)idx->data, "<script src=\"/ui/app.js\""));
    cr_expect(!strstr((const char *)idx->data, "http://") &&
                  !strstr((const char *)idx->data, "https://"),
              "no external host in the page");
    /* distinct files, distinct tags */
    cr_expect_str_neq(srv_webui_find("/ui/app.js")->etag, srv_webui_find("/ui/style.css")->etag);
    const char *none[] = {NULL,
                          "",
                          "/index.html",
                          "/ui/",
                          "/ui",
                          "/ui/app.js/",
                          "/ui/../ui/app.js",
                          "/ui/APP.JS",
                          "/ui/app.js?x",
                          "//",
                          "/ui/app.j"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        cr_expect_null(srv_webui_find(none[i]), "%s", none[i] ? none[i] : "(null)");
}

Test(webui, headers) {
    int csp = 0;
    for (int i = 0; srv_webui_headers[i]; i += 2) {
        cr_assert(srv_webui_headers[i + 1]);
        if (!strcmp(srv_webui_headers[i], "Content-Security-Policy")) {
            csp = 1;
            const char *v = srv_webui_headers[i + 1];
            cr_expect(strstr(v, "default-src 'none'"));
            cr_expect(strstr(v, "script-src 'self';"));
            cr_expect(strstr(v, "connect-src 'self';"));
            cr_expect(!strstr(v, "unsafe") && !strstr(v, "http") && !strstr(v, "*"));
        }
    }
    cr_expect(csp);
}

Test(webui, etag_match) {
    const char *tag = "\"0123abcd\"";
    const char *yes[] = {"\"0123abcd\"",
                         " \"0123abcd\" ",
                         "W/\"0123abcd\"",
                         "\"x\", \"0123abcd\"",
                         "\"x\",W/\"0123abcd\",\"y\"",
                         "*",
                         " * ",
                         ",,\"0123abcd\""};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        cr_expect(srv_etag_match(yes[i], tag), "%s", yes[i]);
    const char *no[] = {NULL,
                        "",
                        "\"0123abcd",
                        "0123abcd",
                        "\"0123abcE\"",
                        "\"0123abcd\"x",
                        "\"x\" \"0123abcd\"",
                        "* \"0123abcd\"",
                        "w/\"0123abcd\"",
                        "\"0123 abcd\"",
                        "\"x\", garbage, \"0123abcd\"",
                        "\"\"",
                        "W/"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        cr_expect(!srv_etag_match(no[i], tag), "%s", no[i] ? no[i] : "(null)");
    cr_expect(!srv_etag_match("\"a\"", NULL));
}

Test(webui, accepts_html) {
    const char *yes[] = {"text/html",
                         "TEXT/HTML",
                         "text/html,application/xhtml+xml,*/*;q=0.8",
                         "application/json, text/html;q=0.5",
                         " text/html ; charset=utf-8",
                         "text/html;q=0.001",
                         "text/html;q=1"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        cr_expect(srv_accepts_html(yes[i]), "%s", yes[i]);
    const char *no[] = {NULL,
                        "",
                        "*/*",
                        "text/*",
                        "application/json",
                        "text/htmlx",
                        "text/html;q=0",
                        "text/html; q=0.000",
                        "xtext/html",
                        "text/plain, application/xhtml+xml",
                        "text/html;q=0,text/plain"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        cr_expect(!srv_accepts_html(no[i]), "%s", no[i] ? no[i] : "(null)");
}
