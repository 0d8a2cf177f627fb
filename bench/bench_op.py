"""Benchmark of the torch operator against what users would otherwise run.

For each MoE shape, in one run and on all of torch's threads:
  (a) ceiling  the streaming ceiling: ``dst.copy_(src)`` of uint8 buffers of (x + y) / 2
               bytes each, so the copy reads and writes as many bytes in total as the op
               (x bytes read + y bytes written); dst is preallocated.
  (b) eager    the same math as a torch eager composition: searchsorted + index_select +
               mul + add + nan_to_num + round + clamp + cast (+ int4 packing by shifts).
  (c) compile  (b) under ``torch.compile``.
  (d) ours     ``groupquant.npu_group_quant``.
GB/s is (x bytes + y bytes) / time for all four (scale rows are cache-resident and not
counted). Times are medians over rounds that call the four in turn, so a noisy machine
slows all of them alike.

Every shape runs in a fresh subprocess, twice:
  steady   glibc told to keep freed memory (MALLOC_MMAP_MAX_=0, a huge
           MALLOC_TRIM_THRESHOLD_): each call reuses the previous call's pages, as it does
           under jemalloc/tcmalloc (PyTorch's CPU tuning guide recommends one). The
           targets are checked on this run: the ceiling's dst is preallocated too.
  glibc    the default allocator: blocks over 32 MiB are fresh mmap pages on every call,
           and the kernel's first-touch page faults (zeroing every output page) are
           timed with each contender that allocates them.
Peak memory is measured in the glibc run: the rise of the process's peak RSS (VmHWM,
reset through /proc/self/clear_refs) during one call, after warm-up, with the heap's free
pages first returned to the kernel (malloc_trim) so that reused memory is counted too.

    python bench/bench_op.py                 # all shapes, prints the table
    python bench/bench_op.py --quick         # fewer rounds, for a smoke test
Writes bench/results/bench_op.json and bench/results/bench_op.png.
"""

import argparse
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

CONTENDERS = ["ceiling", "eager", "compile", "ours"]

# The CPU operator's speed targets, checked here and never in a timed test.
TARGET_CEILING_FRACTION = 0.90  # large shapes, all threads
TARGET_OVER_EAGER = 8.0
TARGET_OVER_COMPILE = 1.2
TARGET_DECODE_OVER_COMPILE = 1.0  # decode shapes: no slower than torch.compile

