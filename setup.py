"""Builds the torch extensions groupquant._C (CPU) and, where it can, groupquant._C_cuda.

The core is built by CMake, from the one source list in the root CMakeLists.txt (which
also carries the per-file ISA flags that cpp_extension cannot express), as a shared
library that ships inside the package next to the extensions (libgroupquant.so.0). Both
extensions link it through an $ORIGIN run path, so a process holds one copy of the core
(one CPU ISA setting, one gq_last_error slot) whichever extensions it loads. The
extensions themselves compile only their bindings; _C_cuda also links groupquant_cuda
(the kernels and their launcher, cmake/cuda.cmake).

    pip install --no-build-isolation .     # into an environment that already has torch

_C_cuda is built when torch has CUDA and an nvcc is found; a failure to build it never
fails the CPU build. setup.py then prints a banner to stderr and records why in
groupquant/_build_info.py, which `import groupquant` turns into a warning (pip -q hides
the build's output, not that). Environment:
  GROUPQUANT_NO_CUDA=1       build the CPU extension only, silently
  GROUPQUANT_REQUIRE_CUDA=1  fail the install unless _C_cuda is built
  GROUPQUANT_CUDA_ARCHITECTURES  CMake's list ("80-real;90"), overriding the default:
                             TORCH_CUDA_ARCH_LIST, else torch's own list, PTX for the newest
  CUDA_HOME / CUDA_PATH      where to look for nvcc first (then PATH, /usr/local/cuda);
                             the toolkit root is what nvcc itself reports
  GROUPQUANT_BUILD_DIR       build trees (default build/python-core): cmake/ and setuptools/
  GROUPQUANT_BUILD_JOBS      parallel compile jobs
"""

# First: pip's default build isolation builds in a fresh environment without torch.
import importlib.util
import sys

if importlib.util.find_spec("torch") is None:
    sys.exit(
        "groupquant: cannot import torch in the build environment "
        f"({sys.executable}).\n"
        "The extension is compiled against the torch that will import it, so the build must "
        "see the installed torch (torch==2.13.0): pip's build isolation hides it. Install "
        "with\n\n    pip install --no-build-isolation .\n\n"
        "in an environment that has torch (see README.md, 'Using it')."
    )

import os
import re
import shutil
import subprocess
import sys
import tempfile

import torch
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension, include_paths

ROOT = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.environ.get("GROUPQUANT_BUILD_DIR") or os.path.join(ROOT, "build", "python-core")
CORE_BUILD_DIR = os.path.join(BUILD_DIR, "cmake")
CORE_CUDA_LIB = os.path.join(CORE_BUILD_DIR, "libgroupquant_cuda.a")
JOBS = os.environ.get("GROUPQUANT_BUILD_JOBS", str(min(os.cpu_count() or 1, 8)))
CUDA_EXT = "groupquant._C_cuda"
DEFAULT_CUDA_ARCHS = ["80", "90"]  # when neither TORCH_CUDA_ARCH_LIST nor torch has a list


class CudaUnavailable(Exception):
    """Why _C_cuda cannot be built here (the message is shown to the user)."""


# ---- The CUDA toolkit ------------------------------------------------------------------


def find_nvcc(env=None):
    """The nvcc to build with: $CUDA_HOME/bin, $CUDA_PATH/bin, PATH, /usr/local/cuda/bin."""
    env = os.environ if env is None else env
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(var) and os.path.isfile(os.path.join(env[var], "bin", "nvcc")):
            return os.path.join(env[var], "bin", "nvcc")
    found = shutil.which("nvcc", path=env.get("PATH", os.defpath))
    if found:
        return found
    fallback = "/usr/local/cuda/bin/nvcc"
    return fallback if os.path.isfile(fallback) else None


