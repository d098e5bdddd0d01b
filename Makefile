# The two commands: `make demo` and `make test`. Each installs what is missing first.
# `make bench` builds the same way, then runs the benchmarks in bench/ against PyTorch.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
# `make test` runs the release build's tests, then two sanitizer builds (docs/security.md):
#  - ASAN_DIR, with clang: every unit test under AddressSanitizer + UndefinedBehaviorSanitizer,
#    and each reader fuzzed (libFuzzer) for TEST_FUZZ_SECONDS, from the same build;
#  - TSAN_DIR: the threaded code's tests (checkpoint saver, parallel I/O, bulk zip
#    reads and writes) under ThreadSanitizer.
# `make test-release`, `make test-asan` and `make test-tsan` run one of these each.
# `make fuzz` fuzzes each reader for FUZZ_SECONDS, in ASAN_DIR.
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
SANITIZER_CXX ?= clang++
TEST_FUZZ_SECONDS ?= 60
FUZZ_SECONDS ?= 600
SANITIZER_ENV = ASAN_OPTIONS=check_initialization_order=1:detect_leaks=1 \
                UBSAN_OPTIONS=print_stacktrace=1 \
                TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 OPENBLAS_NUM_THREADS=1

.PHONY: all deps configure build demo test bench clean
.PHONY: test-release test-asan test-tsan configure-asan fuzz fuzz-seeds

all: build

deps:
	scripts/install-deps

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DMNEMO_WERROR=ON

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	scripts/demo $(BUILD_DIR)

test:
	$(MAKE) --no-print-directory test-release
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan

test-release: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# The live PyTorch interop tests are left out: they check agreement with PyTorch, which
# the release build does, not memory safety.
configure-asan: deps
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER=$(SANITIZER_CXX) \
	  -DMNEMO_SANITIZE=address,undefined -DMNEMO_FUZZ=ON -DMNEMO_FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) \
	  -DMNEMO_LIVE_TESTS=OFF -DMNEMO_WERROR=ON

test-asan: configure-asan
	cmake --build $(ASAN_DIR) -j $(JOBS)
	$(SANITIZER_ENV) ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS)

# The library, and the tests of the code that runs threads: CheckpointManager's
# asynchronous saves, the parallel reads, writes and progress of io/, and the zip
# reader's and writer's bulk paths, the storage pool and a .pt load's early read.
test-tsan: deps
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER=$(SANITIZER_CXX) \
	  -DMNEMO_SANITIZE=thread -DMNEMO_BUILD_TOOLS=OFF -DMNEMO_BUILD_EXAMPLES=OFF \
	  -DMNEMO_LIVE_TESTS=OFF -DMNEMO_WERROR=ON
	cmake --build $(TSAN_DIR) -j $(JOBS) --target checkpoint_tests io_tests formats_tests
	$(SANITIZER_ENV) $(TSAN_DIR)/bin/checkpoint_tests --gtest_filter='CheckpointManager.*:Snapshot.*'
	$(SANITIZER_ENV) $(TSAN_DIR)/bin/io_tests
	$(SANITIZER_ENV) $(TSAN_DIR)/bin/formats_tests \
	  --gtest_filter='PtZipEarlyRead.*:ZipReadAllTest.*:ZipAddAllTest.*:StoragePool.*:Progress.*'

# Builds only the library and the fuzzers.
fuzz: configure-asan
	cmake --build $(ASAN_DIR) -j $(JOBS) --target mnemo_fuzzers
	$(SANITIZER_ENV) fuzz/run $(ASAN_DIR) $(FUZZ_SECONDS)

# Rewrites the seeds of fuzz/corpus/: mnemo's own files, then PyTorch's.
fuzz-seeds: configure-asan
	cmake --build $(ASAN_DIR) -j $(JOBS) --target mnemo_fuzz_seeds
	$(SANITIZER_ENV) $(ASAN_DIR)/bin/mnemo_fuzz_seeds fuzz/corpus
	/usr/bin/python3 fuzz/make_torch_seeds.py fuzz/corpus

bench: build
	bench/run_all $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)
