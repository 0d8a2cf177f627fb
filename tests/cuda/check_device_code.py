"""Checks the CUDA kernels' generated code, no GPU needed (`make cuda` runs it).

What the kernel promises about its machine code, checked in the PTX that nvcc emits with
the production flags (cmake/cuda.cmake) and in ptxas's resource report for each target
architecture:

- exactness: no floating-point fma/mad anywhere (mul.rn and add.rn stay separate, as on
  the NPU), no .ftz, float -> int by cvt.rni.s32.f32 (round half to even);
- bandwidth: in each of the 18 kernels (x dtype x scale dtype x output kind), 16-byte
  streaming loads of x (ld.global.cs.v4), 16-byte read-only loads of scale
  (ld.global.nc.v4) and the widest store the chunk allows (st.global.cs.v4/.v2/.u32);
- occupancy: no register spills, and few enough registers that four 256-thread blocks
  fit on an SM (<= 64 per thread; 65536 registers per SM on sm_80 and sm_90);
- one report of a bad group_index: a single __assertfail call site, in a function that
  first claims the g_reported flag with an atomic exchange and branches past its printf
  and the assertion when another thread already has (group_quant.cu fail_group_index).

    python3 tests/cuda/check_device_code.py --ptxas /usr/local/cuda/bin/ptxas \
        sm_80=group_quant_sm80.ptx sm_90=group_quant_sm90.ptx
Exits 1, naming every broken promise, if any fails. Standard library only.
"""

import argparse
import re
import subprocess
import sys

DTYPES = {0: "float32", 1: "float16", 2: "bfloat16"}  # gq_dtype codes (groupquant.h)
KINDS = {0: "int8", 1: "int4"}  # gq_output_kind codes
SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
MAX_REGISTERS = 64
KERNEL = re.compile(
    r"group_quant_kernelIL8gq_dtype(\d)ELS\d+_(\d)EL14gq_output_kind(\d)E"
)  # Itanium mangling of group_quant_kernel<XD, SD, K>
FLOAT_FMA = re.compile(r"^\s*(fma|mad)(\.\w+)*\.(f16|f16x2|bf16|bf16x2|f32|f64)\b", re.M)


def entries(ptx: str) -> dict[str, str]:
    """Kernel name -> its PTX body (from its .entry to the next .entry/.func or the end)."""
    starts = [m for m in re.finditer(r"^\.(visible \.)?entry (\S+)\(", ptx, re.M)]
    ends = [m.start() for m in re.finditer(r"^\.(visible \.|weak \.)?(entry|func) ", ptx, re.M)]
    bodies = {}
    for m in starts:
        end = min((e for e in ends if e > m.start()), default=len(ptx))
        bodies[m.group(2)] = ptx[m.start() : end]
    return bodies


def expected_vector_ops(x: str, s: str, kind: str) -> dict[str, int]:
    """The 16-byte loads and the store of one vector chunk (group_quant.cuh vector_chunk)."""
    cols = 32 // SIZE[x]  # a chunk is 32 bytes of x
    scale_loads = cols * SIZE[s] // 16
    store_bytes = cols if kind == "int8" else cols // 2
    store = {16: "st.global.cs.v4", 8: "st.global.cs.v2", 4: "st.global.cs"}
    return {"ld.global.cs.v4": 2, "ld.global.nc.v4": scale_loads, store[store_bytes]: 1}


def check_ptx(ptx: str, arch: str) -> list[str]:
    problems = []
    if m := FLOAT_FMA.search(ptx):
        problems.append(f"{arch}: floating-point fused multiply-add: {m.group(0).strip()}")
    if ".ftz" in ptx:
        problems.append(f"{arch}: a .ftz instruction (subnormals must not be flushed)")
    kernels = {}
    for name, body in entries(ptx).items():
        if m := KERNEL.search(name):
            kernels[(DTYPES[int(m[1])], DTYPES[int(m[2])], KINDS[int(m[3])])] = body
    wanted = {(x, s, k) for x in DTYPES.values() for s in DTYPES.values() for k in KINDS.values()}
    for missing in sorted(wanted - kernels.keys()):
        problems.append(
            f"{arch}: no kernel for x={missing[0]} scale={missing[1]} output={missing[2]}"
        )
    for (x, s, k), body in sorted(kernels.items()):
        label = f"{arch} kernel x={x} scale={s} output={k}"
        for op, count in expected_vector_ops(x, s, k).items():
            # The element type is spelled .u32 today; .b32 or .s32 would be the same access.
            found = len(re.findall(re.escape(op) + r"\.[bsu]32\s", body))
            if found < count:
                problems.append(f"{label}: {found} x {op}, expected at least {count}")
        for op in ("mul.rn.f32", "cvt.rni.s32.f32"):
            if op not in body:
                problems.append(f"{label}: no {op}")
    if not problems:
        print(f"{arch} PTX: {len(kernels)} kernels, 16-byte loads and stores, no fma/mad, no .ftz")
    return problems


