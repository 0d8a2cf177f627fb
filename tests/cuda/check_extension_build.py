"""Builds groupquant._C_cuda as pip would where torch has CUDA, on a machine whose torch has
not (CI's): setup.py's CUDA branch, CMake's CUDA build, the compile and the link of the torch
binding. `make cuda` runs it.

A CPU build of torch lacks three things that only this build needs, and they are stood in for:
torch.version.cuda (set to the release of --nvcc), the generated header
c10/cuda/impl/cuda_cmake_macros.h (Windows export macros only: an empty file), and
libc10_cuda.so / libtorch_cuda.so (empty libraries, so the link resolves their symbols at load
time, as it does against the real ones). CUDA_HOME and CUDA_PATH are unset and --nvcc's
directory leads PATH: setup.py must find the toolkit from nvcc alone (on this image a wrapper
script in /usr/local/bin). The result cannot be imported; what is checked:

- it builds and links without a warning in the project's files, and everything it leaves for
  load time comes from torch, Python, the CUDA runtime, the C/C++ runtimes or the core;
- it names every op it registers on CUDA (npu_group_quant, npu_dynamic_quant(_asymmetric))
  and defines their entry points (gq_group_quant_cuda, gq_dynamic_quant_cuda);
- one core: libgroupquant.so.0 lies next to _C and _C_cuda, both need it and find it through
  $ORIGIN (ldd resolves both to that one file), and neither defines a symbol of its own copy;
- a CUDA build that fails (an architecture nvcc rejects) still installs the CPU extension,
  says so on stderr and records it for `import groupquant`; with GROUPQUANT_REQUIRE_CUDA=1
  the same failure fails the build.

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

# Runs setup.py in a process whose torch reports CUDA (argv: setup.py, cuda version).
RUNNER = """
import sys, torch
setup_py, torch.version.cuda = sys.argv[1:3]
sys.argv = [setup_py, "build_ext"]
code = compile(open(setup_py).read(), setup_py, "exec")
exec(code, {"__file__": setup_py, "__name__": "__main__"})
"""

# Unversioned symbols the built module may leave for the dynamic linker (demangled):
# torch's and Python's. Versioned ones (memcpy@GLIBC_2.14, ...@GLIBCXX_3.4,
# cudaLaunchKernel@libcudart.so.13) come from the C/C++ runtimes and the CUDA runtime.
TORCH_OR_PYTHON = re.compile(r"^(c10::|at::|torch::|caffe2::|_?Py)")


def symbols(library: str, undefined: bool, weak: bool = False) -> set[str]:
    """Dynamic symbols of a library (mangled): its strong undefined ones, or the ones it
    defines in its text and data (weak ones too if asked: inline and template code, which
    every library that uses it may define)."""
    flag = "--undefined-only" if undefined else "--defined-only"
    lines = subprocess.check_output(["nm", "-D", flag, library], text=True).splitlines()
    kinds = {"U"} if undefined else set("TDBR" + ("WVui" if weak else ""))
    return {f[-1] for f in map(str.split, lines) if len(f) >= 2 and f[-2] in kinds}


def demangle(names) -> list[str]:
    return subprocess.run(
        ["c++filt"], input="\n".join(sorted(names)), capture_output=True, text=True, check=True
    ).stdout.splitlines()


def torch_defined() -> set[str]:
    """What torch's CPU libraries export: also libstdc++ code that they carry and that an
    extension's references bind to (std::__exception_ptr::exception_ptr::_M_addref)."""
    import torch

    lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    names = set()
    for name in ("libc10.so", "libtorch_cpu.so", "libtorch.so", "libtorch_python.so"):
        if os.path.exists(os.path.join(lib, name)):
            names |= symbols(os.path.join(lib, name), undefined=False, weak=True)
    return names


def unexpected_undefined(library: str, provided: set[str]) -> tuple[int, list[str]]:
    """(undefined symbols, those that neither torch, Python, the core nor a versioned
    library define; demangled)."""
    undefined = symbols(library, undefined=True)
    unversioned = {n for n in undefined if "@" not in n} - provided
    return len(undefined), sorted(n for n in demangle(unversioned) if not TORCH_OR_PYTHON.match(n))


