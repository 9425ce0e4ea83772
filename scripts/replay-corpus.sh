#!/usr/bin/env bash
# Replays every fuzz corpus file through its target (built with gcc + ASan/UBSan).
set -u
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fail=0
for r in "$@"; do
    t=${r##*/replay_}
    dir=fuzz/corpus/$t
    files=()
    [ -d "$dir" ] && while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$dir" -type f -print0)
    [ -d "tests/data/fuzz/$t" ] && while IFS= read -r -d '' f; do files+=("$f"); done < <(find "tests/data/fuzz/$t" -type f -print0)
    if [ ${#files[@]} -eq 0 ]; then echo "replay $t: no corpus"; continue; fi
    printf 'replay %s: ' "$t"
    "$r" "${files[@]}" || fail=1
done
exit $fail
