# Google Benchmark suite for the CPU core (GROUPQUANT_BUILD_BENCHMARKS=ON; `make bench`).
# Debian's libbenchmark-dev provides benchmark::benchmark. Not part of `make test`.
find_package(benchmark REQUIRED)

add_executable(groupquant_cpu_bench bench/cpu_kernels_bench.cc)
target_compile_options(groupquant_cpu_bench PRIVATE -Wall -Wextra)
target_include_directories(groupquant_cpu_bench PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
# The core's objects: the benchmark calls the row kernels (groupquant::detail) directly.
target_link_libraries(groupquant_cpu_bench PRIVATE groupquant_objects benchmark::benchmark)
