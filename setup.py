"""Builds the torch extension groupquant._C.

The core is built by CMake, from the one source list in the root CMakeLists.txt (which
also carries the per-file ISA flags that cpp_extension cannot express), into a static
library that the extension links. The extension itself compiles only the binding.

    pip install --no-build-isolation .     # torch==2.13.0 must already be installed

Build trees: build/python-core/cmake (the core) and build/python-core/setuptools
($GROUPQUANT_BUILD_DIR instead of build/python-core when set).
"""

import os
import shutil
import subprocess

import torch
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension, include_paths

ROOT = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.environ.get("GROUPQUANT_BUILD_DIR") or os.path.join(ROOT, "build", "python-core")
CORE_BUILD_DIR = os.path.join(BUILD_DIR, "cmake")
CORE_LIB = os.path.join(CORE_BUILD_DIR, "libgroupquant.a")
JOBS = os.environ.get("GROUPQUANT_BUILD_JOBS", str(min(os.cpu_count() or 1, 8)))
CORE_CUDA_LIB = os.path.join(CORE_BUILD_DIR, "libgroupquant_cuda.a")


def find_nvcc():
    """nvcc for groupquant._C_cuda, or None. Only a torch built with CUDA gets the CUDA
    extension; a CPU-only torch, or no toolkit, builds exactly the CPU package.
    GROUPQUANT_NO_CUDA=1 opts out."""
    if torch.version.cuda is None or os.environ.get("GROUPQUANT_NO_CUDA") == "1":
        return None
    from torch.utils.cpp_extension import CUDA_HOME

    if CUDA_HOME is None:
        return None
    nvcc = os.path.join(CUDA_HOME, "bin", "nvcc")
    nvcc = nvcc if os.path.exists(nvcc) else shutil.which("nvcc")
    if nvcc is None:
        return None
    # torch refuses to build against a toolkit of another major version than its own.
    release = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    major = release.split("release ")[-1].split(".")[0] if "release " in release else "?"
    if major != torch.version.cuda.split(".")[0]:
        print(f"groupquant: skipping the CUDA extension: {nvcc} is CUDA {major}, "
              f"torch was built with CUDA {torch.version.cuda}")
        return None
    return nvcc


NVCC = find_nvcc()

# torch's headers as system headers (gcc drops the matching -I), so -Wextra reports
# only this project's code.
CXX_FLAGS = ["-O2", "-Wall", "-Wextra"] + [f"-isystem{p}" for p in include_paths()]
LINK_FLAGS = []
# at::parallel_for is inline in torch's headers; with the OpenMP backend it only runs in
# parallel when the extension is compiled with -fopenmp (otherwise the pragma is dropped
# and every call runs on one thread). libgomp.so.1 then resolves to the copy torch has
# already loaded, so torch.set_num_threads governs these threads too.
if torch.backends.openmp.is_available():
    CXX_FLAGS.append("-fopenmp")
    LINK_FLAGS.append("-fopenmp")


class BuildExtensionWithCore(BuildExtension):
    """Builds the static core with CMake, then the extensions that link it."""

    def run(self):
        # With CUDA, the same tree also builds groupquant_cuda (kernels + launcher +
        # core) for sm_80 and sm_90 (GROUPQUANT_CUDA_ARCHITECTURES overrides, e.g. "80;90;100").
        cuda_args = ["-DGROUPQUANT_ENABLE_CUDA=OFF"] if NVCC is None else [
            "-DGROUPQUANT_ENABLE_CUDA=ON",
            "-DCMAKE_CUDA_ARCHITECTURES=" + os.environ.get("GROUPQUANT_CUDA_ARCHITECTURES", "80;90")]
        targets = ["groupquant"] + ([] if NVCC is None else ["groupquant_cuda"])
        subprocess.check_call(
            ["cmake", "-S", ROOT, "-B", CORE_BUILD_DIR, "-DCMAKE_BUILD_TYPE=Release",
             "-DGROUPQUANT_BUILD_TESTS=OFF", "-DGROUPQUANT_BUILD_BENCHMARKS=OFF"] + cuda_args,
            env=dict(os.environ, CUDACXX=NVCC) if NVCC else None)
        subprocess.check_call(
            ["cmake", "--build", CORE_BUILD_DIR, "--target", *targets, "-j", JOBS])
        super().run()


def extension(name, sources):
    # The binding includes only the public headers (include/) and its own
    # python/groupquant/csrc headers (rooted at the repository); the core's private
    # compile definitions (GQ_HAVE_AVX2, ...) stay inside the core's objects.
    return CppExtension(
        name,
        sources,
        include_dirs=[os.path.join(ROOT, "include"), ROOT],
        extra_objects=[CORE_LIB],
        extra_compile_args={"cxx": CXX_FLAGS},
        extra_link_args=LINK_FLAGS,
    )


ext_modules = [extension("groupquant._C", ["python/groupquant/csrc/op.cpp",
                                           "python/groupquant/csrc/dynamic_quant.cpp"])]
if NVCC is not None:
    from torch.utils.cpp_extension import CUDAExtension

    # The CUDA binding alone; kernels and its own copy of the core are in CORE_CUDA_LIB.
    ext_modules.append(CUDAExtension(
        "groupquant._C_cuda",
        ["python/groupquant/csrc/op_cuda.cpp"],
        include_dirs=[os.path.join(ROOT, "include"), ROOT],
        extra_objects=[CORE_CUDA_LIB],
        extra_compile_args={"cxx": CXX_FLAGS},
        extra_link_args=LINK_FLAGS,
    ))

setup(
    package_dir={"": "python"},
    packages=["groupquant"],
    include_package_data=False,  # csrc/ is compiled, not shipped
    ext_modules=ext_modules,
    cmdclass={"build_ext": BuildExtensionWithCore},
    # Keep setuptools' own build tree out of the top-level build/ (the CMake dev tree).
    options={"build": {"build_base": os.path.relpath(os.path.join(BUILD_DIR, "setuptools"), ROOT)}},
)
