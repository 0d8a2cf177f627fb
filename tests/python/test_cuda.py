"""The CUDA implementation, bit for bit against the CPU one (skipped without a GPU).

Also: CUDA-graph capture and replay (each kernel's first use inside a capture), no host
synchronisation (torch's sync debug mode and a profiler trace of CUDA runtime calls),
torch's current stream, a second device, Inductor's CUDA graphs, invalid group_index
failing loudly and once (a device-side assertion, checked in a subprocess since it poisons
the CUDA context), one copy of the core shared by _C and _C_cuda, and a benchmark that
runs only when asked (GROUPQUANT_BENCH=1; it prints numbers and asserts nothing about them).

GROUPQUANT_REQUIRE_CUDA=1 (`make gpu-check` sets it) turns every skip for want of CUDA (a
CPU torch, no GPU, groupquant._C_cuda not built or failing to load) into a failure with
the reason; skips that need more hardware than one GPU (a second GPU, 13 GB free) stay
skips, which `pytest -rs` lists.
"""

import ctypes
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import groupquant
import pytest
import torch
from conftest import (
    DST_DTYPES,
    OUTPUT_KINDS,
    VIEW_DTYPE_PAIRS,
    assert_unchanged,
    call,
    every_call_form,
    make_inputs,
    pair_id,
    short,
    snapshot,
    strided_views,
)

op = torch.ops.groupquant.npu_group_quant
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REQUIRE_CUDA = os.environ.get("GROUPQUANT_REQUIRE_CUDA") == "1"


def why_no_cuda_op():
    """None when the CUDA implementation can run here; otherwise why not."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU build"
    if not torch.cuda.is_available():
        return "torch sees no CUDA device"
    reason = getattr(groupquant, "_cuda_unavailable", None)
    if reason:
        return reason
    if not torch._C._dispatch_has_kernel_for_dispatch_key("groupquant::npu_group_quant", "CUDA"):
        return "groupquant::npu_group_quant has no CUDA kernel registered"
    return None


NO_CUDA_OP = why_no_cuda_op()
# Tests that run, in whole or in part, on any machine.
NEEDS_NO_GPU = {"test_one_core_library", "test_a_missing_or_broken_cuda_extension_only_warns"}


@pytest.fixture(autouse=True)
def cuda_op_available(request):
    if NO_CUDA_OP is None or request.function.__name__ in NEEDS_NO_GPU:
        return
    if REQUIRE_CUDA:
        pytest.fail(f"GROUPQUANT_REQUIRE_CUDA=1, but: {NO_CUDA_OP}", pytrace=False)
    pytest.skip(f"needs a CUDA GPU and groupquant._C_cuda: {NO_CUDA_OP}")


def run_child(script: str, *args: str, timeout=300) -> subprocess.CompletedProcess:
    """Runs a Python script in a fresh process (a fresh CUDA context), next to conftest."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=HERE,
        env=dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", "")),
    )


def to_cuda(inputs: dict) -> dict:
    return {k: None if t is None else t.cuda() for k, t in inputs.items()}


def check(cpu_inputs: dict, dst_dtype=None, cuda_inputs=None) -> torch.Tensor:
    """CUDA result == CPU result, every bit; dtype, shape, device, inputs untouched."""
    cuda_inputs = to_cuda(cpu_inputs) if cuda_inputs is None else cuda_inputs
    before = snapshot(cuda_inputs)
    y = call(cuda_inputs, dst_dtype, op)
    expected = call(cpu_inputs, dst_dtype, op)
    assert y.is_cuda and y.device == cuda_inputs["x"].device and y.is_contiguous()
    assert y.dtype == expected.dtype and y.shape == expected.shape
    assert torch.equal(y.cpu(), expected)
    assert_unchanged(cuda_inputs, before)
    return y


# ---- Bit-exact against the CPU path ----------------------------------------------------


