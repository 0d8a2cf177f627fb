"""The CUDA implementation, bit for bit against the CPU one (skipped without a GPU).

Also: CUDA-graph capture and replay, no host synchronisation, torch's current stream,
invalid group_index failing loudly (a device-side assertion, checked in a subprocess
since it poisons the CUDA context), and a benchmark that runs only when asked
(GROUPQUANT_BENCH=1; it prints numbers and asserts nothing about them).
"""

import os
import subprocess
import sys
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

HAVE_CUDA_OP = torch.cuda.is_available() and hasattr(groupquant, "_C_cuda")
pytestmark = pytest.mark.skipif(
    not HAVE_CUDA_OP, reason="needs a CUDA GPU and groupquant._C_cuda (torch with CUDA + nvcc)"
)

op = torch.ops.groupquant.npu_group_quant
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


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


def test_no_host_synchronisation():
    inputs = to_cuda(make_inputs(64, 256, g=6, offset="0d", seed=11))
    call(inputs, fn=op)  # warm-up: the first call may initialise things
    torch.cuda.set_sync_debug_mode("error")
    try:
        call(inputs, torch.quint4x2, op)
    finally:
        torch.cuda.set_sync_debug_mode("default")


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


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
def test_cuda_graph_capture_and_replay(kind):
    first, second = (
        make_inputs(
            96,
            1024,
            g=7,
            x_dtype=torch.float16,
            scale_dtype=torch.bfloat16,
            index_dtype=torch.int32,
            seed=seed,
        )
        for seed in (21, 22)
    )
    static = to_cuda(first)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside capture, as torch recommends
        call(static, kind, op)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        y = call(static, kind, op)
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(y.cpu(), call(first, kind, op))
    # New values (group_index included) in the same buffers: the replay reads them.
    for k, t in second.items():
        if t is not None:
            static[k].copy_(t)
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(y.cpu(), call(second, kind, op))


def test_torch_compile_fullgraph():
    inputs = to_cuda(make_inputs(40, 64, g=3, seed=31))

    def f(x, scale, group_index, offset):
        return groupquant.npu_group_quant(x * 2, scale, group_index, offset=offset) + 1

    compiled = torch.compile(f, fullgraph=True, dynamic=True)
    assert torch.equal(compiled(**inputs), f(**inputs))


def test_torch_compile_reduce_overhead():
    """mode="reduce-overhead": Inductor records the op into a CUDA graph (cudagraph trees),
    which needs it to be asynchronous and allocate through torch; later calls replay it."""
    inputs = to_cuda(make_inputs(40, 64, g=3, offset="1d", seed=33))

    def f(x, scale, group_index, offset):
        return groupquant.npu_group_quant(x, scale, group_index, offset=offset)

    compiled = torch.compile(f, mode="reduce-overhead", fullgraph=True)
    for _ in range(3):  # warm-up, recording, replay
        y = compiled(**inputs).clone()  # a replay reuses its output buffer
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


ASSERT_SCRIPT = textwrap.dedent(r"""
    import sys, torch, groupquant
    gi = torch.tensor(eval(sys.argv[1]), dtype=torch.int64, device="cuda")
    x = torch.randn(6, 64, device="cuda")
    scale = torch.ones(gi.numel(), 64, device="cuda")
    try:
        # Asynchronous: the error normally surfaces at the synchronisation (or, if the
        # kernel already failed, at the launch check).
        y = torch.ops.groupquant.npu_group_quant(x, scale, gi)
        torch.cuda.synchronize()
    except RuntimeError as e:
        print("RAISED:", str(e).splitlines()[0], flush=True)
        sys.exit(0)
    print("NO ERROR", flush=True)
    sys.exit(1)
""")


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
    result = subprocess.run(
        [sys.executable, "-c", ASSERT_SCRIPT, group_index],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert "RAISED:" in result.stdout and "device-side assert" in result.stdout, out
    assert any(m in out for m in messages), out  # the kernel's printf names the entry


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
