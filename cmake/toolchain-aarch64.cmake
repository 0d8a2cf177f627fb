# Cross-compiles for aarch64 Linux with Debian's g++-aarch64-linux-gnu, and runs what it
# builds (tests, test discovery) under qemu-aarch64 from qemu-user. Used by
# `make test-aarch64`; usable directly:
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
#
# GQ_AARCH64_PREFIX_PATH: extra install prefixes of aarch64 packages built here (the
# Makefile's GoogleTest); they join the find root, so find_package() looks inside them.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(GQ_AARCH64_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${GQ_AARCH64_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${GQ_AARCH64_TRIPLE}-g++)

# Debian's cross packages install the target's libraries and headers here.
set(GQ_AARCH64_SYSROOT /usr/${GQ_AARCH64_TRIPLE})
set(CMAKE_FIND_ROOT_PATH ${GQ_AARCH64_SYSROOT} ${GQ_AARCH64_PREFIX_PATH})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# try_compile projects see the cache variable too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES GQ_AARCH64_PREFIX_PATH)

# -L: the dynamic loader and shared libraries of the target come from the sysroot.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-${CMAKE_SYSTEM_PROCESSOR} -L ${GQ_AARCH64_SYSROOT})
