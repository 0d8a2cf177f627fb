"""GPU benchmark of the CUDA operators against what users would otherwise run.

npu_group_quant: for each MoE shape, on the current CUDA device:
  (a) copy     a device-to-device ``dst.copy_(src)`` of uint8 buffers of (x + y) / 2 bytes
               each: it reads and writes as many bytes in total as the op (x bytes read +
               y bytes written), i.e. the bandwidth ceiling of a streaming kernel.
  (b) eager    the same math as a torch eager composition (searchsorted + index_select +
               mul + add + nan_to_num + round + clamp + cast, + int4 packing by shifts).
  (c) compile  (b) under ``torch.compile`` (Inductor generates Triton kernels).
  (d) ours     ``torch.ops.groupquant.npu_group_quant`` on CUDA.
GB/s is (x bytes + y bytes) / time for all four (scale rows are L2-resident and not
counted). Each time is the median over rounds of CUDA-event-timed loops; the four run in
turn within every round so clock changes hit all alike. Peak memory is what one call
allocates beyond the memory live before it (torch.cuda.max_memory_allocated, caching
allocator): for ours it should be y alone.

npu_dynamic_quant ("dynamic ..." rows): the A2 MoE call (smooth_scales [E, H] chosen through
group_index, int8 or int4) on the float16/bfloat16 shapes, against the same four: (a) a copy
of (x + y + scale) / 2 bytes, (b) torch_composition.torch_dynamic_quant eager, (c) it under
``torch.compile``, (d) ``groupquant.npu_dynamic_quant``; GB/s is (x + y + scale bytes) / time
(the smooth rows are L2-resident and not counted). Whether (b) and (c) give ours' bits is
reported (``matches``), not asserted: they are only the speed comparison.

    python bench/bench_cuda.py            # all shapes, prints the table
    python bench/bench_cuda.py --quick    # 4 + 3 shapes, 3 rounds (`make gpu-check`)
Writes bench_cuda.json to bench/results/ (--out DIR elsewhere). The CUDA kernels' speed
targets, for both ops, checked here: ours >= 0.85 x copy on the large shapes, and >= 1.2 x
torch.compile.
"""

import argparse
import json
import os
import statistics
import sys

from shapes import GPU_SHAPES  # sibling modules: run as a script
from torch_composition import torch_dynamic_quant, torch_group_quant

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

CONTENDERS = ["copy", "eager", "compile", "ours"]
# --quick: int8 and int4 at a large shape, many experts, one decode shape.
QUICK_SHAPES = ["8192x7168 G32 bf16->int8", "8192x7168 G32 bf16->int4", "G256", "decode 32x"]
# npu_dynamic_quant on the shapes whose x it takes (float16, bfloat16); --quick: the large
# int8 and int4 ones and one decode shape.
DYNAMIC_SHAPES = [("dynamic " + s[0],) + s[1:] for s in GPU_SHAPES if s[4] != "float32"]
QUICK_DYNAMIC_SHAPES = [
    "dynamic 8192x7168 G32 bf16->int8",
    "dynamic 8192x7168 G32 bf16->int4",
    "dynamic decode 32x",
]
TARGET_COPY_FRACTION = 0.85  # large shapes
TARGET_OVER_COMPILE = 1.2


def make_problem(m, n, g, x_dtype, device):
    import torch

    gen = torch.Generator(device="cpu").manual_seed(0)
    x = (torch.randn(m, n, generator=gen) * 40).to(getattr(torch, x_dtype)).to(device)
    scale = (torch.rand(g, n, generator=gen) + 0.5).to(device)
    cuts = torch.sort(torch.randint(0, m + 1, (g - 1,), generator=gen)).values
    group_index = torch.cat([cuts, torch.tensor([m])]).to(torch.int64).to(device)
    offset = torch.tensor(0.5, device=device)
    return x, scale, group_index, offset


def time_ms(fn, iters, rounds_out, start, end):
    """Mean ms per call over `iters` back-to-back calls, timed with CUDA events."""
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    end.synchronize()
    rounds_out.append(start.elapsed_time(end) / iters)


def peak_extra_mib(fn):
    """GPU memory one call of fn allocates at its peak, beyond what was live before, MiB."""
    import torch

    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    del out
    return peak / 2**20


