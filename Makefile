# autosp — the two commands a newcomer needs are `make demo` and `make test`.
# Both install what is missing (scripts/setup.sh), build incrementally, then run.

BUILD_DIR   ?= build
BUILD_TYPE  ?= Release
# Unset: keep the build directory's setting (OFF on a fresh one).
AUTOSP_WERROR ?=
JOBS        ?= $(shell nproc)
VENV        := .venv
PYTHON      := $(VENV)/bin/python

# Torch_DIR picks the LibTorch to build against. Default: the CPU LibTorch
# inside the pinned torch wheel in .venv. On a GPU machine, point it at a
# CUDA LibTorch: `make build Torch_DIR=/path/to/libtorch/share/cmake/Torch`.
Torch_DIR ?=

# The sanitizer build: clang, ASan + UBSan, the LibTorch-free subset and the
# fuzz targets (README.md, "Sanitizers and fuzzing").
SAN_BUILD_DIR ?= build-san
SAN_CXX     ?= clang++-16

.PHONY: all setup configure build test test-sanitize demo clean

all: build

setup:
	@scripts/setup.sh

$(BUILD_DIR)/CMakeCache.txt: | setup
	@tdir="$(Torch_DIR)"; \
	if [ -z "$$tdir" ]; then tdir="$$($(PYTHON) -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch"; fi; \
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DTorch_DIR="$$tdir" $(if $(AUTOSP_WERROR),-DAUTOSP_WERROR=$(AUTOSP_WERROR),)

configure: $(BUILD_DIR)/CMakeCache.txt
	@cmake -S . -B $(BUILD_DIR) $(if $(AUTOSP_WERROR),-DAUTOSP_WERROR=$(AUTOSP_WERROR),) > /dev/null

build: setup configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

$(SAN_BUILD_DIR)/CMakeCache.txt: | setup
	cmake -S . -B $(SAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_CXX_COMPILER=$(SAN_CXX) -DAUTOSP_SANITIZE=ON $(if $(AUTOSP_WERROR),-DAUTOSP_WERROR=$(AUTOSP_WERROR),)

test-sanitize: setup $(SAN_BUILD_DIR)/CMakeCache.txt
	@cmake -S . -B $(SAN_BUILD_DIR) $(if $(AUTOSP_WERROR),-DAUTOSP_WERROR=$(AUTOSP_WERROR),) > /dev/null
	@cmake --build $(SAN_BUILD_DIR) -j $(JOBS)
	@cd $(SAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

demo: build
	$(BUILD_DIR)/bin/autosp launch -n 2 -- $(BUILD_DIR)/bin/autosp train --config examples/tiny/ds_config.json

clean:
	rm -rf $(BUILD_DIR) $(SAN_BUILD_DIR)
