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
# cmake --build runs make inside make: no "Entering/Leaving directory" lines.
MAKEFLAGS += --no-print-directory
# make test: one summary per suite (counts, skip reasons); the full logs go here.
TEST_LOGS = $(BUILD)/test-logs
SUMMARY = $(PYTHON) tests/junit_summary.py
APT_PACKAGES := cmake g++ make libgtest-dev libbenchmark-dev python3-dev python3-venv

.PHONY: all deps build test test-cpp test-cmake-package venv install-python test-python \
        demo moe-demo bench deps-bench cuda sanitize deps-clang fuzz format format-check deps-format clean

all: build

deps:  # Debian packages a fresh machine lacks (apt-get only when one is missing)
	@missing="$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DGROUPQUANT_BUILD_TESTS=ON
	cmake --build $(BUILD) -j $(JOBS)

# The output of ctest goes to $(TEST_LOGS)/ctest.log; the summary says why tests skipped
# (a CPU without AVX-512 skips that path) and prints any failing test's output in full.
test-cpp: build
	@mkdir -p $(TEST_LOGS) && rm -f $(TEST_LOGS)/ctest.xml
	@rc=0; ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) \
	  --output-junit $(CURDIR)/$(TEST_LOGS)/ctest.xml >$(TEST_LOGS)/ctest.log 2>&1 || rc=$$?; \
	$(SUMMARY) --suite "C++ suite (GoogleTest, ctest)" --junit $(TEST_LOGS)/ctest.xml \
	  --log $(TEST_LOGS)/ctest.log --rc $$rc

# Installs the core twice (static from $(BUILD), shared from $(BUILD)/shared) and builds
# and runs the programs of tests/cmake_consumer (C, C++, docs/cpp.md's example) against each.
test-cmake-package: build
	@tests/cmake_consumer/check_package.sh $(BUILD) $(JOBS)

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
	@echo "== venv: $(VENV) with torch==2.13.0 and the test tools (requirements-dev.txt)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

# Builds the core with CMake (build/python-core) and the extension against the venv's torch.
# Shows the build's progress lines; the whole pip output is in $(BUILD)/pip-install.log
# (printed in full if the install fails).
install-python: $(INSTALL_STAMP)
$(INSTALL_STAMP): $(VENV_STAMP) $(PY_SOURCES)
	@mkdir -p $(BUILD)
	@echo "== install-python: pip install --no-build-isolation . (the C++ core, then the torch binding)"
	@rc=0; $(VENV)/bin/pip install -v --no-build-isolation --no-deps . 2>&1 | tee $(BUILD)/pip-install.log \
	  | { grep --line-buffered -E "^ *\[ *[0-9]+%\] (Building|Linking)|^ *building '|^Successfully installed" || true; } \
	  || rc=$$?; \
	if [ $$rc != 0 ]; then cat $(BUILD)/pip-install.log; echo "install-python: FAILED (log above: $(BUILD)/pip-install.log)"; exit $$rc; fi
	@touch $@

# pytest's output goes to $(TEST_LOGS)/pytest.log; the summary lists skip reasons (-rs).
test-python: install-python
	@mkdir -p $(TEST_LOGS) && rm -f $(TEST_LOGS)/pytest.xml
	@rc=0; $(PY) -m pytest -rs tests/python --junitxml=$(TEST_LOGS)/pytest.xml \
	  >$(TEST_LOGS)/pytest.log 2>&1 || rc=$$?; \
	$(SUMMARY) --suite "Python suite (pytest)" --junit $(TEST_LOGS)/pytest.xml \
	  --log $(TEST_LOGS)/pytest.log --rc $$rc

demo: install-python
	$(PY) examples/demo.py

# The W8A8 MoE block (examples/moe_w8a8.py): its accuracy table in one process, then expert
# parallelism on 2 gloo ranks, checked bit for bit against one process.
moe-demo: install-python
	$(PY) examples/moe_w8a8.py
	OMP_NUM_THREADS=1 $(VENV)/bin/torchrun --standalone --nproc-per-node 2 examples/moe_w8a8.py --ep

# ---- CUDA (no GPU needed): compile every CUDA source with nvcc for sm_80 and sm_90, check
# the kernels' PTX (no FMA, 16-byte loads and stores, no spills, one assertion:
# tests/cuda/check_device_code.py), run the launcher's host-side tests and its launch shapes
# (tests/cuda/launch_shape_test.cc), check setup.py's toolkit discovery with CUDA_HOME unset
# (tests/cuda/test_setup_py.py), and have setup.py build and link groupquant._C_cuda
# against stand-ins for the CUDA parts that the venv's CPU build of torch lacks
# (tests/cuda/check_extension_build.py: one shared core, a failing CUDA build spares _C). The kernel's logic is tested on the CPU by `make test`
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
	cmake --build $(CUDA_BUILD) -j $(JOBS) --target groupquant_cuda groupquant_cuda_launcher_test \
	  groupquant_cuda_launch_shape_test
	cmake --build $(CUDA_BUILD) --target groupquant_cuda_check_device_code
	$(CUDA_BUILD)/groupquant_cuda_launcher_test --gtest_brief=1
	$(CUDA_BUILD)/groupquant_cuda_launch_shape_test --gtest_brief=1
	env -u CUDA_HOME -u CUDA_PATH $(PY) -m pytest -q tests/cuda/test_setup_py.py
	$(PY) tests/cuda/check_extension_build.py --nvcc "$(NVCC)"

