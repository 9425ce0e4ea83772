#!/usr/bin/env bash
# Runs Criterion unit-test binaries; fails if any fails. UBSan/ASan options make any report fatal.
set -u
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
fail=0
for t in "$@"; do
    echo "== $t"
    "$t" --jobs 2 || fail=1
done
exit $fail
