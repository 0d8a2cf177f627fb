"""`make gpu-check`: the CUDA backend's check on a real GPU, in one command.

For a machine with an NVIDIA GPU, nvcc, and a CUDA build of torch already installed in
the Python that runs this (any recent version; nothing is downloaded, no venv is made):

  1. preflight: the GPU, torch's CUDA, nvcc (found as setup.py finds it, same major
     version as torch's CUDA), cmake, a C++ compiler, pytest and numpy;
  2. install: `PYTHON -m pip install --no-build-isolation --no-deps .` into that
     environment, with GROUPQUANT_REQUIRE_CUDA=1 (a CUDA build failure fails here) and,
     unless GROUPQUANT_CUDA_ARCHITECTURES is set, for this GPU's architecture only;
  3. import: groupquant loads groupquant._C_cuda;
  4. tests: tests/python/test_cuda.py with GROUPQUANT_REQUIRE_CUDA=1 and -rs;
  5. bench: bench/bench_cuda.py --quick.

Every step's output goes to --out (install.log, test_cuda.log, test_cuda.xml,
bench_cuda.log, bench_cuda.json), then one summary is printed and written to
summary.txt. Steps share a deadline (--minutes, 7.5 by default), so the whole run stays
under 8 minutes. Exit status 0 only when install, import and tests pass; the benchmark's
numbers never fail it (its targets are reported; a run cut by the deadline is noted), its
crash does.

    python3 tests/cuda/gpu_check.py --out gpu-check-results            # make gpu-check
    python3 tests/cuda/gpu_check.py --dry-run                          # preflight only
    python3 tests/cuda/gpu_check.py --wheelhouse DIR   # pytest/numpy wheels, if missing
Standard library only: it runs under the Python being checked.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Seconds each step may take at most (the shared deadline may leave less).
LIMITS = {"install": 200, "import": 60, "tests": 240, "bench": 150}

PROBE = r"""
import json, torch
info = {"torch": torch.__version__, "cuda": torch.version.cuda,
        "available": torch.cuda.is_available(), "devices": torch.cuda.device_count()}
if info["available"]:
    info["name"] = torch.cuda.get_device_name(0)
    info["capability"] = list(torch.cuda.get_device_capability(0))
print(json.dumps(info))
"""

NVCC_PROBE = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("groupquant_setup", sys.argv[1])
setup_py = importlib.util.module_from_spec(spec)
spec.loader.exec_module(setup_py)
try:
    toolkit, archs = setup_py.cuda_plan()
except setup_py.CudaUnavailable as e:
    sys.exit(f"the CUDA extension cannot be built: {e}")
print(toolkit.nvcc, toolkit.release, toolkit.root)
"""

IMPORT_CHECK = r"""
import warnings
warnings.simplefilter("error")  # a CUDA extension that fails to load warns: make it fail
import torch, groupquant
assert groupquant._cuda_unavailable is None, groupquant._cuda_unavailable
for name in ("npu_group_quant", "npu_dynamic_quant", "npu_dynamic_quant_asymmetric"):
    assert torch._C._dispatch_has_kernel_for_dispatch_key("groupquant::" + name, "CUDA"), name
x = torch.randn(4, 64, device="cuda")
y = groupquant.npu_group_quant(x, torch.ones(2, 64, device="cuda"),
                               torch.tensor([1, 4], device="cuda"))
assert torch.equal(y.cpu(), groupquant.npu_group_quant(x.cpu(), torch.ones(2, 64),
                                                       torch.tensor([1, 4])))
xh = x.to(torch.bfloat16)
y, scale = groupquant.npu_dynamic_quant(xh)
y_cpu, scale_cpu = groupquant.npu_dynamic_quant(xh.cpu())
assert torch.equal(y.cpu(), y_cpu) and torch.equal(scale.cpu(), scale_cpu)
print("groupquant", groupquant.__version__, "from", groupquant.__file__, "with _C_cuda")
"""