def bench_shape(shape, rounds, device):
    import groupquant  # noqa: F401  (registers the op and its CUDA implementation)
    import torch

    name, m, n, g, x_dtype, out, kind = shape
    int4 = out == "int4"
    dst = torch.quint4x2 if int4 else None
    x, scale, gi, offset = make_problem(m, n, g, x_dtype, device)
    y_bytes = m * n // 2 if int4 else m * n
    moved = x.numel() * x.element_size() + y_bytes
    src = torch.empty(moved // 2, dtype=torch.uint8, device=device)
    dst_buf = torch.empty_like(src)
    op = torch.ops.groupquant.npu_group_quant
    compiled = torch.compile(torch_group_quant, dynamic=False)
    fns = {
        "copy": lambda: dst_buf.copy_(src),
        "eager": lambda: torch_group_quant(x, scale, gi, offset, int4),
        "compile": lambda: compiled(x, scale, gi, offset, int4),
        "ours": lambda: op(x, scale, gi, offset=offset, dst_dtype=dst),
    }
    # Sanity: ours equals the eager composition (which is exact on CUDA: separate kernels).
    assert torch.equal(fns["ours"](), fns["eager"]()), name
    return measure(name, kind, fns, moved, y_bytes, rounds)


def bench_dynamic_shape(shape, rounds, device):
    import groupquant
    import torch

    name, m, n, e, x_dtype, out, kind = shape
    int4 = out == "int4"
    x, smooth, gi, _ = make_problem(m, n, e, x_dtype, device)
    smooth = smooth.to(x.dtype)  # the op takes smooth_scales of x's dtype
    y_bytes = m * n // 2 if int4 else m * n
    moved = x.numel() * x.element_size() + y_bytes + m * 4
    src = torch.empty(moved // 2, dtype=torch.uint8, device=device)
    dst_buf = torch.empty_like(src)
    compiled = torch.compile(torch_dynamic_quant, dynamic=False)
    dst_type = torch.quint4x2 if int4 else None
    fns = {
        "copy": lambda: dst_buf.copy_(src),
        "eager": lambda: torch_dynamic_quant(x, smooth, gi, int4),
        "compile": lambda: compiled(x, smooth, gi, int4),
        "ours": lambda: groupquant.npu_dynamic_quant(
            x, smooth_scales=smooth, group_index=gi, dst_type=dst_type
        ),
    }
    ours = fns["ours"]()
    matches = {
        c: all(torch.equal(a, b) for a, b in zip(fns[c](), ours)) for c in ("eager", "compile")
    }
    result = measure(name, kind, fns, moved, y_bytes + m * 4, rounds)
    result["matches"] = matches
    return result


def measure(name, kind, fns, moved, out_bytes, rounds):
    """Times the four contenders of fns in turn, `rounds` times; their peak memory."""
    import torch

    for fn in fns.values():  # warm-up (and compile)
        for _ in range(3):
            fn()
    torch.cuda.synchronize()
    # Enough calls per timed loop for ~2 ms of work, so launch gaps do not dominate.
    probe = []
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    time_ms(fns["ours"], 3, probe, start, end)
    iters = max(3, min(2000, int(2.0 / max(probe[0], 1e-4))))
    times = {c: [] for c in CONTENDERS}
    for _ in range(rounds):
        for c in CONTENDERS:
            time_ms(fns[c], iters, times[c], start, end)
    ms = {c: statistics.median(times[c]) for c in CONTENDERS}
    peak = {c: peak_extra_mib(fns[c]) for c in CONTENDERS}
    return {
        "name": name,
        "kind": kind,
        "bytes": moved,
        "iters": iters,
        "ms": ms,
        "gbps": {c: moved / (ms[c] * 1e-3) / 1e9 for c in CONTENDERS},
        "y_mib": out_bytes / 2**20,
        "peak_extra_mib": peak,
    }


def main(argv=None):
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 + 3 shapes, 3 rounds")
    parser.add_argument("--shapes", default="", help="comma-separated substrings of shape names")
    parser.add_argument("--out", default=RESULTS, help="directory for bench_cuda.json")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_cuda: no CUDA device", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    rounds = 3 if args.quick else 15
    wanted = [s for s in args.shapes.split(",") if s] or (QUICK_SHAPES if args.quick else [])
    wanted_dynamic = [s for s in args.shapes.split(",") if s] or (
        QUICK_DYNAMIC_SHAPES if args.quick else []
    )
    shapes = [s for s in GPU_SHAPES if not wanted or any(w in s[0] for w in wanted)]
    dynamic = [
        s for s in DYNAMIC_SHAPES if not wanted_dynamic or any(w in s[0] for w in wanted_dynamic)
    ]
    results = [bench_shape(s, rounds, device) for s in shapes]
    results += [bench_dynamic_shape(s, rounds, device) for s in dynamic]

    print(
        f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  "
        f"CUDA {torch.version.cuda}"
    )
    header = f"{'shape':40s} " + " ".join(f"{c + ' GB/s':>13s}" for c in CONTENDERS)
    print(header + f" {'ours/copy':>10s} {'x eager':>8s} {'x compile':>10s}")
    ok = True
    for r in results:
        ratio_copy = r["gbps"]["ours"] / r["gbps"]["copy"]
        over_eager = r["ms"]["eager"] / r["ms"]["ours"]
        over_compile = r["ms"]["compile"] / r["ms"]["ours"]
        r["ours_over_copy"], r["over_eager"], r["over_compile"] = (
            ratio_copy,
            over_eager,
            over_compile,
        )
        line = f"{r['name']:40s} " + " ".join(f"{r['gbps'][c]:13.1f}" for c in CONTENDERS)
        print(line + f" {ratio_copy:10.2f} {over_eager:8.2f} {over_compile:10.2f}")
        if r["kind"] == "large":
            ok &= ratio_copy >= TARGET_COPY_FRACTION and over_compile >= TARGET_OVER_COMPILE
    for r in results:
        if "matches" in r:
            print(f"{r['name']:40s} ours' bits from eager / compile: {r['matches']}")
    print("\npeak memory allocated by one call, MiB (the outputs themselves are the minimum):")
    print(f"{'shape':40s} {'outputs':>9s} " + " ".join(f"{c:>9s}" for c in CONTENDERS))
    for r in results:
        peak = r["peak_extra_mib"]
        print(
            f"{r['name']:40s} {r['y_mib']:9.1f} " + " ".join(f"{peak[c]:9.1f}" for c in CONTENDERS)
        )
    print(
        f"targets (large shapes): ours >= {TARGET_COPY_FRACTION} x copy and >= "
        f"{TARGET_OVER_COMPILE} x torch.compile: {'met' if ok else 'NOT met'}"
    )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench_cuda.json"), "w") as f:
        json.dump(
            {
                "device": torch.cuda.get_device_name(),
                "torch": torch.__version__,
                "cuda": torch.version.cuda,
                "quick": args.quick,
                "results": results,
            },
            f,
            indent=1,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
