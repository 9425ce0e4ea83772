#!/usr/bin/env bash
# tsan-test.sh NAME [FILTER] — builds tests/unit/test_NAME.c under ThreadSanitizer against a
# Criterion shim (Criterion cannot start under TSan: Snaipe/Criterion#274) and runs it.
#   scripts/tsan-test.sh sched
set -eu
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/tsan-test.sh NAME [FILTER]}
make -s MODE=tsan build/tsan/libhearth.a
out=build/tsan/tsan-tests/test_$name
mkdir -p "$(dirname "$out")"
cc -std=gnu11 -D_GNU_SOURCE -Itests/tsan -Isrc -pthread -O1 -g -fsanitize=thread $(pkg-config --cflags jansson) \
   -o "$out" "tests/unit/test_$name.c" tests/tsan/shim_main.c build/tsan/libhearth.a \
   $(pkg-config --libs $(sed -n "s/^PKGS *:= *//p" Makefile)) -lm -pthread
HEARTH_FIXTURES=${HEARTH_FIXTURES:-$(realpath tests/data)}
export HEARTH_FIXTURES
TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1} "$out" ${2:+"$2"}
