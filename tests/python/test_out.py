"""out=: the result written into the caller's tensor (the wrapper's out=, the ATen-style
npu_group_quant.out overload, and the .kind/.kind_into overloads the wrapper calls), the
same bits as a fresh output; `out` validated like every argument, with nothing written on
failure; opcheck; and torch.compile writing a graph's result straight into `out`."""

import groupquant
import pytest
import torch
from conftest import DST_DTYPES, base_inputs, bits, make_inputs, short
from torch._inductor.utils import run_and_get_code

ops = torch.ops.groupquant.npu_group_quant
SENTINEL = 0x5A  # what a fresh `out` holds, so a write or its absence shows


def out_like(y: torch.Tensor) -> torch.Tensor:
    return torch.full_like(y, SENTINEL)


def fresh(inputs, dst_dtype=None):
    return groupquant.npu_group_quant(
        inputs["x"],
        inputs["scale"],
        inputs["group_index"],
        offset=inputs["offset"],
        dst_dtype=dst_dtype,
    )


def into(inputs, out, dst_dtype=None, fn=groupquant.npu_group_quant):
    return fn(
        inputs["x"],
        inputs["scale"],
        inputs["group_index"],
        offset=inputs["offset"],
        dst_dtype=dst_dtype,
        out=out,
    )


@pytest.mark.parametrize("dst_dtype", DST_DTYPES, ids=short)
@pytest.mark.parametrize(
    "fn", [groupquant.npu_group_quant, ops.out, ops], ids=["wrapper", "out_overload", "packet"]
)
def test_out_gets_the_fresh_bits_and_is_returned(fn, dst_dtype):
    inputs = make_inputs(37, 48, g=5, x_dtype=torch.bfloat16, seed=1)
    want = fresh(inputs, dst_dtype)
    out = out_like(want)
    got = into(inputs, out, dst_dtype, fn)
    assert got is out
    assert torch.equal(out, want)


@pytest.mark.parametrize("dst_dtype", [torch.qint8, torch.quint4x2], ids=short)
def test_strided_out(dst_dtype):
    # A transposed and a column-stepped out: any non-overlapping strides are written.
    inputs = make_inputs(20, 64, g=3, seed=2)
    want = fresh(inputs, dst_dtype)
    m, n = want.shape
    transposed = torch.full((n, m), SENTINEL, dtype=want.dtype).t()
    stepped = torch.full((m, 2 * n), SENTINEL, dtype=want.dtype)
    for out in (transposed, stepped[:, ::2]):
        assert into(inputs, out, dst_dtype) is out
        assert torch.equal(out, want)
    assert (stepped[:, 1::2] == SENTINEL).all()  # the gaps are not written


def test_out_reused_across_calls_and_shapes_of_group():
    # A serving loop: one buffer, many calls with different groups; each call's bits.
    out = torch.empty(64, 256, dtype=torch.int8)
    for seed in range(4):
        inputs = make_inputs(64, 256, g=2 + seed, x_dtype=torch.float16, seed=seed)
        into(inputs, out)
        assert torch.equal(out, fresh(inputs))


def test_large_out_uses_the_threaded_path():
    # Large enough for torch's pool (and the huge-page advice on fresh outputs).
    inputs = make_inputs(512, 4096, g=8, x_dtype=torch.bfloat16, offset="none", seed=3)
    want = fresh(inputs)
    out = out_like(want)
    into(inputs, out)
    assert torch.equal(out, want)


# ---- out is validated like every argument; nothing is written on failure -----------------

M, N = 6, 8  # base_inputs(): x [6, 8], scale [3, 8], group_index [1, 4, 6], offset []


def overlapping_cases():
    """(id, inputs, out, message) where out shares memory with an input."""
    cases = []
    for name in ("x", "scale", "group_index", "offset"):
        inputs = base_inputs()
        storage = torch.zeros(256, dtype=torch.int8)
        out = storage[:48].view(M, N)
        t = inputs[name]
        # The input now lives inside the bytes that out covers.
        view = storage[8:].view(t.dtype)[: t.numel()].view(t.shape)
        view.copy_(t)
        inputs[name] = view
        cases.append(
            (name, inputs, out, f"out must not overlap an input: it shares memory with {name}")
        )
    return cases


