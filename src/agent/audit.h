/* audit.h — the agent's audit log: append-only JSON lines, hash-chained.
 *
 * Every record is one line of compact JSON (an object). Its first member is "prev_sha256": the
 * SHA-256 (hex) of the previous line's bytes (without the newline), 64 zeros for the first line.
 * Its last member is "sha256": the SHA-256 of the line's bytes up to (not including) the
 * `,"sha256":` that introduces it. So an edited record fails its own hash (verify names it), and
 * a removed, inserted or re-hashed record breaks the next record's link. The file is opened
 * O_APPEND, each append is one write under an exclusive flock (the chain stays linear when two
 * agents share a log) and is fsync'ed. What a chain cannot show: records cut off the end of the
 * file; the session's state directory keeps the last hash for that (docs/AGENT.md). */
#ifndef HEARTH_AGENT_AUDIT_H
#define HEARTH_AGENT_AUDIT_H

#include <stddef.h>

#include <jansson.h>

#include "base/error.h"

typedef struct audit_log audit_log;

/* Opens (creating, mode 0600, parent directories 0700) the log at path. */
audit_log *audit_open(const char *path, he_error *err);
void audit_close(audit_log *a);

/* Appends rec (an object; "prev_sha256" and "sha256" are set here, any given ones replaced).
 * On success the record's own hash is copied to sha_out (65 bytes) when non-NULL. */
int audit_append(audit_log *a, json_t *rec, char sha_out[65], he_error *err);

/* Checks the whole chain of the log at path. Returns 0 when it verifies (n_records set; last_sha,
 * when non-NULL, gets the last record's own sha256, "" for an empty log), 1 when a record is
 * broken (*bad_line = its 1-based line number, err says why), -1 when the file cannot be read. */
int audit_verify(const char *path, long *n_records, long *bad_line, char last_sha[65],
                 he_error *err);

/* The hex SHA-256 of buf (out: 65 bytes). */
void audit_sha256_hex(const void *buf, size_t len, char out[65]);

#endif