class Toolkit:
    """A CUDA toolkit, as its nvcc describes it: release and root (the directory nvcc's
    own driver file calls TOP). nvcc on PATH may be a wrapper script elsewhere (e.g.
    /usr/local/bin/nvcc), so the root is never derived from nvcc's path, as torch's
    CUDA_HOME is."""

    def __init__(self, nvcc):
        try:
            version = subprocess.run(
                [nvcc, "--version"], capture_output=True, text=True, timeout=60
            ).stdout
            with tempfile.TemporaryDirectory() as tmp:
                empty = os.path.join(tmp, "empty.cu")
                open(empty, "w").close()
                dry = subprocess.run(
                    [nvcc, "-dryrun", "-c", empty], capture_output=True, text=True, timeout=60
                )
        except (OSError, subprocess.SubprocessError) as e:
            raise CudaUnavailable(f"cannot run {nvcc}: {e}") from e
        release = re.search(r"release (\d+)\.(\d+)", version)
        top = re.search(r"^#\$ TOP=(.*)$", dry.stderr + dry.stdout, re.M)
        if not release or not top:
            raise CudaUnavailable(f"{nvcc} reports no CUDA release and toolkit root (TOP)")
        self.release = f"{release[1]}.{release[2]}"
        self.major = release[1]
        self.root = os.path.realpath(top[1].strip())
        self.nvcc = os.path.join(self.root, "bin", "nvcc")
        if not os.path.isfile(self.nvcc):
            self.nvcc = nvcc
        self.include = os.path.join(self.root, "include")
        header = os.path.join(self.include, "cuda_runtime_api.h")
        if not os.path.isfile(header):
            raise CudaUnavailable(
                f"the CUDA toolkit root that {nvcc} reports, {self.root}, has no {header}"
            )
        libs = [os.path.join(self.root, d) for d in ("lib64", "lib")]
        self.lib = next((d for d in libs if os.path.isdir(d)), libs[0])
        listed = subprocess.run(
            [nvcc, "--list-gpu-arch"], capture_output=True, text=True, timeout=60
        ).stdout
        self.archs = sorted({int(a) for a in re.findall(r"compute_(\d+)", listed)})


def _arch_number(text):
    """'8.0' / 'sm_90a' / '90' / 'compute_120' -> '80' / '90a' / '90' / '120' (or None)."""
    m = re.fullmatch(r"(?:sm_|compute_)?(\d+)(?:\.(\d))?([a-z]?)", text.strip())
    if not m:
        return None
    return (m[1] + m[2] if m[2] is not None else m[1]) + m[3]


def cuda_architectures(toolkit, env=None, torch_archs=None):
    """CMAKE_CUDA_ARCHITECTURES for groupquant_cuda, and where it came from.

    GROUPQUANT_CUDA_ARCHITECTURES is used as given. Otherwise the architectures of
    TORCH_CUDA_ARCH_LIST ("8.0;9.0+PTX", "8.0 8.6"), else of the installed torch (its
    own build list, e.g. sm_75 ... sm_120), else sm_80 and sm_90; kept where this nvcc
    can compile them; each as real code, the newest also as PTX (forward compatible)."""
    env = os.environ if env is None else env
    if env.get("GROUPQUANT_CUDA_ARCHITECTURES"):
        return env["GROUPQUANT_CUDA_ARCHITECTURES"], "GROUPQUANT_CUDA_ARCHITECTURES"
    if env.get("TORCH_CUDA_ARCH_LIST"):
        source = "TORCH_CUDA_ARCH_LIST"
        wanted = re.split(r"[;\s,]+", env["TORCH_CUDA_ARCH_LIST"].replace("+PTX", ""))
    else:
        source = "torch.cuda.get_arch_list()"
        wanted = list(torch_arch_list() if torch_archs is None else torch_archs)
    archs = {a for a in map(_arch_number, wanted) if a}
    if toolkit.archs:
        archs = {a for a in archs if int(re.match(r"\d+", a)[0]) in toolkit.archs}
    if not archs:
        archs, source = set(DEFAULT_CUDA_ARCHS), "default (sm_80, sm_90)"
    ordered = sorted(archs, key=lambda a: (int(re.match(r"\d+", a)[0]), a))
    return ";".join([a + "-real" for a in ordered[:-1]] + [ordered[-1]]), source


def torch_arch_list():
    """The architectures torch was compiled for (needs no GPU on recent torch)."""
    archs = torch.cuda.get_arch_list()
    if not archs and hasattr(torch._C, "_cuda_getArchFlags"):
        archs = (torch._C._cuda_getArchFlags() or "").split()
    return archs


def cuda_plan(env=None):
    """(toolkit, architectures) to build _C_cuda with; raises CudaUnavailable."""
    env = os.environ if env is None else env
    if torch.version.cuda is None:
        raise CudaUnavailable(f"torch {torch.__version__} is built without CUDA")
    nvcc = find_nvcc(env)
    if nvcc is None:
        raise CudaUnavailable(
            "no nvcc: none in $CUDA_HOME/bin, $CUDA_PATH/bin, on PATH or in /usr/local/cuda/bin"
        )
    toolkit = Toolkit(nvcc)
    # torch refuses extensions built with another CUDA major version than its own.
    if toolkit.major != torch.version.cuda.split(".")[0]:
        raise CudaUnavailable(
            f"{nvcc} is CUDA {toolkit.release}, torch {torch.__version__} was built with "
            f"CUDA {torch.version.cuda}: the major versions must match"
        )
    return toolkit, cuda_architectures(toolkit, env)