@every_call_form
def test_matches_cpu(x_dtype, scale_dtype, index_dtype, offset, dst_dtype):
    # Widths around the kernel's chunk sizes (8 fp32 / 16 16-bit columns) and its lane
    # counts; odd widths for int8 (tails, and rows whose alignment drifts).
    widths = (
        [8, 16, 24, 136, 1032, 7168]
        if dst_dtype == torch.quint4x2
        else [1, 7, 8, 17, 33, 100, 1031, 7168]
    )
    for i, n in enumerate(widths):
        inputs = make_inputs(
            37 + i,
            n,
            g=5,
            x_dtype=x_dtype,
            scale_dtype=scale_dtype,
            index_dtype=index_dtype,
            offset=offset,
            seed=n,
        )
        check(inputs, dst_dtype)


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
def test_many_rows_many_groups(kind):
    import numpy as np

    sizes = list(np.random.default_rng(7).integers(0, 40, size=300))
    inputs = make_inputs(
        int(sum(sizes)),
        512,
        sizes,
        x_dtype=torch.bfloat16,
        scale_dtype=torch.float16,
        index_dtype=torch.int32,
        seed=7,
    )
    check(inputs, kind)


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
def test_launch_shapes_from_n_and_g(kind):
    """Grids the launcher sizes from N and G rather than M (src/cuda/launch_shape.h): a few
    very wide rows spread over many blocks, and many groups whose checks need more
    threads than the rows do."""
    wide = make_inputs(3, (1 << 20) + 8, [1, 0, 2], x_dtype=torch.bfloat16, seed=61)
    check(wide, kind)
    sizes = [0] * 99_990 + [1] * 10 + [0] * 10  # 100000 groups, 10 rows
    many = make_inputs(10, 64, sizes, x_dtype=torch.float16, index_dtype=torch.int32, seed=62)
    check(many, kind)


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
@pytest.mark.parametrize("sizes", [[1, 3, 2, 0], [0, 0, 5, 2, 0, 0], [9], [0, 0, 0, 9], [1] * 9])
def test_group_layouts(sizes, kind):
    check(make_inputs(sum(sizes), 24, sizes, seed=len(sizes)), kind)


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
@pytest.mark.parametrize("dtypes", VIEW_DTYPE_PAIRS, ids=pair_id)
def test_strided_and_misaligned_views(dtypes, kind):
    inputs = make_inputs(29, 264, g=4, x_dtype=dtypes[0], scale_dtype=dtypes[1], seed=3)
    check(inputs, kind)
    for name, v in strided_views(to_cuda(inputs)).items():
        cpu = {k: None if t is None else t.cpu() for k, t in v.items()}
        assert torch.equal(call(v, kind, op).cpu(), call(cpu, kind, op)), name