# ---- aarch64 (no Arm machine needed): `make test-aarch64` cross-compiles the core and the
# C++ suite with Debian's g++-aarch64-linux-gnu (cmake/toolchain-aarch64.cmake), against a
# GoogleTest built here for aarch64 from Debian's sources (/usr/src/googletest), checks that
# the library has no fused multiply-add, and runs under qemu-aarch64: the ISA selection
# tests on the default path, the whole suite once per ISA an aarch64 CPU offers (scalar,
# neon) forced with GROUPQUANT_CPU_ISA (ctest's groupquant_tests_isa_*; the x86 ones are
# left out: they would only skip, slowly), then the CMake package consumers. The
# large-index tests (2^31+ elements) are skipped: far too slow emulated.
.PHONY: deps-aarch64 test-aarch64
AARCH64_BUILD ?= build-aarch64
AARCH64_PACKAGES := g++-aarch64-linux-gnu qemu-user googletest
AARCH64_CMAKE := -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/toolchain-aarch64.cmake -DCMAKE_BUILD_TYPE=Release
AARCH64_GTEST := $(CURDIR)/$(AARCH64_BUILD)/googletest-install
AARCH64_INSTALL := $(CURDIR)/$(AARCH64_BUILD)/install
QEMU_AARCH64 := qemu-aarch64 -L /usr/aarch64-linux-gnu

deps-aarch64: deps
	@missing="$$(for p in $(AARCH64_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test-aarch64: deps-aarch64
	@mkdir -p $(AARCH64_BUILD) && date +%s > $(AARCH64_BUILD)/.started
	cmake -S /usr/src/googletest -B $(AARCH64_BUILD)/googletest $(AARCH64_CMAKE) -DBUILD_GMOCK=OFF >/dev/null
	cmake --build $(AARCH64_BUILD)/googletest -j $(JOBS) >/dev/null
	cmake --install $(AARCH64_BUILD)/googletest --prefix $(AARCH64_GTEST) >/dev/null
	cmake -S . -B $(AARCH64_BUILD)/core $(AARCH64_CMAKE) -DGROUPQUANT_BUILD_TESTS=ON \
	  -DGQ_AARCH64_PREFIX_PATH=$(AARCH64_GTEST) >/dev/null
	cmake --build $(AARCH64_BUILD)/core -j $(JOBS) --target groupquant groupquant_tests
	@if aarch64-linux-gnu-objdump -d $(AARCH64_BUILD)/core/libgroupquant.a \
	     | grep -Eq '\s(fmla|fmls|fmadd|fmsub|fnmadd|fnmsub)\s'; then \
	  echo "libgroupquant.a (aarch64) contains a fused multiply-add" >&2; exit 1; \
	fi; echo "libgroupquant.a (aarch64): no fused multiply-add"
	@echo "== under $(QEMU_AARCH64): large-index tests skipped (GROUPQUANT_SKIP_LARGE_TESTS=1, too slow emulated)"
	$(QEMU_AARCH64) $(AARCH64_BUILD)/core/groupquant_tests --gtest_brief=1 --gtest_filter='CpuIsaSelection.*'
	GROUPQUANT_SKIP_LARGE_TESTS=1 ctest --test-dir $(AARCH64_BUILD)/core --output-on-failure -j $(JOBS) \
	  -R '^groupquant_tests_isa_(scalar|neon)$$'
	cmake --install $(AARCH64_BUILD)/core --prefix $(AARCH64_INSTALL) >/dev/null
	cmake -S tests/cmake_consumer -B $(AARCH64_BUILD)/consumer $(AARCH64_CMAKE) \
	  -DGQ_AARCH64_PREFIX_PATH=$(AARCH64_INSTALL) >/dev/null
	cmake --build $(AARCH64_BUILD)/consumer -j $(JOBS)
	$(QEMU_AARCH64) $(AARCH64_BUILD)/consumer/consumer_c
	$(QEMU_AARCH64) $(AARCH64_BUILD)/consumer/consumer_cpp
	@echo "test-aarch64: passed in $$(( $$(date +%s) - $$(cat $(AARCH64_BUILD)/.started) )) s"

# ---- The first GPU run: `make gpu-check` on a machine with an NVIDIA GPU, nvcc and a CUDA
# build of torch (any recent version) already installed in $(PYTHON): no venv, no download.
# Installs the package into that Python (pip --no-build-isolation --no-deps, _C_cuda
# required), runs tests/python/test_cuda.py with GROUPQUANT_REQUIRE_CUDA=1 and -rs, then
# bench/bench_cuda.py --quick; prints one summary and writes everything to $(GPU_CHECK_OUT)/
# (tests/cuda/gpu_check.py; under 8 minutes). GPU_CHECK_ARGS=--dry-run: preflight only;
# WHEELHOUSE=dir: pytest/numpy wheels for a Python that lacks them.
GPU_CHECK_OUT ?= gpu-check-results
.PHONY: gpu-check
gpu-check:
	$(PYTHON) tests/cuda/gpu_check.py --python "$$(command -v $(PYTHON))" --out "$(GPU_CHECK_OUT)" \
	  $(if $(WHEELHOUSE),--wheelhouse "$(WHEELHOUSE)") $(GPU_CHECK_ARGS)