BAD_OUT = [
    (
        "dtype_int32",
        torch.zeros(M, N, dtype=torch.int32),
        "out must be int8 (output kind int8): got int32",
    ),
    (
        "dtype_float64",
        torch.zeros(M, N, dtype=torch.float64),
        "out must be int8 (output kind int8): got float64",
    ),
    (
        "dtype_uint8",
        torch.zeros(M, N, dtype=torch.uint8),
        "out must be int8 (output kind int8): got uint8",
    ),
    (
        "shape_rows",
        torch.zeros(M + 1, N, dtype=torch.int8),
        f"out must have shape [{M}, {N}] for x [{M}, {N}]: got [{M + 1}, {N}]",
    ),
    (
        "shape_cols",
        torch.zeros(M, N - 1, dtype=torch.int8),
        f"out must have shape [{M}, {N}] for x [{M}, {N}]: got [{M}, {N - 1}]",
    ),
    (
        "shape_1d",
        torch.zeros(M * N, dtype=torch.int8),
        f"out must be 2-D: got a 1-D tensor of shape [{M * N}]",
    ),
    (
        "empty_not_resized",
        torch.zeros(0, dtype=torch.int8),
        "out must be 2-D: got a 1-D tensor of shape [0]",
    ),
    (
        "self_overlapping",
        torch.zeros(1, N, dtype=torch.int8).expand(M, N),
        f"out strides must not make elements overlap: got strides [0, 1] for shape [{M}, {N}]",
    ),
    (
        "device",
        torch.zeros(M, N, dtype=torch.int8, device="meta"),
        "out must be on the same device as x: got out on meta and x on cpu",
    ),
]


@pytest.mark.parametrize(
    "fn", [groupquant.npu_group_quant, ops.out], ids=["wrapper", "out_overload"]
)
@pytest.mark.parametrize("out,message", [c[1:] for c in BAD_OUT], ids=[c[0] for c in BAD_OUT])
def test_bad_out_raises_and_writes_nothing(fn, out, message):
    inputs = base_inputs()
    before = out.clone() if out.device.type != "meta" else None
    with pytest.raises(RuntimeError) as info:
        into(inputs, out, None, fn)
    assert type(info.value) is RuntimeError
    assert str(info.value).splitlines()[0] == message
    if before is not None:
        assert torch.equal(bits(out), bits(before))


def test_int4_out_dtype_and_shape():
    inputs = base_inputs()
    with pytest.raises(
        RuntimeError, match=r"^out must be int32 \(output kind packed int4\): got int8"
    ):
        into(inputs, torch.zeros(M, N, dtype=torch.int8), torch.quint4x2)
    with pytest.raises(
        RuntimeError, match=r"^out must have shape \[6, 1\] for x \[6, 8\]: got \[6, 2\]"
    ):
        into(inputs, torch.zeros(M, 2, dtype=torch.int32), torch.quint4x2)


