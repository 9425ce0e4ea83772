# hearth — a plain GNU Makefile (see docs/BUILD.md).
#   make                 build build/hearth (release)
#   make MODE=asan       ASan+UBSan build under build/asan/
#   make test            unit tests (release and asan) + the threaded ones under TSan + fuzz-corpus
#                        replay + integration tests + the aarch64 (NEON) cross tests under qemu
#   make help            every target
MODE ?= release
B    := build/$(MODE)
CC   ?= cc
ifeq ($(MODE),fuzz)
CC   := clang
endif
# make TARGET=aarch64 ...: cross build with Debian's aarch64-linux-gnu-gcc into
# build/aarch64-$(MODE) (used by make test-cross; see docs/TENSOR.md).
ifeq ($(TARGET),aarch64)
CC   := aarch64-linux-gnu-gcc
B    := build/aarch64-$(MODE)
endif
# The architecture $(CC) builds for: each builds only its own SIMD kernel files.
ARCH := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine 2>/dev/null)))
ifneq ($(filter x86_64 i386 i486 i586 i686,$(ARCH)),)
ARCH_OUT := %_neon.c %_neondp.c
else ifeq ($(ARCH),aarch64)
ARCH_OUT := %_avx2.c %_avx512.c
else
ARCH_OUT := %_neon.c %_neondp.c %_avx2.c %_avx512.c
endif
# Loops marked __attribute__((target_clones("avx512f", "default"))) get an AVX-512 clone on x86;
# GCC has no target_clones off x86 (before GCC 14), so elsewhere the attribute is defined away and
# the baseline alone is built (vectorized for the target's own SIMD).
ifeq ($(filter x86_64 i386 i486 i586 i686,$(ARCH)),)
ARCH_CFLAGS := '-Dtarget_clones(...)='
endif
# Under TSan a target_clones resolver (an ifunc, run by the dynamic loader before TSan is set up)
# is instrumented and crashes at startup: the TSan build takes the baseline loops only.
ifeq ($(MODE),tsan)
ARCH_CFLAGS += '-Dtarget_clones(...)='
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wundef \
        -Wwrite-strings -Wdouble-promotion -Wvla -Wformat=2 -Wimplicit-fallthrough
PKGS := libpcre2-8 jansson libcrypto libmicrohttpd sqlite3
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ifeq ($(MODE),release)
MODE_FLAGS := -O2 -g
else ifeq ($(MODE),debug)
MODE_FLAGS := -O0 -g3
else ifeq ($(MODE),asan)
MODE_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(MODE),tsan)
MODE_FLAGS := -O1 -g -fsanitize=thread
else ifeq ($(MODE),fuzz)
MODE_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
$(error unknown MODE=$(MODE): use release, debug, asan, tsan or fuzz)
endif

CFLAGS ?=
HEARTH_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc -MMD -MP -pthread $(WARN) $(MODE_FLAGS) $(PKG_CFLAGS) $(ARCH_CFLAGS)
LDLIBS := $(PKG_LIBS) -lm -pthread
ifeq ($(TARGET),aarch64)
# No arm64 builds of the outside libraries here (their -dev packages cannot sit beside the
# host's): the cross build takes the modules that need none.
PKG_CFLAGS :=
HEARTH_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc -MMD -MP -pthread $(WARN) $(MODE_FLAGS) $(ARCH_CFLAGS)
LDLIBS := -lm -pthread
endif

# Per-ISA files carry their own flags; everything else is built for the baseline.
$(B)/%_avx2.o:   ISA := -mavx2 -mfma -mf16c
$(B)/%_avx512.o: ISA := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c
$(B)/%_neondp.o: ISA := -march=armv8.2-a+dotprod

ALL_SRC  := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_SRC  := $(foreach f,$(ALL_SRC),$(if $(filter $(ARCH_OUT),$(notdir $(f))),,$(f)))
ifeq ($(TARGET),aarch64)
LIB_SRC  := $(filter-out src/tokenizer/pretok.c,\
                $(filter $(foreach m,base tensor gguf model sample spec tokenizer,src/$(m)/%),$(LIB_SRC)))
