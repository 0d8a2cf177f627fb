# Every entry point of the project. `make demo` and `make test` do all set-up on a fresh
# Debian machine: the apt packages below, and a local venv (.venv) with torch==2.13.0.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD ?= build
JOBS ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := cmake g++ make libgtest-dev libbenchmark-dev python3-dev python3-venv

.PHONY: all deps build test test-cpp test-cmake-package venv install-python test-python \
        demo bench deps-bench cuda sanitize deps-clang fuzz format format-check deps-format clean

all: build

deps:  # Debian packages a fresh machine lacks (apt-get only when one is missing)
	@missing="$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test-cpp: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# Installs the core into $(BUILD)/install and builds a C and a C++ program against it
# with find_package(groupquant).
test-cmake-package: build
	cmake --install $(BUILD) --prefix $(BUILD)/install >/dev/null
	cmake -S tests/cmake_consumer -B $(BUILD)/consumer -DCMAKE_PREFIX_PATH=$(CURDIR)/$(BUILD)/install >/dev/null
	cmake --build $(BUILD)/consumer -j $(JOBS)
	$(BUILD)/consumer/consumer_c
	$(BUILD)/consumer/consumer_cpp

test: test-cpp test-cmake-package test-python

# ---- The torch operator (python/groupquant) --------------------------------------------
VENV_STAMP := $(VENV)/.requirements-dev.stamp
INSTALL_STAMP := $(VENV)/.groupquant-installed.stamp
PY_SOURCES = setup.py pyproject.toml CMakeLists.txt \
  $(shell find python src include cmake -type f \( -name '*.py' -o -name '*.h' -o -name '*.hpp' \
            -o -name '*.cc' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' -o -name '*.inc' \
            -o -name '*.cmake' \) 2>/dev/null)

venv: $(VENV_STAMP)
$(VENV_STAMP): requirements-dev.txt | deps
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

# Builds the core with CMake (build/python-core) and the extension against the venv's torch.
install-python: $(INSTALL_STAMP)
$(INSTALL_STAMP): $(VENV_STAMP) $(PY_SOURCES)
	$(VENV)/bin/pip install -q --no-build-isolation --no-deps .
	touch $@

test-python: install-python
	$(PY) -m pytest -q tests/python

demo: install-python
	$(PY) examples/demo.py

# ---- CUDA (no GPU needed): compile every CUDA source with nvcc for sm_80 and sm_90, check
# the kernels' PTX (no FMA, 16-byte loads and stores, no spills: tests/cuda/check_device_code.py),
# run the launcher's host-side tests, and have setup.py build and link groupquant._C_cuda
# against stand-ins for the CUDA parts that the venv's CPU build of torch lacks
# (tests/cuda/check_extension_build.py). The kernel's logic is tested on the CPU by `make test`
# (tests/cpp/cuda_body_test.cc); the GPU tests are tests/python/test_cuda.py.
CUDA_BUILD ?= build-cuda
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)

cuda: deps $(VENV_STAMP)
	@if [ -z "$(NVCC)" ]; then \
	  echo "make cuda: nvcc not found (looked on PATH and in /usr/local/cuda/bin); install the CUDA toolkit or pass NVCC=/path/to/nvcc" >&2; \
	  exit 1; \
	fi
	CUDACXX="$(NVCC)" cmake -S . -B $(CUDA_BUILD) -DCMAKE_BUILD_TYPE=Release \
	  -DGROUPQUANT_BUILD_TESTS=OFF -DGROUPQUANT_ENABLE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="80;90"
	cmake --build $(CUDA_BUILD) -j $(JOBS) --target groupquant_cuda groupquant_cuda_launcher_test
	cmake --build $(CUDA_BUILD) --target groupquant_cuda_check_device_code
	$(CUDA_BUILD)/groupquant_cuda_launcher_test --gtest_brief=1
	$(PY) tests/cuda/check_extension_build.py --nvcc "$(NVCC)"

# ---- Sanitizers and fuzzing ----------------------------------------------------------------
# `make sanitize`: the C++ suite built with g++ -fsanitize=address,undefined and run once as
# is (default ISA, large-index tests included), then once per CPU path this machine has;
# then the threaded tests under ThreadSanitizer.
SAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

sanitize: deps
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGROUPQUANT_SANITIZE=address,undefined
	cmake --build $(SAN_BUILD) -j $(JOBS) --target groupquant_tests
	$(SAN_ENV) $(SAN_BUILD)/groupquant_tests --gtest_brief=1
	@for isa in scalar avx2 avx512; do \
	  echo "== sanitize: GROUPQUANT_CPU_ISA=$$isa"; \
	  if out="$$(GROUPQUANT_CPU_ISA=$$isa $(SAN_ENV) $(SAN_BUILD)/groupquant_tests --gtest_brief=1 2>&1)"; then \
	    tail -n 2 <<<"$$out"; \
	  elif grep -q "GROUPQUANT_CPU_ISA=$$isa is not supported by this CPU" <<<"$$out"; then \
	    echo "skipped: this CPU lacks $$isa"; \
	  else \
	    echo "$$out"; exit 1; \
	  fi; \
	done
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGROUPQUANT_SANITIZE=thread
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target groupquant_tests
	TSAN_OPTIONS=halt_on_error=1 $(TSAN_BUILD)/groupquant_tests --gtest_brief=1 \
	  --gtest_filter='Concurrency*:*CpuDriver*:HostileInputs.HostileThreadCounts'

# `make fuzz`: fuzz/group_quant_fuzz.cc (libFuzzer, clang, ASan+UBSan) for FUZZ_SECONDS,
# starting from the seeds in fuzz/corpus. New inputs go to fuzz/corpus-run (ignored by
# git, kept between runs), never into fuzz/corpus; a failing input is written to
# $(FUZZ_BUILD)/crash-*, and `$(FUZZ_BUILD)/group_quant_fuzz <file>` replays it.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
FUZZ_RUN_CORPUS := fuzz/corpus-run

fuzz: deps-clang
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DGROUPQUANT_BUILD_TESTS=OFF -DGROUPQUANT_BUILD_FUZZERS=ON -DGROUPQUANT_SANITIZE=address,undefined
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target group_quant_fuzz
	mkdir -p $(FUZZ_RUN_CORPUS) && cp -n fuzz/corpus/* $(FUZZ_RUN_CORPUS)/
	$(FUZZ_BUILD)/group_quant_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=2048 -timeout=20 \
	  -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_RUN_CORPUS)

# clang and libFuzzer (libclang_rt.fuzzer), for `make fuzz`.
CLANG_PACKAGES := clang libclang-rt-14-dev
deps-clang: deps
	@missing="$$(for p in $(CLANG_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# ---- Benchmarks (never part of `make test` or CI): Google Benchmark of the core, then the
# torch operator against a copy, torch eager and torch.compile (bench/bench_op.py). Results
# land in bench/results/. Quiet machine wanted: other load skews every number.
BENCH_BUILD ?= build-bench
BENCH_MIN_TIME ?= 0.2

# libtcmalloc-minimal4: bench_op.py's "tcmalloc" rows preload it (LD_PRELOAD).
BENCH_PACKAGES := libtcmalloc-minimal4
deps-bench: deps
	@missing="$$(for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

bench: deps-bench install-python
	$(VENV)/bin/pip install -q -r bench/requirements.txt
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DGROUPQUANT_BUILD_TESTS=OFF \
	  -DGROUPQUANT_BUILD_BENCHMARKS=ON
	cmake --build $(BENCH_BUILD) -j $(JOBS) --target groupquant_cpu_bench
	mkdir -p bench/results
	$(BENCH_BUILD)/groupquant_cpu_bench --benchmark_min_time=$(BENCH_MIN_TIME) \
	  --benchmark_out=bench/results/cpu_kernels_bench.json --benchmark_out_format=json
	$(PY) bench/bench_op.py

# ---- Style: clang-format (.clang-format) for C++/CUDA, ruff (pyproject.toml) for Python.
CXX_SOURCES = $(shell git ls-files '*.cc' '*.h' '*.hpp' '*.cpp' '*.cu' '*.cuh')
PY_STYLE_PATHS := python tests/python tests/cuda bench examples fuzz

deps-format: deps
	@dpkg -s clang-format >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-format; }

format: deps-format venv
	clang-format -i $(CXX_SOURCES)
	$(PY) -m ruff format $(PY_STYLE_PATHS)
	$(PY) -m ruff check --fix $(PY_STYLE_PATHS)

format-check: deps-format venv
	clang-format --dry-run -Werror $(CXX_SOURCES)
	$(PY) -m ruff format --check $(PY_STYLE_PATHS)
	$(PY) -m ruff check $(PY_STYLE_PATHS)

clean:
	rm -rf $(BUILD) $(CUDA_BUILD) $(SAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) $(BENCH_BUILD) $(VENV) \
	  $(FUZZ_RUN_CORPUS) python/*.egg-info