@pytest.mark.parametrize("dst_dtype", DST_DTYPES, ids=short)
@pytest.mark.parametrize("m,n,g", [(0, 16, 3), (5, 0, 2), (0, 0, 1), (0, 8, 0), (4, 0, 0)])
def test_empty(m, n, g, dst_dtype):
    x = torch.randn(m, n, dtype=torch.float16, device="cuda")
    scale = torch.randn(g, n, device="cuda")
    gi = torch.full((g,), -7, dtype=torch.int32, device="cuda")  # not inspected when empty
    y = op(x, scale, gi, offset=torch.tensor([1.0], device="cuda"), dst_dtype=dst_dtype)
    packed = dst_dtype == torch.quint4x2
    assert y.is_cuda and y.dtype == (torch.int32 if packed else torch.int8)
    assert y.shape == ((m, n // 8) if packed else (m, n))


def test_64bit_indexing():
    """M * N >= 2^31 elements: checked on the last rows (and the first) against the CPU."""
    n = 8192
    m = (1 << 31) // n + 64
    free, _ = torch.cuda.mem_get_info()
    if free < 4 * m * n + m * n + m * n // 2 + (1 << 30):
        pytest.skip("needs about 13 GB of free GPU memory")
    x = torch.randn(m, n, device="cuda", dtype=torch.bfloat16) * 50
    scale = torch.rand(3, n, device="cuda") + 0.5
    gi = torch.tensor([5, m - 7, m], device="cuda")
    y = op(x, scale, gi, dst_dtype=torch.quint4x2)
    y8 = op(x, scale, gi)
    for rows, gi_cpu in [
        (slice(m - 10, m), torch.tensor([0, 3, 10])),
        (slice(0, 10), torch.tensor([5, 10, 10])),
    ]:
        xs = x[rows].cpu()
        assert torch.equal(y8[rows].cpu(), op(xs, scale.cpu(), gi_cpu))
        assert torch.equal(y[rows].cpu(), op(xs, scale.cpu(), gi_cpu, dst_dtype=torch.quint4x2))


# ---- Asynchrony: streams, no syncs, CUDA graphs ----------------------------------------


# CUDA runtime calls that block the host (or the device) until work finishes.
SYNCHRONISING_CALLS = (
    "cudaDeviceSynchronize",
    "cudaStreamSynchronize",
    "cudaEventSynchronize",
    "cudaMemcpy",
    "cudaMemcpy2D",
    "cudaMemset",
    "cudaFree",
    "cudaHostAlloc",
    "cudaMallocHost",
    "cudaFreeHost",
)


def test_no_host_synchronisation():
    """No synchronisation, first call included: neither one torch would report (sync debug
    mode) nor a direct CUDA runtime call (the profiler's trace of runtime calls, taken
    only over the op's calls)."""
    inputs = to_cuda(make_inputs(64, 256, g=6, offset="0d", seed=11))
    torch.cuda.synchronize()
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    ) as prof:
        with torch.profiler.record_function("groupquant_calls"):
            torch.cuda.set_sync_debug_mode("error")
            try:
                for kind in (torch.quint4x2, None, torch.quint4x2):
                    call(inputs, kind, op)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        torch.cuda.synchronize()
    events = prof.events()
    window = next(e for e in events if e.name == "groupquant_calls").time_range
    inside = [e for e in events if window.start <= e.time_range.start <= window.end]
    names = {e.name for e in inside}
    assert any("LaunchKernel" in n for n in names), f"the trace saw no kernel launch: {names}"
    kernels = {e.name for e in events if "group_quant_kernel" in e.name}
    assert kernels, "the trace has no group_quant_kernel on the device"
    syncs = sorted(n for n in names if n in SYNCHRONISING_CALLS or "Synchronize" in n)
    assert not syncs, f"the op made synchronising CUDA calls: {syncs}"


def test_runs_on_the_current_stream():
    cpu_inputs = make_inputs(300, 4096, g=8, x_dtype=torch.bfloat16, seed=12)
    inputs = to_cuda(cpu_inputs)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        torch.cuda._sleep(10_000_000)  # if the op ran elsewhere, it would finish first
        x = inputs["x"] * 1  # written on `side`, so only `side` may read it
        y = op(x, inputs["scale"], inputs["group_index"], offset=inputs["offset"])
    side.synchronize()
    assert torch.equal(y.cpu(), call(cpu_inputs, fn=op))


def test_second_device():
    """Tensors on cuda:1 while cuda:0 is current: the result is on cuda:1 and matches the
    CPU; on cuda:1, the op runs on that device's current stream; a device mismatch is
    refused."""
    if torch.cuda.device_count() < 2:
        pytest.skip("needs a second GPU")
    cpu_inputs = make_inputs(300, 4096, g=8, x_dtype=torch.bfloat16, seed=51)
    inputs = {k: None if t is None else t.to("cuda:1") for k, t in cpu_inputs.items()}
    with torch.cuda.device(0):
        y8 = call(inputs, None, op)
        y4 = call(inputs, torch.quint4x2, op)
        assert torch.cuda.current_device() == 0
    assert y8.device == y4.device == torch.device("cuda:1")
    assert torch.equal(y8.cpu(), call(cpu_inputs, None, op))
    assert torch.equal(y4.cpu(), call(cpu_inputs, torch.quint4x2, op))
    side = torch.cuda.Stream(device=1)
    side.wait_stream(torch.cuda.current_stream(1))
    with torch.cuda.stream(side):  # device 1, its stream `side`
        torch.cuda._sleep(10_000_000)  # if the op ran elsewhere, it would finish first
        x = inputs["x"] * 1  # written on `side`, so only `side` may read it
        y = op(x, inputs["scale"], inputs["group_index"], offset=inputs["offset"])
    side.synchronize()
    assert torch.equal(y.cpu(), call(cpu_inputs, None, op))
    with pytest.raises(RuntimeError, match="scale must be on the same device as x"):
        call(dict(inputs, scale=inputs["scale"].to("cuda:0")), fn=op)


# Every kernel (x dtype x scale dtype x output kind: 18) is first launched inside a CUDA
# graph capture, in a fresh process: nothing runs it eagerly before (the launcher's
# first-use work, such as its occupancy query, must be legal while capturing). Then the
# graph is replayed, and replayed again on new values (group_index included) written
# into the same buffers.
GRAPH_SCRIPT = textwrap.dedent(r"""
    import itertools, torch, groupquant
    from conftest import call, make_inputs
    op = torch.ops.groupquant.npu_group_quant
    floats = [torch.float32, torch.float16, torch.bfloat16]
    combos = list(itertools.product(floats, floats, [None, torch.quint4x2]))
    def inputs(i, seed):
        xd, sd, _ = combos[i]
        return make_inputs(96, 1024, g=7, x_dtype=xd, scale_dtype=sd,
                           index_dtype=[torch.int32, torch.int64][i % 2], seed=seed)
    first = [inputs(i, 100 + i) for i in range(len(combos))]
    static = [{k: None if t is None else t.cuda() for k, t in c.items()} for c in first]
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outs = [call(static[i], combos[i][2], op) for i in range(len(combos))]
    for round, cpu in enumerate([first, [inputs(i, 200 + i) for i in range(len(combos))]]):
        if round:
            for c, s in zip(cpu, static):
                for k, t in c.items():
                    if t is not None:
                        s[k].copy_(t)
        graph.replay()
        torch.cuda.synchronize()
        for i, (c, y) in enumerate(zip(cpu, outs)):
            assert torch.equal(y.cpu(), call(c, combos[i][2], op)), (round, combos[i])
    print("CAPTURED", len(combos), flush=True)
""")


def test_first_use_inside_cuda_graph_capture_and_replay():
    result = run_child(GRAPH_SCRIPT)
    assert result.returncode == 0 and "CAPTURED 18" in result.stdout, result.stdout + result.stderr


def test_torch_compile_fullgraph():
    inputs = to_cuda(make_inputs(40, 64, g=3, seed=31))

    def f(x, scale, group_index, offset):
        return groupquant.npu_group_quant(x * 2, scale, group_index, offset=offset) + 1

    compiled = torch.compile(f, fullgraph=True, dynamic=True)
    assert torch.equal(compiled(**inputs), f(**inputs))


def test_torch_compile_reduce_overhead(monkeypatch):
    """mode="reduce-overhead": Inductor records the op into a CUDA graph (cudagraph trees),
    which needs it to be asynchronous and allocate through torch; later calls replay it.
    Inductor falls back to eager silently, so the test counts the graphs captured, reads
    Inductor's skip counter, and finds a cudaGraphLaunch in a profile of a later call."""
    from torch._dynamo.utils import counters

    inputs = to_cuda(make_inputs(40, 64, g=3, offset="1d", seed=33))
    captures = []
    capture_begin = torch.cuda.CUDAGraph.capture_begin

    def counting_capture_begin(self, *args, **kwargs):
        captures.append(self)
        return capture_begin(self, *args, **kwargs)

    monkeypatch.setattr(torch.cuda.CUDAGraph, "capture_begin", counting_capture_begin)

    def f(x, scale, group_index, offset):
        return groupquant.npu_group_quant(x, scale, group_index, offset=offset)

    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(f, mode="reduce-overhead", fullgraph=True)
    for _ in range(3):  # warm-up, recording, replay
        y = compiled(**inputs).clone()  # a replay reuses its output buffer
    assert torch.equal(y, f(**inputs))
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])
    assert captures, "Inductor captured no CUDA graph (it fell back to running eagerly)"
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    ) as prof:
        y = compiled(**inputs).clone()
        torch.cuda.synchronize()
    names = {e.name for e in prof.events()}
    assert "cudaGraphLaunch" in names, sorted(names)
    assert any("group_quant_kernel" in n for n in names), sorted(names)
    assert torch.equal(y, f(**inputs))