endif
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
# The default `hearth card` suite (data/card/cases/*.json) compiled in as byte arrays.
CARD_CASES := $(sort $(wildcard data/card/cases/*.json))
# The web chat UI (web/*) compiled in as byte arrays with build-time ETags (docs/WEBUI.md).
WEB_FILES  := $(sort $(wildcard web/*.html web/*.js web/*.css web/*.svg))
ifneq ($(TARGET),aarch64)
LIB_OBJ  += $(B)/gen/card_suite_data.o $(B)/gen/webui_data.o
endif
LIB      := $(B)/libhearth.a
BIN      := $(B)/hearth
# test_<x>_neon.c only where the NEON files are built; test_kernels.c calls the x86 kernels
TEST_SRC := $(foreach f,$(wildcard tests/unit/test_*.c),$(if $(filter $(ARCH_OUT),$(notdir $(f))),,$(f)))
ifneq ($(filter %_avx2.c,$(ARCH_OUT)),)
TEST_SRC := $(filter-out tests/unit/test_kernels.c,$(TEST_SRC))
endif
TESTS    := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)
REPLAY   := $(FUZZ_SRC:fuzz/fuzz_%.c=$(B)/fuzz/replay_%)

.PHONY: all serve test test-unit test-asan test-tsan test-replay test-integration test-cross fuzz bench bench-kernels bench-grammar run format format-check check-deps clean help
.DEFAULT_GOAL := all
# Keep test and fuzz objects between runs (they are intermediates of chained pattern rules).
.SECONDARY:

all: $(BIN)
	@if [ "$(MODE)" = release ]; then ln -sf release/hearth build/hearth; fi

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HEARTH_CFLAGS) $(ISA) $(TEST_INC) $(CFLAGS) -c $< -o $@

$(B)/gen/card_suite_data.c: scripts/embed-card-suite.sh $(CARD_CASES) Makefile
	@mkdir -p $(@D)
	scripts/embed-card-suite.sh $(CARD_CASES) > $@.tmp && mv $@.tmp $@

$(B)/gen/card_suite_data.o: $(B)/gen/card_suite_data.c
	$(CC) $(HEARTH_CFLAGS) $(CFLAGS) -c $< -o $@

$(B)/gen/webui_data.c: scripts/embed-webui.sh $(WEB_FILES) Makefile
	@mkdir -p $(@D)
	scripts/embed-webui.sh $(WEB_FILES) > $@.tmp && mv $@.tmp $@

$(B)/gen/webui_data.o: $(B)/gen/webui_data.c
	$(CC) $(HEARTH_CFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(B)/src/cli/main.o $(LIB)
	$(CC) $(MODE_FLAGS) -o $@ $^ $(LDLIBS)

ifeq ($(TARGET),aarch64)
# Cross-built tests link tests/cross/criterion_shim.c (Criterion's API subset the chosen tests
# use; arm64 libcriterion-dev conflicts with the host's) instead of libcriterion.
CROSS_TESTS := $(B)/tests/test_tensor $(B)/tests/test_kernels_neon $(B)/tests/test_pool \
               $(B)/tests/test_quant_forward $(B)/tests/test_stories_cross
# pretok_none.c: the BPE pre-tokenizers need PCRE2, absent here (SPM vocabs load; BPE ones fail)
CROSS_SUPPORT := $(B)/tests/cross/criterion_shim.o $(B)/tests/cross/pretok_none.o
$(B)/tests/%.o: TEST_INC := -Itests/cross
$(B)/tests/%: $(B)/tests/unit/%.o $(CROSS_SUPPORT) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(MODE_FLAGS) -o $@ $^ $(LDLIBS)
$(B)/tests/%: $(B)/tests/cross/%.o $(CROSS_SUPPORT) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(MODE_FLAGS) -o $@ $^ $(LDLIBS)
.PHONY: cross-tests
cross-tests: $(CROSS_TESTS)
else
$(B)/tests/%: $(B)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(MODE_FLAGS) -o $@ $^ $(LDLIBS) -lcriterion
endif

$(B)/fuzz/replay_%: $(B)/fuzz/fuzz_%.o $(B)/fuzz/replay.o $(LIB)
	$(CC) $(MODE_FLAGS) -o $@ $^ $(LDLIBS)

$(B)/fuzz/fuzz_%: $(B)/fuzz/fuzz_%.o $(LIB)
	$(CC) $(MODE_FLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# ---- Tests ----
# Unit tests run in release and under ASan+UBSan, the threaded ones also under TSan; fuzz corpora
# are replayed under ASan; integration tests drive the real binary with node's test runner.
# Every test finds its data files under HEARTH_FIXTURES (the repository's tests/data, carried in
# git; tests/data/README.md); ../shared (HEARTH_SHARED), when present, only adds coverage.
export HEARTH_FIXTURES ?= $(CURDIR)/tests/data
test: test-unit test-asan test-tsan test-integration test-cross check-deps

test-unit: $(TESTS) $(BIN)
	@scripts/run-unit-tests.sh $(TESTS)

# Unit tests and the fuzz-corpus replay, built with ASan + UBSan.
test-asan:
	$(MAKE) MODE=asan test-unit test-replay-only

# The unit tests that start threads (thread pool, scheduler + registry, HTTP server), built under
# ThreadSanitizer against the Criterion shim of tests/tsan/ (Criterion cannot start under TSan);
# the first report fails the run. TSAN_TESTS=... picks others. test_server_http's allocation
# sweep fails every 16th allocation only here (HEARTH_SWEEP_STRIDE), to stay within CI time.
TSAN_TESTS ?= pool matmul_share sched server_http
test-tsan:
	$(MAKE) MODE=tsan build/tsan/libhearth.a
	@for t in $(TSAN_TESTS); do echo "== tsan: test_$$t"; \
	  HEARTH_SWEEP_STRIDE=$${HEARTH_SWEEP_STRIDE:-16} scripts/tsan-test.sh $$t || exit 1; done

test-replay:
	$(MAKE) MODE=asan test-replay-only

.PHONY: test-replay-only
test-replay-only: $(REPLAY)
	@scripts/replay-corpus.sh $(REPLAY)

test-integration: all
	@scripts/run-integration-tests.sh

# NEON kernels + tensor/model tests cross-built for aarch64, run under qemu-aarch64 as a CPU with
# and one without the dot-product extension (skipped, with a message, without the toolchain).
test-cross:
	@scripts/test-cross.sh

# ---- Fuzzing (clang libFuzzer): FUZZ_SECONDS per target ----
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) MODE=fuzz fuzz-bins
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); t=$${n#fuzz_}; \
	  mkdir -p build/fuzz-corpus/$$t; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  build/fuzz/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 \
	    $$( [ -f fuzz/$$t.dict ] && echo -dict=fuzz/$$t.dict ) \
	    build/fuzz-corpus/$$t fuzz/corpus/$$t || exit 1; done

.PHONY: fuzz-bins
fuzz-bins: $(FUZZ_BIN)

# ---- Benchmarks ----
bench: all
	@scripts/bench.sh

# Per-kernel microbenchmark: ref vs avx2 vs avx512 vec_dot per type (BENCH_ARGS="ROWS COLS REPS").
BENCH_KERNELS := $(B)/bench/bench_kernels
$(BENCH_KERNELS): $(B)/bench/bench_kernels.o $(LIB)
	$(CC) $(MODE_FLAGS) -o $@ $^ $(LDLIBS)

bench-kernels: $(BENCH_KERNELS)
	$(BENCH_KERNELS) $(BENCH_ARGS)

# Grammar mask cost on a real vocab (BENCH_ARGS="VOCAB.gguf REPS"; see docs/GRAMMAR.md).
BENCH_GRAMMAR := $(B)/bench/bench_grammar
$(BENCH_GRAMMAR): $(B)/bench/bench_grammar.o $(LIB)
	$(CC) $(MODE_FLAGS) -o $@ $^ $(LDLIBS)

bench-grammar: $(BENCH_GRAMMAR)
	$(BENCH_GRAMMAR) $(BENCH_ARGS)

# ---- Running hearth on a model: make run [MODEL=file.gguf] [PROMPT=...] ----
run: all
	@scripts/run-demo.sh run "$(MODEL)" "$(PROMPT)"

# ---- Serving MODEL the same way: make serve [MODEL=file.gguf] [PORT=8080] ----
serve: all
	@scripts/run-demo.sh serve "$(MODEL)" "$(PORT)"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
check-deps:
	@scripts/check-deps.sh

clean:
	rm -rf build

help:
	@echo "hearth make targets:"
	@echo "  make                 build build/hearth (MODE=release|debug|asan|tsan)"
	@echo "  make run [MODEL=f.gguf] [PROMPT=text]  build, then generate from MODEL (default: tests/data/models/stories260K.gguf)"
	@echo "  make serve [MODEL=f.gguf] [PORT=8080]  build, then serve MODEL (same default) over the OpenAI and Ollama APIs"
	@echo "  make test            unit tests (release + ASan/UBSan), test-tsan, fuzz corpus replay, integration tests, test-cross"
	@echo "  make test-unit       unit tests in the current MODE only"
	@echo "  make test-asan       unit tests + fuzz corpus replay under ASan/UBSan"
	@echo "  make test-tsan       the threaded unit tests (TSAN_TESTS=\"$(TSAN_TESTS)\") under ThreadSanitizer (scripts/tsan-test.sh)"
	@echo "  make test-integration  node:test suites in tests/integration against build/hearth"
	@echo "  make test-cross      aarch64 cross build (TARGET=aarch64) of the NEON kernels + tensor/model tests, run under qemu-aarch64 (HEARTH_CROSS_FULL=1: also test_quant_forward)"
	@echo "  make fuzz [FUZZ_SECONDS=60]  run every libFuzzer target (clang)"
	@echo "  make bench           benchmark report (see docs/BENCHMARKS.md; LLAMA_BENCH=, LLAMA_BATCHED_BENCH= compare with llama.cpp, BENCH_DEPTH=D attention at depth, BENCH_SPEC=0 skips the speculative layer-skip speed-up, BENCH_LORA=0 the LoRA rows: tg with 0/1/2 adapters vs llama-server --lora via LLAMA_SERVER=, BENCH_ARCH=1 adds gemma-2-2b Q4_K_M/IQ4_XS and phi-3-mini Q4_0 at real size, BENCH_MOE='SHAPE:TYPE ...' MoE rows; tg shares of membw at the start and beside each run, BENCH_MEMBW_BESIDE=0 skips the beside samples)"
	@echo "  make bench-kernels [BENCH_ARGS=\"ROWS COLS REPS\"]  ref vs avx2 vs avx512 vec_dot per type (ns/row, GB/s), then tiled vs per-row prompt matmul (GMAC/s; BENCH_TOKENS), then small batches 1-24 tokens"
	@echo "  make bench-grammar [BENCH_ARGS=\"VOCAB.gguf REPS\"]  grammar mask cost per JSON position (docs/GRAMMAR.md)"
	@echo "  make format | format-check | check-deps | clean"

-include $(shell find $(B) -name '*.d' 2>/dev/null)
