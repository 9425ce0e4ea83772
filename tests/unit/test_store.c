/* test_store.c — the model store: digest and name validation tables, manifest parsing, and
 * import / list / copy / remove / export round trips in a fresh temporary HEARTH_HOME per test
 * (Criterion runs each test in its own process, so setenv stays local to the test). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "store/store.h"

static char tmp[256], home[300];

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        char p[1024];
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            rm_rf(p);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void setup(void) {
    snprintf(tmp, sizeof tmp, "/tmp/hearth_test_store.XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(home, sizeof home, "%s/home", tmp);
    setenv("HEARTH_HOME", home, 1);
}
static void teardown(void) { rm_rf(tmp); }

/* A small valid GGUF with metadata for ls/show and one f32 tensor whose values depend on seed. */
static void make_gguf(const char *path, const char *name, int seed) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_str(w, "general.license", "apache-2.0");
    gguf_writer_set_u32(w, "general.file_type", 0);
    gguf_writer_set_u32(w, "llama.context_length", 4096);
    gguf_writer_set_str(w, "tokenizer.chat_template", "{{ messages }}");
    float data[64 * 4];
    for (int i = 0; i < 64 * 4; i++)
        data[i] = (float)(i * seed) * 0.01f;
    int64_t ne[2] = {64, 4};
    he_error err = {0};
    cr_assert_eq(gguf_writer_add_tensor(w, "token_embd.weight", 0, 2, ne, data, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(gguf_writer_write(w, path, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void flip_byte(const char *path, long off) {
    chmod(path, 0600);
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char c;
    cr_assert_eq(pread(fd, &c, 1, off), 1);
    c ^= 0x01;
    cr_assert_eq(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static int count_blobs(const char *root) {
    char p[1024];
    snprintf(p, sizeof p, "%s/blobs", root);
    DIR *d = opendir(p);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

/* ---- Digest paths ---- */

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

Test(store, digest_path_table) {
    static const struct {
        const char *digest;
        bool ok;
    } cases[] = {
        {"sha256-" HEX64, true},
        {"sha256-"
         "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
         true},
        {"sha256:" HEX64, false},
        {"sha256-"
         "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
         false},
        {"sha256-" HEX64 "0", false},
        {"sha256-"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
         false},
        {"sha256-../../../../etc/passwd", false},
        {"sha256-"
         "../../0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
         false},
        {"sha256-"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd/e",
         false},
        {"../blobs/sha256-" HEX64, false},
        {"/etc/passwd", false},
        {"", false},
        {"sha256-", false},
        {"sha512-" HEX64, false},
        {" sha256-" HEX64, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[512];
        he_error err = {0};
        int rc = store_digest_path("/srv/store", cases[i].digest, out, sizeof out, &err);
        cr_assert_eq(rc == 0, cases[i].ok, "case %zu '%s': rc %d (%s)", i, cases[i].digest, rc,
                     err.msg);
        if (cases[i].ok) {
            char want[512];
            snprintf(want, sizeof want, "/srv/store/blobs/%s", cases[i].digest);
            cr_assert_str_eq(out, want);
        } else {
            cr_assert_str_eq(out, "", "case %zu: output left on error", i);
            cr_assert_eq(err.code, HE_INVALID);
        }
    }
    char out[512];
    cr_assert_eq(store_digest_path(NULL, "sha256-" HEX64, out, sizeof out, NULL), -1);
    cr_assert_eq(store_digest_path("relative", "sha256-" HEX64, out, sizeof out, NULL), -1);
    cr_assert_eq(store_digest_path("/", "sha256-" HEX64, out, sizeof out, NULL), -1);
    cr_assert_eq(store_digest_path("/a/../b", "sha256-" HEX64, out, sizeof out, NULL), -1);
    cr_assert_eq(store_digest_path("/a/", "sha256-" HEX64, out, sizeof out, NULL), -1);
    cr_assert_eq(store_digest_path("/a", "sha256-" HEX64, out, 40, NULL), -1, "too small");
}

/* ---- Names ---- */

Test(store, name_table) {
    static const char *good[] = {
        "qwen3:8b-q4_k_m", "llama", "a", "Llama-3.2_1B.Instruct:latest", "9b", "x.y:z.w"};
    static const char *bad[] = {"",       "../x",     "..",    "a/b", "a\\b",  ".hidden",
                                "-rf",    "a..b",     "a:b:c", "a:",  ":a",    "a b",
                                "a\nb",   "a\x1b[2J", "a\x7f", "é",   "a%2fb", "a*",
                                "x/../y", "con:..",   "_x",    "a\tb"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        he_error err = {0};
        cr_assert_eq(store_name_check(good[i], &err), 0, "'%s': %s", good[i], err.msg);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(store_name_check(bad[i], NULL), -1, "'%s' accepted", bad[i]);
    char longname[STORE_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[STORE_NAME_MAX + 1] = '\0';
    cr_assert_eq(store_name_check(longname, NULL), -1);
    longname[STORE_NAME_MAX] = '\0';
    cr_assert_eq(store_name_check(longname, NULL), 0);

    char p[512];
    cr_assert_eq(store_name_file("/r", "qwen3:8b", p, sizeof p, NULL), 0);
    cr_assert_str_eq(p, "/r/manifests/qwen3:8b");
    cr_assert_eq(store_name_file("/r", "../../etc/passwd", p, sizeof p, NULL), -1);
    cr_assert_str_eq(p, "");
}

Test(store, name_sanitize) {
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"Llama 3.2 1B Instruct", "Llama-3.2-1B-Instruct"},
        {"../../etc/passwd", "etc-passwd"},
        {"...", "model"},
        {"", "model"},
        {"a..b", "a.b"},
        {"-x-", "x"},
        {"Qwen3/8B\x1b[0m", "Qwen3-8B-0m"},
        {"stories260K", "stories260K"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[STORE_NAME_MAX + 1];
        store_name_sanitize(cases[i].in, out, sizeof out);
        cr_assert_str_eq(out, cases[i].want, "'%s'", cases[i].in);
        cr_assert_eq(store_name_check(out, NULL), 0, "'%s' -> invalid '%s'", cases[i].in, out);
    }
    char big[1000], out[STORE_NAME_MAX + 1];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    store_name_sanitize(big, out, sizeof out);
    cr_assert_eq(strlen(out), STORE_NAME_MAX);
}

/* ---- Manifests ---- */

Test(store, manifest_parse_and_dump) {
    store_manifest m = {0}, back;
    snprintf(m.name, sizeof m.name, "fam:tag");
    memcpy(m.weights.digest, "sha256-" HEX64, STORE_DIGEST_LEN + 1);
    m.weights.size = 12345;
    m.n_adapters = 1;
    m.adapters[0] = m.weights;
    m.has_template = true;
    m.template_blob = m.weights;
    snprintf(m.imported_at, sizeof m.imported_at, "2026-11-23T10:00:00Z");
    snprintf(m.source, sizeof m.source, "/x/y.gguf");
    char *j = store_manifest_dump(&m);
    he_error err = {0};
    cr_assert_eq(store_manifest_parse(j, strlen(j), &back, &err), 0, "%s", err.msg);
    free(j);
    cr_assert_str_eq(back.name, "fam:tag");
    cr_assert_eq(back.weights.size, 12345);
    cr_assert_eq(back.n_adapters, 1);
    cr_assert(back.has_template && !back.has_params);
    cr_assert_str_eq(back.source, "/x/y.gguf");

    static const char *bad[] = {
        "",
        "[]",
        "{\"schema\":1}",
        "{\"schema\":2,\"name\":\"a\",\"weights\":{\"digest\":\"sha256-" HEX64 "\",\"size\":1}}",
        "{\"schema\":1,\"name\":\"../a\",\"weights\":{\"digest\":\"sha256-" HEX64 "\",\"size\":1}}",
        "{\"schema\":1,\"name\":\"a\",\"weights\":{\"digest\":\"sha256-../../x\",\"size\":1}}",
        "{\"schema\":1,\"name\":\"a\",\"weights\":{\"digest\":\"sha256-" HEX64 "\",\"size\":-1}}",
        "{\"schema\":1,\"name\":\"a\",\"weights\":{\"digest\":\"sha256-" HEX64 "\",\"size\":1},"
        "\"adapters\":[{\"digest\":\"../x\",\"size\":1}]}",
        "{\"schema\":1,\"name\":\"a\\u0000b\",\"weights\":{\"digest\":\"sha256-" HEX64
        "\",\"size\":1}}",
        "{\"schema\":1,\"name\":\"a\",\"name\":\"b\",\"weights\":{\"digest\":\"sha256-" HEX64
        "\",\"size\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(store_manifest_parse(bad[i], strlen(bad[i]), &back, NULL), -1, "bad %zu", i);
}

/* ---- Round trips on disk ---- */

Test(store, import_ls_show_cp_rm_export_roundtrip, .init = setup, .fini = teardown) {
    char src[512], out_dir[512], exported[1024];
    snprintf(src, sizeof src, "%s/model.gguf", tmp);
    snprintf(out_dir, sizeof out_dir, "%s/out", tmp);
    mkdir(out_dir, 0700);
    make_gguf(src, "Test Model 1B", 3);
    he_error err = {0};
    store *s = store_open(NULL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    char used[STORE_NAME_MAX + 1];
    store_import_opts o = {.no_link = true};
    cr_assert_eq(store_import(s, src, NULL, &o, used, sizeof used, &err), 0, "%s", err.msg);
    cr_assert_str_eq(used, "Test-Model-1B", "default name from general.name");
    cr_assert_eq(store_import(s, src, "fam:tag", &o, NULL, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(count_blobs(store_root(s)), 1, "same content stored once");

    /* permissions: folders 0700, blob read-only, manifest 0600 */
    struct stat st;
    char p[1024];
    snprintf(p, sizeof p, "%s/blobs", store_root(s));
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    store_manifest m;
    cr_assert_eq(store_manifest_read(s, "fam:tag", &m, &err), 0, "%s", err.msg);
    cr_assert_eq(store_digest_path(store_root(s), m.weights.digest, p, sizeof p, &err), 0);
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0400);
    snprintf(p, sizeof p, "%s/manifests/fam:tag", store_root(s));
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);

    char **names;
    int n = store_list(s, &names, &err);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(names[0], "Test-Model-1B");
    cr_assert_str_eq(names[1], "fam:tag");
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);

    store_info info;
    cr_assert_eq(store_digest_path(store_root(s), m.weights.digest, p, sizeof p, &err), 0);
    cr_assert_eq(store_info_read(p, &info, &err), 0, "%s", err.msg);
    cr_assert_str_eq(info.arch, "llama");
    cr_assert_str_eq(info.quant, "F32");
    cr_assert_str_eq(info.license, "apache-2.0");
    cr_assert_eq(info.context_length, 4096);
    cr_assert_eq(info.n_params, 256);

    cr_assert_eq(store_copy(s, "fam:tag", "fam:copy", &err), 0, "%s", err.msg);
    cr_assert_eq(store_copy(s, "fam:tag", "fam:copy", &err), -1, "cp onto an existing name");
    cr_assert_eq(store_copy(s, "nope", "x", &err), -1);
    cr_assert_eq(count_blobs(store_root(s)), 1);

    cr_assert_eq(store_export(s, "fam:copy", out_dir, exported, sizeof exported, NULL, NULL, &err),
                 0, "%s", err.msg);
    size_t na, nb;
    char *a = slurp(src, &na), *b = slurp(exported, &nb);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(a, b, na), 0, "exported file is byte-identical");
    free(a);
    free(b);
    cr_assert_eq(store_export(s, "fam:copy", out_dir, NULL, 0, NULL, NULL, &err), -1,
                 "export refuses to overwrite");

    int removed = -1;
    cr_assert_eq(store_remove(s, "fam:tag", &removed, &err), 0, "%s", err.msg);
    cr_assert_eq(removed, 0, "blob still used by two manifests");
    cr_assert_eq(store_remove(s, "Test-Model-1B", &removed, &err), 0, "%s", err.msg);
    cr_assert_eq(removed, 0);
    cr_assert_eq(count_blobs(store_root(s)), 1);
    cr_assert_eq(store_remove(s, "fam:copy", &removed, &err), 0, "%s", err.msg);
    cr_assert_eq(removed, 1, "last reference gone");
    cr_assert_eq(count_blobs(store_root(s)), 0);
    cr_assert_eq(store_remove(s, "fam:copy", &removed, &err), -1);
    store_close(s);
}

Test(store, dedup_two_models_share_nothing_but_identical_content, .init = setup, .fini = teardown) {
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/a.gguf", tmp);
    snprintf(b, sizeof b, "%s/b.gguf", tmp);
    make_gguf(a, "a", 1);
    make_gguf(b, "b", 2);
    he_error err = {0};
    store *s = store_open(NULL, &err);
    cr_assert_eq(store_import(s, a, "a", NULL, NULL, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(store_import(s, a, "a2", NULL, NULL, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(store_import(s, b, "b", NULL, NULL, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(count_blobs(store_root(s)), 2);
    int removed;
    cr_assert_eq(store_remove(s, "b", &removed, &err), 0);
    cr_assert_eq(removed, 1);
    cr_assert_eq(count_blobs(store_root(s)), 1);
    store_close(s);
}

Test(store, flipped_byte_found_by_verify_and_resolve, .init = setup, .fini = teardown) {
    char src[512], p[1024];
    snprintf(src, sizeof src, "%s/m.gguf", tmp);
    make_gguf(src, "m", 5);
    he_error err = {0};
    store *s = store_open(NULL, &err);
    store_import_opts o = {.no_link = true};
    cr_assert_eq(store_import(s, src, "m:1", &o, NULL, 0, &err), 0, "%s", err.msg);
    store_manifest m;
    cr_assert_eq(store_manifest_read(s, "m:1", &m, &err), 0);
    cr_assert_eq(store_blob_verify(s, m.weights.digest, m.weights.size, NULL, NULL, &err), 1);
    char resolved[1024];
    cr_assert_eq(store_resolve("m:1", resolved, sizeof resolved, true, &err), 0, "%s", err.msg);
    cr_assert_eq(store_digest_path(store_root(s), m.weights.digest, p, sizeof p, NULL), 0);
    cr_assert_str_eq(resolved, p);

    flip_byte(p, (long)m.weights.size - 7); /* same size, different content */
    cr_assert_eq(store_blob_verify(s, m.weights.digest, m.weights.size, NULL, NULL, &err), 0);
    cr_assert(strstr(err.msg, "changed"), "%s", err.msg);
    cr_assert_eq(store_resolve("m:1", resolved, sizeof resolved, true, &err), -1);
    cr_assert_str_eq(resolved, "");
    cr_assert_eq(store_resolve("m:1", resolved, sizeof resolved, false, &err), 0,
                 "without verify the path is given");

    /* re-import repairs a damaged blob */
    cr_assert_eq(store_import(s, src, "m:1", &o, NULL, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(store_blob_verify(s, m.weights.digest, m.weights.size, NULL, NULL, &err), 1, "%s",
                 err.msg);
    /* a truncated blob is caught by its size */
    chmod(p, 0600);
    cr_assert_eq(truncate(p, (off_t)m.weights.size - 1), 0);
    cr_assert_eq(store_blob_verify(s, m.weights.digest, m.weights.size, NULL, NULL, &err), 0);
    /* an exported file is never made from a damaged blob */
    cr_assert_eq(store_export(s, "m:1", tmp, NULL, 0, NULL, NULL, &err), -1);
    unlink(p);
    cr_assert_eq(store_blob_verify(s, m.weights.digest, m.weights.size, NULL, NULL, &err), -1);
    cr_assert_eq(store_resolve("m:1", resolved, sizeof resolved, true, &err), -1);
    store_close(s);
}

Test(store, resolve_paths_and_refusals, .init = setup, .fini = teardown) {
    char src[512], out[1024];
    snprintf(src, sizeof src, "%s/m.gguf", tmp);
    make_gguf(src, "m", 1);
    he_error err = {0};
    cr_assert_eq(store_resolve(src, out, sizeof out, true, &err), 0, "%s", err.msg);
    cr_assert_str_eq(out, src, "a file path passes through");
    cr_assert_eq(store_resolve("nomodel", out, sizeof out, false, &err), -1, "no store yet");
    cr_assert_eq(store_resolve("../../etc/passwd-x", out, sizeof out, false, &err), -1);
    cr_assert_eq(store_resolve(tmp, out, sizeof out, false, &err), -1, "a folder is refused");
    cr_assert_eq(store_resolve("", out, sizeof out, false, &err), -1);
}

Test(store, hostile_names_and_manifests_refused_everywhere, .init = setup, .fini = teardown) {
    char src[512], canary[512];
    snprintf(src, sizeof src, "%s/m.gguf", tmp);
    snprintf(canary, sizeof canary, "%s/canary", tmp);
    make_gguf(src, "m", 1);
    FILE *f = fopen(canary, "w");
    fputs("keep", f);
    fclose(f);
    he_error err = {0};
    store *s = store_open(NULL, &err);
    static const char *bad[] = {"../canary", "../../canary", "a/b", "..", ".lock", "x\ny", "-x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(store_import(s, src, bad[i], NULL, NULL, 0, &err), -1, "import '%s'", bad[i]);
        cr_assert_eq(store_remove(s, bad[i], NULL, &err), -1, "rm '%s'", bad[i]);
        cr_assert_eq(store_copy(s, "m", bad[i], &err), -1, "cp '%s'", bad[i]);
        cr_assert_eq(store_export(s, bad[i], tmp, NULL, 0, NULL, NULL, &err), -1);
    }
    struct stat st;
    cr_assert_eq(stat(canary, &st), 0, "canary outside the root survives");

    /* A manifest edited to point outside the store is refused by every reader. */
    cr_assert_eq(store_import(s, src, "m", NULL, NULL, 0, &err), 0, "%s", err.msg);
    char mp[1024];
    snprintf(mp, sizeof mp, "%s/manifests/m", store_root(s));
    f = fopen(mp, "w");
    fputs("{\"schema\":1,\"name\":\"m\",\"weights\":{\"digest\":\"sha256-../../canary\","
          "\"size\":4}}",
          f);
    fclose(f);
    store_manifest m;
    cr_assert_eq(store_manifest_read(s, "m", &m, &err), -1);
    char out[1024];
    cr_assert_eq(store_resolve("m", out, sizeof out, false, &err), -1);
    cr_assert_eq(store_export(s, "m", tmp, NULL, 0, NULL, NULL, &err), -1);
    cr_assert_eq(stat(canary, &st), 0);
    /* rm of the broken manifest works but collects no blob it cannot account for */
    cr_assert_eq(store_remove(s, "m", NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(stat(canary, &st), 0);
    store_close(s);
}

Test(store, import_refuses_non_gguf_and_leaves_nothing, .init = setup, .fini = teardown) {
    char src[512];
    snprintf(src, sizeof src, "%s/junk.gguf", tmp);
    FILE *f = fopen(src, "w");
    fputs("GGUF but not really", f);
    fclose(f);
    he_error err = {0};
    store *s = store_open(NULL, &err);
    cr_assert_eq(store_import(s, src, "junk", NULL, NULL, 0, &err), -1);
    cr_assert_eq(count_blobs(store_root(s)), 0);
    char **names;
    cr_assert_eq(store_list(s, &names, &err), 0);
    free(names);
    store_close(s);
}

Test(store, stale_temporaries_cleaned_and_never_listed, .init = setup, .fini = teardown) {
    char src[512], p[1024];
    snprintf(src, sizeof src, "%s/m.gguf", tmp);
    make_gguf(src, "m", 1);
    he_error err = {0};
    store *s = store_open(NULL, &err);
    snprintf(p, sizeof p, "%s/blobs/.tmp-abcdef", store_root(s));
    FILE *f = fopen(p, "w");
    fputs("partial", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/manifests/.tmp-abcdef", store_root(s));
    f = fopen(p, "w");
    fputs("{", f);
    fclose(f);
    char **names;
    cr_assert_eq(store_list(s, &names, &err), 0, "a temporary is not a model");
    free(names);
    cr_assert_eq(store_import(s, src, "m", NULL, NULL, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(count_blobs(store_root(s)), 1, "stale temporary removed under the lock");
    struct stat st;
    cr_assert_neq(stat(p, &st), 0);
    store_close(s);
}

static void count_progress(void *ud, const char *phase, uint64_t done, uint64_t total) {
    int *calls = ud;
    cr_assert(done <= total, "%s: %llu > %llu", phase, (unsigned long long)done,
              (unsigned long long)total);
    (*calls)++;
}

Test(store, default_name_from_basename_and_progress, .init = setup, .fini = teardown) {
    char src[512];
    snprintf(src, sizeof src, "%s/My Model (v2).gguf", tmp);
    gguf_writer *w = gguf_writer_new(); /* no general.name */
    gguf_writer_set_str(w, "general.architecture", "qwen3");
    he_error err = {0};
    cr_assert_eq(gguf_writer_write(w, src, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
    store *s = store_open(NULL, &err);
    int calls = 0;
    store_import_opts o = {.no_link = true, .progress = count_progress, .progress_ud = &calls};
    char used[STORE_NAME_MAX + 1];
    cr_assert_eq(store_import(s, src, NULL, &o, used, sizeof used, &err), 0, "%s", err.msg);
    cr_assert_str_eq(used, "My-Model-v2");
    cr_assert_geq(calls, 2, "hashing and copying reported");
    store_info info;
    char p[1024];
    store_manifest m;
    cr_assert_eq(store_manifest_read(s, used, &m, &err), 0);
    cr_assert_eq(store_digest_path(store_root(s), m.weights.digest, p, sizeof p, &err), 0);
    cr_assert_eq(store_info_read(p, &info, &err), 0, "%s", err.msg);
    cr_assert_str_eq(info.arch, "qwen3");
    cr_assert_eq(info.context_length, -1);
    cr_assert_str_eq(info.quant, "?");
    store_close(s);
}

Test(store, import_side_files_template_params_adapters, .init = setup, .fini = teardown) {
    char src[512], ad[512], tpl[512], par[512], bad[512];
    snprintf(src, sizeof src, "%s/m.gguf", tmp);
    snprintf(ad, sizeof ad, "%s/lora.gguf", tmp);
    snprintf(tpl, sizeof tpl, "%s/t.jinja", tmp);
    snprintf(par, sizeof par, "%s/p.json", tmp);
    snprintf(bad, sizeof bad, "%s/bad.json", tmp);
    make_gguf(src, "m", 1);
    make_gguf(ad, "lora", 2);
    FILE *f = fopen(tpl, "w");
    fputs("{% for m in messages %}{{ m.content }}{% endfor %}", f);
    fclose(f);
    f = fopen(par, "w");
    fputs("{\"temperature\": 0.2}", f);
    fclose(f);
    f = fopen(bad, "w");
    fputs("[1, 2]", f);
    fclose(f);
    he_error err = {0};
    store *s = store_open(NULL, &err);
    store_import_opts o = {.template_path = tpl, .params_path = par, .n_adapters = 1};
    o.adapters[0] = ad;
    cr_assert_eq(store_import(s, src, "m:full", &o, NULL, 0, &err), 0, "%s", err.msg);
    store_manifest m;
    cr_assert_eq(store_manifest_read(s, "m:full", &m, &err), 0, "%s", err.msg);
    cr_assert(m.has_template && m.has_params && m.n_adapters == 1);
    cr_assert_eq(count_blobs(store_root(s)), 4);
    for (int i = 0; i < 3; i++) {
        store_blob_ref refs[STORE_MAX_ADAPTERS + 3];
        int k = store_manifest_blobs(&m, refs, STORE_MAX_ADAPTERS + 3);
        cr_assert_eq(k, 4);
        cr_assert_eq(store_blob_verify(s, refs[i].digest, refs[i].size, NULL, NULL, &err), 1);
    }
    /* invalid side files are refused before anything is stored */
    store_import_opts ob = {.params_path = bad};
    cr_assert_eq(store_import(s, src, "m:bad", &ob, NULL, 0, &err), -1);
    store_import_opts oa = {.n_adapters = 1};
    oa.adapters[0] = tpl; /* not a GGUF */
    cr_assert_eq(store_import(s, src, "m:bad", &oa, NULL, 0, &err), -1);
    cr_assert_eq(store_manifest_read(s, "m:bad", &m, &err), -1);
    int removed = 0;
    cr_assert_eq(store_remove(s, "m:full", &removed, &err), 0, "%s", err.msg);
    cr_assert_eq(removed, 4);
    store_close(s);
}

/* store_overrides (what the server applies): the texts come back for a store name, nothing for
 * a file path or a plain model, and a blob changed after import is refused, never returned. */
Test(store, overrides_for_the_server, .init = setup, .fini = teardown) {
    char src[512], tpl[512], par[512];
    snprintf(src, sizeof src, "%s/m.gguf", tmp);
    snprintf(tpl, sizeof tpl, "%s/t.jinja", tmp);
    snprintf(par, sizeof par, "%s/p.json", tmp);
    make_gguf(src, "m", 1);
    FILE *f = fopen(tpl, "w");
    fputs("{% for m in messages %}{{ m.content }}{% endfor %}", f);
    fclose(f);
    f = fopen(par, "w");
    fputs("{\"temperature\": 0.2}", f);
    fclose(f);
    he_error err = {0};
    store *s = store_open(NULL, &err);
    store_import_opts o = {.template_path = tpl, .params_path = par};
    cr_assert_eq(store_import(s, src, "m:over", &o, NULL, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(store_import(s, src, "m:plain", NULL, NULL, 0, &err), 0, "%s", err.msg);
    char *t = NULL, *p = NULL;
    cr_assert_eq(store_overrides("m:over", &t, &p, &err), 0, "%s", err.msg);
    cr_expect_str_eq(t, "{% for m in messages %}{{ m.content }}{% endfor %}");
    cr_expect_str_eq(p, "{\"temperature\": 0.2}");
    free(t), free(p);
    cr_assert_eq(store_overrides("m:plain", &t, &p, &err), 0, "%s", err.msg);
    cr_expect(!t && !p);
    cr_assert_eq(store_overrides(src, &t, &p, &err), 0, "a file path has no overrides");
    cr_expect(!t && !p);
    cr_expect_eq(store_overrides("m:none", &t, &p, &err), -1);
    /* change the template blob behind the store's back */
    store_manifest m;
    cr_assert_eq(store_manifest_read(s, "m:over", &m, &err), 0, "%s", err.msg);
    char blob[1024];
    cr_assert_eq(store_digest_path(store_root(s), m.template_blob.digest, blob, sizeof blob, &err), 0);
    flip_byte(blob, 3);
    he_error e2 = {0};
    cr_expect_eq(store_overrides("m:over", &t, &p, &e2), -1);
    cr_expect(strstr(e2.msg, "changed since import") && strstr(e2.msg, "m:over"), "%s", e2.msg);
    cr_expect(!t && !p);
    store_close(s);
}

/* store_adapter_paths (what `serve` applies): a store name gives its adapters' blob paths in
 * manifest order, a file path or a model without adapters none, a cap below the count is an
 * error, and under verify a changed adapter blob is refused. */
Test(store, adapter_paths_for_the_server, .init = setup, .fini = teardown) {
    char src[512], a1[512], a2[512];
    snprintf(src, sizeof src, "%s/m.gguf", tmp);
    snprintf(a1, sizeof a1, "%s/a1.gguf", tmp);
    snprintf(a2, sizeof a2, "%s/a2.gguf", tmp);
    make_gguf(src, "m", 1);
    make_gguf(a1, "a1", 2);
    make_gguf(a2, "a2", 3);
    he_error err = {0};
    store *s = store_open(NULL, &err);
    store_import_opts o = {.no_link = true, .n_adapters = 2};
    o.adapters[0] = a1;
    o.adapters[1] = a2;
    cr_assert_eq(store_import(s, src, "m:ad", &o, NULL, 0, &err), 0, "%s", err.msg);
    store_import_opts op = {.no_link = true};
    cr_assert_eq(store_import(s, src, "m:plain", &op, NULL, 0, &err), 0, "%s", err.msg);
    store_manifest m;
    cr_assert_eq(store_manifest_read(s, "m:ad", &m, &err), 0, "%s", err.msg);
    char(*paths)[STORE_PATH_MAX] = malloc(4 * sizeof *paths), want[STORE_PATH_MAX];
    cr_assert_not_null(paths);
    cr_assert_eq(store_adapter_paths("m:ad", paths, 4, true, &err), 2, "%s", err.msg);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(
            store_digest_path(store_root(s), m.adapters[i].digest, want, sizeof want, NULL), 0);
        cr_expect_str_eq(paths[i], want);
    }
    cr_expect_eq(store_adapter_paths("m:plain", paths, 4, true, &err), 0);
    cr_expect_eq(store_adapter_paths(src, paths, 4, true, &err), 0, "a file has no manifest");
    cr_expect_eq(store_adapter_paths("m:none", paths, 4, false, &err), -1);
    cr_expect_eq(store_adapter_paths("m:ad", paths, 1, false, &err), -1, "more adapters than room");
    /* change the second adapter's blob behind the store's back: verify refuses, no verify not */
    cr_assert_eq(store_digest_path(store_root(s), m.adapters[1].digest, want, sizeof want, NULL),
                 0);
    flip_byte(want, (long)m.adapters[1].size - 3);
    cr_expect_eq(store_adapter_paths("m:ad", paths, 4, true, &err), -1);
    cr_expect(strstr(err.msg, "adapter 2"), "%s", err.msg);
    cr_expect_eq(store_adapter_paths("m:ad", paths, 4, false, &err), 2, "%s", err.msg);
    free(paths);
    store_close(s);
}
