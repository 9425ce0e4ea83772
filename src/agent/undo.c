/* undo.c — `hearth agent undo` (agent.h): find the session, restore its snapshots newest first,
 * log the undo. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/audit.h"
#include "agent/snapshot.h"

static void now_rfc3339(char out[64]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 64, "%s.%03dZ", b, (int)(ts.tv_nsec / 1000000) % 1000);
}

int agent_undo(const char *state_dir, const char *log_path, const char *session_id, int step,
               FILE *out, he_error *err) {
    char sid[128] = "", sdir[PATH_MAX + 256] = "";
    if (session_id) snprintf(sid, sizeof sid, "%s", session_id);
    /* the last session_start in the log names the session and its state directory */
    FILE *f = fopen(log_path, "r");
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) >= 0) {
            if (!strstr(line, "\"session_start\"")) continue;
            json_t *j = json_loads(line, 0, NULL);
            const char *id = json_string_value(json_object_get(j, "session"));
            const char *d = json_string_value(json_object_get(j, "state_dir"));
            if (id && d && (!session_id || !strcmp(id, session_id))) {
                snprintf(sid, sizeof sid, "%s", id);
                snprintf(sdir, sizeof sdir, "%s", d);
            }
            json_decref(j);
        }
        free(line);
        fclose(f);
    }
    if (!sdir[0]) {
        if (!sid[0]) {
            char lp[PATH_MAX + 32];
            snprintf(lp, sizeof lp, "%s/last-session", state_dir);
            FILE *l = fopen(lp, "r");
            if (!l || !fgets(sid, sizeof sid, l)) {
                if (l) fclose(l);
                return he_fail(err, HE_INVALID, "undo: no session found in %s or %s", log_path, lp);
            }
            fclose(l);
            sid[strcspn(sid, "\r\n")] = 0;
        }
        if (strchr(sid, '/') || !sid[0]) return he_fail(err, HE_INVALID, "undo: bad session id");
        snprintf(sdir, sizeof sdir, "%s/sessions/%s", state_dir, sid);
    }
    int *steps = NULL, n = 0;
    if (snap_list(sdir, &steps, &n, err)) return -1;
    int rc = 0, done = 0;
    for (int i = 0; i < n; i++) {
        if (step && steps[i] != step) continue;
        he_error e2;
        if (snap_restore(sdir, steps[i], &e2)) {
            fprintf(out, "undo: step %d: %s\n", steps[i], e2.msg);
            if (rc == 0 && err) *err = e2;
            rc = -1;
        } else {
            fprintf(out, "undo: restored the state before step %d\n", steps[i]);
        }
        done++;
    }
    free(steps);
    if (!done) {
        if (step)
            return he_fail(err, HE_INVALID, "undo: session %s has no snapshot for step %d", sid,
                           step);
        fprintf(out, "undo: session %s changed nothing that was snapshotted\n", sid);
    }
    audit_log *a = audit_open(log_path, NULL);
    if (a) {
        char t[64];
        now_rfc3339(t);
        json_t *rec = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:b}", "time", t, "session", sid,
                                "event", "undo", "step", step, "steps_restored", done, "decider",
                                "person", "ok", rc == 0);
        audit_append(a, rec, NULL, NULL);
        json_decref(rec);
        audit_close(a);
    }
    return rc;
}
