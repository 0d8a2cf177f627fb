"""Benchmark of the torch operator as users get it, against a copy, torch eager and
torch.compile.

For each shape, in one run and on all of torch's threads, contenders called in turn:
  ceiling   ``dst.copy_(src)`` of uint8 buffers of (x + y) / 2 bytes each (dst
            preallocated): as many bytes read plus written as the op moves.
  empty     ``torch.empty`` of the op's output (decode rows: the budget is copy + empty).
  eager     the same math as a torch composition (searchsorted + index_select + mul +
            add + nan_to_num + round + clamp + cast, + int4 packing by shifts).
  compile   that composition under ``torch.compile``.
  ours      ``groupquant.npu_group_quant``, a new output each call (the previous one freed).
  ours_out  the same with ``out=`` a buffer reused across calls (a serving loop).
  ours_contiguous  (column-major rows only) ours on a contiguous copy of x.
GB/s is (x bytes + y bytes) / time; every ratio compares two contenders timed in the
same process, so a busy machine slows both. A sample times `inner` back-to-back calls
(many for small shapes); medians over samples, and means for the decode budget.

Each shape runs in fresh subprocesses, once per process kind:
  default   a plain ``python`` process: glibc's allocator, no knobs. What a user gets,
            and the headline table. glibc hands every block over 32 MiB out as a fresh
            mmap, whose first-touch page faults (and zeroing) would be timed with the
            call; groupquant's outputs of 2 MiB and more come from 2 MiB-aligned
            huge-page blocks instead, and a freed one is reused by the next call (its
            bounded output cache, python/groupquant/csrc/empty_output.h).
  uncached  (large shapes) the same with GROUPQUANT_OUTPUT_CACHE_MIB=0: every output is
            fresh memory (huge pages still advised), what the cache saves.
  tcmalloc  the same as default with Debian's libtcmalloc-minimal4 preloaded
            (LD_PRELOAD), as PyTorch's CPU inference guides advise: torch's own
            allocations (the copy, torch.compile's) are reused too.
Peak memory is measured in the default run: the rise of the process's peak RSS (VmHWM,
reset through /proc/self/clear_refs) during one call, after warm-up, with the heap's free
pages and groupquant's output cache first returned to the kernel (malloc_trim,
groupquant.empty_cache) so that reused memory is counted too.

    python bench/bench_op.py                 # all shapes, prints the tables
    python bench/bench_op.py --quick         # fewer rounds, for a smoke test
Writes bench/results/bench_op.json and bench/results/bench_op.png.
"""

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from shapes import SHAPES  # sibling modules: run as a script
from torch_composition import torch_group_quant

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

# The CPU rows: shapes.py's large and decode shapes, plus a mid-size call (a batched
# decode or a prefill chunk: cache resident, compute bound) and a column-major x.
CPU_SHAPES = (
    SHAPES[:4]
    + [
        ("mid 256x7168 G8 bf16->int8", 256, 7168, 8, "bfloat16", "int8", "mid"),
        ("4096x4096 G8 bf16->int8 column-major x", 4096, 4096, 8, "bfloat16", "int8", "colmajor"),
    ]
    + SHAPES[4:]
)
PROCESSES = ["default", "uncached", "tcmalloc"]

# The CPU operator's speed targets as users get it, checked here and never in a timed test.
TARGET_FRESH_OF_CEILING = 0.60  # large shapes, default process, fresh output
TARGET_OUT_OF_CEILING = 0.95  # large shapes, out=
TARGET_MID_OF_COPY = 0.60  # 256x7168
TARGET_DECODE_OVER_BUDGET = 2.0  # decode: mean call <= 2 x (copy_ + torch.empty) means
TARGET_COLMAJOR_OVER_CONTIGUOUS = 2.0
TARGET_OVER_COMPILE = 1.2  # every shape


def tcmalloc_path():
    hits = sorted(glob.glob("/usr/lib/*/libtcmalloc_minimal.so.4")) + sorted(
        glob.glob("/usr/lib/libtcmalloc_minimal.so.4")
    )
    return hits[0] if hits else None


# ---- The contenders --------------------------------------------------------------------


def make_inputs(M, N, G, x_dtype, seed=0):
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(M, N, generator=gen) * 40).to(getattr(torch, x_dtype))
    scale = torch.rand(G, N, generator=gen) * 1.5 + 0.5
    # Uneven groups, as tokens routed to experts: sorted random cut points.
    cuts = torch.sort(torch.randint(0, M + 1, (G,), generator=gen)).values
    cuts[-1] = M
    return x, scale, cuts.to(torch.int64)


def rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_rise_mib(fn):
    """Rise of the peak RSS during one call of fn, in MiB (None if not measurable)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    import groupquant

    groupquant.empty_cache()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    except OSError:
        return None
    before = rss_kib("VmRSS")
    fn()
    return max(0, rss_kib("VmHWM") - before) / 1024.0


def worker(shape_name, rounds, measure_memory):
    import groupquant
    import torch

    name, M, N, G, x_dtype, out, kind = next(s for s in CPU_SHAPES if s[0] == shape_name)
    int4 = out == "int4"
    x, scale, group_index = make_inputs(M, N, G, x_dtype)
    x_contiguous = x
    if kind == "colmajor":
        x = x.t().contiguous().t()
    dst_dtype = torch.quint4x2 if int4 else None
    x_bytes = x.numel() * x.element_size()
    y_bytes = M * N // 2 if int4 else M * N
    y_shape, y_dtype = ((M, N // 8), torch.int32) if int4 else ((M, N), torch.int8)
    half = (x_bytes + y_bytes) // 2
    src = torch.ones(half, dtype=torch.uint8)
    dst = torch.empty(half, dtype=torch.uint8)
    y_out = torch.empty(y_shape, dtype=y_dtype)
    compiled = torch.compile(torch_group_quant, fullgraph=True)
    npu_group_quant = groupquant.npu_group_quant

    fns = {
        "ceiling": lambda: dst.copy_(src),
        "empty": lambda: torch.empty(y_shape, dtype=y_dtype),
        "eager": lambda: torch_group_quant(x, scale, group_index, None, int4),
        "compile": lambda: compiled(x, scale, group_index, None, int4),
        "ours": lambda: npu_group_quant(x, scale, group_index, dst_dtype=dst_dtype),
        "ours_out": lambda: npu_group_quant(x, scale, group_index, dst_dtype=dst_dtype, out=y_out),
    }
    if kind == "colmajor":
        fns["ours_contiguous"] = lambda: npu_group_quant(
            x_contiguous, scale, group_index, dst_dtype=dst_dtype
        )
    contenders = list(fns)
    # Warm-up (compiles), and the answers: everyone must match ours bit for bit.
    ours_y = fns["ours"]()
    mismatch = {
        c: int((fns[c]() != ours_y).sum())
        for c in ("eager", "compile") + (("ours_contiguous",) if kind == "colmajor" else ())
    }
    fns["ours_out"]()
    mismatch["ours_out"] = int((y_out != ours_y).sum())
    del ours_y
    for _ in range(2):
        for c in contenders:
            fns[c]()

    memory = {}
    if measure_memory:
        for c in ("ceiling", "ours_out", "ours", "compile", "eager"):  # smallest first
            memory[c] = peak_rise_mib(fns[c])

    inner = {"decode": 200, "mid": 20}.get(kind, 1)
    times = {c: [] for c in contenders}
    for r in range(rounds):
        k = r % len(contenders)
        for c in contenders[k:] + contenders[:k]:
            fn = fns[c]
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times[c].append((time.perf_counter() - t0) / inner)
    return {
        "shape": name,
        "x_bytes": x_bytes,
        "y_bytes": y_bytes,
        "rounds": rounds,
        "inner": inner,
        "median_s": {c: statistics.median(v) for c, v in times.items()},
        "mean_s": {c: statistics.fmean(v) for c, v in times.items()},
        "peak_rss_rise_mib": memory,
        "mismatches_vs_ours": mismatch,
        "threads": torch.get_num_threads(),
        "isa": groupquant.cpu_isa(),
    }


# ---- The driver ----------------------------------------------------------------------


def run_worker(shape, rounds, process):
    env = dict(os.environ)
    if process == "tcmalloc":
        env["LD_PRELOAD"] = (tcmalloc_path() + " " + env.get("LD_PRELOAD", "")).strip()
    if process == "uncached":
        env["GROUPQUANT_OUTPUT_CACHE_MIB"] = "0"
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", shape[0], "--rounds", str(rounds)]
    if process == "default":
        cmd.append("--memory")
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def thp_mode():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return f.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        return "missing"


def ratios(run, kind):
    """The figures of one run: every one a ratio between contenders of that run."""
    t, mean = run["median_s"], run["mean_s"]
    r = {
        "of_ceiling": t["ceiling"] / t["ours"],
        "out_of_ceiling": t["ceiling"] / t["ours_out"],
        "over_compile": t["compile"] / t["ours"],
        "over_eager": t["eager"] / t["ours"],
        "out_over_compile": t["compile"] / t["ours_out"],
        "decode_budget": mean["ours"] / (mean["ceiling"] + mean["empty"]),
        "decode_out_budget": mean["ours_out"] / (mean["ceiling"] + mean["empty"]),
    }
    if kind == "colmajor":
        r["over_contiguous"] = t["ours"] / t["ours_contiguous"]
    return r


def evaluate(row):
    """Target checks for one shape: the default process, as users get it."""
    kind, r = row["kind"], row["default"]["ratios"]
    checks = {f"x compile >= {TARGET_OVER_COMPILE}": r["over_compile"] >= TARGET_OVER_COMPILE}
    if kind == "large":
        checks[f"fresh >= {TARGET_FRESH_OF_CEILING} of copy"] = (
            r["of_ceiling"] >= TARGET_FRESH_OF_CEILING
        )
        checks[f"out= >= {TARGET_OUT_OF_CEILING} of copy"] = (
            r["out_of_ceiling"] >= TARGET_OUT_OF_CEILING
        )
    elif kind == "mid":
        checks[f">= {TARGET_MID_OF_COPY} of copy"] = r["of_ceiling"] >= TARGET_MID_OF_COPY
    elif kind == "decode":
        checks[f"<= {TARGET_DECODE_OVER_BUDGET}x (copy + empty)"] = (
            r["decode_budget"] <= TARGET_DECODE_OVER_BUDGET
        )
    elif kind == "colmajor":
        checks[f"<= {TARGET_COLMAJOR_OVER_CONTIGUOUS}x contiguous"] = (
            r["over_contiguous"] <= TARGET_COLMAJOR_OVER_CONTIGUOUS
        )
    return checks


def fmt_time(s):
    return f"{s * 1e3:7.2f} ms" if s >= 1e-3 else f"{s * 1e6:7.1f} us"


def print_tables(rows, meta):
    print(
        f"\nCPU: {meta['cpu']} ({meta['logical_cpus']} logical CPUs), torch {meta['torch']}, "
        f"{meta['threads']} threads, groupquant ISA {meta['isa']}, THP {meta['thp']}"
    )
    print(
        "\nHeadline: a default process (glibc, no knobs), a new output each call (from "
        "groupquant's output cache once one is freed).\nRatios to the copy of the same bytes "
        "(ceiling), to torch.compile and eager of the torch composition, all timed in the "
        "same process."
    )
    head = (
        f"{'shape':40} {'copy':>10} {'ours':>10} {'GB/s':>5} {'of copy':>7} "
        f"{'x compile':>9} {'x eager':>7} {'other':>22} {'peak MiB ours/compile':>21}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        run, r = row["default"], row["default"]["ratios"]
        t = run["median_s"]
        gbps = (run["x_bytes"] + run["y_bytes"]) / t["ours"] / 1e9
        other = ""
        if row["kind"] == "decode":
            other = f"{r['decode_budget']:.2f}x (copy+empty)"
        elif row["kind"] == "colmajor":
            other = f"{r['over_contiguous']:.2f}x contiguous"
        mem = run["peak_rss_rise_mib"]
        peak = f"{mem.get('ours') or 0:.0f} / {mem.get('compile') or 0:.0f}" if mem else ""
        print(
            f"{row['shape']:40} {fmt_time(t['ceiling']):>10} {fmt_time(t['ours']):>10} "
            f"{gbps:5.1f} {r['of_ceiling']:7.2f} {r['over_compile']:9.2f} {r['over_eager']:7.2f} "
            f"{other:>22} {peak:>21}"
        )
    print(
        "\nOther modes: out= (a buffer reused across calls), no output cache "
        "(GROUPQUANT_OUTPUT_CACHE_MIB=0: fresh memory each call),\nand tcmalloc preloaded "
        "(LD_PRELOAD=libtcmalloc_minimal.so.4). Each 'of copy' / 'x compile' is measured "
        "against the copy and\ntorch.compile of its own process."
    )
    head = (
        f"{'shape':40} {'out= of copy':>12} {'out= x compile':>14} {'no cache: of copy':>17} "
        f"{'tcmalloc: of copy':>17} {'x compile':>9} {'out= of copy':>12}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        d, tc = row["default"]["ratios"], row["tcmalloc"]["ratios"] if "tcmalloc" in row else None
        extra = (
            f"{tc['of_ceiling']:17.2f} {tc['over_compile']:9.2f} {tc['out_of_ceiling']:12.2f}"
            if tc
            else f"{'(no tcmalloc)':>17}"
        )
        uncached = f"{row['uncached']['ratios']['of_ceiling']:17.2f}" if "uncached" in row else ""
        print(
            f"{row['shape']:40} {d['out_of_ceiling']:12.2f} {d['out_over_compile']:14.2f} "
            f"{uncached:>17} {extra}"
        )
    print("\nTargets (default process):")
    for row in rows:
        verdict = ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in row["checks"].items())
        mism = row["default"]["mismatches_vs_ours"]
        print(f"  {row['shape']:40} {verdict}; mismatches vs ours: {mism}")


def plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot (pip install -r bench/requirements.txt)")
        return
    bars = [
        ("ours, default process", lambda r: r["default"]["ratios"]["of_ceiling"]),
        ("ours out=, default process", lambda r: r["default"]["ratios"]["out_of_ceiling"]),
        (
            "ours, tcmalloc",
            lambda r: r["tcmalloc"]["ratios"]["of_ceiling"] if "tcmalloc" in r else 0,
        ),
        (
            "torch.compile, default process",
            lambda r: r["default"]["median_s"]["ceiling"] / r["default"]["median_s"]["compile"],
        ),
    ]
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.2
    for i, (label, f) in enumerate(bars):
        xs = [j + (i - 1.5) * width for j in range(len(rows))]
        ax.bar(xs, [f(r) for r in rows], width, label=label)
    ax.axhline(1.0, color="gray", linewidth=0.8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["shape"].replace(" G", "\nG") for r in rows], fontsize=7)
    ax.set_ylabel("copy time / time (1.0 = the copy of the same bytes)")
    ax.set_title("npu_group_quant on CPU, as a fraction of the copy ceiling")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument(
        "--rounds", type=int, default=0, help="timed samples per contender (default: by size)"
    )
    ap.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--quick", action="store_true", help="few rounds: a smoke test, not a measurement"
    )
    ap.add_argument(
        "--shapes", default="all", choices=["all", "large", "mid", "colmajor", "decode"]
    )
    ap.add_argument("--out", default=RESULTS, help="directory for bench_op.json and bench_op.png")
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
    processes = [p for p in PROCESSES if p != "tcmalloc" or meta["tcmalloc"]]
    if not meta["tcmalloc"]:
        print(
            "libtcmalloc_minimal.so.4 not found: no tcmalloc rows (apt-get install "
            "libtcmalloc-minimal4, which `make bench` does)",
            file=sys.stderr,
        )
    rows = []
    for shape in CPU_SHAPES:
        if args.shapes != "all" and shape[6] != args.shapes:
            continue
        default_rounds = {"large": 15, "colmajor": 9, "mid": 30, "decode": 30}[shape[6]]
        rounds = args.rounds or (3 if args.quick else default_rounds)
        print(f"{shape[0]}: {rounds} rounds ...", file=sys.stderr, flush=True)
        row = {k: v for k, v in zip(("shape", "M", "N", "G", "x_dtype", "out", "kind"), shape)}
        for process in processes:
            if process == "uncached" and shape[6] != "large":
                continue
            row[process] = run_worker(shape, rounds, process)
            row[process]["ratios"] = ratios(row[process], shape[6])
        row["checks"] = evaluate(row)
        rows.append(row)

    print_tables(rows, meta)
    os.makedirs(args.out, exist_ok=True)
    all_pass = all(all(r["checks"].values()) for r in rows)
    with open(os.path.join(args.out, "bench_op.json"), "w") as f:
        json.dump(
            {
                "meta": meta,
                "targets": {
                    "large_fresh_of_ceiling": TARGET_FRESH_OF_CEILING,
                    "large_out_of_ceiling": TARGET_OUT_OF_CEILING,
                    "mid_of_copy": TARGET_MID_OF_COPY,
                    "decode_over_copy_plus_empty": TARGET_DECODE_OVER_BUDGET,
                    "colmajor_over_contiguous": TARGET_COLMAJOR_OVER_CONTIGUOUS,
                    "over_compile": TARGET_OVER_COMPILE,
                },
                "all_targets_pass": all_pass,
                "results": rows,
            },
            f,
            indent=1,
        )
    plot(rows, os.path.join(args.out, "bench_op.png"))
    print(
        f"\nall targets {'PASS' if all_pass else 'NOT all met'}; wrote "
        f"{os.path.join(args.out, 'bench_op.json')} and bench_op.png"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
