#!/usr/bin/env bash
# make run / make serve: run hearth on MODEL — the one given, else tests/data/models/stories260K.gguf
# (carried in the repository), else a generated demo model — saying which.
#   scripts/run-demo.sh run   [MODEL] [PROMPT]   one generation to stdout
#   scripts/run-demo.sh serve [MODEL] [PORT]     the OpenAI/Ollama server on 127.0.0.1
set -euo pipefail
mode=${1:-run}
model=${2:-}
arg=${3:-}
if [ -n "$model" ]; then
    echo "hearth: using the model you gave: $model" >&2
elif [ -f tests/data/models/stories260K.gguf ]; then
    model=tests/data/models/stories260K.gguf
    echo "hearth: no MODEL given; using $model (a tiny trained Llama)" >&2
else
    model=build/demo-tiny.gguf
    if [ ! -f "$model" ]; then
        echo "hearth: no MODEL given and no tests/data/models/stories260K.gguf; generating a random-weight demo model $model" >&2
        build/hearth make-model --shape tiny --type q8_0 "$model"
    fi
    echo "hearth: using the generated demo model $model (random weights: its text is noise)" >&2
fi
case "$mode" in
run)
    exec build/hearth run "$model" -p "${arg:-Once upon a time}" -n 200
    ;;
serve)
    echo "hearth: serving on http://127.0.0.1:${arg:-8080} (OpenAI: /v1, Ollama: /api); Ctrl-C stops" >&2
    exec build/hearth serve "$model" --port "${arg:-8080}"
    ;;
*)
    echo "usage: $0 run|serve [MODEL] [PROMPT|PORT]" >&2
    exit 2
    ;;
esac