# ---- The build -------------------------------------------------------------------------

# torch's headers as system headers (gcc drops the matching -I), so -Wextra reports
# only this project's code.
CXX_FLAGS = ["-O2", "-Wall", "-Wextra"] + [f"-isystem{p}" for p in include_paths()]
# The core ships next to the extensions: found through the extension's own directory.
LINK_FLAGS = ["-Wl,-rpath,$ORIGIN"]
# at::parallel_for is inline in torch's headers; with the OpenMP backend it only runs in
# parallel when the extension is compiled with -fopenmp (otherwise the pragma is dropped
# and every call runs on one thread). libgomp.so.1 then resolves to the copy torch has
# already loaded, so torch.set_num_threads governs these threads too.
if torch.backends.openmp.is_available():
    CXX_FLAGS.append("-fopenmp")
    LINK_FLAGS.append("-fopenmp")


def shout(lines):
    """A warning that stands out in a build log (stderr; pip shows it with -v)."""
    bar = "=" * 78
    print("\n".join([bar, *("groupquant: " + ln for ln in lines), bar]), file=sys.stderr)


class BuildExtensionWithCore(BuildExtension):
    """Builds the core with CMake, then _C (fatal on failure), then _C_cuda (optional:
    any failure is reported and recorded, and the CPU package is still installed)."""

    cuda = None  # (toolkit, (architectures, source)) when _C_cuda is to be built
    cuda_status = ("disabled", "GROUPQUANT_NO_CUDA=1")  # what _build_info.py records

    def cmake_configure(self, extra, env=None):
        subprocess.check_call(
            [
                "cmake",
                "-S",
                ROOT,
                "-B",
                CORE_BUILD_DIR,
                "-DCMAKE_BUILD_TYPE=Release",
                "-DBUILD_SHARED_LIBS=ON",
                "-DGROUPQUANT_BUILD_TESTS=OFF",
                "-DGROUPQUANT_BUILD_BENCHMARKS=OFF",
            ]
            + extra,
            env=env,
        )

    def cuda_failed(self, reason):
        if os.environ.get("GROUPQUANT_REQUIRE_CUDA") == "1":
            raise RuntimeError(f"groupquant: GROUPQUANT_REQUIRE_CUDA=1 and {CUDA_EXT}: {reason}")
        self.cuda_status = ("failed", reason)
        shout(
            [
                f"WARNING: the CUDA extension {CUDA_EXT} was NOT built:",
                f"  {reason}",
                "The CPU operator is installed; `import groupquant` will warn about this.",
                "GROUPQUANT_REQUIRE_CUDA=1 makes this an error, GROUPQUANT_NO_CUDA=1 silences it.",
            ]
        )
        self.extensions = [e for e in self.extensions if e.name != CUDA_EXT]

    def run(self):
        os.makedirs(CORE_BUILD_DIR, exist_ok=True)
        configured = False
        if self.cuda is not None:
            toolkit, (archs, _) = self.cuda
            try:
                self.cmake_configure(
                    [
                        "-DGROUPQUANT_ENABLE_CUDA=ON",
                        f"-DCMAKE_CUDA_ARCHITECTURES={archs}",
                        f"-DCMAKE_CUDA_COMPILER={toolkit.nvcc}",
                        f"-DCUDAToolkit_ROOT={toolkit.root}",
                    ],
                    env=dict(os.environ, CUDACXX=toolkit.nvcc),
                )
                configured = True
            except subprocess.CalledProcessError as e:
                self.cuda_failed(f"CMake could not configure the CUDA build ({e})")
                # Start the tree afresh: a failed enable_language(CUDA) stays in its cache.
                shutil.rmtree(CORE_BUILD_DIR)
        if not configured:
            self.cmake_configure(["-DGROUPQUANT_ENABLE_CUDA=OFF"])
        subprocess.check_call(
            ["cmake", "--build", CORE_BUILD_DIR, "--target", "groupquant", "-j", JOBS]
        )
        super().run()
        # Read by `import groupquant` (python/groupquant/__init__.py).
        info = os.path.join(
            os.path.dirname(self.get_ext_fullpath("groupquant._C")), "_build_info.py"
        )
        with open(info, "w") as f:
            f.write(f"# Written by setup.py.\nCUDA_BUILD = {self.cuda_status!r}\n")

    def build_extension(self, ext):
        if ext.name != CUDA_EXT:
            super().build_extension(ext)
            # The shared core, under its SONAME, next to the extension that needs it.
            core = os.path.join(CORE_BUILD_DIR, "libgroupquant.so")
            dest = os.path.join(os.path.dirname(self.get_ext_fullpath(ext.name)), soname(core))
            shutil.copy2(os.path.realpath(core), dest)
            return
        try:
            subprocess.check_call(
                ["cmake", "--build", CORE_BUILD_DIR, "--target", "groupquant_cuda", "-j", JOBS]
            )
            super().build_extension(ext)
            self.cuda_status = ("built", "")
        except Exception as e:  # any failure here must spare the CPU build
            self.cuda_failed(f"building it failed: {type(e).__name__}: {e}")


