#!/usr/bin/env bash
# make test-cross: cross-compiles the NEON kernels and the tests that need no outside library
# for aarch64 (make TARGET=aarch64, build/aarch64-release/) and runs them under qemu-aarch64,
# twice: as -cpu max (NEON with the dot-product extension: the neondot set) and as a Cortex-A53
# (plain NEON: the neon set). Skips with a message when the toolchain is missing (scripts/deps.sh
# installs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user).
# HEARTH_CROSS_FULL=1 also runs test_quant_forward (0.5 to 2.5 minutes per CPU under qemu).
set -u
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1; then
    echo "test-cross: SKIPPED: aarch64-linux-gnu-gcc or qemu-aarch64 missing (scripts/deps.sh installs them)"
    exit 0
fi
HEARTH_FIXTURES=${HEARTH_FIXTURES:-$(realpath tests/data)}
export HEARTH_FIXTURES
B=build/aarch64-release
make --no-print-directory TARGET=aarch64 -j2 cross-tests >/dev/null || {
    echo "test-cross: aarch64 build failed (run: make TARGET=aarch64 cross-tests)"
    exit 1
}
tests=(test_tensor test_kernels_neon test_pool test_stories_cross)
[ "${HEARTH_CROSS_FULL:-0}" = 1 ] && tests+=(test_quant_forward)
fail=0
for cpu in max cortex-a53; do
    for t in "${tests[@]}"; do
        echo "== qemu-aarch64 -cpu $cpu $B/tests/$t"
        qemu-aarch64 -cpu "$cpu" -L /usr/aarch64-linux-gnu "$B/tests/$t" 2>&1 | grep -v '^\[PASS\]'
        [ "${PIPESTATUS[0]}" -eq 0 ] || fail=1
    done
done
[ $fail -eq 0 ] && echo "test-cross: all passed" || echo "test-cross: FAILED"
exit $fail
