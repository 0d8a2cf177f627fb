"""Every SPEC.md validation rule: a RuntimeError naming the argument, the rule and the
offending value, with no input changed."""

import groupquant
import pytest
import torch
from conftest import assert_unchanged, make_inputs, snapshot

op = torch.ops.groupquant.npu_group_quant


def good(m=6, n=8, sizes=(1, 3, 2, 0)) -> dict:
    inputs = make_inputs(m, n, list(sizes), seed=0)
    inputs["dst_dtype"] = None
    return inputs


def raises(inputs: dict, fragment: str) -> str:
    """Calls the op on inputs, expecting a RuntimeError whose message contains fragment;
    checks the inputs are untouched; returns the message."""
    tensors = {k: v for k, v in inputs.items() if k != "dst_dtype"}
    before = snapshot(tensors)
    with pytest.raises(RuntimeError) as info:
        groupquant.npu_group_quant(
            inputs["x"],
            inputs["scale"],
            inputs["group_index"],
            offset=inputs["offset"],
            dst_dtype=inputs["dst_dtype"],
        )
    message = str(info.value)
    assert fragment in message
    assert_unchanged(tensors, before)
    return message


def with_(**changes) -> dict:
    return dict(good(), **changes)


# (id, inputs, message fragment): one or more cases per rule, in SPEC.md's order.
CASES = [
    # x not 2-D, or not float32/float16/bfloat16.
    ("x_1d", with_(x=torch.ones(6)), "x must be 2-D: got a 1-D tensor of shape [6]"),
    ("x_3d", with_(x=torch.ones(6, 8, 1)), "x must be 2-D: got a 3-D tensor of shape [6, 8, 1]"),
    ("x_0d", with_(x=torch.tensor(1.0)), "x must be 2-D: got a 0-D tensor"),
    (
        "x_float64",
        with_(x=torch.ones(6, 8, dtype=torch.float64)),
        "x must be float32, float16 or bfloat16: got float64",
    ),
    (
        "x_int8",
        with_(x=torch.ones(6, 8, dtype=torch.int8)),
        "x must be float32, float16 or bfloat16: got int8",
    ),
    (
        "x_int32",
        with_(x=torch.ones(6, 8, dtype=torch.int32)),
        "x must be float32, float16 or bfloat16: got int32",
    ),
    (
        "x_bool",
        with_(x=torch.ones(6, 8, dtype=torch.bool)),
        "x must be float32, float16 or bfloat16: got bool",
    ),
    (
        "x_complex",
        with_(x=torch.ones(6, 8, dtype=torch.complex64)),
        "x must be float32, float16 or bfloat16: got complex64",
    ),
    (
        "x_float8",
        with_(x=torch.ones(6, 8).to(torch.float8_e4m3fn)),
        "x must be float32, float16 or bfloat16: got float8_e4m3fn",
    ),
    # scale not 2-D, not a float dtype, or scale.size(1) != x.size(1).
    ("scale_1d", with_(scale=torch.ones(8)), "scale must be 2-D: got a 1-D tensor of shape [8]"),
    ("scale_3d", with_(scale=torch.ones(4, 8, 1)), "scale must be 2-D: got a 3-D tensor"),
    (
        "scale_int32",
        with_(scale=torch.ones(4, 8, dtype=torch.int32)),
        "scale must be float32, float16 or bfloat16: got int32",
    ),
    (
        "scale_float64",
        with_(scale=torch.ones(4, 8, dtype=torch.float64)),
        "scale must be float32, float16 or bfloat16: got float64",
    ),
    (
        "scale_columns",
        with_(scale=torch.ones(4, 7)),
        "scale.size(1) must equal x.size(1): got scale [4, 7] for x [6, 8]",
    ),
    # group_index not 1-D, not int32/int64, or group_index.size(0) != scale.size(0).
    (
        "group_index_2d",
        with_(group_index=torch.tensor([[1, 4, 6, 6]])),
        "group_index must be 1-D: got a 2-D tensor of shape [1, 4]",
    ),
    (
        "group_index_0d",
        with_(scale=torch.ones(1, 8), group_index=torch.tensor(6)),
        "group_index must be 1-D: got a 0-D tensor",
    ),
    (
        "group_index_int16",
        with_(group_index=torch.tensor([1, 4, 6, 6], dtype=torch.int16)),
        "group_index must be int32 or int64: got int16",
    ),
    (
        "group_index_float",
        with_(group_index=torch.tensor([1.0, 4, 6, 6])),
        "group_index must be int32 or int64: got float32",
    ),
    (
        "group_index_uint8",
        with_(group_index=torch.tensor([1, 4, 6, 6], dtype=torch.uint8)),
        "group_index must be int32 or int64: got uint8",
    ),
    (
        "group_index_length",
        with_(group_index=torch.tensor([1, 6])),
        "group_index.size(0) must equal scale.size(0): got group_index [2] for scale [4, 8]",
    ),
    # group_index values: negative, decreasing, greater than M, last value != M.
    (
        "group_index_negative",
        with_(group_index=torch.tensor([-1, 4, 6, 6])),
        "group_index values must be non-negative: group_index[0]=-1",
    ),
    (
        "group_index_decreasing",
        with_(group_index=torch.tensor([1, 4, 3, 6])),
        "group_index must be non-decreasing: group_index[2]=3 < group_index[1]=4",
    ),
    (
        "group_index_above_m",
        with_(group_index=torch.tensor([1, 4, 7, 7], dtype=torch.int32)),
        "group_index values must not exceed M=6 (x.size(0)): group_index[2]=7",
    ),
    (
        "group_index_last_not_m",
        with_(group_index=torch.tensor([1, 4, 5, 5])),
        "group_index last value must equal M=6 (x.size(0)): group_index[3]=5",
    ),
    (
        "group_index_huge",
        with_(group_index=torch.tensor([1, 4, 6, 2**40])),
        "group_index values must not exceed M=6",
    ),
    # G == 0 while x is not empty.
    (
        "no_groups",
        with_(scale=torch.ones(0, 8), group_index=torch.ones(0, dtype=torch.int32)),
        "scale.size(0) (the number of groups G) must be at least 1 when x is non-empty: got G=0",
    ),
    # offset: a dtype other than scale's, or a shape other than [] / [1].
    (
        "offset_dtype",
        with_(offset=torch.tensor([1.0], dtype=torch.float16)),
        "offset dtype must equal scale dtype: got offset float16 with scale float32",
    ),
    (
        "offset_int",
        with_(offset=torch.tensor([1], dtype=torch.int32)),
        "offset must be float32, float16 or bfloat16: got int32",
    ),
    (
        "offset_float64",
        with_(offset=torch.tensor([1.0], dtype=torch.float64)),
        "offset must be float32, float16 or bfloat16: got float64",
    ),
    (
        "offset_two",
        with_(offset=torch.tensor([1.0, 2.0])),
        "offset must have shape [] or [1]: got [2]",
    ),
    ("offset_empty", with_(offset=torch.ones(0)), "offset must have shape [] or [1]: got [0]"),
    (
        "offset_2d",
        with_(offset=torch.ones(1, 1)),
        "offset must be a scalar of shape [] or [1]: got a 2-D tensor of shape [1, 1]",
    ),
    # dst_dtype other than None / int8 / qint8 / quint4x2; quint4x2 with N % 8 != 0.
    *[
        (
            f"dst_dtype_{str(d).removeprefix('torch.')}",
            with_(dst_dtype=d),
            f"dst_dtype must be None, torch.int8, torch.qint8 or torch.quint4x2: got {d}",
        )
        for d in (
            torch.float32,
            torch.int32,
            torch.uint8,
            torch.quint8,
            torch.qint32,
            torch.bool,
            torch.int16,
        )
    ],
    (
        "quint4x2_columns",
        dict(good(n=12), dst_dtype=torch.quint4x2),
        "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got 12",
    ),
    # Empty x: rank, dtype and shape rules still apply.
    (
        "empty_x_float64",
        with_(x=torch.ones(0, 8, dtype=torch.float64)),
        "x must be float32, float16 or bfloat16: got float64",
    ),
    (
        "empty_x_scale_columns",
        with_(x=torch.ones(0, 8), scale=torch.ones(4, 3)),
        "scale.size(1) must equal x.size(1)",
    ),
    (
        "empty_x_group_index_length",
        with_(x=torch.ones(0, 8), group_index=torch.tensor([0])),
        "group_index.size(0) must equal scale.size(0)",
    ),
    (
        "empty_x_quint4x2_columns",
        dict(good(n=12), x=torch.ones(0, 12), dst_dtype=torch.quint4x2),
        "requires x.size(1) to be a multiple of 8: got 12",
    ),
    # Tensors on different devices (meta stands in for a second device without a GPU).
    (
        "device_scale",
        with_(scale=torch.ones(4, 8, device="meta")),
        "scale must be on the same device as x: got scale on meta and x on cpu",
    ),
    (
        "device_group_index",
        with_(group_index=torch.tensor([1, 4, 6, 6], device="meta")),
        "group_index must be on the same device as x: got group_index on meta and x on cpu",
    ),
    (
        "device_offset",
        with_(offset=torch.ones(1, device="meta")),
        "offset must be on the same device as x: got offset on meta and x on cpu",
    ),
    (
        "device_x",
        with_(x=torch.ones(6, 8, device="meta")),
        "scale must be on the same device as x: got scale on cpu and x on meta",
    ),
]


