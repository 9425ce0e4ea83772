/* main.c — hearth's entry point: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
} command;

static const command commands[] = {
    {"run", cmd_run, "run MODEL.gguf -p TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P] [--seed S] [-t THREADS] [-c CTX] [--draft D.gguf | --draft-layers K | --lookup N] [--draft-max N] [--lora A] [--lora-scaled A S]"},
    {"chat", cmd_chat, "chat (NAME | MODEL.gguf) [--url URL] [--system TEXT] [--load NAME] [-c CTX] [-t THREADS]   (interactive chat with the model's template; /? inside)"},
    {"tokenize", cmd_tokenize, "tokenize MODEL.gguf [--no-bos] [--no-special]   (text on stdin)"},
    {"inspect", cmd_inspect, "inspect FILE.gguf"},
    {"template", cmd_template, "template (MODEL.gguf | --jinja FILE) --context CONTEXT.json [--now 2024-07-26T12:00:00]"},
    {"make-model", cmd_make_model, "make-model --shape {tinyllama,llama3-1b,qwen2.5-0.5b,qwen3-0.6b,qwen1.5-moe-a2.7b,qwen3-30b-a3b,tiny,tiny-qwen2moe,tiny-mixtral,tiny-bert,tiny-nomic-bert,tiny-bert-reranker,...} --type TYPE --vocab VOCAB.gguf OUT.gguf"},
    {"make-lora", cmd_make_lora, "make-lora --base BASE.gguf --rank R [--seed N] [--alpha A] [--targets q,k,v,o,gate,up,down] OUT.gguf   (a random LoRA adapter)"},
    {"lora", cmd_lora, "lora merge BASE.gguf ADAPTER.gguf OUT.gguf [--scale S] [--type T]   (the adapter merged into the weights, each in its own type or all converted to T as hearth quantize does)"},
    {"quantize", cmd_quantize, "quantize IN.gguf OUT.gguf TYPE"},
    {"import", cmd_import, "import FILE.gguf [--name NAME] [--copy] [--template T.jinja] [--params P.json] [--adapter A.gguf]...   (into $HEARTH_HOME, default ~/.local/share/hearth)"},
    {"ls", cmd_ls, "ls"},
    {"show", cmd_show, "show NAME"},
    {"cp", cmd_cp, "cp SRC DST"},
    {"rm", cmd_rm, "rm NAME..."},
    {"verify", cmd_verify, "verify [NAME]"},
    {"export", cmd_export, "export NAME DIR"},
    {"serve", cmd_serve, "serve (MODEL.gguf [--name NAME] [--ctx N] [--slots N] [-t N] | --config FILE [--store] | (nothing: store mode) [--max-memory SIZE] [--keep-alive DUR]) [--host H] [--port P] [--api-key KEY] [--api-key-file F] [--cors-origin O] [--admin-key KEY] [--model-dir DIR] [--verify] [--no-ui] [--guard-workspace DIR] [--guard-policy FILE] [--lora A] [--lora-scaled A S]   (MODEL: a file or a store name)"},
    {"swap", cmd_swap, "swap NAME NEW.gguf [--host H] [--port P] [--api-key KEY] [--admin-key KEY]"},
    {"agent", cmd_agent, "agent [--url URL | --model NAME_OR_FILE] [--workspace DIR] [--policy FILE] [--yes-to CATS] [--dry-run] [--max-steps N] [--log FILE] [--index DB] TASK   (also: agent undo [--log FILE] [--step N])"},
    {"audit", cmd_audit, "audit verify LOG [--head SHA256]"},
    {"guard", cmd_guard, "guard check [--workspace DIR] [--policy FILE]   (JSON lines {\"tool\", \"arguments\"} on stdin; one verdict line each) | guard policy"},
    {"embed", cmd_embed, "embed MODEL.gguf [--query Q] [--no-normalize] [-t THREADS] TEXT...   (one JSON vector per text; a reranker: one score per text against Q)"},
    {"index", cmd_index, "index DIR --model EMBEDDER.gguf [--db FILE] [-t N] [-v]   (text files -> chunks -> embeddings in SQLite; re-embeds only changed files; default db $HEARTH_HOME/index.db)"},
    {"search", cmd_search, "search QUERY [--db FILE] [--model EMBEDDER.gguf] [--rerank RERANKER.gguf] [-k N] [--json]   (cosine over the index; optional cross-encoder rerank)"},
    {"bench", cmd_bench, "bench MODEL.gguf [-p 512] [-n 128] [-b 512] [-t THREADS] [-r 5] [--depth D] [--draft D.gguf | --draft-layers K] [--draft-max N] [--lora A]... [--json]"},
    {"card", cmd_card, "card (--url URL [--model NAME]... | MODEL.gguf...) [--out DIR] [--quick] [--api-key K] [--suite DIR]   (speed and tool calls landed: DIR/card.json, card.md, card.svg)"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: hearth COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  hearth %s\n", commands[i].usage);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hearth: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