def functions(ptx: str) -> list[str]:
    """The body of every .entry and .func definition (declarations without a body skipped)."""
    starts = [m.start() for m in re.finditer(r"^\.(visible \.|weak \.)?(entry|func) ", ptx, re.M)]
    bodies = [ptx[a:b] for a, b in zip(starts, starts[1:] + [len(ptx)])]
    return [b for b in bodies if "{" in b]


def check_single_report(ptx: str, arch: str) -> list[str]:
    """A failing group_index asserts once: the claim on g_reported comes first."""
    calls = re.compile(r"call(\.uni)?\s*(\(\S+\),\s*)?(\w+),")
    sites = [(body, m) for body in functions(ptx) for m in calls.finditer(body)]
    asserts = [(body, m) for body, m in sites if m[3] == "__assertfail"]
    if len(asserts) != 1:
        return [f"{arch}: {len(asserts)} __assertfail call sites, expected exactly one"]
    body, site = asserts[0]
    claim = re.search(r"mov\.u64\s+(%rd\d+), \S*g_reportedE;\s*atom\.global\.exch\.b32\s+"
                      r"(%r\d+), \[\1\], 1;\s*setp\.ne\.s32\s+(%p\d+), \2, 0;\s*"
                      r"@\3 bra\s+(\S+);", body)  # fmt: skip
    if not claim:
        return [f"{arch}: the function that asserts does not first claim g_reported atomically"]
    printfs = [m.start() for m in calls.finditer(body) if m[3] == "vprintf"]
    if not printfs or min(printfs) < claim.end() or site.start() < claim.end():
        return [f"{arch}: the group_index message or assertion comes before the claim"]
    if not re.search(re.escape(claim[4]) + r":\s*ret;", body[site.end() :]):
        return [f"{arch}: the branch taken by threads that lost the claim does not skip to ret"]
    print(f"{arch}: one __assertfail call site, after an atomic claim of g_reported")
    return []


def check_resources(ptx_path: str, ptxas: str, arch: str) -> list[str]:
    run = subprocess.run(
        [ptxas, f"-arch={arch}", "-v", ptx_path, "-o", "/dev/null"], capture_output=True, text=True
    )
    if run.returncode != 0:
        return [f"{arch}: ptxas failed on {ptx_path}: {run.stderr.strip()}"]
    out = run.stderr
    problems, registers = [], []
    # ptxas reports, per function: "Compiling entry function 'NAME'", then its
    # "... bytes spill stores, ... bytes spill loads" and "Used N registers" lines.
    for block in re.split(r"Compiling entry function ", out)[1:]:
        name = block.split("'")[1]
        m = KERNEL.search(name)
        label = f"{arch} " + (
            f"kernel x={DTYPES[int(m[1])]} scale={DTYPES[int(m[2])]} output={KINDS[int(m[3])]}"
            if m
            else name
        )
        spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", block)
        used = re.search(r"Used (\d+) registers", block)
        if not spills or not used:
            problems.append(f"{label}: no resource report from ptxas")
            continue
        if spills[1] != "0" or spills[2] != "0":
            problems.append(f"{label}: spills ({spills[0]})")
        if int(used[1]) > MAX_REGISTERS:
            problems.append(f"{label}: {used[1]} registers > {MAX_REGISTERS}")
        registers.append(int(used[1]))
    if not registers:
        problems.append(f"{arch}: ptxas compiled no entry function")
    elif not problems:
        print(
            f"{arch}: {len(registers)} kernels, registers {min(registers)}-{max(registers)} "
            f"(<= {MAX_REGISTERS}), no spills"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ptxas", required=True)
    parser.add_argument(
        "ptx", nargs="+", metavar="ARCH=PTX", help="e.g. sm_90=group_quant.ptx (built for it)"
    )
    args = parser.parse_args(argv)
    problems = []
    for item in args.ptx:
        arch, _, path = item.partition("=")
        with open(path) as f:
            ptx = f.read()
        problems += check_ptx(ptx, arch)
        problems += check_single_report(ptx, arch)
        problems += check_resources(path, args.ptxas, arch)
    for p in problems:
        print("FAIL:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
