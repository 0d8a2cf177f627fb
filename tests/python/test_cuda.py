"""The CUDA implementations (npu_group_quant, npu_dynamic_quant(_asymmetric)), bit for bit
against the CPU ones (skipped without a GPU).

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
import numpy as np
import pytest
import test_dynamic_quant as dq  # the dynamic ops' case builders and bit comparison
import torch
from conftest import (
    DST_DTYPES,
    OUTPUT_KINDS,
    VIEW_DTYPE_PAIRS,
    assert_unchanged,
    bits,
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
    for name in ("npu_group_quant", "npu_dynamic_quant", "npu_dynamic_quant_asymmetric"):
        if not torch._C._dispatch_has_kernel_for_dispatch_key(f"groupquant::{name}", "CUDA"):
            return f"groupquant::{name} has no CUDA kernel registered"
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


# ---- npu_dynamic_quant(_asymmetric) on CUDA --------------------------------------------
# The CPU op is the reference (test_dynamic_quant.py checks it against the numpy oracle and
# SPEC-dynamic-quant.md §7); here every CUDA output must equal it bit for bit (NaN offsets
# compare as NaN, §9.7, as there).

DYNAMIC_OPS = {
    False: torch.ops.groupquant.npu_dynamic_quant,
    True: torch.ops.groupquant.npu_dynamic_quant_asymmetric,
}


def cuda_or_none(t, device="cuda"):
    return None if t is None else t.to(device)


def check_dynamic(x, smooth=None, group_index=None, **kw):
    """The op on CUDA tensors (any views) == the op on their CPU copies, every bit; the
    outputs are on x's device and contiguous, the inputs untouched."""
    inputs = dict(x=x, smooth=smooth, group_index=group_index)
    before = snapshot(inputs)
    got = dq.call(x, smooth, group_index, **kw)
    kw.pop("form", None)
    want = dq.call(*(None if t is None else t.cpu() for t in inputs.values()), **kw)
    for t in got:
        assert t.device == x.device and t.is_contiguous()
    dq.assert_bits_equal([t.cpu() for t in got], want)
    assert_unchanged(inputs, before)
    return got


def dynamic_case(shape, x_dtype, smooth_kind, rng, **kw):
    return tuple(cuda_or_none(t) for t in dq.make_case(shape, x_dtype, smooth_kind, rng, **kw))


# Row widths around the kernel's team sizes (a warp up to ~1K columns, up to the whole block
# beyond), its 16-column chunks and their tails, and past the 72 KiB staging limit (20480
# columns: read twice); odd widths (element path) where the output allows them.
DYNAMIC_SHAPES = {
    "int4": [(37, 64), (3, 5, 24), (2, 3, 4, 16), (1, 8), (5, 1032), (3, 4104), (2, 20480)],
    "other": [(37, 64), (3, 5, 24), (2, 3, 4, 16), (1, 8), (9, 17), (5, 1031), (3, 4100)]
    + [(2, 20480), (300, 100)],
}


@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize("smooth_kind", dq.SMOOTH_KINDS)
@pytest.mark.parametrize("out_chip", dq.OUT_CHIPS, ids=dq.pair_id)
@pytest.mark.parametrize("x_dtype", dq.X_DTYPES, ids=short)
def test_dynamic_matches_cpu(x_dtype, out_chip, smooth_kind, asymmetric):
    out, chip = out_chip
    rng = np.random.default_rng(len(out) * 100 + len(smooth_kind) + (x_dtype == torch.float16))
    shapes = DYNAMIC_SHAPES["int4" if out == "int4" else "other"]
    for i, shape in enumerate(shapes):
        x, smooth, gi = dynamic_case(shape, x_dtype, smooth_kind, rng, experts=1 + i % 5)
        form = i % len(dq.DST_TYPES[out])
        check_dynamic(x, smooth, gi, out=out, chip=chip, asymmetric=asymmetric, form=form)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize(
    "rows, h, smooth_kind, experts, out",
    [
        (100, 4096, "none", 1, "int8"),
        (100, 4096, "none", 1, "int4"),
        (5, 520, "vector", 1, "int8"),
        (3, 17792, "none", 1, "int8"),
        (3, 16001, "none", 1, "int8"),
        (6, 40, "none", 1, "int8"),
        (3, 11000, "moe-int32", 5, "int8"),
        (3, 12000, "moe-int64", 2, "int8"),
        (4099, 256, "moe-int32", 300, "int8"),  # many rows and experts: grid-stride
    ],
)
def test_dynamic_a2_scale_of_every_npu_kernel(rows, h, smooth_kind, experts, out, asymmetric):
    """The A2 scale's bits depend on the NPU kernel the shape selects (SPEC §2.2): these
    shapes select each of them (test_dynamic_quant.py checks which)."""
    rng = np.random.default_rng(rows + h)
    x, smooth, gi = dynamic_case((rows, h), torch.bfloat16, smooth_kind, rng, experts=experts)
    check_dynamic(x, smooth, gi, out=out, chip="a2", asymmetric=asymmetric)


