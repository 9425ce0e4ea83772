#!/usr/bin/env bash
# make run: generate text from MODEL (the one given, else ../shared/models/stories260K.gguf when
# present, else a generated demo model), saying which.
set -euo pipefail
model=${1:-}
prompt=${2:-}
[ -n "$prompt" ] || prompt="Once upon a time"
if [ -n "$model" ]; then
    echo "hearth: running the model you gave: $model" >&2
elif [ -f ../shared/models/stories260K.gguf ]; then
    model=../shared/models/stories260K.gguf
    echo "hearth: no MODEL given; running $model (tiny trained Llama)" >&2
else
    model=build/demo-tiny.gguf
    if [ ! -f "$model" ]; then
        echo "hearth: no MODEL given and no ../shared; generating a random-weight demo model $model" >&2
        build/hearth make-model --shape tiny --type f32 --vocab "" "$model"
    fi
    echo "hearth: running the generated demo model $model (random weights: the text is noise)" >&2
fi
exec build/hearth run "$model" -p "$prompt" -n 200
