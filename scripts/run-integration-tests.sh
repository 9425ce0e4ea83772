#!/usr/bin/env bash
# Integration tests: node's built-in test runner drives the real build/hearth binary.
#   scripts/run-integration-tests.sh [SUITE.test.mjs ...]   (default: every suite)
#
# The npm packages are installed first (the only step that needs the network). Then the suites
# run inside a fresh network namespace whose only interface is loopback — proof that hearth needs
# no network: as root with `unshare -n`, otherwise in a user namespace (`unshare -rn`). When no
# namespace can be made (or `ip` from iproute2 or strace is missing) the run FAILS, saying why;
# HEARTH_NETNS=0 opts out explicitly: the suites then run in the normal namespace and the isolation
# proofs in store.test.mjs are skipped, with a message. scripts/deps.sh installs what is needed.
#
# Two phases (docs/TESTING.md):
#   1. every suite but the timing-sensitive ones, two at a time (--test-concurrency=2);
#   2. the timing-sensitive suites, named *.timing.test.mjs (wall-clock assertions: latency
#      medians, close-within windows), one at a time with nothing beside them — never next to the
#      60 s, 16-client load test.
# Both phases always run; the script fails when either does.
#
# Test data comes from tests/data (HEARTH_FIXTURES; tests/integration/fixtures.mjs); ../shared
# (HEARTH_SHARED), when present, is only a fallback.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/../tests/integration"

if [ "${HEARTH_IN_NETNS:-}" != 1 ]; then
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error
    fi
    HEARTH_BIN=${HEARTH_BIN:-$(realpath ../../build/hearth)}
    HEARTH_FIXTURES=${HEARTH_FIXTURES:-$(realpath ../data)}
    HEARTH_SHARED=${HEARTH_SHARED:-$(realpath -m ../../../shared)}
    export HEARTH_BIN HEARTH_FIXTURES HEARTH_SHARED
fi

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(./*.test.mjs)
bulk=()
timing=()
for s in "${suites[@]}"; do
    s=./$(basename "$s")
    case "$s" in
    *.timing.test.mjs) timing+=("$s") ;;
    *) bulk+=("$s") ;;
    esac
done

run_phases() {
    local rc=0
    if [ ${#bulk[@]} -gt 0 ]; then
        echo "integration: phase 1: ${#bulk[@]} suites, two at a time"
        node --test --test-concurrency=2 "${bulk[@]}" || rc=1
    fi
    if [ ${#timing[@]} -gt 0 ]; then
        echo "integration: phase 2: timing-sensitive suites alone: ${timing[*]}"
        node --test --test-concurrency=1 "${timing[@]}" || rc=1
    fi
    [ $rc -eq 0 ] && echo "integration: all passed" || echo "integration: FAILED"
    return $rc
}

# Second entry, inside the namespace: bring up loopback, run.
if [ "${HEARTH_IN_NETNS:-}" = 1 ]; then
    ip link set lo up
    run_phases
    exit
fi

if [ "${HEARTH_NETNS:-1}" = 0 ]; then
    echo "integration: HEARTH_NETNS=0: running in the normal namespace; the isolation proofs are skipped"
    run_phases
    exit
fi

ns=(unshare -n)
[ "$(id -u)" -eq 0 ] || ns=(unshare -r -n)
why=""
if ! command -v unshare >/dev/null; then why="unshare (util-linux) is not installed"
elif ! command -v ip >/dev/null; then why="ip (iproute2) is not installed"
elif ! command -v strace >/dev/null; then why="strace is not installed"
elif ! command -v curl >/dev/null; then why="curl is not installed"
elif ! "${ns[@]}" true 2>/dev/null; then why="'${ns[*]}' is not permitted here (needs root or unprivileged user namespaces)"
fi
if [ -n "$why" ]; then
    echo "integration: FAILED: cannot run the suites in a network namespace: $why." >&2
    echo "integration: run scripts/deps.sh (as root, or where user namespaces are allowed), or set" >&2
    echo "integration: HEARTH_NETNS=0 to run without the isolation proof." >&2
    exit 1
fi
echo "integration: running inside a network namespace with loopback only (${ns[*]})"
HEARTH_IN_NETNS=1 exec "${ns[@]}" "$self" "$@"
