/* cli.h — the hearth subcommands, one file each (cmd_<name>.c).
 * Each takes argc/argv with argv[0] = the subcommand name and returns the process exit code. */
#ifndef HEARTH_CLI_H
#define HEARTH_CLI_H

int cmd_run(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_make_model(int argc, char **argv);
int cmd_make_lora(int argc, char **argv);
int cmd_lora(int argc, char **argv); /* lora merge (cmd_make_lora.c) */
int cmd_quantize(int argc, char **argv);
int cmd_template(int argc, char **argv);
/* The model store (cmd_store.c). */
int cmd_import(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_swap(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* The guarded agent and its audit log (cmd_agent.c). */
int cmd_agent(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_guard(int argc, char **argv);
int cmd_card(int argc, char **argv);
/* The interactive terminal chat (cmd_chat.c). */
int cmd_chat(int argc, char **argv);
int cmd_embed(int argc, char **argv);
/* The local context index (cmd_index.c). */
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);


/* Shared helpers (args.c). The parsers accept the whole string as one number within [lo, hi]
 * and return 0, else -1 (out untouched). cli_now_s: monotonic seconds. */
int cli_parse_long(const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *s, float lo, float hi, float *out);
double cli_now_s(void);

#endif
