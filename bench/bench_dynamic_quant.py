"""Benchmark of groupquant.npu_dynamic_quant against what users would otherwise run.

For each MoE shape of shapes.py with a float16/bfloat16 x (the op takes no float32), in one
run and on all of torch's threads, the A2 MoE call (smooth_scales [E, H] chosen through
group_index, int8 or int4):
  (a) ceiling  ``dst.copy_(src)`` of uint8 buffers of (x + y + scale) / 2 bytes each, so
               the copy reads and writes as many bytes as the op; dst is preallocated.
  (b) eager    the same math as a torch composition (torch_composition.torch_dynamic_quant).
  (c) compile  (b) under ``torch.compile``.
  (d) ours     ``groupquant.npu_dynamic_quant``.
GB/s is (x + y + scale bytes) / time (the smooth rows are cache-resident and not counted).
Times are medians over rounds that call the four in turn.

Every shape runs in a fresh subprocess, twice, as in bench_op.py: "steady" (glibc keeps
freed pages, so outputs reuse memory as under jemalloc/tcmalloc; the targets are checked on
this run) and "glibc" (the default allocator: every output over 32 MiB is a fresh mmap and
its first-touch page faults are timed).

Targets, printed as PASS/FAIL and never asserted by a test: large shapes >= 0.80 of the copy
ceiling and >= 1.2x torch.compile; decode shapes no slower than torch.compile.

    python bench/bench_dynamic_quant.py            # all shapes
    python bench/bench_dynamic_quant.py --quick    # few rounds: a smoke test
Writes bench/results/bench_dynamic_quant.json.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from bench_op import STEADY_ENV, cpu_model, fmt_time, library_isa, make_inputs, peak_rise_mib
from shapes import SHAPES
from torch_composition import torch_dynamic_quant

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

CONTENDERS = ["ceiling", "eager", "compile", "ours"]
DYNAMIC_SHAPES = [s for s in SHAPES if s[4] in ("float16", "bfloat16")]

TARGET_CEILING_FRACTION = 0.80  # large shapes, steady allocator, all threads
TARGET_OVER_COMPILE = 1.2  # large shapes
TARGET_DECODE_OVER_COMPILE = 1.0


def worker(shape_name, rounds, measure_memory):
    import groupquant
    import torch

    name, M, N, E, x_dtype, out, kind = next(s for s in DYNAMIC_SHAPES if s[0] == shape_name)
    int4 = out == "int4"
    x, smooth, group_index = make_inputs(M, N, E, x_dtype)
    smooth = smooth.to(x.dtype)  # the op takes smooth_scales of x's dtype
    dst_type = torch.quint4x2 if int4 else None
    x_bytes = x.numel() * x.element_size()
    y_bytes = M * N // 2 if int4 else M * N
    scale_bytes = M * 4
    half = (x_bytes + y_bytes + scale_bytes) // 2
    src = torch.ones(half, dtype=torch.uint8)
    dst = torch.empty(half, dtype=torch.uint8)
    compiled = torch.compile(torch_dynamic_quant, fullgraph=True)

    fns = {
        "ceiling": lambda: dst.copy_(src),
        "eager": lambda: torch_dynamic_quant(x, smooth, group_index, int4),
        "compile": lambda: compiled(x, smooth, group_index, int4),
        "ours": lambda: groupquant.npu_dynamic_quant(
            x, smooth_scales=smooth, group_index=group_index, dst_type=dst_type
        ),
    }
    # Warm-up (compiles), and the answers: eager and compile must match ours bit for bit.
    ours = fns["ours"]()
    mismatch = {}
    for c in ("eager", "compile"):
        y, scale = fns[c]()
        mismatch[c] = int((y != ours[0]).sum()) + int(
            (scale.view(torch.int32) != ours[1].view(torch.int32)).sum()
        )
    del ours, y, scale
    for _ in range(2):
        for c in CONTENDERS:
            fns[c]()

    memory = {}
    if measure_memory:
        for c in CONTENDERS:
            memory[c] = peak_rise_mib(fns[c])

    times = {c: [] for c in CONTENDERS}
    for r in range(rounds):
        order = CONTENDERS[r % 4 :] + CONTENDERS[: r % 4]
        for c in order:
            t0 = time.perf_counter()
            fns[c]()
            times[c].append(time.perf_counter() - t0)
    return {
        "shape": name,
        "M": M,
        "N": N,
        "E": E,
        "x_dtype": x_dtype,
        "out": out,
        "kind": kind,
        "bytes": x_bytes + y_bytes + scale_bytes,
        "rounds": rounds,
        "median_s": {c: statistics.median(times[c]) for c in CONTENDERS},
        "min_s": {c: min(times[c]) for c in CONTENDERS},
        "peak_rss_rise_mib": memory,
        "mismatches_vs_ours": mismatch,
        "threads": torch.get_num_threads(),
    }


def run_worker(shape, rounds, mode):
    env = dict(os.environ)
    if mode == "steady":
        env.update(STEADY_ENV)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", shape[0], "--rounds", str(rounds)]
    cmd += ["--memory"] if mode == "glibc" else []
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def evaluate(row):
    t = row["steady"]["median_s"]
    fraction, over_compile = t["ceiling"] / t["ours"], t["compile"] / t["ours"]
    if row["kind"] == "large":
        checks = {
            f"ceiling_fraction>={TARGET_CEILING_FRACTION}": fraction >= TARGET_CEILING_FRACTION,
            f"over_compile>={TARGET_OVER_COMPILE}": over_compile >= TARGET_OVER_COMPILE,
        }
    else:
        checks = {
            f"over_compile>={TARGET_DECODE_OVER_COMPILE}": over_compile
            >= TARGET_DECODE_OVER_COMPILE
        }
    return {
        "ceiling_fraction": fraction,
        "over_eager": t["eager"] / t["ours"],
        "over_compile": over_compile,
        "checks": checks,
    }


def print_table(rows, meta):
    print(
        f"\nnpu_dynamic_quant (A2, MoE smooth). CPU: {meta['cpu']} ({meta['logical_cpus']} "
        f"logical CPUs), torch {meta['torch']}, {meta['threads']} threads, ISA {meta['isa']}"
    )
    head = (
        f"{'shape':31} {'contender':8} {'steady':>11} {'GB/s':>6} {'of ceil':>7} "
        f"{'ours x':>7} {'glibc':>11} {'peak MiB':>8}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        t = row["steady"]["median_s"]
        for c in CONTENDERS:
            speedup = "" if c == "ours" else f"{t[c] / t['ours']:6.2f}x"
            mem = row["glibc"]["peak_rss_rise_mib"].get(c)
            print(
                f"{row['shape'] if c == 'ceiling' else '':31} {c:8} {fmt_time(t[c]):>11} "
                f"{row['bytes'] / t[c] / 1e9:6.1f} {t['ceiling'] / t[c]:7.2f} {speedup:>7} "
                f"{fmt_time(row['glibc']['median_s'][c]):>11} "
                f"{'' if mem is None else f'{mem:8.1f}':>8}"
            )
        ev = row["eval"]
        verdict = ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in ev["checks"].items())
        m = row["steady"]["mismatches_vs_ours"]
        print(
            f"{'':31} -> {verdict}; eager/compile mismatches vs ours: {m['eager']}/{m['compile']}"
        )
    print("\n'ours x' = contender time / ours (speed-up of ours); 'of ceil' = ceiling time / time.")


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=0, help="timed rounds (default: by size)")
    ap.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="few rounds: a smoke test")
    ap.add_argument("--shapes", default="all", choices=["all", "large", "decode"])
    ap.add_argument("--out", default=RESULTS, help="directory for bench_dynamic_quant.json")
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.rounds, args.memory)))
        return 0

    import torch

    meta = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "isa": library_isa(),
        "python": platform.python_version(),
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    rows = []
    for shape in DYNAMIC_SHAPES:
        if args.shapes != "all" and shape[6] != args.shapes:
            continue
        rounds = args.rounds or (3 if args.quick else (15 if shape[6] == "large" else 200))
        print(f"{shape[0]}: {rounds} rounds ...", file=sys.stderr, flush=True)
        row = {k: v for k, v in zip(("shape", "M", "N", "E", "x_dtype", "out", "kind"), shape)}
        for mode in ("steady", "glibc"):
            row[mode] = run_worker(shape, rounds, mode)
        row["bytes"] = row["steady"]["bytes"]
        row["eval"] = evaluate(row)
        rows.append(row)

    print_table(rows, meta)
    all_pass = all(all(r["eval"]["checks"].values()) for r in rows)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "bench_dynamic_quant.json")
    with open(path, "w") as f:
        json.dump({"meta": meta, "all_targets_pass": all_pass, "results": rows}, f, indent=1)
    print(f"\nall targets {'PASS' if all_pass else 'NOT all met'}; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