# ---- Sanitizers and fuzzing ----------------------------------------------------------------
# `make sanitize`: the C++ suite built with g++ -fsanitize=address,undefined and run once as
# is (default ISA, large-index tests included), then once per CPU path this machine has;
# then the threaded tests under ThreadSanitizer.
SAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

sanitize: deps
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGROUPQUANT_BUILD_TESTS=ON \
	  -DGROUPQUANT_SANITIZE=address,undefined
	cmake --build $(SAN_BUILD) -j $(JOBS) --target groupquant_tests
	$(SAN_ENV) $(SAN_BUILD)/groupquant_tests --gtest_brief=1
	@for isa in scalar avx2 avx512 neon; do \
	  echo "== sanitize: GROUPQUANT_CPU_ISA=$$isa"; \
	  if out="$$(GROUPQUANT_CPU_ISA=$$isa $(SAN_ENV) $(SAN_BUILD)/groupquant_tests --gtest_brief=1 2>&1)"; then \
	    tail -n 2 <<<"$$out"; \
	  elif grep -q "GROUPQUANT_CPU_ISA=$$isa is not supported by this CPU" <<<"$$out"; then \
	    echo "skipped: this CPU lacks $$isa"; \
	  else \
	    echo "$$out"; exit 1; \
	  fi; \
	done
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGROUPQUANT_BUILD_TESTS=ON \
	  -DGROUPQUANT_SANITIZE=thread
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target groupquant_tests
	TSAN_OPTIONS=halt_on_error=1 $(TSAN_BUILD)/groupquant_tests --gtest_brief=1 \
	  --gtest_filter='Concurrency*:*CpuDriver*:HostileInputs.HostileThreadCounts'

# `make fuzz`: the libFuzzer targets (clang, ASan+UBSan) fuzz/group_quant_fuzz.cc, from
# the seeds in fuzz/corpus, and fuzz/dynamic_quant_fuzz.cc, from fuzz/corpus-dynamic, one
# after the other, FUZZ_SECONDS in all (split evenly between FUZZ_TARGETS). New inputs go
# to fuzz/corpus-run and fuzz/corpus-dynamic-run (ignored by git, kept between runs),
# never into the committed corpora; a failing input is written to
# $(FUZZ_BUILD)/<target>-crash-*, and `$(FUZZ_BUILD)/<target> <file>` replays it.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?= group_quant_fuzz dynamic_quant_fuzz
FUZZ_CORPUS_group_quant_fuzz := fuzz/corpus
FUZZ_CORPUS_dynamic_quant_fuzz := fuzz/corpus-dynamic

fuzz: deps-clang
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DGROUPQUANT_BUILD_TESTS=OFF -DGROUPQUANT_BUILD_FUZZERS=ON -DGROUPQUANT_SANITIZE=address,undefined
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZ_TARGETS)
	@seconds=$$(( $(FUZZ_SECONDS) / $(words $(FUZZ_TARGETS)) )); \
	for t in $(FUZZ_TARGETS); do \
	  case $$t in group_quant_fuzz) seeds=$(FUZZ_CORPUS_group_quant_fuzz);; \
	    *) seeds=$(FUZZ_CORPUS_dynamic_quant_fuzz);; esac; \
	  mkdir -p $$seeds-run && cp -n $$seeds/* $$seeds-run/; \
	  echo "== fuzz: $$t for $$seconds s from $$seeds"; \
	  $(FUZZ_BUILD)/$$t -max_total_time=$$seconds -max_len=2048 -timeout=20 \
	    -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/$$t- $$seeds-run \
	    || exit 1; \
	done

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
# torch operators against a copy, torch eager and torch.compile (bench/bench_op.py for
# npu_group_quant, bench/bench_dynamic_quant.py for npu_dynamic_quant). Results
# land in bench/results/. Quiet machine wanted: other load skews every number.
BENCH_BUILD ?= build-bench
BENCH_MIN_TIME ?= 0.2

# libtcmalloc-minimal4: the "tcmalloc" rows of both torch-level benches preload it (LD_PRELOAD).
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
	$(PY) bench/bench_dynamic_quant.py

# ---- Style: clang-format (.clang-format) for C++/CUDA, ruff (pyproject.toml) for Python.
CXX_SOURCES = $(shell git ls-files '*.cc' '*.h' '*.hpp' '*.cpp' '*.cu' '*.cuh')
PY_STYLE_PATHS := python tests/python tests/cuda tests/junit_summary.py bench examples fuzz

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
	  $(AARCH64_BUILD) \
	  fuzz/corpus-run fuzz/corpus-dynamic-run python/*.egg-info
