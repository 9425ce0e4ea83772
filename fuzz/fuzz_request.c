/* fuzz_request.c — libFuzzer target: any bytes as a request body for each of the four
 * generation APIs (the first byte picks it; 't' and 'd' pick the /tokenize and /detokenize
 * bodies instead; the Responses body has its own target, fuzz_responses.c); parsing must never crash, leak or accept a body
 * without filling the fields the routes rely on. The body's tools, tool_choice,
 * response_format, Ollama format, grammar and chat_template_kwargs reach the schema converter
 * and the GBNF parser too, so hostile schemas and grammars are fuzzed through here. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] == 't' || data[0] == 'd') { /* /tokenize, /detokenize bodies */
        srv_tok_request t;
        srv_req_error te;
        if (srv_tok_request_parse((const char *)data + 1, size - 1, data[0] == 'd', &t, &te) == 0) {
            if (data[0] == 't' && !t.content) abort();
            if ((t.n_tokens > 0) != (t.tokens != NULL) || t.n_tokens > SRV_MAX_DETOKENIZE) abort();
            for (size_t i = 0; i < t.n_tokens; i++)
                if (t.tokens[i] < 0) abort();
        } else if (te.status < 400 || te.status > 499 || !te.message[0]) {
            abort();
        }
        srv_tok_request_free(&t);
        return 0;
    }
    srv_api api = (srv_api)(data[0] % 4);
    srv_request r;
    srv_req_error e;
    int rc = srv_request_parse(api, (const char *)data + 1, size - 1, &r, &e);
    if (rc == 0) {
        if (!r.model || !r.model[0]) abort();
        if ((api == SRV_API_CHAT || api == SRV_API_OLLAMA_CHAT) && !json_is_array(r.messages)) abort();
        if (api == SRV_API_COMPLETION && !r.prompt && !r.prompt_tokens) abort();
        if (r.n_stop < 0 || r.n_stop > SRV_MAX_STOP || r.top_logprobs < -1 || r.top_logprobs > 20) abort();
        /* a structured format always comes with its compiled grammar, and only then */
        if ((r.format != SRV_FMT_TEXT) != (r.grammar != NULL)) abort();
        if (r.tool_choice == TC_CHOICE_NAMED && (!r.tool_named || !r.tools)) abort();
        if ((r.tool_choice == TC_CHOICE_REQUIRED || r.tool_choice == TC_CHOICE_NAMED) && !json_is_array(r.tools)) abort();
        if (r.enable_thinking < -1 || r.enable_thinking > 1) abort();
        if (r.template_kwargs && !json_is_object(r.template_kwargs)) abort();
        if ((r.n_context > 0) != (r.context != NULL)) abort();
        for (size_t i = 0; i < r.n_context; i++)
            if (r.context[i] < 0) abort();
        sample_params p = sample_params_default();
        srv_request_apply_sampling(&r, &p);
    } else if (e.status < 400 || e.status > 499 || !e.message[0]) {
        abort();
    }
    srv_request_free(&r);
    return 0;
}