def test_dynamic_group_index_without_smooth_is_ignored():
    # Not even valid for 40 rows, yet never read; its presence still selects the A2 kernel.
    x = dq.random_x((40, 16000), torch.bfloat16, np.random.default_rng(9)).cuda()
    gi = torch.tensor([3, 7], dtype=torch.int32, device="cuda")
    with_index = check_dynamic(x, None, gi)
    without = check_dynamic(x)
    assert not torch.equal(bits(with_index[1]), bits(without[1]))


@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize("out_chip", dq.OUT_CHIPS, ids=dq.pair_id)
def test_dynamic_strided_and_rank3_views(out_chip, asymmetric):
    out, chip = out_chip
    x, smooth, gi = dynamic_case((12, 32), torch.bfloat16, "moe-int64", np.random.default_rng(11))
    gi = torch.tensor([0, 5, 9, 12], device="cuda")  # 4 experts, the first empty

    def z(*shape, dtype=x.dtype):
        return torch.zeros(*shape, dtype=dtype, device="cuda")

    views = {
        "x_transposed": dict(x=x.t().contiguous().t()),
        "x_column_step": dict(x=z(12, 64)[:, ::2].copy_(x)),
        "x_storage_offset": dict(x=z(25, 35)[1::2, 3:].copy_(x)),
        "x_rank3": dict(x=x.reshape(3, 4, 32)),
        "x_rank3_permuted": dict(
            x=x.reshape(3, 4, 32).permute(1, 0, 2).contiguous().permute(1, 0, 2)
        ),
        "x_rank3_row_step": dict(x=z(2, 12, 32)[:, ::2].copy_(x.reshape(2, 6, 32))),
        "smooth_transposed": dict(smooth=smooth.t().contiguous().t()),
        "smooth_broadcast_row": dict(smooth=smooth[:1].expand(4, 32)),
        "group_index_step": dict(gi=z(12, dtype=gi.dtype)[1::3].copy_(gi)),
        "group_index_int32": dict(gi=gi.to(torch.int32)),
    }
    for name, change in views.items():
        case = {**dict(x=x, smooth=smooth, gi=gi), **change}
        check_dynamic(
            case["x"], case["smooth"], case["gi"], out=out, chip=chip, asymmetric=asymmetric
        )
    # A strided [H] smooth, and a lazily negated x (resolved on the device).
    vector = z(64)[::2].copy_(smooth[1])
    check_dynamic(x.t().contiguous().t(), vector, out=out, chip=chip, asymmetric=asymmetric)
    neg = x._neg_view()
    got = dq.call(neg, smooth, gi, out=out, chip=chip, asymmetric=asymmetric)
    want = dq.call((-x).cpu(), smooth.cpu(), gi.cpu(), out=out, chip=chip, asymmetric=asymmetric)
    dq.assert_bits_equal([t.cpu() for t in got], want)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize("out_chip", dq.OUT_CHIPS, ids=dq.pair_id)
