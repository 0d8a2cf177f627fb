# The GoogleTest suite (tests/cpp mirrors src/). Linked against the core's objects so
# tests can reach internals (groupquant::detail) as well as the public API.
find_package(GTest REQUIRED)
include(GoogleTest)

set(GQ_TEST_SRCS
  tests/cpp/spec_vectors_test.cc
  tests/cpp/validate_test.cc
  tests/cpp/reference_test.cc
  tests/cpp/c_api_test.cc
  tests/cpp/cpu_driver_test.cc
  tests/cpp/cuda_body_test.cc
  tests/cpp/dynamic_quant_cuda_body_test.cc
  tests/cpp/hostile_inputs_test.cc
  tests/cpp/large_index_test.cc
  tests/cpp/concurrency_test.cc
  tests/cpp/cpu_kernels_test.cc
  tests/cpp/dynamic_quant_test.cc
  tests/cpp/dynamic_quant_validate_test.cc
  tests/cpp/dynamic_quant_kernels_test.cc
)
add_executable(groupquant_tests ${GQ_TEST_SRCS})
target_compile_options(groupquant_tests PRIVATE -Wall -Wextra -ffp-contract=off)
target_include_directories(groupquant_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(groupquant_tests PRIVATE groupquant_objects GTest::gtest GTest::gtest_main)
gtest_discover_tests(groupquant_tests DISCOVERY_TIMEOUT 60)
# The whole suite once more per CPU path, forced through the environment variable, so
# every test (not only the per-ISA kernel tests) runs on each kernel set. A path this
# CPU lacks makes the binary report "not supported by this CPU", which counts as a skip.
foreach(isa scalar avx2 avx512 neon)
  add_test(NAME groupquant_tests_isa_${isa} COMMAND groupquant_tests --gtest_brief=1)
  set_tests_properties(groupquant_tests_isa_${isa} PROPERTIES
    ENVIRONMENT GROUPQUANT_CPU_ISA=${isa}
    SKIP_REGULAR_EXPRESSION "GROUPQUANT_CPU_ISA=${isa} is not supported by this CPU")
endforeach()
