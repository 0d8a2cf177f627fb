"""Checks the CUDA kernels' generated code, no GPU needed (`make cuda` runs it).

What the kernel promises about its machine code, checked in the PTX that nvcc emits with
the production flags (cmake/cuda.cmake) and in ptxas's resource report for each target
architecture:

- exactness: no floating-point fma/mad anywhere (mul.rn and add.rn stay separate, as on
  the NPU), no .ftz, float -> int by cvt.rni.s32.f32 (round half to even);
- bandwidth: in each of the 18 kernels (x dtype x scale dtype x output kind), 16-byte
  streaming loads of x (ld.global.cs.v4), 16-byte read-only loads of scale
  (ld.global.nc.v4) and the widest store the chunk allows (st.global.cs.v4/.v2/.u32);
- a memory pipeline: in each of them a run of straight-line code, with no store in it,
  that issues the x loads of kUnroll (>= 2) chunks (2 * kUnroll ld.global.cs.v4) and their
  scale loads before the chunks' vector store (group_quant.cuh vector_chunks; kUnroll is
  read from the header);
- occupancy: no register spills, and few enough registers that four 256-thread blocks
  fit on an SM (<= 64 per thread; 65536 registers per SM on sm_80 and sm_90); three
  (<= 80) for the kernels of 16-bit x, fp32 scale and int8 y, whose two chunks of x and
  scale spilled at 64 (group_quant.cu kMinBlocksPerSm);
- one report of a bad group_index: a single __assertfail call site, in a function that
  first claims the g_reported flag with an atomic exchange and branches past its printf
  and the assertion when another thread already has (group_quant.cu fail_group_index).

The npu_dynamic_quant kernels (src/cuda/dynamic_quant.cu), one per entry of
GQ_DYNAMIC_QUANT_TYPES in src/kernel_list.h (parsed from the header, so the list cannot
drift): the same exactness, register and spill rules; div.rn.f32 (the 950 formulas and
every scale), mul.rn.f32, add.rn.f32 and sub.rn.f32; two 16-byte streaming loads of x and
two read-only loads of the smooth row per chunk (ld.global.cs.v4 / ld.global.nc.v4), the
staged row through 16-byte shared-memory accesses (st.shared.v4 / ld.shared.v4), and the
chunk's store (st.global.cs.v4 for int8 and fp8, .v2 for packed int4).

    python3 tests/cuda/check_device_code.py --ptxas /usr/local/cuda/bin/ptxas \
        sm_80=group_quant_sm80.ptx,dynamic_quant_sm80.ptx sm_90=...
Exits 1, naming every broken promise, if any fails. Standard library only.
"""

import argparse
import pathlib
import re
import subprocess
import sys

DTYPES = {0: "float32", 1: "float16", 2: "bfloat16"}  # gq_dtype codes (groupquant.h)
KINDS = {0: "int8", 1: "int4"}  # gq_output_kind codes
SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
MAX_REGISTERS = 64
# group_quant.cu kMinBlocksPerSm: 3 blocks of 256 threads for these, 65536 / 768 registers
# rounded down to ptxas's allocation unit of 8.
MAX_REGISTERS_3_BLOCKS = 80
KERNEL = re.compile(
    r"group_quant_kernelIL8gq_dtype(\d)ELS\d+_(\d)EL14gq_output_kind(\d)E"
)  # Itanium mangling of group_quant_kernel<XD, SD, K>
DYNAMIC_KERNEL = re.compile(
    r"dynamic_quant_kernelIL8gq_dtype(\d)EL14gq_output_kind(\d)E"
)  # dynamic_quant_kernel<XD, K>
ROOT = pathlib.Path(__file__).resolve().parents[2]
FLOAT_FMA = re.compile(r"^\s*(fma|mad)(\.\w+)*\.(f16|f16x2|bf16|bf16x2|f32|f64)\b", re.M)


def enum_values(header: str, prefix: str) -> dict[str, int]:
    """NAME -> value of the enumerators `NAME = <int>` starting with prefix."""
    return {m[1]: int(m[2]) for m in re.finditer(rf"\b({prefix}\w+)\s*=\s*(\d+)\s*,", header)}


