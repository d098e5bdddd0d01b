# The two commands: `make demo` and `make test`. Each installs what is missing first.
# `make bench` builds the same way, then runs the benchmarks in bench/ against PyTorch.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
# `make test-sanitizers` runs the unit tests under AddressSanitizer +
# UndefinedBehaviorSanitizer (ASAN_DIR), the checkpoint tests under ThreadSanitizer
# (TSAN_DIR), and fuzzes each reader for TEST_FUZZ_SECONDS (FUZZ_DIR, libFuzzer): three
# more builds, too long yet for `make test` on a 2-core CI machine (docs/security.md).
# `make fuzz` fuzzes each reader for FUZZ_SECONDS.
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
FUZZ_DIR ?= build-fuzz
SANITIZER_CXX ?= g++
FUZZ_CXX ?= clang++
TEST_FUZZ_SECONDS ?= 30
FUZZ_SECONDS ?= 600
SANITIZER_ENV = ASAN_OPTIONS=check_initialization_order=1:detect_leaks=1 \
                UBSAN_OPTIONS=print_stacktrace=1 \
                TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 OPENBLAS_NUM_THREADS=1

.PHONY: all deps configure build demo test bench clean
.PHONY: test-sanitizers test-asan test-tsan configure-fuzz test-fuzz fuzz fuzz-seeds

all: build

deps:
	scripts/install-deps

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DMNEMO_WERROR=ON

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	scripts/demo $(BUILD_DIR)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

test-sanitizers:
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan
	$(MAKE) --no-print-directory test-fuzz

# The live PyTorch interop tests are left out: they check agreement with PyTorch, which
# the release build does, not memory safety.
test-asan: deps
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER=$(SANITIZER_CXX) \
	  -DMNEMO_SANITIZE=address,undefined -DMNEMO_LIVE_TESTS=OFF -DMNEMO_WERROR=ON
	cmake --build $(ASAN_DIR) -j $(JOBS)
	$(SANITIZER_ENV) ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS)

# Only the library and the checkpoint tests (CheckpointManager's asynchronous saves).
test-tsan: deps
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER=$(SANITIZER_CXX) \
	  -DMNEMO_SANITIZE=thread -DMNEMO_BUILD_TOOLS=OFF -DMNEMO_BUILD_EXAMPLES=OFF \
	  -DMNEMO_LIVE_TESTS=OFF -DMNEMO_WERROR=ON
	cmake --build $(TSAN_DIR) -j $(JOBS) --target checkpoint_tests
	$(SANITIZER_ENV) $(TSAN_DIR)/bin/checkpoint_tests

# Builds only the fuzzers (and the readers' layers under them).
configure-fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) \
	  -DMNEMO_SANITIZE=address,undefined -DMNEMO_FUZZ=ON -DMNEMO_FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) \
	  -DMNEMO_BUILD_TOOLS=OFF -DMNEMO_BUILD_EXAMPLES=OFF -DMNEMO_LIVE_TESTS=OFF -DMNEMO_WERROR=ON
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target mnemo_fuzzers

test-fuzz: configure-fuzz
	$(SANITIZER_ENV) ctest --test-dir $(FUZZ_DIR) --output-on-failure -L fuzz -j $(JOBS)

fuzz: configure-fuzz
	$(SANITIZER_ENV) fuzz/run $(FUZZ_DIR) $(FUZZ_SECONDS)

# Rewrites the seeds of fuzz/corpus/: mnemo's own files, then PyTorch's.
fuzz-seeds: configure-fuzz
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target mnemo_fuzz_seeds
	$(SANITIZER_ENV) $(FUZZ_DIR)/bin/mnemo_fuzz_seeds fuzz/corpus
	/usr/bin/python3 fuzz/make_torch_seeds.py fuzz/corpus

bench: build
	bench/run_all $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR)