STEADY_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}


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
    """Rise of the peak RSS during one call of fn, in MiB (None if not measurable).

    glibc first hands every free page back to the kernel (malloc_trim), so the call's
    allocations show up as new resident pages even where the heap would have reused
    the memory of an earlier call.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
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

    name, M, N, G, x_dtype, out, kind = next(s for s in SHAPES if s[0] == shape_name)
    int4 = out == "int4"
    x, scale, group_index = make_inputs(M, N, G, x_dtype)
    dst_dtype = torch.quint4x2 if int4 else None
    x_bytes = x.numel() * x.element_size()
    y_bytes = M * N // 2 if int4 else M * N
    half = (x_bytes + y_bytes) // 2
    src = torch.ones(half, dtype=torch.uint8)
    dst = torch.empty(half, dtype=torch.uint8)
    compiled = torch.compile(torch_group_quant, fullgraph=True)

    fns = {
        "ceiling": lambda: dst.copy_(src),
        "eager": lambda: torch_group_quant(x, scale, group_index, None, int4),
        "compile": lambda: compiled(x, scale, group_index, None, int4),
        "ours": lambda: groupquant.npu_group_quant(x, scale, group_index, dst_dtype=dst_dtype),
    }
    # Warm-up (compiles), and the answers: eager must match ours bit for bit.
    ours_y = fns["ours"]()
    eager_y = fns["eager"]()
    compile_y = fns["compile"]()
    mismatch = {
        "eager": int((eager_y != ours_y).sum()),
        "compile": int((compile_y != ours_y).sum()),
    }
    del ours_y, eager_y, compile_y
    for _ in range(2):
        for c in CONTENDERS:
            fns[c]()

    memory = {}
    if measure_memory:
        for c in CONTENDERS:  # smallest footprint first: freed heap is reused by later ones
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
        "G": G,
        "x_dtype": x_dtype,
        "out": out,
        "kind": kind,
        "x_bytes": x_bytes,
        "y_bytes": y_bytes,
        "rounds": rounds,
        "median_s": {c: statistics.median(times[c]) for c in CONTENDERS},
        "min_s": {c: min(times[c]) for c in CONTENDERS},
        "peak_rss_rise_mib": memory,
        "mismatches_vs_ours": mismatch,
        "threads": torch.get_num_threads(),
    }


# ---- The driver ----------------------------------------------------------------------


def run_worker(shape, rounds, mode):
    env = dict(os.environ)
    if mode == "steady":
        env.update(STEADY_ENV)
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        shape[0],
        "--rounds",
        str(rounds),
    ] + (["--memory"] if mode == "glibc" else [])
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


def library_isa():
    import ctypes

    import groupquant._C

    fn = ctypes.CDLL(groupquant._C.__file__).gq_cpu_isa
    fn.restype = ctypes.c_char_p
    return fn().decode()


def evaluate(row):
    """Target checks for one shape (steady run)."""
    t = row["steady"]["median_s"]
    over_eager = t["eager"] / t["ours"]
    over_compile = t["compile"] / t["ours"]
    fraction = t["ceiling"] / t["ours"]
    checks = {}
    if row["kind"] == "large":
        checks["ceiling_fraction>=0.90"] = fraction >= TARGET_CEILING_FRACTION
        checks["over_eager>=8"] = over_eager >= TARGET_OVER_EAGER
        checks["over_compile>=1.2"] = over_compile >= TARGET_OVER_COMPILE
    else:
        checks["over_compile>=1.0"] = over_compile >= TARGET_DECODE_OVER_COMPILE
    return {
        "ceiling_fraction": fraction,
        "over_eager": over_eager,
        "over_compile": over_compile,
        "checks": checks,
    }


def gbps(row, mode, c):
    return (row["x_bytes"] + row["y_bytes"]) / row[mode]["median_s"][c] / 1e9


def fmt_time(s):
    return f"{s * 1e3:8.3f} ms" if s >= 1e-3 else f"{s * 1e6:8.1f} us"


def print_table(rows, meta):
    print(
        f"\nCPU: {meta['cpu']} ({meta['logical_cpus']} logical CPUs), torch {meta['torch']}, "
        f"{meta['threads']} threads, groupquant ISA {meta['isa']}"
    )
    print(
        "steady = allocator keeps freed pages (targets); glibc = default allocator, "
        "first-touch page faults timed\n"
    )
    head = (
        f"{'shape':31} {'contender':8} {'steady':>11} {'GB/s':>6} {'of ceil':>7} "
        f"{'ours x':>7} {'glibc':>11} {'GB/s':>6} {'peak MiB':>8}"
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
                f"{gbps(row, 'steady', c):6.1f} {t['ceiling'] / t[c]:7.2f} {speedup:>7} "
                f"{fmt_time(row['glibc']['median_s'][c]):>11} {gbps(row, 'glibc', c):6.1f} "
                f"{'' if mem is None else f'{mem:8.1f}':>8}"
            )
        ev = row["eval"]
        verdict = ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in ev["checks"].items())
        print(
            f"{'':31} -> {verdict}; eager/compile mismatches vs ours: "
            f"{row['steady']['mismatches_vs_ours']['eager']}/"
            f"{row['steady']['mismatches_vs_ours']['compile']}"
        )
    print("\n'ours x' = contender time / ours (speed-up of ours); 'of ceil' = ceiling time / time.")


def plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot (pip install -r bench/requirements.txt)")
        return
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.2
    for i, c in enumerate(CONTENDERS):
        xs = [j + (i - 1.5) * width for j in range(len(rows))]
        ax.bar(xs, [gbps(r, "steady", c) for r in rows], width, label=c)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["shape"].replace(" G", "\nG") for r in rows], fontsize=8)
    ax.set_ylabel("GB/s ((x + y bytes) / time)")
    ax.set_title("npu_group_quant on CPU: copy ceiling, torch eager, torch.compile, groupquant")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument(
        "--rounds", type=int, default=0, help="timed rounds per shape (default: by size)"
    )
    ap.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--quick", action="store_true", help="few rounds: a smoke test, not a measurement"
    )
    ap.add_argument("--shapes", default="all", choices=["all", "large", "decode"])
    ap.add_argument("--out", default=RESULTS, help="directory for bench_op.json and bench_op.png")
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
    for shape in SHAPES:
        if args.shapes != "all" and shape[6] != args.shapes:
            continue
        rounds = args.rounds or (3 if args.quick else (15 if shape[6] == "large" else 200))
        print(f"{shape[0]}: {rounds} rounds ...", file=sys.stderr, flush=True)
        row = {k: v for k, v in zip(("shape", "M", "N", "G", "x_dtype", "out", "kind"), shape)}
        for mode in ("steady", "glibc"):
            row[mode] = run_worker(shape, rounds, mode)
        row["x_bytes"], row["y_bytes"] = row["steady"]["x_bytes"], row["steady"]["y_bytes"]
        row["eval"] = evaluate(row)
        rows.append(row)

    print_table(rows, meta)
    os.makedirs(args.out, exist_ok=True)
    all_pass = all(all(r["eval"]["checks"].values()) for r in rows)
    with open(os.path.join(args.out, "bench_op.json"), "w") as f:
        json.dump(
            {
                "meta": meta,
                "targets": {
                    "large_ceiling_fraction": TARGET_CEILING_FRACTION,
                    "large_over_eager": TARGET_OVER_EAGER,
                    "large_over_compile": TARGET_OVER_COMPILE,
                    "decode_over_compile": TARGET_DECODE_OVER_COMPILE,
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
