# hearth — a plain GNU Makefile (see docs/BUILD.md).
#   make                 build build/hearth (release)
#   make MODE=asan       ASan+UBSan build under build/asan/
#   make test            unit tests (release and asan) + fuzz-corpus replay + integration tests
#   make help            every target
MODE ?= release
B    := build/$(MODE)
CC   ?= cc
ifeq ($(MODE),fuzz)
CC   := clang
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wundef \
        -Wwrite-strings -Wdouble-promotion -Wvla -Wformat=2 -Wimplicit-fallthrough
PKGS := libpcre2-8 jansson libcrypto libmicrohttpd
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
HEARTH_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc -MMD -MP -pthread $(WARN) $(MODE_FLAGS) $(PKG_CFLAGS)
LDLIBS := $(PKG_LIBS) -lm -pthread

# Per-ISA files carry their own flags; everything else is built for the baseline.
$(B)/%_avx2.o:   ISA := -mavx2 -mfma -mf16c
$(B)/%_avx512.o: ISA := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx2 -mfma -mf16c

LIB_SRC  := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
LIB      := $(B)/libhearth.a
BIN      := $(B)/hearth
TEST_SRC := $(wildcard tests/unit/test_*.c)
TESTS    := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)
REPLAY   := $(FUZZ_SRC:fuzz/fuzz_%.c=$(B)/fuzz/replay_%)

.PHONY: all serve test test-unit test-asan test-replay test-integration fuzz bench bench-kernels bench-grammar run format format-check check-deps clean help
.DEFAULT_GOAL := all
# Keep test and fuzz objects between runs (they are intermediates of chained pattern rules).
.SECONDARY:

all: $(BIN)
	@if [ "$(MODE)" = release ]; then ln -sf release/hearth build/hearth; fi

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HEARTH_CFLAGS) $(ISA) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(B)/src/cli/main.o $(LIB)
	$(CC) $(MODE_FLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(MODE_FLAGS) -o $@ $^ $(LDLIBS) -lcriterion

$(B)/fuzz/replay_%: $(B)/fuzz/fuzz_%.o $(B)/fuzz/replay.o $(LIB)
	$(CC) $(MODE_FLAGS) -o $@ $^ $(LDLIBS)

$(B)/fuzz/fuzz_%: $(B)/fuzz/fuzz_%.o $(LIB)
	$(CC) $(MODE_FLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# ---- Tests ----
# Unit tests run in release and under ASan+UBSan; fuzz corpora are replayed under ASan;
# integration tests drive the real binary with node's test runner.
test: test-unit test-asan test-integration check-deps

test-unit: $(TESTS) $(BIN)
	@scripts/run-unit-tests.sh $(TESTS)

# Unit tests and the fuzz-corpus replay, built with ASan + UBSan.
test-asan:
	$(MAKE) MODE=asan test-unit test-replay-only

test-replay:
	$(MAKE) MODE=asan test-replay-only

.PHONY: test-replay-only
test-replay-only: $(REPLAY)
	@scripts/replay-corpus.sh $(REPLAY)

test-integration: all
	@scripts/run-integration-tests.sh

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
	@echo "  make run [MODEL=f.gguf] [PROMPT=text]  build, then generate from MODEL (default: ../shared/models/stories260K.gguf, else a generated demo model)"
	@echo "  make serve [MODEL=f.gguf] [PORT=8080]  build, then serve MODEL (same default) over the OpenAI and Ollama APIs"
	@echo "  make test            unit tests (release + ASan/UBSan), fuzz corpus replay, integration tests"
	@echo "  make test-unit       unit tests in the current MODE only"
	@echo "  make test-asan       unit tests + fuzz corpus replay under ASan/UBSan"
	@echo "  make test-integration  node:test suites in tests/integration against build/hearth"
	@echo "  make fuzz [FUZZ_SECONDS=60]  run every libFuzzer target (clang)"
	@echo "  make bench           benchmark report (see docs/BENCHMARKS.md; LLAMA_BENCH=, LLAMA_BATCHED_BENCH= compare with llama.cpp, BENCH_DEPTH=D attention at depth)"
	@echo "  make bench-kernels [BENCH_ARGS=\"ROWS COLS REPS\"]  ref vs avx2 vs avx512 vec_dot per type (ns/row, GB/s), then tiled vs per-row prompt matmul (GMAC/s; BENCH_TOKENS), then small batches 1-24 tokens"
	@echo "  make bench-grammar [BENCH_ARGS=\"VOCAB.gguf REPS\"]  grammar mask cost per JSON position (docs/GRAMMAR.md)"
	@echo "  make format | format-check | check-deps | clean"

-include $(shell find build/$(MODE) -name '*.d' 2>/dev/null)
