#!/usr/bin/env bash
# Checks the module dependency table (docs/ARCHITECTURE.md): a module includes only the headers of
# the modules it may use. Every `#include "mod/..."` in src/<m>/ must name an allowed module.
set -u
cd "$(dirname "$0")/.."
declare -A allowed=(
  [base]="base"
  [tensor]="base tensor"
  [gguf]="base gguf tensor"
  [tokenizer]="base gguf tokenizer"
  [sample]="base sample"
  [grammar]="base gguf tokenizer sample grammar"
  [model]="base gguf tensor tokenizer model"
  [spec]="base gguf tensor tokenizer model sample grammar spec"
  [chat]="base gguf tokenizer grammar chat"
  [store]="base gguf store"
  [guard]="base guard"
  [client]="base client"
  [agent]="base client guard agent"
  [card]="base client card"
  [server]="base gguf tensor tokenizer model sample spec grammar chat store guard server"
  [index]="base gguf tensor tokenizer model index"
  [bench]="base gguf tensor tokenizer model sample spec chat bench"
  [cli]="base gguf tensor tokenizer model sample spec grammar chat store guard client agent card server bench index cli"
)
bad=0
for dir in src/*/; do
  m=$(basename "$dir")
  ok=${allowed[$m]:-}
  if [ -z "$ok" ]; then echo "check-deps: module src/$m is not in the table"; bad=1; continue; fi
  while IFS=: read -r file _ line; do
    dep=$(sed -n 's/.*#include "\([a-z_]*\)\/.*/\1/p' <<<"$line")
    [ -n "$dep" ] || continue
    case " $ok " in *" $dep "*) ;; *) echo "check-deps: $file includes $dep/ (not allowed for $m/)"; bad=1;; esac
    if [[ "$line" == *_internal.h* && "$dep" != "$m" ]]; then echo "check-deps: $file includes another module's internal header"; bad=1; fi
  done < <(grep -n '#include "' "$dir"*.c "$dir"*.h 2>/dev/null)
done
[ $bad -eq 0 ] && echo "check-deps: ok"
exit $bad