def test_opcheck():
    inputs = to_cuda(make_inputs(20, 32, g=3, offset="1d", seed=32))
    for dst_dtype in [None, torch.quint4x2]:
        torch.library.opcheck(
            op,
            (inputs["x"], inputs["scale"], inputs["group_index"]),
            {"offset": inputs["offset"], "dst_dtype": dst_dtype},
        )


# ---- Errors ----------------------------------------------------------------------------


def test_host_side_validation_matches_cpu():
    cpu = make_inputs(8, 16, [3, 5], seed=41)
    bad = dict(cpu, scale=cpu["scale"][:, :15])
    with pytest.raises(RuntimeError) as cpu_error:
        call(bad, fn=op)
    with pytest.raises(RuntimeError) as cuda_error:
        call(to_cuda(bad), fn=op)
    assert str(cuda_error.value).splitlines()[0] == str(cpu_error.value).splitlines()[0]


def test_mixed_devices_fail():
    inputs = to_cuda(make_inputs(8, 16, [3, 5], seed=42))
    with pytest.raises(RuntimeError, match="scale must be on the same device as x"):
        call(dict(inputs, scale=inputs["scale"].cpu()), fn=op)
    with pytest.raises(RuntimeError, match="group_index must be on the same device as x"):
        call(dict(inputs, group_index=inputs["group_index"].cpu()), fn=op)