def soname(library):
    """The SONAME of a shared library (what the extensions' DT_NEEDED names)."""
    out = subprocess.run(["readelf", "-d", library], capture_output=True, text=True).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[(.+?)\]", out)
    return m[1] if m else os.path.basename(os.path.realpath(library))


def extension(name, sources, include_dirs=(), library_dirs=(), libraries=(), **kwargs):
    # The binding includes only the public headers (include/) and its own
    # python/groupquant/csrc headers (rooted at the repository); the core's private
    # compile definitions (GQ_HAVE_AVX2, ...) stay inside the core.
    return CppExtension(
        name,
        sources,
        include_dirs=[os.path.join(ROOT, "include"), ROOT, *include_dirs],
        library_dirs=[CORE_BUILD_DIR, *library_dirs],
        libraries=["groupquant", *libraries],
        extra_compile_args={"cxx": CXX_FLAGS},
        extra_link_args=LINK_FLAGS,
        **kwargs,
    )


def main():
    ext_modules = [
        extension(
            "groupquant._C",
            [
                "python/groupquant/csrc/op.cpp",
                "python/groupquant/csrc/dynamic_quant.cpp",
                "python/groupquant/csrc/empty_output.cpp",
            ],
        )
    ]
    if os.environ.get("GROUPQUANT_NO_CUDA") == "1":
        BuildExtensionWithCore.cuda_status = ("disabled", "GROUPQUANT_NO_CUDA=1")
    else:
        try:
            toolkit, archs = cuda_plan()
        except CudaUnavailable as e:
            if os.environ.get("GROUPQUANT_REQUIRE_CUDA") == "1":
                sys.exit(
                    f"groupquant: GROUPQUANT_REQUIRE_CUDA=1 but {CUDA_EXT} cannot be built: {e}"
                )
            cpu_torch = torch.version.cuda is None
            BuildExtensionWithCore.cuda_status = ("skipped" if cpu_torch else "failed", str(e))
            if not cpu_torch:
                shout([f"WARNING: the CUDA extension {CUDA_EXT} is NOT built:", f"  {e}"])
        else:
            print(
                f"groupquant: building {CUDA_EXT} with {toolkit.nvcc} (CUDA {toolkit.release}, "
                f"root {toolkit.root}) for {archs[0]} (from {archs[1]})",
                file=sys.stderr,
            )
            BuildExtensionWithCore.cuda = (toolkit, archs)
            BuildExtensionWithCore.cuda_status = ("failed", "the build did not reach it")
            # The CUDA binding; the kernels and launcher are in CORE_CUDA_LIB, the core in
            # libgroupquant (shared with _C). The toolkit's paths are the ones nvcc
            # reported, never torch's CUDA_HOME guess.
            ext_modules.append(
                extension(
                    CUDA_EXT,
                    [
                        "python/groupquant/csrc/op_cuda.cpp",
                        "python/groupquant/csrc/dynamic_quant_cuda.cpp",
                    ],
                    include_dirs=[toolkit.include],
                    library_dirs=[toolkit.lib],
                    libraries=["cudart", "c10_cuda", "torch_cuda"],
                    extra_objects=[CORE_CUDA_LIB],
                )
            )
    setup(
        package_dir={"": "python"},
        packages=["groupquant"],
        include_package_data=False,  # csrc/ is compiled, not shipped
        ext_modules=ext_modules,
        cmdclass={"build_ext": BuildExtensionWithCore},
        # Keep setuptools' own build tree out of the top-level build/ (the CMake dev tree).
        options={
            "build": {"build_base": os.path.relpath(os.path.join(BUILD_DIR, "setuptools"), ROOT)}
        },
    )


if __name__ == "__main__":  # pip (setuptools.build_meta) runs this file as __main__
    main()
