#!/usr/bin/env bash
# Runs Criterion unit-test binaries; fails if any fails. UBSan/ASan options make any report fatal.
# Criterion runs each test in a forked child and takes its verdict before LeakSanitizer reports at
# the child's exit, so a leak report would not fail the test: the output is scanned for one.
set -u
# Test data: tests/data (tests/unit/fixtures.h), as an absolute path so a test may chdir.
HEARTH_FIXTURES=${HEARTH_FIXTURES:-$(realpath "$(dirname "$0")/../tests/data")}
export HEARTH_FIXTURES
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
    echo "== $t"
    "$t" --jobs 2 2>&1 | tee "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
    if grep -qE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$log"; then
        echo "== $t: sanitizer report above: failing"
        fail=1
    fi
done
exit $fail