@pytest.mark.parametrize("inputs,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises(inputs, fragment):
    raises(inputs, fragment)


def test_every_message_is_a_plain_runtime_error():
    # RuntimeError itself (what torch_npu raises), not NotImplementedError or a subclass.
    for name, inputs, _ in CASES:
        with pytest.raises(RuntimeError) as info:
            op(
                inputs["x"],
                inputs["scale"],
                inputs["group_index"],
                offset=inputs["offset"],
                dst_dtype=inputs["dst_dtype"],
            )
        assert type(info.value) is RuntimeError, name


def test_nothing_is_written_on_failure():
    # The failing call allocates its own output, so "nothing written" means the inputs,
    # including ones that alias each other, are byte-for-byte unchanged.
    base = torch.arange(64, dtype=torch.float32)
    inputs = dict(
        x=base[:48].view(6, 8),
        scale=base[16:48].view(4, 8),
        group_index=torch.tensor([1, 4, 7, 6]),
        offset=base[2],
        dst_dtype=None,
    )
    raises(inputs, "group_index")


def test_group_index_values_checked_only_for_non_empty_x():
    for m, n in ((0, 8), (6, 0)):
        y = groupquant.npu_group_quant(
            torch.ones(m, n), torch.ones(2, n), torch.tensor([5, -3]), dst_dtype=torch.qint8
        )
        assert y.shape == (m, n)


def test_same_process_keeps_working_after_errors():
    for _, inputs, _ in CASES[:10]:
        with pytest.raises(RuntimeError):
            op(
                inputs["x"],
                inputs["scale"],
                inputs["group_index"],
                offset=inputs["offset"],
                dst_dtype=inputs["dst_dtype"],
            )
    y = groupquant.npu_group_quant(torch.ones(2, 8), torch.ones(1, 8), torch.tensor([2]))
    assert y.tolist() == [[1] * 8] * 2


# ---- The fake checks what it reads with the same words as the core ----------------------

FAKE_CHECKED = [
    c
    for c in CASES
    if c[0].startswith(("x_", "dst_dtype", "quint4x2", "empty_x_float64", "empty_x_quint4x2"))
]


def to_meta(inputs: dict) -> dict:
    return {k: v.to("meta") if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}


@pytest.mark.parametrize(
    "inputs,fragment", [c[1:] for c in FAKE_CHECKED], ids=[c[0] for c in FAKE_CHECKED]
)
def test_fake_gives_the_cpu_message(inputs, fragment):
    cpu_message = raises(inputs, fragment)
    meta = to_meta(inputs)
    with pytest.raises(RuntimeError) as info:
        op(
            meta["x"],
            meta["scale"],
            meta["group_index"],
            offset=meta["offset"],
            dst_dtype=meta["dst_dtype"],
        )
    assert str(info.value).splitlines()[0] == cpu_message.splitlines()[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["scale", "group_index", "offset"])
def test_cpu_and_cuda_mixed(name):
    inputs = good()
    inputs[name] = inputs[name].cuda()
    raises(inputs, f"{name} must be on the same device as x")
