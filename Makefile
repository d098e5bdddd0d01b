# The two commands: `make demo` and `make test`. Each installs what is missing first.
# `make bench` builds the same way, then runs the benchmarks in bench/ against PyTorch.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps configure build demo test bench clean

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

bench: build
	bench/run_all $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
