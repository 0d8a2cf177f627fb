# The CUDA backend (GROUPQUANT_ENABLE_CUDA=ON): static library groupquant_cuda = the kernels
# and launcher of src/cuda/ only; it links the core library (groupquant: validation,
# gq_last_error, the CPU path) rather than carrying a copy of it, so a process that loads
# both (the torch package's _C and _C_cuda, with BUILD_SHARED_LIBS=ON) has one core.
# Needs nvcc, not a GPU. Default architectures sm_80 and sm_90 (Ampere, Hopper); setup.py
# passes torch's list.
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

# Static and position-independent: linked into the torch extension _C_cuda.
add_library(groupquant_cuda STATIC src/cuda/group_quant.cu src/cuda/dynamic_quant.cu)
add_library(groupquant::groupquant_cuda ALIAS groupquant_cuda)
# --threads=0: one nvcc thread per architecture (the extension's build has several).
target_compile_options(groupquant_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${GQ_CUDA_FLAGS}>
  $<$<COMPILE_LANGUAGE:CUDA>:--threads=0>)
target_include_directories(groupquant_cuda
  PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
  PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(groupquant_cuda PUBLIC groupquant CUDA::cudart)

# The launcher's host side, runnable without a GPU (`make cuda` runs these).
find_package(GTest)
if(GTest_FOUND)
  add_executable(groupquant_cuda_launcher_test tests/cpp/cuda_launcher_test.cc)
  target_compile_options(groupquant_cuda_launcher_test PRIVATE -Wall -Wextra)
  target_include_directories(groupquant_cuda_launcher_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(groupquant_cuda_launcher_test PRIVATE groupquant_cuda GTest::gtest GTest::gtest_main)
  # The launch shape (src/cuda/launch_shape.h), its grids simulated on the host.
  add_executable(groupquant_cuda_launch_shape_test tests/cuda/launch_shape_test.cc)
  target_compile_options(groupquant_cuda_launch_shape_test PRIVATE -Wall -Wextra -ffp-contract=off)
  target_include_directories(groupquant_cuda_launch_shape_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(groupquant_cuda_launch_shape_test PRIVATE groupquant GTest::gtest GTest::gtest_main)
endif()

# The kernels' PTX, one file per architecture, built with the flags above, and the check
# of what it must contain (tests/cuda/check_device_code.py: no FMA, 16-byte loads and
# stores, no spills). `make cuda` builds groupquant_cuda_check_device_code.
find_package(Python3 COMPONENTS Interpreter)
find_program(GQ_PTXAS ptxas HINTS "${CUDAToolkit_BIN_DIR}" NO_DEFAULT_PATH)
if(Python3_Interpreter_FOUND AND GQ_PTXAS)
  set(gq_ptx_checks)
  set(gq_ptx_targets)
  foreach(arch IN LISTS CMAKE_CUDA_ARCHITECTURES)
    string(REGEX REPLACE "-.*$" "" arch "${arch}")  # "90-real" -> "90"
    add_library(groupquant_cuda_ptx_${arch} OBJECT EXCLUDE_FROM_ALL src/cuda/group_quant.cu src/cuda/dynamic_quant.cu)
    set_target_properties(groupquant_cuda_ptx_${arch} PROPERTIES
      CUDA_PTX_COMPILATION ON CUDA_ARCHITECTURES ${arch}-virtual)
    target_compile_options(groupquant_cuda_ptx_${arch} PRIVATE ${GQ_CUDA_FLAGS})
    target_include_directories(groupquant_cuda_ptx_${arch}
      PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/include ${CMAKE_CURRENT_SOURCE_DIR})
    list(APPEND gq_ptx_checks "sm_${arch}=$<JOIN:$<TARGET_OBJECTS:groupquant_cuda_ptx_${arch}>,,>")
    list(APPEND gq_ptx_targets groupquant_cuda_ptx_${arch})
  endforeach()
  add_custom_target(groupquant_cuda_check_device_code
    COMMAND Python3::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/tests/cuda/check_device_code.py
            --ptxas ${GQ_PTXAS} ${gq_ptx_checks}
    COMMENT "Checking the CUDA kernels' PTX and register use"
    VERBATIM)
  add_dependencies(groupquant_cuda_check_device_code ${gq_ptx_targets})
else()
  message(WARNING "groupquant: no python3 or ptxas: target groupquant_cuda_check_device_code "
                  "(the kernels' PTX check) is not available")
endif()
