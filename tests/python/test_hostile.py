"""The Python side of the hostile-input table (docs/hostile-inputs.md) beyond SPEC.md's
rules (those, with their exact messages, are test_validation.py's): what torch's
dispatcher refuses before the operator runs, and odd but legal inputs (misaligned,
strided, broadcast, aliased, negated, empty, non-finite), each giving exactly what a plain
contiguous call gives. Never a crash, never a silent wrong answer."""

import groupquant
import numpy as np
import pytest
import torch
from conftest import assert_unchanged, base_inputs, bits, call, make_inputs, snapshot

op = groupquant.npu_group_quant
I64_MIN = -(2**63)


def same_as_contiguous(inputs: dict, dst_dtype=None) -> None:
    """The op on (possibly odd) views equals the op on contiguous copies, bit for bit."""
    before = snapshot(inputs)
    got = call(inputs, dst_dtype)
    plain = {k: None if v is None else v.contiguous().clone() for k, v in inputs.items()}
    want = call(plain, dst_dtype)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert torch.equal(bits(got), bits(want))
    assert_unchanged(inputs, before)


def gi(values, dtype=torch.int64):
    return torch.tensor(values, dtype=dtype)


# ---- Rejected by torch before the operator runs ---------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")  # quantized / nested: "deprecated", "prototype"
@pytest.mark.parametrize("layout", ["sparse_x", "sparse_group_index", "quantized_x", "nested_x"])
def test_unsupported_layouts_raise(layout):
    # Not a strided dense tensor: torch's dispatcher refuses (NotImplementedError is a
    # RuntimeError) before the operator runs.
    inputs = base_inputs()
    if layout == "sparse_x":
        inputs["x"] = inputs["x"].to_sparse()
    elif layout == "sparse_group_index":
        inputs["group_index"] = inputs["group_index"].to_sparse()
    elif layout == "quantized_x":
        inputs["x"] = torch.quantize_per_tensor(inputs["x"].nan_to_num(), 0.5, 0, torch.qint8)
    else:
        inputs["x"] = torch.nested.nested_tensor([torch.ones(2, 8), torch.ones(4, 8)])
    with pytest.raises(RuntimeError, match=r"Could not run 'groupquant::npu_group_quant(\.kind)?'"):
        call(inputs)


def test_non_tensor_argument_raises():
    inputs = base_inputs()
    with pytest.raises(RuntimeError, match="Expected a value of type 'Tensor' for argument 'x'"):
        op(1.0, inputs["scale"], inputs["group_index"])


# ---- The porting mistake: per-expert counts where end rows are wanted -----------------------


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_counts_get_the_cumsum_hint_and_cumsum_fixes_them(dtype):
    # The NPU snippet's token counts per expert ([1, 3, 2, 0]: sums to M=6, the empty 4th
    # expert last), passed as if they were end rows: the message says what to do, and
    # doing it gives the call with the end rows [1, 4, 6, 6].
    x, scale = torch.randn(6, 8), torch.rand(4, 8)
    counts = gi([1, 3, 2, 0], dtype)
    with pytest.raises(RuntimeError) as info:
        op(x, scale, counts)
    assert str(info.value).splitlines()[0] == (
        "group_index must be non-decreasing: group_index[2]=2 < group_index[1]=3; the values "
        "sum to M=6, like per-group counts; end rows, not counts: use torch.cumsum (or "
        "groupquant.to_group_index)"
    )
    y = op(x, scale, torch.cumsum(counts, 0).to(dtype))
    assert torch.equal(y, op(x, scale, gi([1, 4, 6, 6], dtype)))


# ---- Accepted: odd but legal inputs give the plain call's bytes -----------------------------