def toolkit(nvcc: str) -> str:
    """The CUDA release ("13.0") of nvcc, which may be a wrapper script."""
    version = re.search(
        r"release (\d+\.\d+)", subprocess.check_output([nvcc, "--version"], text=True)
    )
    if not version:
        sys.exit(f"check_extension_build: cannot tell the CUDA release of {nvcc}")
    return version[1]


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


def run_setup(version: str, env: dict) -> subprocess.CompletedProcess:
    setup_py = os.path.join(ROOT, "setup.py")
    return subprocess.run(
        [sys.executable, "-c", RUNNER, setup_py, version],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def built(build_dir: str) -> dict:
    """The package directory setuptools built into, and the files there."""
    for d, _, files in os.walk(build_dir):
        if any(f.startswith("_C.") and f.endswith(".so") for f in files):
            return {"dir": d, "files": files}
    return {"dir": None, "files": []}


def build_record(package_dir: str) -> tuple:
    scope: dict = {}
    with open(os.path.join(package_dir, "_build_info.py")) as f:
        exec(f.read(), scope)
    return scope["CUDA_BUILD"]


def check_one_core(package_dir: str, files: list[str]) -> list[str]:
    """_C and _C_cuda both load the libgroupquant.so.0 beside them, and carry no copy."""
    problems = []
    core = os.path.join(package_dir, "libgroupquant.so.0")
    if not os.path.isfile(core):
        return [f"no libgroupquant.so.0 next to the extensions in {package_dir}: {files}"]
    core_defined = symbols(core, undefined=False)
    if "gq_last_error" not in core_defined or "gq_set_cpu_isa" not in core_defined:
        problems.append("libgroupquant.so.0 does not define gq_last_error / gq_set_cpu_isa")
    for ext in ("_C", "_C_cuda"):
        name = next((f for f in files if f.startswith(ext + ".") and f.endswith(".so")), None)
        if name is None:
            problems.append(f"no {ext}*.so in {package_dir}")
            continue
        path = os.path.join(package_dir, name)
        dynamic = subprocess.check_output(["readelf", "-d", path], text=True)
        if "Shared library: [libgroupquant.so.0]" not in dynamic:
            problems.append(f"{name} does not need libgroupquant.so.0")
        if not re.search(r"\((RUNPATH|RPATH)\)\s+Library r(un)?path: \[\$ORIGIN\]", dynamic):
            problems.append(f"{name}: run path is not exactly $ORIGIN")
        ldd = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        m = re.search(r"libgroupquant\.so\.0 => (\S+)", ldd)
        if not m or os.path.realpath(m[1]) != os.path.realpath(core):
            problems.append(f"{name}: ldd resolves libgroupquant.so.0 to {m and m[1]}, not {core}")
        copies = demangle(core_defined & symbols(path, undefined=False))
        if copies:
            problems.append(f"{name} defines core symbols itself: {copies[:10]}")
        provided = symbols(core, undefined=False, weak=True) | torch_defined()
        count, unexpected = unexpected_undefined(path, provided)
        if unexpected:
            problems.append(
                f"{name} needs symbols at load time that neither torch, Python nor the core "
                "defines:\n  " + "\n  ".join(unexpected[:40])
            )
    return problems


# What _C_cuda must register (the names in TORCH_LIBRARY_IMPL) and the entry points it must
# carry from groupquant_cuda (linked in statically).
CUDA_OPS = ("npu_group_quant", "npu_dynamic_quant", "npu_dynamic_quant_asymmetric")
CUDA_ENTRY_POINTS = ("gq_group_quant_cuda", "gq_dynamic_quant_cuda")


def check_cuda_ops(package_dir: str, files: list[str]) -> list[str]:
    """_C_cuda names every op it registers and defines each CUDA entry point."""
    name = next((f for f in files if f.startswith("_C_cuda.") and f.endswith(".so")), None)
    if name is None:
        return []  # check_one_core reports it
    path = os.path.join(package_dir, name)
    with open(path, "rb") as f:
        data = f.read()
    problems = [
        f"{name} does not name the op {op} (no CUDA registration)"
        for op in CUDA_OPS
        if op.encode() + b"\0" not in data  # (the linker may share it with a longer string)
    ]
    defined = symbols(path, undefined=False) | {
        f[-1]
        for f in map(str.split, subprocess.check_output(["nm", path], text=True).splitlines())
        if len(f) >= 2 and f[-2] in "Tt"
    }
    problems += [f"{name} does not define {e}" for e in CUDA_ENTRY_POINTS if e not in defined]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nvcc", required=True)
    args = parser.parse_args(argv)
    version = toolkit(args.nvcc)
    with tempfile.TemporaryDirectory(prefix="groupquant-cuda-ext-") as tmp:
        env = dict(os.environ, **stubs(tmp))
        for var in ("GROUPQUANT_NO_CUDA", "GROUPQUANT_REQUIRE_CUDA", "CUDA_HOME", "CUDA_PATH"):
            env.pop(var, None)
        env.pop("GROUPQUANT_CUDA_ARCHITECTURES", None)
        env["PATH"] = os.path.dirname(os.path.abspath(args.nvcc)) + os.pathsep + env["PATH"]
        build = run_setup(version, env)
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
        out = built(env["GROUPQUANT_BUILD_DIR"])
        problems = check_one_core(out["dir"], out["files"]) if out["dir"] else ["no _C built"]
        if out["dir"]:
            problems += check_cuda_ops(out["dir"], out["files"])
        if out["dir"] and build_record(out["dir"]) != ("built", ""):
            problems.append(f"_build_info.py records {build_record(out['dir'])}, not built")
        if problems:
            print(build.stderr[-3000:], file=sys.stderr)
            for p in problems:
                print("FAIL:", p, file=sys.stderr)
            return 1
        print(
            f"groupquant._C_cuda builds and links (CUDA {version}, found from {args.nvcc} "
            "with CUDA_HOME unset); _C and _C_cuda share the libgroupquant.so.0 beside them "
            "($ORIGIN), neither has a copy of the core, and their load-time symbols all come "
            "from torch, Python, CUDA, the C/C++ runtimes or that core; it registers "
            f"{', '.join(CUDA_OPS)}"
        )

        # A CUDA build that fails, in a fresh tree (CMake cannot configure CUDA for sm_12):
        # the CPU extension is still built, the failure is shouted and recorded.
        failing = dict(
            env,
            GROUPQUANT_CUDA_ARCHITECTURES="12",
            GROUPQUANT_BUILD_DIR=os.path.join(tmp, "build-failing"),
        )
        build = run_setup(version, failing)
        out = built(failing["GROUPQUANT_BUILD_DIR"])
        record = build_record(out["dir"]) if out["dir"] else None
        if (
            build.returncode != 0
            or any(f.startswith("_C_cuda") for f in out["files"])
            or "libgroupquant.so.0" not in out["files"]
            or "the CUDA extension groupquant._C_cuda was NOT built" not in build.stderr
            or not record
            or record[0] != "failed"
        ):
            print(build.stdout[-3000:] + build.stderr[-6000:], file=sys.stderr)
            print(
                f"FAIL: a failing CUDA build must leave the CPU extension built (rc "
                f"{build.returncode}, files {out['files']}, record {record})",
                file=sys.stderr,
            )
            return 1
        # ... and with GROUPQUANT_REQUIRE_CUDA=1 it fails the build (here in the first tree,
        # where the failure comes from nvcc rather than CMake's configure).
        build = run_setup(
            version, dict(env, GROUPQUANT_CUDA_ARCHITECTURES="12", GROUPQUANT_REQUIRE_CUDA="1")
        )
        if build.returncode == 0 or "GROUPQUANT_REQUIRE_CUDA=1" not in build.stderr:
            print(build.stderr[-4000:], file=sys.stderr)
            print(
                "FAIL: GROUPQUANT_REQUIRE_CUDA=1 did not fail a failing CUDA build", file=sys.stderr
            )
            return 1
        print(
            "a failing CUDA build (sm_12) still builds _C, warns on stderr and records "
            f"{record[0]!r} for import; GROUPQUANT_REQUIRE_CUDA=1 turns it into an error"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