# The kernel's message goes through the device printf buffer to C's stdout, which is
# block-buffered into the pipe: the child makes it unbuffered and flushes it before
# reporting, so the parent reads the message whatever the child does next.
ASSERT_SCRIPT = textwrap.dedent(r"""
    import ctypes, sys, torch, groupquant
    libc = ctypes.CDLL(None)
    libc.setvbuf(ctypes.c_void_p.in_dll(libc, "stdout"), None, 2, 0)  # _IONBF
    gi = torch.tensor(eval(sys.argv[1]), dtype=torch.int64, device="cuda")
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    x = torch.randn(m, 64, device="cuda")
    scale = torch.ones(gi.numel(), 64, device="cuda")
    try:
        # Asynchronous: the error normally surfaces at the synchronisation (or, if the
        # kernel already failed, at the launch check).
        y = torch.ops.groupquant.npu_group_quant(x, scale, gi)
        torch.cuda.synchronize()
    except RuntimeError as e:
        libc.fflush(None)
        print("RAISED:", str(e).splitlines()[0], flush=True)
        sys.exit(0)
    libc.fflush(None)
    print("NO ERROR", flush=True)
    sys.exit(1)
""")


def run_assert_script(group_index: str, m: int = 6) -> str:
    result = run_child(ASSERT_SCRIPT, group_index, str(m))
    out = result.stdout + result.stderr
    assert "RAISED:" in result.stdout and "device-side assert" in result.stdout, out
    return out


# The kernel prints one message (the first failing thread's): where two rules break,
# either may come first.
@pytest.mark.parametrize(
    "group_index,messages",
    [
        ("[-1, 3, 6]", ["group_index values must be non-negative: group_index[0]=-1"]),
        (
            "[1, 4, 2, 6]",
            ["group_index must be non-decreasing: group_index[2]=2 < group_index[1]=4"],
        ),
        ("[1, 7, 7]", ["group_index values must not exceed M=6 (x.size(0)): group_index["]),
        (
            "[1, 4, 5]",
            [
                "group_index last value must equal M=6 (x.size(0)): group_index[2]=5",
                "no group owns row 5",
            ],
        ),
        ("[0, 0]", ["group_index last value must equal M=6", "no group owns row"]),
    ],
    ids=["negative", "decreasing", "above_m", "last_not_m", "all_zero"],
)
def test_invalid_group_index_fails_loudly(group_index, messages):
    out = run_assert_script(group_index)
    assert any(m in out for m in messages), out  # the kernel's printf names the entry


@pytest.mark.parametrize(
    "group_index,m",
    [("[0, 0]", 1 << 20), ("list(range(200000, 0, -1))", 64)],
    ids=["every_row_fails", "every_entry_fails"],
)
def test_invalid_group_index_asserts_once(group_index, m):
    """Where a million threads fail, one reports: one message, one assertion, intact."""
    out = run_assert_script(group_index, m)
    messages = [ln for ln in out.splitlines() if ln.startswith("groupquant: group_index")]
    assertions = [ln for ln in out.splitlines() if "Assertion `group_index is valid" in ln]
    assert len(messages) == 1 and len(assertions) == 1, out[-4000:]
    assert re.fullmatch(  # the whole message, cut nowhere
        r"groupquant: group_index .*(group_index\[\d+\]=-?\d+|no group owns row \d+)",
        messages[0],
    ), messages[0]