class Check:
    def __init__(self, args):
        self.args = args
        self.python = args.python
        self.out = os.path.abspath(args.out)
        self.deadline = time.monotonic() + 60 * args.minutes
        self.lines = []  # the summary
        self.failed = []

    def note(self, line):
        self.lines.append(line)
        print(f"gpu-check: {line}", flush=True)

    def fail(self, step, why):
        self.failed.append(step)
        self.note(f"{step}: FAILED: {why}")

    def run(self, step, cmd, log, env=None, cwd=ROOT):
        """Runs cmd with the step's time limit, output to log; (returncode, output)."""
        limit = max(10, min(LIMITS[step], self.deadline - time.monotonic()))
        start = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=limit,
            )
            rc, output = proc.returncode, proc.stdout
        except subprocess.TimeoutExpired as e:
            output = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            rc, output = 124, output + f"\n[gpu-check: killed after {limit:.0f} s]\n"
        seconds = time.monotonic() - start
        if log:
            with open(os.path.join(self.out, log), "w") as f:
                f.write(f"$ {' '.join(cmd)}\n{output}")
        return rc, output, seconds

    def python_has(self, module):
        code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
        return subprocess.run([self.python, "-c", code]).returncode == 0

    # ---- 1. preflight --------------------------------------------------------------

    def preflight(self):
        smi = shutil.which("nvidia-smi")
        gpus = ""
        if smi:
            q = subprocess.run(
                [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                capture_output=True,
                text=True,
            )
            gpus = q.stdout.strip() if q.returncode == 0 else ""
        if not gpus:
            return self.fail("preflight", "no NVIDIA GPU: nvidia-smi is missing or lists none")
        self.note(f"GPU: {'; '.join(gpus.splitlines())}")
        probe = subprocess.run([self.python, "-c", PROBE], capture_output=True, text=True)
        if probe.returncode != 0:
            return self.fail(
                "preflight", f"{self.python} cannot import torch: {probe.stderr[-500:]}"
            )
        torch_info = json.loads(probe.stdout.strip().splitlines()[-1])
        self.torch = torch_info
        if not torch_info["cuda"]:
            return self.fail(
                "preflight",
                f"{self.python}'s torch {torch_info['torch']} is a CPU build; "
                "gpu-check needs the CUDA build of torch already installed (PYTHON=...)",
            )
        if not torch_info["available"]:
            return self.fail("preflight", f"torch {torch_info['torch']} sees no CUDA device")
        major, minor = torch_info["capability"]
        self.arch = f"{major}{minor}"
        self.note(
            f"torch {torch_info['torch']} (CUDA {torch_info['cuda']}) with "
            f"{torch_info['devices']} device(s), cuda:0 {torch_info['name']} sm_{self.arch}"
        )
        missing = [t for t in ("cmake", "c++", "make") if shutil.which(t) is None]
        if missing:
            return self.fail("preflight", f"missing build tools: {', '.join(missing)}")
        for module in ("setuptools", "pytest", "numpy"):
            if self.python_has(module):
                continue
            if self.args.wheelhouse and module != "setuptools":
                subprocess.run(
                    [self.python, "-m", "pip", "install", "-q", "--no-index",
                     "--find-links", self.args.wheelhouse, module],
                    check=False,
                )  # fmt: skip
            if not self.python_has(module):
                return self.fail(
                    "preflight",
                    f"{self.python} has no {module} (offline: pass --wheelhouse DIR, or "
                    f"WHEELHOUSE=DIR to make, with its wheels)",
                )
        # nvcc exactly as setup.py will find it (its functions; setup() is not run).
        found = subprocess.run(
            [self.python, "-c", NVCC_PROBE, os.path.join(ROOT, "setup.py")],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if found.returncode != 0:
            return self.fail("preflight", (found.stderr or found.stdout).strip()[-800:])
        nvcc, release, root = found.stdout.split()[-3:]
        self.note(f"nvcc {release}: {nvcc} (toolkit root {root})")
        self.note("preflight: ok")

    # ---- 2.-5. --------------------------------------------------------------------

    def install(self):
        env = dict(os.environ, GROUPQUANT_REQUIRE_CUDA="1")
        env.pop("GROUPQUANT_NO_CUDA", None)
        env.setdefault("GROUPQUANT_CUDA_ARCHITECTURES", self.arch)
        cmd = [self.python, "-m", "pip", "install", "-v", "--no-build-isolation", "--no-deps", "."]
        rc, output, seconds = self.run("install", cmd, "install.log", env=env)
        if rc != 0 and "externally-managed-environment" in output:
            cmd.insert(4, "--break-system-packages")  # the interpreter's own site-packages
            rc, output, seconds = self.run("install", cmd, "install.log", env=env)
        if rc != 0:
            tail = "\n    ".join(output.strip().splitlines()[-15:])
            return self.fail("install", f"pip exited {rc} after {seconds:.0f} s:\n    {tail}")
        built = re.search(r"groupquant: building groupquant\._C_cuda with .*", output)
        self.note(
            f"install: ok in {seconds:.0f} s for sm_{env['GROUPQUANT_CUDA_ARCHITECTURES']}"
            + (f" ({built[0][len('groupquant: ') :]})" if built else "")
        )

    def import_check(self):
        rc, output, _ = self.run("import", [self.python, "-c", IMPORT_CHECK], "import.log", cwd="/")
        if rc != 0:
            return self.fail("import", output.strip()[-1200:])
        self.note(f"import: {output.strip().splitlines()[-1]}")

    def tests(self):
        env = dict(os.environ, GROUPQUANT_REQUIRE_CUDA="1")
        xml = os.path.join(self.out, "test_cuda.xml")
        cmd = [self.python, "-m", "pytest", "-rs", "-q", "-p", "no:cacheprovider",
               f"--junitxml={xml}", "tests/python/test_cuda.py"]  # fmt: skip
        rc, output, seconds = self.run("tests", cmd, "test_cuda.log", env=env)
        counts, failures, skips = junit_summary(xml)
        self.note(
            f"tests: {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
            f"{counts.get('error', 0)} errors, {counts.get('skipped', 0)} skipped "
            f"in {seconds:.0f} s (pytest exit {rc})"
        )
        for name, why in skips[:20]:
            self.note(f"  skipped {name}: {why}")
        if len(skips) > 20:
            self.note(f"  ... and {len(skips) - 20} more skipped (test_cuda.log)")
        for name, why in failures[:20]:
            self.note(f"  FAILED {name}: {why}")
        if rc != 0:
            self.failed.append("tests")
            if not failures:
                self.note("  " + "\n  ".join(output.strip().splitlines()[-15:]))

    def bench(self):
        cmd = [self.python, "bench/bench_cuda.py", "--quick", "--out", self.out]
        rc, output, seconds = self.run("bench", cmd, "bench_cuda.log")
        if rc == 124:  # out of time: no numbers, but nothing wrong was found either
            return self.note(f"bench: no result, stopped at the deadline after {seconds:.0f} s")
        if rc != 0:
            return self.fail("bench", "\n    ".join(output.strip().splitlines()[-12:]))
        table = output[output.find("device:") :].strip().splitlines()
        self.note(f"bench (quick, {seconds:.0f} s):")
        for line in table:
            self.note("  " + line)

    def summary(self):
        verdict = "FAIL (" + ", ".join(self.failed) + ")" if self.failed else "PASS"
        text = "\n".join([f"groupquant gpu-check: {verdict}", *self.lines, f"results: {self.out}"])
        with open(os.path.join(self.out, "summary.txt"), "w") as f:
            f.write(text + "\n")
        print("\n" + "=" * 78 + "\n" + text + "\n" + "=" * 78)
        return 1 if self.failed else 0


def junit_summary(path):
    """({'passed': n, ...}, [(test, message)] failed, [(test, reason)] skipped)."""
    counts, failures, skips = {}, [], []
    if not os.path.exists(path):
        return counts, failures, skips
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                message = (child.get("message") or "").splitlines()
                (skips if outcome == "skipped" else failures).append(
                    (name, message[0][:300] if message else "")
                )
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts, failures, skips


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="the Python with CUDA torch")
    parser.add_argument("--out", default=os.path.join(ROOT, "gpu-check-results"))
    parser.add_argument("--minutes", type=float, default=7.5, help="deadline for all steps")
    parser.add_argument("--wheelhouse", default="", help="wheels of pytest/numpy, if missing")
    parser.add_argument("--dry-run", action="store_true", help="preflight only")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    check = Check(args)
    check.preflight()
    if args.dry_run or check.failed:
        if args.dry_run and not check.failed:
            check.note("dry run: would install, import, run tests/python/test_cuda.py, bench")
        return check.summary()
    check.install()
    if not check.failed:
        check.import_check()
        check.tests()  # also after a failed import: the tests say more about it
        if "import" not in check.failed:
            check.bench()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