@pytest.mark.parametrize("x_dtype", dq.X_DTYPES, ids=short)
def test_dynamic_special_values(x_dtype, out_chip, asymmetric):
    out, chip = out_chip
    rows = torch.tensor(list(dq.SPECIAL_ROWS.values()), dtype=torch.float64)
    x = rows.to(x_dtype).cuda()
    check_dynamic(x, out=out, chip=chip, asymmetric=asymmetric)
    smooth = torch.tensor([1.0, 0.0, -1.0, 2.0, 1e30, 1.0, 0.5, 1.0], dtype=torch.float64)
    check_dynamic(x, smooth.to(x_dtype).cuda(), out=out, chip=chip, asymmetric=asymmetric)
    # Special values scattered through wide rows (vector path, team reductions).
    rng = np.random.default_rng(5)
    wide = dq.random_x((64, 1024), x_dtype, rng, specials=0.5).cuda()
    check_dynamic(wide, out=out, chip=chip, asymmetric=asymmetric)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize("out_chip", dq.OUT_CHIPS, ids=dq.pair_id)
@pytest.mark.parametrize("shape", [(0, 16), (2, 0, 16), (3, 0), (2, 2, 0)], ids=str)
def test_dynamic_empty(shape, out_chip, asymmetric):
    # rows == 0: nothing launched; H == 0: scale (and offset) are 0.
    out, chip = out_chip
    x = torch.empty(shape, dtype=torch.float16, device="cuda")
    got = check_dynamic(x, out=out, chip=chip, asymmetric=asymmetric)
    assert got[1].shape == shape[:-1]
    rows = int(np.prod(shape[:-1]))
    smooth = torch.ones(3, shape[-1], dtype=torch.float16, device="cuda")
    gi = torch.tensor([0, rows, rows], dtype=torch.int32, device="cuda")
    check_dynamic(x, smooth, gi, out=out, chip=chip, asymmetric=asymmetric)


def test_dynamic_64bit_indexing():
    """rows * H >= 2^31 elements: the last rows (and the first) against the CPU."""
    h = 8192
    rows = (1 << 31) // h + 64
    free, _ = torch.cuda.mem_get_info()
    if free < 2 * rows * h + rows * h + (1 << 30):
        pytest.skip("needs about 8 GB of free GPU memory")
    x = torch.randn(rows, h, device="cuda", dtype=torch.bfloat16).mul_(50)
    smooth = (torch.rand(3, h, device="cuda") + 0.5).to(torch.bfloat16)
    gi = torch.tensor([5, rows - 7, rows], device="cuda")
    y, scale, offset = groupquant.npu_dynamic_quant_asymmetric(
        x, smooth_scales=smooth, group_index=gi, chip="950"
    )
    for part, gi_cpu in [
        (slice(rows - 10, rows), torch.tensor([0, 3, 10])),
        (slice(0, 10), torch.tensor([5, 10, 10])),
    ]:
        want = groupquant.npu_dynamic_quant_asymmetric(
            x[part].cpu(), smooth_scales=smooth.cpu(), group_index=gi_cpu, chip="950"
        )
        dq.assert_bits_equal([y[part].cpu(), scale[part].cpu(), offset[part].cpu()], want)


def test_dynamic_host_side_validation_matches_cpu():
    x = torch.ones(6, 12, dtype=torch.float16)
    cases = [
        dict(input=x, dst_type=16),  # H % 8 != 0 for int4
        dict(input=x, smooth_scales=torch.ones(3, 12, dtype=torch.bfloat16)),
        dict(input=x.float()),
        dict(input=x, dst_type=torch.float8_e4m3fn),  # a2
        dict(input=x, chip="910b"),
    ]
    for kw in cases:
        with pytest.raises(RuntimeError) as cpu_error:
            groupquant.npu_dynamic_quant(**kw)
        cuda_kw = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
        with pytest.raises(RuntimeError) as cuda_error:
            groupquant.npu_dynamic_quant(**cuda_kw)
        assert str(cuda_error.value).splitlines()[0] == str(cpu_error.value).splitlines()[0]