@pytest.mark.parametrize("dst_dtype", [None, torch.quint4x2])
def test_misaligned_data_pointer(dst_dtype):
    # torch.frombuffer with a 1-byte offset: a float32 x whose address is odd.
    inputs = base_inputs(n=16)
    raw = bytearray(4 * inputs["x"].numel() + 1)
    x = torch.frombuffer(raw, dtype=torch.float32, offset=1, count=inputs["x"].numel())
    x = x.view(inputs["x"].shape)
    assert x.data_ptr() % 4 == 1
    x.copy_(inputs["x"])
    same_as_contiguous(dict(inputs, x=x), dst_dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_odd_storage_offsets(dtype):
    # Views starting one element in: no SIMD alignment anywhere.
    inputs = make_inputs(9, 24, [2, 0, 7], x_dtype=dtype, scale_dtype=dtype, seed=3)
    x = torch.cat([torch.zeros(9, 1, dtype=dtype), inputs["x"]], dim=1)[:, 1:]
    scale = torch.cat([torch.zeros(1, 24, dtype=dtype), inputs["scale"]]).flatten()[24:]
    scale = torch.cat([torch.zeros(1, dtype=dtype), scale])[1:].view(3, 24)
    gi64 = torch.cat([torch.zeros(1, dtype=torch.int64), inputs["group_index"]])[1:]
    assert x.storage_offset() % 2 == 1 and scale.storage_offset() % 2 == 1
    for dst in (None, torch.quint4x2):
        same_as_contiguous(dict(inputs, x=x, scale=scale, group_index=gi64), dst)


def test_transposed_and_strided_views():
    inputs = make_inputs(10, 32, [4, 6], seed=5)
    x = inputs["x"].t().contiguous().t()  # column-major
    scale = torch.zeros(2, 64)[:, ::2]
    scale.copy_(inputs["scale"])
    group_index = torch.zeros(4, dtype=torch.int64)[::2]
    group_index.copy_(inputs["group_index"])
    for dst in (None, torch.quint4x2):
        same_as_contiguous(dict(inputs, x=x, scale=scale, group_index=group_index), dst)


def test_broadcast_views():
    # expand() gives stride 0: every row of x the same memory; every group end the same.
    inputs = base_inputs()
    row = inputs["x"][:1]
    same_as_contiguous(dict(inputs, x=row.expand(6, 8)))
    y = call(dict(inputs, group_index=gi([6]).expand(3)))
    assert torch.equal(y, call(dict(inputs, group_index=gi([6, 6, 6]))))


def test_inputs_sharing_memory():
    storage = torch.arange(64, dtype=torch.float32) / 7
    inputs = dict(
        base_inputs(), x=storage[:48].view(6, 8), scale=storage[8:32].view(3, 8), offset=storage[3]
    )
    same_as_contiguous(inputs)


def test_negative_bit_view():
    x = base_inputs()["x"]
    inputs = dict(base_inputs(), x=x._neg_view())
    assert inputs["x"].is_neg()
    assert torch.equal(call(inputs), call(dict(base_inputs(), x=-x)))


def test_nan_inf_and_subnormals_saturate():
    x = torch.tensor(
        [[float("nan"), float("inf"), float("-inf"), 3.4e38, -3.4e38, 1e-45, -1e-45, 0.5]]
    )
    y = op(x, torch.ones(1, 8), gi([1]))
    assert y.tolist() == [[0, 127, -128, 127, -128, 0, 0, 0]]
    y4 = op(x, torch.ones(1, 8), gi([1]), dst_dtype=torch.quint4x2)
    # Nibbles 0 7 -8 7 -8 0 0 0, lowest column in the lowest nibble.
    assert y4.view(torch.uint8).tolist() == [[0x70, 0x78, 0x08, 0x00]]
    # NaN and Inf in scale and offset too.
    y = op(
        torch.ones(1, 8),
        torch.tensor([[float("nan")] + [1.0] * 7]),
        gi([1]),
        offset=torch.tensor(float("-inf")),
    )
    assert y.tolist() == [[0] + [-128] * 7]


@pytest.mark.parametrize("m,n", [(0, 8), (6, 0), (0, 0)])
@pytest.mark.parametrize("dst_dtype", [None, torch.quint4x2])
def test_empty_x(m, n, dst_dtype):
    # group_index values are not inspected (garbage here) and G == 0 is allowed.
    for scale, group_index in ((torch.ones(2, n), gi([I64_MIN, -5])), (torch.ones(0, n), gi([]))):
        y = op(torch.ones(m, n), scale, group_index, dst_dtype=dst_dtype)
        assert y.dtype == (torch.int32 if dst_dtype else torch.int8)
        assert tuple(y.shape) == (m, n // 8 if dst_dtype else n)


def test_empty_x_with_2_to_31_rows():
    # M >= 2^31 with N == 0: 64-bit M, nothing to compute.
    y = op(torch.empty(2**31, 0), torch.empty(0, 0), gi([]))
    assert tuple(y.shape) == (2**31, 0)


def test_many_empty_groups():
    inputs = base_inputs()
    ends = np.full(5000, 6)
    ends[0] = 1
    ends[1] = 4
    scale = torch.randn(5000, 8)
    y = op(inputs["x"], scale, torch.from_numpy(ends))
    want = op(inputs["x"], scale[:3], gi([1, 4, 6]))
    assert torch.equal(y, want)


def test_requires_grad_inputs():
    inputs = base_inputs()
    inputs["x"] = inputs["x"].clone().requires_grad_()
    y = call(inputs)
    assert not y.requires_grad
    assert torch.equal(y, call(dict(inputs, x=inputs["x"].detach())))


def test_all_meta_gives_the_shape_only():
    inputs = {k: v.to("meta") for k, v in base_inputs().items()}
    y = call(inputs, torch.quint4x2)
    assert y.is_meta and y.dtype == torch.int32 and tuple(y.shape) == (6, 1)
