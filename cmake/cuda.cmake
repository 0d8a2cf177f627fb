# The CUDA backend (GROUPQUANT_ENABLE_CUDA=ON): library groupquant_cuda = the kernels and
# launcher of src/cuda/ plus the core (validation, gq_last_error, the CPU path). Needs
# nvcc, not a GPU. Default architectures sm_80 and sm_90 (Ampere, Hopper).
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  find_program(GQ_NVCC nvcc HINTS ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda PATH_SUFFIXES bin)
  if(GQ_NVCC)
    set(CMAKE_CUDA_COMPILER "${GQ_NVCC}")
  endif()
endif()
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  message(FATAL_ERROR "GROUPQUANT_ENABLE_CUDA=ON needs nvcc: none on PATH, in $CUDA_HOME/bin or "
                      "/usr/local/cuda/bin (set CMAKE_CUDA_COMPILER to its path)")
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
endif()
enable_language(CUDA)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
find_package(CUDAToolkit REQUIRED)

# Exactness: no contraction of a*b+c into an FMA (the kernel uses __fmul_rn/__fadd_rn,
# which nvcc never fuses; -fmad=false also covers any plain arithmetic), no flush of
# subnormals to zero, and never --use_fast_math.
set(GQ_CUDA_FLAGS -fmad=false -ftz=false -prec-div=true -prec-sqrt=true
    -Xcompiler=-Wall,-Wextra,-ffp-contract=off)

add_library(groupquant_cuda src/cuda/group_quant.cu)
add_library(groupquant::groupquant_cuda ALIAS groupquant_cuda)
target_compile_options(groupquant_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${GQ_CUDA_FLAGS}>)
target_include_directories(groupquant_cuda
  PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
  PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
# The core's objects go into this library, so it stands alone (one gq_last_error).
target_sources(groupquant_cuda PRIVATE $<TARGET_OBJECTS:groupquant_objects>)
target_link_libraries(groupquant_cuda PUBLIC CUDA::cudart Threads::Threads)

# The launcher's host side, runnable without a GPU (`make cuda` runs it).
find_package(GTest)
if(GTest_FOUND)
  add_executable(groupquant_cuda_launcher_test tests/cpp/cuda_launcher_test.cc)
  target_compile_options(groupquant_cuda_launcher_test PRIVATE -Wall -Wextra)
  target_include_directories(groupquant_cuda_launcher_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(groupquant_cuda_launcher_test PRIVATE groupquant_cuda GTest::gtest GTest::gtest_main)
endif()
