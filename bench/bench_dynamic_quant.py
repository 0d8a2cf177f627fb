"""Benchmark of groupquant.npu_dynamic_quant against a copy, torch eager and torch.compile.

For each MoE shape of shapes.py with a float16/bfloat16 x (the op takes no float32), in one
run and on all of torch's threads, the A2 MoE call (smooth_scales [E, H] chosen through
group_index, int8 or int4), contenders called in turn:
  ceiling  ``dst.copy_(src)`` of uint8 buffers of (x + y + scale) / 2 bytes each, so
           the copy reads and writes as many bytes as the op; dst is preallocated.
  eager    the same math as a torch composition (torch_composition.torch_dynamic_quant).
  compile  that composition under ``torch.compile``.
  ours     ``groupquant.npu_dynamic_quant``, fresh outputs each call (the op has no out=).
  asym     ``groupquant.npu_dynamic_quant_asymmetric`` on the same input (no target; its
           ratio to the copy says what the max/min reduction and the offset cost).
GB/s is (x + y + scale bytes) / time (the smooth rows are cache-resident and not counted).
Times are medians over rounds that call the contenders in turn (a decode-size sample times
200 back-to-back calls); every ratio compares two contenders timed in the same process.

Each shape runs in fresh subprocesses, once per process kind, as in bench_op.py:
  default   a plain ``python`` process (glibc's allocator); groupquant's outputs of 2 MiB
            and more come from its bounded output cache (2 MiB-aligned huge-page blocks,
            a freed one reused; GROUPQUANT_OUTPUT_CACHE_MIB=0 turns reuse off). Peak
            memory is measured here, with the cache emptied first.
  tcmalloc  the same with Debian's libtcmalloc-minimal4 preloaded (LD_PRELOAD): torch's
            own freed blocks are reused too, as a serving loop's allocator does.

Targets, printed as PASS/FAIL and never asserted by a test: large shapes >= 0.80 of the
copy and >= 1.2x torch.compile when the allocator reuses memory (the tcmalloc process;
the op has no out=, so this is its "output given" case); decode shapes no slower than
torch.compile (default process).

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

from bench_op import cpu_model, fmt_time, make_inputs, peak_rise_mib, tcmalloc_path, thp_mode
from shapes import SHAPES
from torch_composition import torch_dynamic_quant

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

CONTENDERS = ["ceiling", "eager", "compile", "ours", "asym"]
PROCESSES = ["default", "tcmalloc"]
DYNAMIC_SHAPES = [s for s in SHAPES if s[4] in ("float16", "bfloat16")]

TARGET_CEILING_FRACTION = 0.80  # large shapes, tcmalloc process, all threads
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
        "asym": lambda: groupquant.npu_dynamic_quant_asymmetric(
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

    # A decode-size sample times `inner` back-to-back calls, as in bench_op.py: one call
    # is shorter than the timer's and the scheduler's noise.
    inner = 200 if kind == "decode" else 1
    times = {c: [] for c in CONTENDERS}
    for r in range(rounds):
        k = r % len(CONTENDERS)
        order = CONTENDERS[k:] + CONTENDERS[:k]
        for c in order:
            fn = fns[c]
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times[c].append((time.perf_counter() - t0) / inner)
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
        "inner": inner,
        "median_s": {c: statistics.median(times[c]) for c in CONTENDERS},
        "min_s": {c: min(times[c]) for c in CONTENDERS},
        "peak_rss_rise_mib": memory,
        "mismatches_vs_ours": mismatch,
        "threads": torch.get_num_threads(),
        "isa": groupquant.cpu_isa(),
    }


def run_worker(shape, rounds, process):
    env = dict(os.environ)
    if process == "tcmalloc":
        env["LD_PRELOAD"] = (tcmalloc_path() + " " + env.get("LD_PRELOAD", "")).strip()
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", shape[0], "--rounds", str(rounds)]
    cmd += ["--memory"] if process == "default" else []
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def ratios(run):
    """The figures of one process: every one a ratio between contenders of that process."""
    t = run["median_s"]
    return {
        "of_ceiling": t["ceiling"] / t["ours"],
        "over_compile": t["compile"] / t["ours"],
        "over_eager": t["eager"] / t["ours"],
        "asym_of_ceiling": t["ceiling"] / t["asym"],
    }


def evaluate(row, processes):
    """Target checks: large shapes where the allocator reuses memory (tcmalloc), decode
    shapes in the default process."""
    if row["kind"] == "large":
        if "tcmalloc" not in processes:
            return {}
        r = row["tcmalloc"]["ratios"]
        return {
            f"tcmalloc >= {TARGET_CEILING_FRACTION} of copy": r["of_ceiling"]
            >= TARGET_CEILING_FRACTION,
            f"tcmalloc x compile >= {TARGET_OVER_COMPILE}": r["over_compile"]
            >= TARGET_OVER_COMPILE,
        }
    r = row["default"]["ratios"]
    return {
        f"x compile >= {TARGET_DECODE_OVER_COMPILE}": r["over_compile"]
        >= TARGET_DECODE_OVER_COMPILE
    }


def print_table(rows, meta, processes):
    print(
        f"\nnpu_dynamic_quant (A2, MoE smooth). CPU: {meta['cpu']} ({meta['logical_cpus']} "
        f"logical CPUs), torch {meta['torch']}, {meta['threads']} threads, ISA {meta['isa']}, "
        f"THP {meta['thp']}"
    )
    print(
        "Ratios to the copy of the same bytes and to torch.compile / eager of the torch "
        "composition, each\nagainst the contenders of its own process. 'asym': "
        "npu_dynamic_quant_asymmetric, same input."
    )
    head = (
        f"{'shape':31} {'process':8} {'copy':>10} {'ours':>10} {'GB/s':>5} {'of copy':>7} "
        f"{'x compile':>9} {'x eager':>7} {'asym of copy':>12} {'peak MiB ours/compile':>21}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        for process in processes:
            run = row[process]
            t, r = run["median_s"], run["ratios"]
            mem = run["peak_rss_rise_mib"]
            peak = f"{mem.get('ours') or 0:.0f} / {mem.get('compile') or 0:.0f}" if mem else ""
            print(
                f"{row['shape'] if process == processes[0] else '':31} {process:8} "
                f"{fmt_time(t['ceiling']):>10} {fmt_time(t['ours']):>10} "
                f"{row['bytes'] / t['ours'] / 1e9:5.1f} {r['of_ceiling']:7.2f} "
                f"{r['over_compile']:9.2f} {r['over_eager']:7.2f} {r['asym_of_ceiling']:12.2f} "
                f"{peak:>21}"
            )
    print("\nTargets (large: tcmalloc process; decode: default process):")
    for row in rows:
        verdict = ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in row["checks"].items())
        m = row["default"]["mismatches_vs_ours"]
        print(
            f"  {row['shape']:31} {verdict or '(no tcmalloc: not checked)'}; "
            f"eager/compile mismatches vs ours: {m['eager']}/{m['compile']}"
        )


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

    import groupquant
    import torch

    meta = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "isa": groupquant.cpu_isa(),
        "thp": thp_mode(),
        "tcmalloc": tcmalloc_path(),
        "python": platform.python_version(),
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    processes = PROCESSES if meta["tcmalloc"] else ["default"]
    if not meta["tcmalloc"]:
        print(
            "libtcmalloc_minimal.so.4 not found: no tcmalloc rows and the large-shape targets "
            "are not checked (apt-get install libtcmalloc-minimal4, which `make bench` does)",
            file=sys.stderr,
        )
    rows = []
    for shape in DYNAMIC_SHAPES:
        if args.shapes != "all" and shape[6] != args.shapes:
            continue
        rounds = args.rounds or (3 if args.quick else (15 if shape[6] == "large" else 30))
        print(f"{shape[0]}: {rounds} rounds ...", file=sys.stderr, flush=True)
        row = {k: v for k, v in zip(("shape", "M", "N", "E", "x_dtype", "out", "kind"), shape)}
        for process in processes:
            row[process] = run_worker(shape, rounds, process)
            row[process]["ratios"] = ratios(row[process])
        row["bytes"] = row["default"]["bytes"]
        row["checks"] = evaluate(row, processes)
        rows.append(row)

    print_table(rows, meta, processes)
    all_pass = all(r["checks"] and all(r["checks"].values()) for r in rows)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "bench_dynamic_quant.json")
    with open(path, "w") as f:
        json.dump(
            {
                "meta": meta,
                "targets": {
                    "large_tcmalloc_of_ceiling": TARGET_CEILING_FRACTION,
                    "large_tcmalloc_over_compile": TARGET_OVER_COMPILE,
                    "decode_over_compile": TARGET_DECODE_OVER_COMPILE,
                },
                "all_targets_pass": all_pass,
                "results": rows,
            },
            f,
            indent=1,
        )
    print(f"\nall targets {'PASS' if all_pass else 'NOT all met'}; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