def dynamic_kernel_list() -> dict[tuple[int, int], tuple[str, str]]:
    """(gq_dtype code, gq_output_kind code) -> (x token, out token) for every entry of
    GQ_DYNAMIC_QUANT_TYPES, read from src/kernel_list.h and include/groupquant/groupquant.h."""
    lst = (ROOT / "src/kernel_list.h").read_text()
    api = (ROOT / "include/groupquant/groupquant.h").read_text()
    codes = enum_values(api, "GQ_DTYPE_") | enum_values(api, "GQ_OUTPUT_")
    token = {m[1]: m[2] for m in re.finditer(r"#define GQ_(?:DTYPE|KIND)_OF_(\w+) (\w+)", lst)}
    body = re.search(r"#define GQ_DYNAMIC_QUANT_TYPES\(X, ctx\)((?:.*\\\n)*.*)", lst)
    if not body:
        raise SystemExit("src/kernel_list.h: no GQ_DYNAMIC_QUANT_TYPES list")
    kernels = {}
    for x, out in re.findall(r"X\(ctx, (\w+), (\w+)\)", body[1]):
        kernels[(codes[token[x]], codes[token[out]])] = (x, out)
    if not kernels:
        raise SystemExit("src/kernel_list.h: GQ_DYNAMIC_QUANT_TYPES lists no kernel")
    return kernels


def dynamic_label(name: str) -> str | None:
    if m := DYNAMIC_KERNEL.search(name):
        return f"dynamic_quant kernel x={m[1]} out={m[2]}"
    return None


def check_dynamic_ptx(bodies: dict[str, str], arch: str) -> list[str]:
    """The npu_dynamic_quant kernels: one per list entry, each with its instructions."""
    problems, found = [], {}
    listed = dynamic_kernel_list()
    for name, body in bodies.items():
        if m := DYNAMIC_KERNEL.search(name):
            found[(int(m[1]), int(m[2]))] = body
    for key in sorted(listed.keys() - found.keys()):
        problems.append(f"{arch}: no dynamic_quant kernel for {listed[key]}")
    for key in sorted(found.keys() - listed.keys()):
        problems.append(f"{arch}: dynamic_quant kernel {key} is not in GQ_DYNAMIC_QUANT_TYPES")
    for key, body in sorted(found.items()):
        if key not in listed:
            continue
        x, out = listed[key]
        label = f"{arch} dynamic_quant kernel {x}_{out}"
        store = "st.global.cs.v2" if out == "qs4" else "st.global.cs.v4"
        wanted = {"ld.global.cs.v4": 2, "ld.global.nc.v4": 2, store: 1}
        wanted |= {"st.shared.v4": 1, "ld.shared.v4": 1}
        for op, count in wanted.items():
            n = len(re.findall(re.escape(op) + r"\.[bsuf]32\s", body))
            if n < count:
                problems.append(f"{label}: {n} x {op}, expected at least {count}")
        for op in ("div.rn.f32", "mul.rn.f32", "add.rn.f32", "sub.rn.f32"):
            if op not in body:
                problems.append(f"{label}: no {op}")
    if not problems:
        print(
            f"{arch} PTX: {len(found)} dynamic_quant kernels (src/kernel_list.h), 16-byte "
            "global and shared accesses, rn arithmetic"
        )
    return problems


def entries(ptx: str) -> dict[str, str]:
    """Kernel name -> its PTX body (from its .entry to the next .entry/.func or the end)."""
    starts = [m for m in re.finditer(r"^\.(visible \.)?entry (\S+)\(", ptx, re.M)]
    ends = [m.start() for m in re.finditer(r"^\.(visible \.|weak \.)?(entry|func) ", ptx, re.M)]
    bodies = {}
    for m in starts:
        end = min((e for e in ends if e > m.start()), default=len(ptx))
        bodies[m.group(2)] = ptx[m.start() : end]
    return bodies


def max_registers(x: str, s: str, kind: str) -> int:
    """The register budget of group_quant_kernel<x, s, kind> (group_quant.cu kMinBlocksPerSm)."""
    if x != "float32" and s == "float32" and kind == "int8":
        return MAX_REGISTERS_3_BLOCKS
    return MAX_REGISTERS


def unroll() -> int:
    """Chunks a lane keeps in flight (group_quant.cuh kUnroll)."""
    header = (ROOT / "src/cuda/group_quant.cuh").read_text()
    m = re.search(r"inline constexpr int kUnroll = (\d+);", header)
    if not m:
        raise SystemExit("src/cuda/group_quant.cuh: no `inline constexpr int kUnroll = N;`")
    return int(m[1])


def loads_before_store(body: str, store: str) -> tuple[int, int]:
    """The most (x loads, scale loads) issued in one stretch of the kernel with no store in
    it that ends at `store`: (ld.global.cs.v4, ld.global.nc.v4) counted in text order since
    the previous st.global of any kind. Branches inside the stretch (the per-element NaN and
    offset tests) do not end it; a store does."""
    best = (0, 0)
    x = sc = 0
    access = re.compile(r"^\s*(@%p\d+\s+)?(ld\.global\.(?:cs|nc)\.v4|st\.global\S*)", re.M)
    for m in access.finditer(body):
        op = m[2]
        if op == "ld.global.cs.v4":
            x += 1
        elif op == "ld.global.nc.v4":
            sc += 1
        else:
            if op.startswith(store) and x > best[0]:
                best = (x, sc)
            x = sc = 0
    return best


