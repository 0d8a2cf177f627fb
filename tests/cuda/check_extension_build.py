"""Builds groupquant._C_cuda as pip would where torch has CUDA, on a machine whose torch has
not (CI's): setup.py's CUDA branch, CMake's CUDA build of the core, the compile and the link of
the torch binding. `make cuda` runs it.

A CPU build of torch lacks three things that only this build needs, and they are stood in for:
torch.version.cuda and cpp_extension.CUDA_HOME (set to the toolkit of --nvcc), the generated
header c10/cuda/impl/cuda_cmake_macros.h (Windows export macros only: an empty file), and
libc10_cuda.so / libtorch_cuda.so (empty libraries, so the link resolves their symbols at load
time, as it does against the real ones). The result cannot be imported; what is checked is that
it builds and links without a warning in the project's files, and that everything it leaves
for load time comes from torch, Python, the CUDA runtime or the C/C++ runtimes: no groupquant
symbol is missing from it.

    .venv/bin/python tests/cuda/check_extension_build.py --nvcc /usr/local/bin/nvcc
Exits 1 naming the problem. Builds in a temporary directory; the tree is not touched.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs setup.py in a process whose torch reports CUDA (argv: setup.py, cuda version, cuda home).
RUNNER = """
import sys, torch, torch.utils.cpp_extension as cpp_extension
setup_py, torch.version.cuda, cpp_extension.CUDA_HOME = sys.argv[1:4]
sys.argv = [setup_py, "build_ext"]
code = compile(open(setup_py).read(), setup_py, "exec")
exec(code, {"__file__": setup_py, "__name__": "__main__"})
"""

# Unversioned symbols the built module may leave for the dynamic linker (demangled):
# torch's and Python's. Versioned ones (memcpy@GLIBC_2.14, ...@GLIBCXX_3.4,
# cudaLaunchKernel@libcudart.so.13) come from the C/C++ runtimes and the CUDA runtime.
TORCH_OR_PYTHON = re.compile(r"^(c10::|at::|torch::|caffe2::|_?Py)")


def unexpected_undefined(library: str) -> tuple[int, list[str]]:
    """(undefined symbols, those that neither torch, Python nor a versioned library define)."""
    lines = subprocess.check_output(["nm", "-D", "--undefined-only", library], text=True)
    strong = [ln.split() for ln in lines.splitlines() if ln.split() and ln.split()[0] == "U"]
    unversioned = [fields[1] for fields in strong if "@" not in fields[1]]
    demangled = subprocess.run(
        ["c++filt"], input="\n".join(unversioned), capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return len(strong), sorted(n for n in demangled if n and not TORCH_OR_PYTHON.match(n))


def toolkit(nvcc: str) -> tuple[str, str]:
    """(CUDA version "13.0", toolkit root) of nvcc, which may be a wrapper script."""
    version = re.search(
        r"release (\d+\.\d+)", subprocess.check_output([nvcc, "--version"], text=True)
    )
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.cu")
        open(empty, "w").close()
        dryrun = subprocess.run([nvcc, "-dryrun", "-c", empty], capture_output=True, text=True)
    top = re.search(r"^#\$ TOP=(.*)$", dryrun.stderr + dryrun.stdout, re.M)
    if not version or not top:
        sys.exit(f"check_extension_build: cannot tell the CUDA version and root of {nvcc}")
    return version[1], os.path.normpath(top[1].strip())


def stubs(root: str) -> dict:
    """Writes the stand-ins; returns the environment that makes the build find them."""
    header = os.path.join(root, "include", "c10", "cuda", "impl", "cuda_cmake_macros.h")
    os.makedirs(os.path.dirname(header))
    with open(header, "w") as f:
        f.write("#pragma once\n")
    lib = os.path.join(root, "lib")
    os.makedirs(lib)
    source = os.path.join(root, "empty.c")
    open(source, "w").close()
    for name in ("c10_cuda", "torch_cuda"):
        subprocess.check_call(["cc", "-shared", source, "-o", os.path.join(lib, f"lib{name}.so")])
    return {
        "CPATH": os.path.join(root, "include"),
        "LIBRARY_PATH": lib,
        "GROUPQUANT_BUILD_DIR": os.path.join(root, "build"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nvcc", required=True)
    args = parser.parse_args(argv)
    version, cuda_home = toolkit(args.nvcc)
    with tempfile.TemporaryDirectory(prefix="groupquant-cuda-ext-") as tmp:
        env = dict(os.environ, **stubs(tmp))
        env.pop("GROUPQUANT_NO_CUDA", None)
        env["PATH"] = os.path.join(cuda_home, "bin") + os.pathsep + env.get("PATH", "")
        setup_py = os.path.join(ROOT, "setup.py")
        build = subprocess.run(
            [sys.executable, "-c", RUNNER, setup_py, version, cuda_home],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if build.returncode != 0:
            print(build.stdout[-6000:] + build.stderr[-6000:], file=sys.stderr)
            print("FAIL: setup.py could not build groupquant._C_cuda", file=sys.stderr)
            return 1
        # Compiler warnings in the project's own files (torch's headers are -isystem).
        warnings = [
            line
            for line in (build.stdout + build.stderr).splitlines()
            if re.match(re.escape(ROOT) + r"/\S+:\d+:(\d+:)? warning:", line)
        ]
        if warnings:
            print("FAIL: compiler warnings:\n  " + "\n  ".join(warnings), file=sys.stderr)
            return 1
        built = [
            os.path.join(d, f)
            for d, _, files in os.walk(env["GROUPQUANT_BUILD_DIR"])
            for f in files
            if f.startswith("_C_cuda") and f.endswith(".so")
        ]
        if len(built) != 1:
            print(f"FAIL: expected one _C_cuda*.so, found {built}", file=sys.stderr)
            return 1
        count, unexpected = unexpected_undefined(built[0])
        if unexpected:
            print(
                "FAIL: _C_cuda needs symbols at load time that neither torch nor Python",
                file=sys.stderr,
            )
            print("defines:\n  " + "\n  ".join(unexpected[:40]), file=sys.stderr)
            return 1
        print(
            f"groupquant._C_cuda builds and links (CUDA {version} at {cuda_home}); its "
            f"{count} load-time symbols all come from torch, Python, CUDA or the C/C++ runtimes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