def test_dynamic_mixed_devices_fail():
    x = torch.ones(6, 8, dtype=torch.float16, device="cuda")
    smooth = torch.ones(2, 8, dtype=torch.float16, device="cuda")
    gi = torch.tensor([2, 6], device="cuda")
    for asymmetric, op_ in DYNAMIC_OPS.items():
        with pytest.raises(
            RuntimeError,
            match="smooth_scales must be on the same device as input: got smooth_scales on "
            "cpu and input on cuda:0",
        ):
            op_(x, smooth_scales=smooth.cpu(), group_index=gi)
        with pytest.raises(
            RuntimeError,
            match="group_index must be on the same device as input: got group_index on cpu",
        ):
            op_(x, smooth_scales=smooth, group_index=gi.cpu())
        with pytest.raises(
            RuntimeError,
            match="smooth_scales must be on the same device as input: got smooth_scales on "
            "cuda:0 and input on cpu",
        ):
            op_(x.cpu(), smooth_scales=smooth, group_index=gi.cpu())


def test_dynamic_runs_on_the_current_stream():
    rng = np.random.default_rng(12)
    x, smooth, gi = dynamic_case((300, 4096), torch.bfloat16, "moe-int32", rng, experts=8)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        torch.cuda._sleep(10_000_000)  # if the op ran elsewhere, it would finish first
        x2 = x * 1  # written on `side`, so only `side` may read it
        got = groupquant.npu_dynamic_quant_asymmetric(x2, smooth_scales=smooth, group_index=gi)
    side.synchronize()
    want = groupquant.npu_dynamic_quant_asymmetric(
        x.cpu(), smooth_scales=smooth.cpu(), group_index=gi.cpu()
    )
    dq.assert_bits_equal([t.cpu() for t in got], want)


def test_dynamic_second_device():
    """Tensors on cuda:1 while cuda:0 is current: the outputs are on cuda:1 and match."""
    if torch.cuda.device_count() < 2:
        pytest.skip("needs a second GPU")
    rng = np.random.default_rng(52)
    cpu = dq.make_case((300, 4096), torch.bfloat16, "moe-int64", rng, experts=8)
    x, smooth, gi = (cuda_or_none(t, "cuda:1") for t in cpu)
    with torch.cuda.device(0):
        got = check_dynamic(x, smooth, gi, out="e4m3fn", chip="950", asymmetric=True)
        assert torch.cuda.current_device() == 0
    assert all(t.device == torch.device("cuda:1") for t in got)
    with pytest.raises(RuntimeError, match="smooth_scales must be on the same device as input"):
        groupquant.npu_dynamic_quant(x, smooth_scales=smooth.to("cuda:0"), group_index=gi)


def assert_no_host_synchronisation(fn, kernel=None):
    """fn() makes no synchronisation: neither one torch would report (sync debug mode) nor
    a direct CUDA runtime call (the profiler's trace, taken only over fn's calls). With
    `kernel`, the trace must show it launched and run."""
    torch.cuda.synchronize()
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    ) as prof:
        with torch.profiler.record_function("groupquant_calls"):
            torch.cuda.set_sync_debug_mode("error")
            try:
                result = fn()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        torch.cuda.synchronize()
    events = prof.events()
    window = next(e for e in events if e.name == "groupquant_calls").time_range
    names = {e.name for e in events if window.start <= e.time_range.start <= window.end}
    if kernel:
        assert any("LaunchKernel" in n for n in names), f"the trace saw no kernel launch: {names}"
        assert any(kernel in e.name for e in events), f"no {kernel} ran"
    syncs = sorted(n for n in names if n in SYNCHRONISING_CALLS or "Synchronize" in n)
    assert not syncs, f"synchronising CUDA calls: {syncs}"
    return result