@pytest.mark.parametrize(
    "name,inputs,out,message", overlapping_cases(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_out_overlapping_an_input(name, inputs, out, message):
    storage_before = out.clone()
    with pytest.raises(RuntimeError) as info:
        into(inputs, out)
    assert str(info.value).splitlines()[0] == message
    assert torch.equal(out, storage_before)


def test_value_errors_write_nothing_into_out():
    # group_index is checked before the first write, with out given too.
    inputs = dict(base_inputs(), group_index=torch.tensor([1, 5, 4]))
    out = torch.full((M, N), SENTINEL, dtype=torch.int8)
    with pytest.raises(RuntimeError, match="group_index must be non-decreasing"):
        into(inputs, out)
    assert (out == SENTINEL).all()


def test_meta_out_checks_dtype_and_shape():
    # The fakes (what torch.compile traces) check out's dtype and shape with the same words.
    inputs = {k: v.to("meta") for k, v in base_inputs().items()}
    out = torch.empty(M, N, dtype=torch.int8, device="meta")
    assert into(inputs, out) is out
    for bad, message in [
        (
            torch.empty(M, N, dtype=torch.int32, device="meta"),
            "out must be int8 (output kind int8): got int32",
        ),
        (
            torch.empty(M, N + 1, dtype=torch.int8, device="meta"),
            "out must have shape [6, 8] for x [6, 8]: got [6, 9]",
        ),
    ]:
        for fn in (groupquant.npu_group_quant, ops.out):
            with pytest.raises(RuntimeError) as info:
                into(inputs, bad, None, fn)
            assert str(info.value).splitlines()[0] == message


# ---- opcheck: every overload -------------------------------------------------------------


@pytest.mark.parametrize("kind", [0, 1])
def test_opcheck_every_overload(kind):
    inputs = make_inputs(11, 16, [3, 0, 8], x_dtype=torch.bfloat16, seed=4)
    args = (inputs["x"], inputs["scale"], inputs["group_index"])
    dst_dtype = (torch.qint8, torch.quint4x2)[kind]
    out = torch.empty(fresh(inputs, dst_dtype).shape, dtype=(torch.int8, torch.int32)[kind])
    for op, kwargs in [
        (ops.out, {"offset": inputs["offset"], "dst_dtype": dst_dtype, "out": out}),
        (ops.kind, {"offset": inputs["offset"], "kind": kind}),
        (ops.kind_into, {"offset": inputs["offset"], "kind": kind, "out": out}),
    ]:
        result = torch.library.opcheck(op, args, kwargs)
        assert set(result.values()) == {"SUCCESS"}, (op, result)


def test_kind_overload_rejects_unknown_kinds():
    inputs = base_inputs()
    args = (inputs["x"], inputs["scale"], inputs["group_index"])
    for kind in (2, -1, 2**40):
        with pytest.raises(
            RuntimeError, match="dst_dtype must be int8, qint8 or quint4x2: got output kind code"
        ):
            ops.kind(*args, None, kind)


# ---- torch.compile: no graph break, and no copy: the op writes into the graph input -------


def serve(x, scale, group_index, out):
    return groupquant.npu_group_quant(x * 2.0, scale, group_index, out=out)


def test_compile_writes_straight_into_out():
    torch._dynamo.reset()
    fn = torch.compile(serve, fullgraph=True, dynamic=True)
    inputs = make_inputs(40, 64, g=4, seed=5)
    want = fresh(dict(inputs, x=inputs["x"] * 2.0, offset=None))
    out = out_like(want)
    got, (code,) = run_and_get_code(fn, inputs["x"], inputs["scale"], inputs["group_index"], out)
    assert got is out and torch.equal(out, want)
    # The op is called on the graph input itself: no buffer of its own, no copy back.
    calls = [
        line.strip()
        for line in code.splitlines()
        if "groupquant.npu_group_quant" in line and "(" in line and not line.strip().startswith("#")
    ]
    assert len(calls) == 1 and "out=arg" in calls[0], calls
    assert "copy_" not in code
    # Other sizes reuse the graph.
    for m in (7, 90):
        inputs = make_inputs(m, 64, g=3, seed=m)
        out = torch.empty(m, 64, dtype=torch.int8)
        assert fn(inputs["x"], inputs["scale"], inputs["group_index"], out) is out
        assert torch.equal(out, fresh(dict(inputs, x=inputs["x"] * 2.0, offset=None)))
    torch._dynamo.reset()


def test_compile_out_overload_has_no_graph_break():
    # The ATen-style overload compiles too (torch functionalizes out= into a fresh buffer
    # and a copy back; the wrapper's overload avoids that copy, as tested above).
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounterWithBackend("inductor")

    def f(x, scale, group_index, out):
        return ops.out(x, scale, group_index, dst_dtype=torch.quint4x2, out=out)

    fn = torch.compile(f, backend=counter, fullgraph=True)
    inputs = make_inputs(16, 32, g=2, seed=6)
    out = torch.empty(16, 4, dtype=torch.int32)
    fn(inputs["x"], inputs["scale"], inputs["group_index"], out)
    assert torch.equal(out, fresh(dict(inputs, offset=None), torch.quint4x2))
    assert counter.frame_count == 1
    torch._dynamo.reset()
