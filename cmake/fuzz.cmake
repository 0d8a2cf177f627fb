# The libFuzzer targets fuzz/group_quant_fuzz.cc and fuzz/dynamic_quant_fuzz.cc (`make fuzz`).
# Need clang; configure a separate build directory with -DCMAKE_CXX_COMPILER=clang++ -DGROUPQUANT_BUILD_FUZZERS=ON
# -DGROUPQUANT_SANITIZE=address,undefined (the root applies the sanitizers to every target).
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "GROUPQUANT_BUILD_FUZZERS needs clang (libFuzzer): "
                      "configure with -DCMAKE_CXX_COMPILER=clang++")
endif()
# Coverage feedback from the core itself (validation, driver, kernels), not only the harness.
target_compile_options(groupquant_objects PRIVATE -fsanitize=fuzzer-no-link)
add_executable(group_quant_fuzz fuzz/group_quant_fuzz.cc)
target_compile_options(group_quant_fuzz PRIVATE -fsanitize=fuzzer -Wall -Wextra)
target_link_options(group_quant_fuzz PRIVATE -fsanitize=fuzzer)
target_include_directories(group_quant_fuzz PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(group_quant_fuzz PRIVATE groupquant_objects)
add_executable(dynamic_quant_fuzz fuzz/dynamic_quant_fuzz.cc)
target_compile_options(dynamic_quant_fuzz PRIVATE -fsanitize=fuzzer -Wall -Wextra)
target_link_options(dynamic_quant_fuzz PRIVATE -fsanitize=fuzzer)
target_include_directories(dynamic_quant_fuzz PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(dynamic_quant_fuzz PRIVATE groupquant_objects)