def test_dynamic_no_host_synchronisation():
    """No synchronisation, first calls included (as test_no_host_synchronisation)."""
    rng = np.random.default_rng(13)
    x, smooth, gi = dynamic_case((64, 512), torch.bfloat16, "moe-int64", rng, experts=6)
    calls = [
        (False, dict(dst_type=16)),
        (True, dict(dst_type=torch.float8_e5m2, chip="950")),
        (False, dict()),
        (True, dict(dst_type=16, chip="950")),
    ]

    def run():
        for asymmetric, kw in calls:
            fn = (
                groupquant.npu_dynamic_quant_asymmetric
                if asymmetric
                else groupquant.npu_dynamic_quant
            )
            fn(x, smooth_scales=smooth, group_index=gi, **kw)

    assert_no_host_synchronisation(run, kernel="dynamic_quant_kernel")


@pytest.mark.parametrize("group_list_type", [0, 1, 2])
def test_to_group_index_on_cuda_without_host_sync(group_list_type):
    counts = torch.tensor([3, 0, 5, 2, 0, 7], dtype=torch.int32)
    group_list = {
        0: torch.cumsum(counts, 0, dtype=torch.int32),
        1: counts,
        2: torch.stack([torch.tensor([2, 0, 5, 3, 1, 4]), counts[[2, 0, 5, 3, 1, 4]].long()], 1),
    }[group_list_type].cuda()
    out = assert_no_host_synchronisation(
        lambda: groupquant.to_group_index(group_list, group_list_type)
    )
    assert out.is_cuda and out.dtype == group_list.dtype
    assert out.cpu().tolist() == [3, 3, 8, 10, 10, 17]
    assert torch.equal(out.cpu(), groupquant.to_group_index(group_list.cpu(), group_list_type))


def test_dynamic_torch_compile_fullgraph():
    """One graph for every shape (dynamic=True), Inductor on CUDA, bits equal to eager; the
    group list converted inside the graph too."""
    from torch._dynamo.testing import CompileCounterWithBackend

    def f(x, smooth, counts):
        return dq.moe_quant(x, smooth, groupquant.to_group_index(counts, 1))

    torch._dynamo.reset()
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(f, backend=counter, fullgraph=True, dynamic=True)
    rng = np.random.default_rng(19)
    for rows, h, experts in [(6, 16, 3), (19, 24, 4), (40, 64, 7)]:
        x, smooth, gi = dynamic_case((rows, h), torch.float16, "moe-int32", rng, experts=experts)
        counts = torch.diff(gi, prepend=gi.new_zeros(1))
        got = compiled(x, smooth, counts)
        want = dq.moe_quant(x.cpu(), smooth.cpu(), gi.cpu())
        assert all(t.is_cuda for t in got)
        dq.assert_bits_equal([t.cpu() for t in got[:2]], want[:2])
        dq.assert_bits_equal([t.cpu() for t in got[2:5]], want[2:5])
        dq.assert_bits_equal([t.cpu() for t in got[5:7]], want[5:7])
        assert torch.equal(got[7].cpu(), want[7])
    assert counter.frame_count == 1
    torch._dynamo.reset()


@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
def test_dynamic_opcheck(asymmetric):
    rng = np.random.default_rng(23)
    for shape, smooth_kind, kw in [
        ((9, 16), "none", {}),
        ((3, 4, 16), "vector", dict(dst_type=16)),
        ((11, 24), "moe-int32", dict(dst_type=23, chip="950")),
        ((0, 16), "moe-int64", {}),
    ]:
        x, smooth, gi = dynamic_case(shape, torch.bfloat16, smooth_kind, rng, experts=3, specials=0)
        torch.library.opcheck(
            DYNAMIC_OPS[asymmetric], (x,), dict(smooth_scales=smooth, group_index=gi, **kw)
        )


