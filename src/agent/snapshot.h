/* snapshot.h — what an agent step is about to change, kept so it can be undone.
 *
 * Before an allowed mutation, the session's state directory (outside the workspace) gets
 * snap/<step>/manifest.json, and each file's bytes go to blobs/<sha256> (content-addressed: a
 * file that did not change between steps is kept once per session). write_file and edit_file keep
 * the one file they change (or note that it did not exist). run_command keeps the whole workspace —
 * every file, symlink and directory — when it is small enough (SNAP_MAX_FILES entries,
 * SNAP_MAX_BYTES bytes); a bigger workspace is not snapshotted and the step is logged as not
 * undoable unless the files the guard's parsed command names (snap_paths) fit. Restoring a file
 * step puts the file back (or removes one that did not exist); restoring a workspace step makes the
 * workspace what it was: changed files rewritten, new files and (emptied) new directories removed.
 */
#ifndef HEARTH_AGENT_SNAPSHOT_H
#define HEARTH_AGENT_SNAPSHOT_H

#include "base/error.h"

#define SNAP_MAX_FILES 5000
#define SNAP_MAX_BYTES ((long long)64 << 20)

/* Keeps path (absolute) before step changes it. */
int snap_file(const char *session_dir, int step, const char *tool, const char *path, he_error *err);
/* Keeps the whole workspace. Returns 0, 1 when it is over the limits (nothing kept), -1 on error.
 */
int snap_workspace(const char *session_dir, int step, const char *tool, const char *workspace,
                   he_error *err);
/* Keeps the paths a command names (files, symlinks, missing paths, directory trees), for a
 * workspace over the limits. Returns 0, 1 when they are over the limits too (nothing kept), -1. */
int snap_paths(const char *session_dir, int step, const char *tool, const char *const *paths, int n,
               he_error *err);
/* Puts back what step's snapshot kept. */
int snap_restore(const char *session_dir, int step, he_error *err);
/* The steps that have a snapshot, newest first (*steps owned by the caller). */
int snap_list(const char *session_dir, int **steps, int *n, he_error *err);

#endif