# ---- One core per process ------------------------------------------------------------


def test_one_core_library():
    """_C and _C_cuda use the one libgroupquant.so.0 shipped beside them (one ISA setting,
    one gq_last_error): the process maps a single copy, and an error raised through each
    extension is the last error of that library. The _C_cuda half needs a GPU."""
    package = os.path.dirname(groupquant.__file__)
    path = os.path.join(package, "libgroupquant.so.0")
    assert os.path.isfile(path), os.listdir(package)
    with open("/proc/self/maps") as f:
        mapped = {ln.split()[-1] for ln in f if "libgroupquant" in ln}
    assert mapped == {os.path.realpath(path)}, mapped
    core = ctypes.CDLL(path)  # the library already loaded: the same handle
    core.gq_last_error.restype = ctypes.c_char_p
    cpu = make_inputs(8, 16, [3, 5], seed=41)
    with pytest.raises(RuntimeError) as cpu_error:
        call(dict(cpu, scale=cpu["scale"][:, :15]), fn=op)
    assert core.gq_last_error().decode() in str(cpu_error.value)
    if NO_CUDA_OP is not None:
        if REQUIRE_CUDA:
            pytest.fail(f"GROUPQUANT_REQUIRE_CUDA=1, but: {NO_CUDA_OP}", pytrace=False)
        return  # the CPU half above is all this machine can check
    with pytest.raises(RuntimeError) as cuda_error:
        call(dict(to_cuda(cpu), offset=torch.ones(2, device="cuda")), fn=op)
    last = core.gq_last_error().decode()
    assert last and last in str(cuda_error.value) and last not in str(cpu_error.value)


IMPORT_SCRIPT = textwrap.dedent(r"""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import torch, groupquant
    print("WARNINGS:", [str(w.message) for w in caught if w.category is RuntimeWarning])
    print("UNAVAILABLE:", groupquant._cuda_unavailable)
    y = groupquant.npu_group_quant(torch.ones(4, 8), torch.ones(2, 8), torch.tensor([1, 4]))
    print("CPU OP:", int(y.sum()))
""")


@pytest.mark.parametrize("case", ["broken_library", "build_failed", "cpu_torch_skip"])
def test_a_missing_or_broken_cuda_extension_only_warns(case, tmp_path):
    """`import groupquant` and the CPU op survive a _C_cuda that cannot load or was not
    built, and say so with a RuntimeWarning (not where torch has no CUDA and the build
    skipped it for that)."""
    package = os.path.dirname(groupquant.__file__)
    copy = tmp_path / "groupquant"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("_C_cuda*", "__pycache__"))
    if case == "broken_library":  # e.g. torch or the CUDA runtime replaced since the build
        (copy / ("_C_cuda" + sysconfig.get_config_var("EXT_SUFFIX"))).write_bytes(b"not ELF")
    record = {"build_failed": ("failed", "nvcc exploded"), "cpu_torch_skip": ("skipped", "x")}
    if case in record:
        (copy / "_build_info.py").write_text(f"CUDA_BUILD = {record[case]!r}\n")
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(tmp_path)),
    )
    assert result.returncode == 0 and "CPU OP: 32" in result.stdout, result.stdout + result.stderr
    warned = result.stdout.split("WARNINGS:")[1].split("\n")[0]
    if case == "broken_library":
        assert "groupquant._C_cuda failed to load" in warned, result.stdout
    elif case == "build_failed":
        assert "was not built (failed: nvcc exploded)" in warned, result.stdout
    else:  # a CPU torch has nothing to warn about; a CUDA torch does
        assert ("was not built" in warned) == (torch.version.cuda is not None), result.stdout
    assert "UNAVAILABLE: None" not in result.stdout


# ---- Benchmark (runs only with GROUPQUANT_BENCH=1; prints, never asserts on timing) ----


@pytest.mark.skipif(
    os.environ.get("GROUPQUANT_BENCH") != "1", reason="benchmark: set GROUPQUANT_BENCH=1 to run it"
)
def test_benchmark(capsys):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        import bench_cuda
    finally:
        sys.path.pop(0)
    with capsys.disabled():
        assert bench_cuda.main(["--quick"] if os.environ.get("GROUPQUANT_BENCH_QUICK") else []) == 0