# Each dynamic kernel (x dtype x output kind: 8; chip and symmetry are run-time) is first
# launched inside a CUDA graph capture, in a fresh process, for every chip and symmetry, at
# a width whose block stages its rows in less shared memory than the default 48 KiB and one
# that needs more (the launcher raises the kernel's limit, during the capture). Replayed,
# then replayed on new values (group_index included) written into the same buffers.
DYNAMIC_GRAPH_SCRIPT = textwrap.dedent(r"""
    import itertools, numpy as np, torch, groupquant
    import test_dynamic_quant as dq
    combos = [(xd, out, chip, asym, shape)
              for xd in dq.X_DTYPES for out, chip in dq.OUT_CHIPS for asym in (False, True)
              for shape in [(96, 1024), (5, 16384)]]
    def cases(seed):
        rng = np.random.default_rng(seed)
        return [dq.make_case(c[4], c[0], "moe-int64" if i % 2 else "moe-int32", rng,
                             experts=7, specials=0.1) for i, c in enumerate(combos)]
    def run(case, c):
        return dq.call(*case, out=c[1], chip=c[2], asymmetric=c[3])
    first = cases(100)
    static = [[None if t is None else t.cuda() for t in case] for case in first]
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outs = [run(s, c) for s, c in zip(static, combos)]
    for round, cpu in enumerate([first, cases(200)]):
        if round:
            for case, s in zip(cpu, static):
                for t, dst in zip(case, s):
                    dst.copy_(t)
        graph.replay()
        torch.cuda.synchronize()
        for case, c, got in zip(cpu, combos, outs):
            dq.assert_bits_equal([t.cpu() for t in got], run(case, c))
    print("CAPTURED", len(combos), flush=True)
""")


def test_dynamic_first_use_inside_cuda_graph_capture_and_replay():
    result = run_child(DYNAMIC_GRAPH_SCRIPT)
    assert result.returncode == 0 and "CAPTURED 48" in result.stdout, result.stdout + result.stderr


DYNAMIC_ASSERT_SCRIPT = textwrap.dedent(r"""
    import ctypes, sys, torch, groupquant
    libc = ctypes.CDLL(None)
    libc.setvbuf(ctypes.c_void_p.in_dll(libc, "stdout"), None, 2, 0)  # _IONBF
    gi = torch.tensor(eval(sys.argv[1]), dtype=torch.int64, device="cuda")
    rows = int(sys.argv[2])
    x = torch.randn(rows, 64, device="cuda", dtype=torch.bfloat16)
    smooth = torch.ones(gi.numel(), 64, device="cuda", dtype=torch.bfloat16)
    try:
        y = groupquant.npu_dynamic_quant_asymmetric(x, smooth_scales=smooth, group_index=gi)
        torch.cuda.synchronize()
    except RuntimeError as e:
        libc.fflush(None)
        print("RAISED:", str(e).splitlines()[0], flush=True)
        sys.exit(0)
    libc.fflush(None)
    print("NO ERROR", flush=True)
    sys.exit(1)
""")


# The kernel reports the first bad entry of the whole array, whichever thread notices: the
# entry, and the words, of the CPU op's host-side check.
@pytest.mark.parametrize(
    "group_index,rows",
    [
        ("[-1, 3, 6]", 6),
        ("[1, 4, 2, 6]", 6),
        ("[1, 4, 5]", 6),
        ("[0, 0]", 1 << 20),
        ("list(range(200000, 0, -1))", 64),
    ],
    ids=["negative", "decreasing", "last_not_rows", "every_row_fails", "every_entry_fails"],
)
def test_dynamic_invalid_group_index_asserts_once(group_index, rows):
    """One message, whole, and one assertion, however many threads fail."""
    gi = torch.tensor(eval(group_index))
    with pytest.raises(RuntimeError) as cpu_error:
        groupquant.npu_dynamic_quant_asymmetric(
            torch.zeros(rows, 64, dtype=torch.bfloat16),
            smooth_scales=torch.ones(gi.numel(), 64, dtype=torch.bfloat16),
            group_index=gi,
        )
    result = run_child(DYNAMIC_ASSERT_SCRIPT, group_index, str(rows))
    out = result.stdout + result.stderr
    assert "RAISED:" in result.stdout and "device-side assert" in result.stdout, out[-4000:]
    messages = [ln for ln in out.splitlines() if ln.startswith("groupquant: group_index")]
    assertions = [ln for ln in out.splitlines() if "Assertion `group_index is valid" in ln]
    assert len(messages) == 1 and len(assertions) == 1, out[-4000:]
    assert messages[0] == "groupquant: " + str(cpu_error.value).splitlines()[0], out[-4000:]


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
