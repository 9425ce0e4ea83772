/* test_websafe.c — the web-page defences' pure parsers (server/websafe.h): the JSON media type,
 * Origin and Host parsing and the same-origin rule, the admin header, the model-directory
 * prefix check; and the admin token file round trip. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/websafe.h"

Test(websafe, media_type) {
    const char *yes[] = {"application/json",
                         "Application/JSON",
                         "application/json; charset=utf-8",
                         "application/json;charset=UTF-8",
                         " application/json ",
                         "application/json\t;x=y",
                         "APPLICATION/json;"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        cr_expect(srv_media_type_is_json(yes[i]), "%s", yes[i]);
    const char *no[] = {NULL,
                        "",
                        "text/plain",
                        "text/plain;charset=UTF-8",
                        "application/x-www-form-urlencoded",
                        "multipart/form-data; boundary=x",
                        "application/json5",
                        "application/jsonx",
                        "application/ json",
                        "application /json",
                        "application/json x",
                        "application",
                        "/json",
                        "application/",
                        "json",
                        "application/*",
                        "application/ld+json",
                        "text/json",
                        "application/json,text/plain"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        cr_expect(!srv_media_type_is_json(no[i]), "%s", no[i] ? no[i] : "(null)");
}

Test(websafe, origin_parse) {
    srv_origin o;
    cr_assert_eq(srv_origin_parse("http://127.0.0.1:8080", &o), 0);
    cr_expect_str_eq(o.scheme, "http");
    cr_expect_str_eq(o.host, "127.0.0.1");
    cr_expect_eq(o.port, 8080);
    cr_assert_eq(srv_origin_parse("HTTPS://Example.COM", &o), 0);
    cr_expect_str_eq(o.scheme, "https");
    cr_expect_str_eq(o.host, "example.com");
    cr_expect_eq(o.port, 443);
    cr_assert_eq(srv_origin_parse("http://[::1]:3000", &o), 0);
    cr_expect_str_eq(o.host, "[::1]");
    cr_expect_eq(o.port, 3000);
    cr_assert_eq(srv_origin_parse("http://localhost", &o), 0);
    cr_expect_eq(o.port, 80);
    const char *bad[] = {NULL,
                         "",
                         "null",
                         "file://",
                         "ftp://a",
                         "http://",
                         "http://a/",
                         "http://a:80/x",
                         "http://u@a",
                         "http://a:0",
                         "http://a:65536",
                         "http://a:123456",
                         "http://a:",
                         "http://a:8x",
                         "http://a b",
                         "http://a?x",
                         "http://a#x",
                         "http://[::1",
                         "http://[]",
                         "http://[::g]",
                         " http://a",
                         "http://a\n",
                         "http:/a",
                         "chrome-extension://abc"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(srv_origin_parse(bad[i], &o), -1, "%s", bad[i] ? bad[i] : "(null)");
        cr_expect_eq(o.host[0], 0);
    }
}

Test(websafe, origin_allowed) {
    /* no Origin: not a browser */
    cr_expect(srv_origin_allowed(NULL, "127.0.0.1:8080", NULL));
    /* same origin: scheme http, host and port as the request's Host */
    cr_expect(srv_origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080", NULL));
    cr_expect(srv_origin_allowed("http://LOCALHOST:8080", "localhost:8080", NULL));
    cr_expect(srv_origin_allowed("http://[::1]:8080", "[::1]:8080", NULL));
    cr_expect(srv_origin_allowed("http://localhost", "localhost", NULL));
    cr_expect(srv_origin_allowed("http://localhost:80", "localhost", NULL));
    /* a page on another port, another loopback name, https, "null": foreign */
    cr_expect(!srv_origin_allowed("http://127.0.0.1:9999", "127.0.0.1:8080", NULL));
    cr_expect(!srv_origin_allowed("http://localhost:8080", "127.0.0.1:8080", NULL));
    cr_expect(!srv_origin_allowed("http://127.0.0.2:8080", "127.0.0.1:8080", NULL));
    cr_expect(!srv_origin_allowed("https://127.0.0.1:8080", "127.0.0.1:8080", NULL));
    cr_expect(!srv_origin_allowed("null", "127.0.0.1:8080", NULL));
    cr_expect(!srv_origin_allowed("", "127.0.0.1:8080", NULL));
    cr_expect(!srv_origin_allowed("http://evil.example", "127.0.0.1:8080", NULL));
    cr_expect(!srv_origin_allowed("http://127.0.0.1:8080", NULL, NULL));
    cr_expect(!srv_origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080/x", NULL));
    /* the configured --cors-origin, normalized */
    cr_expect(
        srv_origin_allowed("http://localhost:3000", "127.0.0.1:8080", "http://localhost:3000"));
    cr_expect(
        srv_origin_allowed("http://LocalHost:3000", "127.0.0.1:8080", "HTTP://localhost:3000"));
    cr_expect(
        srv_origin_allowed("https://app.example", "127.0.0.1:8080", "https://app.example:443"));
    cr_expect(
        !srv_origin_allowed("http://localhost:3001", "127.0.0.1:8080", "http://localhost:3000"));
    cr_expect(!srv_origin_allowed("http://app.example", "127.0.0.1:8080", "https://app.example"));
}

Test(websafe, host_parse) {
    char h[64];
    int port;
    cr_assert_eq(srv_host_parse("Example.com:81", h, sizeof h, &port), 0);
    cr_expect_str_eq(h, "example.com");
    cr_expect_eq(port, 81);
    cr_assert_eq(srv_host_parse("[::1]", h, sizeof h, &port), 0);
    cr_expect_str_eq(h, "[::1]");
    cr_expect_eq(port, -1);
    cr_expect_eq(srv_host_parse("", h, sizeof h, &port), -1);
    cr_expect_eq(srv_host_parse("a:b", h, sizeof h, &port), -1);
    cr_expect_eq(srv_host_parse("abcdefgh", h, 4, &port), -1);
}

Test(websafe, admin_header) {
    const char *tok;
    size_t len;
    cr_assert_eq(srv_admin_header_parse("  abc123\t", &tok, &len), 0);
    cr_expect_eq(len, 6);
    cr_expect(!strncmp(tok, "abc123", 6));
    cr_assert_eq(srv_admin_header_parse("x", &tok, &len), 0);
    cr_expect_eq(len, 1);
    char big[SRV_ADMIN_TOKEN_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cr_expect_eq(srv_admin_header_parse(big, &tok, &len), -1); /* one over the cap */
    big[SRV_ADMIN_TOKEN_MAX] = 0;
    cr_expect_eq(srv_admin_header_parse(big, &tok, &len), 0);
    cr_expect_eq(len, SRV_ADMIN_TOKEN_MAX);
    const char *bad[] = {NULL, "", "   ", "a b", "a\x01", "a\x7f", "\xc3\xa9t\xc3\xa9", "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(srv_admin_header_parse(bad[i], &tok, &len), -1, "case %zu", i);
        cr_expect_null(tok);
        cr_expect_eq(len, 0);
    }
}

Test(websafe, path_under) {
    cr_expect(srv_path_under("/models/a.gguf", "/models"));
    cr_expect(srv_path_under("/models/sub/a.gguf", "/models"));
    cr_expect(srv_path_under("/models/a.gguf", "/models/"));
    cr_expect(srv_path_under("/a.gguf", "/"));
    cr_expect(!srv_path_under("/models2/a.gguf", "/models"));
    cr_expect(!srv_path_under("/models", "/models"));
    cr_expect(!srv_path_under("/models/", "/models"));
    cr_expect(!srv_path_under("/models/../etc/passwd", "/models"));
    cr_expect(!srv_path_under("/models/./a", "/models"));
    cr_expect(!srv_path_under("/models//a", "/models"));
    cr_expect(!srv_path_under("/models/a/..", "/models"));
    cr_expect(!srv_path_under("/etc/passwd", "/models"));
    cr_expect(!srv_path_under("models/a", "models"));
    cr_expect(!srv_path_under(NULL, "/models"));
    cr_expect(!srv_path_under("/models/a", NULL));
}

Test(websafe, token_file) {
    char dir[] = "/tmp/hearth-websafe-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    setenv("HEARTH_HOME", dir, 1);
    char tok[SRV_ADMIN_TOKEN_MAX + 1], tok2[SRV_ADMIN_TOKEN_MAX + 1], path[4200],
        back[SRV_ADMIN_TOKEN_MAX + 1];
    he_error err;
    cr_assert_eq(srv_admin_token_new(tok, sizeof tok, &err), 0);
    cr_assert_eq(srv_admin_token_new(tok2, sizeof tok2, &err), 0);
    cr_expect_eq(strlen(tok), 64);
    cr_expect_str_neq(tok, tok2);
    cr_expect_eq(strspn(tok, "0123456789abcdef"), 64);
    cr_assert_eq(srv_admin_token_path(4242, true, path, sizeof path, &err), 0, "%s", err.msg);
    cr_expect_not_null(strstr(path, "/run/admin-4242.token"));
    cr_assert_eq(srv_admin_token_write(path, tok, &err), 0, "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(srv_admin_token_read(4242, back, sizeof back, &err), 0, "%s", err.msg);
    cr_expect_str_eq(back, tok);
    cr_expect_eq(srv_admin_token_read(4243, back, sizeof back, &err), -1);
    /* a folder others may write to is refused */
    char run[4200];
    snprintf(run, sizeof run, "%s/run", dir);
    chmod(run, 0777);
    cr_expect_eq(srv_admin_token_path(4242, true, path, sizeof path, &err), -1);
    chmod(run, 0700);
    unlink(path);
    rmdir(run);
    rmdir(dir);
}