def expected_vector_ops(x: str, s: str, kind: str) -> dict[str, int]:
    """The 16-byte loads and the store of one vector chunk (group_quant.cuh vector_chunks)."""
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
    bodies = entries(ptx)
    problems += check_dynamic_ptx(bodies, arch)
    for name, body in bodies.items():
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
        ops = expected_vector_ops(x, s, k)
        store = next(op for op in ops if op.startswith("st."))
        n = unroll()
        x_loads, s_loads = loads_before_store(body, store)
        want = (2 * n, ops["ld.global.nc.v4"] * n)
        if n < 2 or x_loads < want[0] or s_loads < want[1]:
            problems.append(
                f"{label}: at most {x_loads} x and {s_loads} scale 16-byte loads precede a "
                f"{store} with no store between; expected {want[0]} and {want[1]} "
                f"(kUnroll={n} chunks in flight, >= 2)"
            )
    if not problems:
        print(
            f"{arch} PTX: {len(kernels)} kernels, 16-byte loads and stores, {2 * unroll()} "
            "x loads in flight before a store, no fma/mad, no .ftz"
        )
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


def check_one_assert(ptx: str, arch: str, path: str) -> list[str]:
    """The dynamic kernels also assert from one call site only (after their own claim)."""
    calls = re.compile(r"call(\.uni)?\s*(\(\S+\),\s*)?(\w+),")
    asserts = [m for body in functions(ptx) for m in calls.finditer(body) if m[3] == "__assertfail"]
    if len(asserts) != 1:
        return [f"{arch}: {len(asserts)} __assertfail call sites in {path}, expected exactly one"]
    return []


def check_resources(ptx_path: str, ptxas: str, arch: str) -> list[str]:
    run = subprocess.run(
        [ptxas, f"-arch={arch}", "-v", ptx_path, "-o", "/dev/null"], capture_output=True, text=True
    )
    if run.returncode != 0:
        return [f"{arch}: ptxas failed on {ptx_path}: {run.stderr.strip()}"]
    out = run.stderr
    problems, registers = [], []
    three_blocks = ""  # the summary names the 3-block bound where it applied
    # ptxas reports, per function: "Compiling entry function 'NAME'", then its
    # "... bytes spill stores, ... bytes spill loads" and "Used N registers" lines.
    for block in re.split(r"Compiling entry function ", out)[1:]:
        name = block.split("'")[1]
        m = KERNEL.search(name)
        label = f"{arch} " + (
            f"kernel x={DTYPES[int(m[1])]} scale={DTYPES[int(m[2])]} output={KINDS[int(m[3])]}"
            if m
            else dynamic_label(name) or name
        )
        spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", block)
        used = re.search(r"Used (\d+) registers", block)
        if not spills or not used:
            problems.append(f"{label}: no resource report from ptxas")
            continue
        if spills[1] != "0" or spills[2] != "0":
            problems.append(f"{label}: spills ({spills[0]})")
        bound = (
            max_registers(DTYPES[int(m[1])], DTYPES[int(m[2])], KINDS[int(m[3])])
            if m
            else MAX_REGISTERS
        )
        if bound == MAX_REGISTERS_3_BLOCKS:
            three_blocks = f"; <= {bound} for 16-bit x, fp32 scale, int8 y"
        if int(used[1]) > bound:
            problems.append(f"{label}: {used[1]} registers > {bound}")
        registers.append(int(used[1]))
    if not registers:
        problems.append(f"{arch}: ptxas compiled no entry function")
    elif not problems:
        print(
            f"{arch}: {len(registers)} kernels, registers {min(registers)}-{max(registers)} "
            f"(<= {MAX_REGISTERS}{three_blocks}), no spills"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ptxas", required=True)
    parser.add_argument(
        "ptx",
        nargs="+",
        metavar="ARCH=PTX[,PTX...]",
        help="e.g. sm_90=group_quant.ptx,dynamic_quant.ptx (every kernel file built for it)",
    )
    args = parser.parse_args(argv)
    problems = []
    for item in args.ptx:
        arch, _, paths = item.partition("=")
        ptx = ""
        for path in paths.split(","):
            with open(path) as f:
                text = f.read()
            ptx += text + "\n"
            problems += check_resources(path, args.ptxas, arch)
            # One failure report per kernel file: group_quant's claim is checked in detail.
            if "dynamic_quant" in path:
                problems += check_one_assert(text, arch, path)
            else:
                problems += check_single_report(text, arch)
        problems += check_ptx(ptx, arch)
    for p in problems:
        print("FAIL:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
