"""Every SPEC.md validation rule: a RuntimeError whose first line is the exact message
(argument, rule, offending value), with no input changed. The hostile inputs beyond these
rules (layouts torch refuses, odd but legal views, empty tensors) are test_hostile.py's;
docs/hostile-inputs.md lists both."""

import groupquant
import pytest
import torch
from conftest import assert_unchanged, base_inputs, call, short, snapshot

op = torch.ops.groupquant.npu_group_quant
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
I32_MIN, I32_MAX = -(2**31), 2**31 - 1
NOT_FLOAT = "must be float32, float16 or bfloat16: got"
BAD_DST_DTYPE = "dst_dtype must be None, torch.int8, torch.qint8 or torch.quint4x2: got"
COUNTS_HINT = (
    "; the values sum to M=6, like per-group counts; end rows, not counts: use torch.cumsum "
    "(or groupquant.to_group_index)"
)
INT4_COLUMNS = "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got"


def bad(n=8, **changes) -> dict:
    """base_inputs() (n columns) with some tensors, or dst_dtype, replaced."""
    return {**base_inputs(n=n), "dst_dtype": None, **changes}


def gi(values, dtype=torch.int64):
    return torch.tensor(values, dtype=dtype)


def raises(inputs: dict, message: str, fn=groupquant.npu_group_quant, exact=True) -> None:
    """fn on inputs raises a RuntimeError (the class itself, as torch_npu's) whose first
    line is message (or contains it, if not exact); the inputs are untouched."""
    tensors = {k: v for k, v in inputs.items() if k != "dst_dtype"}
    before = snapshot(tensors)
    with pytest.raises(RuntimeError) as info:
        call(tensors, inputs["dst_dtype"], fn)
    assert type(info.value) is RuntimeError
    first_line = str(info.value).splitlines()[0]
    if exact:
        assert first_line == message
    else:
        assert message in first_line
    assert_unchanged(tensors, before)


# (id, inputs, message): one or more cases per rule, in SPEC.md's order; the messages are
# for base_inputs() (x [6, 8], scale [3, 8], group_index [1, 4, 6]).
CASES = [
    # x not 2-D, or not float32/float16/bfloat16.
    ("x_1d", bad(x=torch.ones(48)), "x must be 2-D: got a 1-D tensor of shape [48]"),
    ("x_3d", bad(x=torch.ones(2, 3, 8)), "x must be 2-D: got a 3-D tensor of shape [2, 3, 8]"),
    ("x_0d", bad(x=torch.tensor(1.0)), "x must be 2-D: got a 0-D tensor"),
    *[
        (f"x_{short(d)}", bad(x=torch.ones(6, 8).to(d)), f"x {NOT_FLOAT} {short(d)}")
        for d in (
            torch.int8,
            torch.int32,
            torch.float64,
            torch.bool,
            torch.complex64,
            torch.float8_e4m3fn,
        )
    ],
    # scale not 2-D, not a float dtype, or scale.size(1) != x.size(1).
    ("scale_1d", bad(scale=torch.ones(8)), "scale must be 2-D: got a 1-D tensor of shape [8]"),
    (
        "scale_3d",
        bad(scale=torch.ones(1, 3, 8)),
        "scale must be 2-D: got a 3-D tensor of shape [1, 3, 8]",
    ),
    *[
        (f"scale_{short(d)}", bad(scale=torch.ones(3, 8).to(d)), f"scale {NOT_FLOAT} {short(d)}")
        for d in (torch.int32, torch.float64)
    ],
    (
        "scale_columns",
        bad(scale=torch.ones(3, 4)),
        "scale.size(1) must equal x.size(1): got scale [3, 4] for x [6, 8]",
    ),
    # group_index not 1-D, not int32/int64, or group_index.size(0) != scale.size(0).
    (
        "group_index_2d",
        bad(group_index=gi([[1], [4], [6]])),
        "group_index must be 1-D: got a 2-D tensor of shape [3, 1]",
    ),
    (
        "group_index_expert_count_pairs",
        bad(group_index=gi([[0, 1], [1, 3], [2, 2]])),
        "group_index must be 1-D: got a 2-D tensor of shape [3, 2]; [E, 2] looks like "
        "(expert, count) pairs (group_list_type=2): convert them with "
        "groupquant.to_group_index(group_list, 2)",
    ),
    (
        "group_index_0d",
        bad(scale=torch.ones(1, 8), group_index=gi(6)),
        "group_index must be 1-D: got a 0-D tensor",
    ),
    *[
        (
            f"group_index_{short(d)}",
            bad(group_index=gi([1, 4, 6]).to(d)),
            f"group_index must be int32 or int64: got {short(d)}",
        )
        for d in (torch.int16, torch.float32, torch.uint8, torch.bool)
    ],
    (
        "group_index_length",
        bad(group_index=gi([1, 6])),
        "group_index.size(0) must equal scale.size(0): got group_index [2] for scale [3, 8]",
    ),
    # group_index values: negative, decreasing, greater than M, last value != M; int32
    # and int64, extremes included.
    (
        "group_index_negative",
        bad(group_index=gi([-1, 4, 6])),
        "group_index values must be non-negative: group_index[0]=-1",
    ),
    (
        "group_index_int64_min",
        bad(group_index=gi([1, I64_MIN, 6])),
        f"group_index values must be non-negative: group_index[1]={I64_MIN}",
    ),
    (
        "group_index_int64_max",
        bad(group_index=gi([1, 4, I64_MAX])),
        f"group_index values must not exceed M=6 (x.size(0)): group_index[2]={I64_MAX}",
    ),
    (
        "group_index_huge",
        bad(group_index=gi([1, 4, 2**40])),
        f"group_index values must not exceed M=6 (x.size(0)): group_index[2]={2**40}",
    ),
    (
        "group_index_int32_max",
        bad(group_index=gi([1, I32_MAX, 6], torch.int32)),
        f"group_index values must not exceed M=6 (x.size(0)): group_index[1]={I32_MAX}",
    ),
    (
        "group_index_int32_min",
        bad(group_index=gi([1, 4, I32_MIN], torch.int32)),
        f"group_index values must be non-negative: group_index[2]={I32_MIN}",
    ),
    (
        "group_index_int32_min_first",
        bad(group_index=gi([I32_MIN, 4, 6], torch.int32)),
        f"group_index values must be non-negative: group_index[0]={I32_MIN}",
    ),
    (
        "group_index_decreasing",
        bad(group_index=gi([4, 1, 6])),
        "group_index must be non-decreasing: group_index[1]=1 < group_index[0]=4",
    ),
    (
        "group_index_above_m",
        bad(group_index=gi([1, 7, 6], torch.int32)),
        "group_index values must not exceed M=6 (x.size(0)): group_index[1]=7",
    ),
    (
        "group_index_last_not_m",
        bad(group_index=gi([1, 4, 5])),
        "group_index last value must equal M=6 (x.size(0)): group_index[2]=5",
    ),
    # Per-expert counts (torch_npu's group_list_type=1) where end rows are wanted.
    (
        "group_index_counts_decreasing",
        bad(group_index=gi([1, 3, 2])),
        f"group_index must be non-decreasing: group_index[2]=2 < group_index[1]=3{COUNTS_HINT}",
    ),
    (
        "group_index_counts_last_not_m",
        bad(group_index=gi([2, 2, 2], torch.int32)),
        f"group_index last value must equal M=6 (x.size(0)): group_index[2]=2{COUNTS_HINT}",
    ),
    # G == 0 while x is not empty.
    (
        "no_groups",
        bad(scale=torch.ones(0, 8), group_index=gi([], torch.int32)),
        "scale.size(0) (the number of groups G) must be at least 1 when x is non-empty: "
        "got G=0 for x [6, 8]",
    ),
    # offset: a dtype other than scale's (or not a float), a shape other than [] / [1].
    *[
        (
            f"offset_{short(d)}",
            bad(offset=torch.ones(1, dtype=d)),
            f"offset dtype must equal scale dtype: got offset {short(d)} with scale float32",
        )
        for d in (torch.float16, torch.bfloat16)
    ],
    *[
        (f"offset_{short(d)}", bad(offset=torch.ones(1, dtype=d)), f"offset {NOT_FLOAT} {short(d)}")
        for d in (torch.int32, torch.float64)
    ],
    ("offset_shape_2", bad(offset=torch.ones(2)), "offset must have shape [] or [1]: got [2]"),
    ("offset_shape_0", bad(offset=torch.ones(0)), "offset must have shape [] or [1]: got [0]"),
    (
        "offset_shape_1x1",
        bad(offset=torch.ones(1, 1)),
        "offset must be a scalar of shape [] or [1]: got a 2-D tensor of shape [1, 1]",
    ),
    # dst_dtype other than None / int8 / qint8 / quint4x2; quint4x2 with N % 8 != 0.
    *[
        (f"dst_dtype_{short(d)}", bad(dst_dtype=d), f"{BAD_DST_DTYPE} {d}")
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
    ("quint4x2_columns", bad(n=12, dst_dtype=torch.quint4x2), f"{INT4_COLUMNS} 12"),
    # Empty x: rank, dtype and shape rules still apply (test_hostile.py's test_empty_x:
    # group_index values are not inspected).
    (
        "empty_x_float64",
        bad(x=torch.ones(0, 8, dtype=torch.float64)),
        f"x {NOT_FLOAT} float64",
    ),
    (
        "empty_x_scale_columns",
        bad(x=torch.ones(0, 8), scale=torch.ones(3, 3)),
        "scale.size(1) must equal x.size(1): got scale [3, 3] for x [0, 8]",
    ),
    (
        "empty_x_group_index_length",
        bad(x=torch.ones(0, 8), group_index=gi([0])),
        "group_index.size(0) must equal scale.size(0): got group_index [1] for scale [3, 8]",
    ),
    (
        "empty_x_quint4x2_columns",
        bad(n=12, x=torch.ones(0, 12), dst_dtype=torch.quint4x2),
        f"{INT4_COLUMNS} 12",
    ),
    # Tensors on different devices (meta stands in for a second device without a GPU).
    (
        "device_scale",
        bad(scale=torch.ones(3, 8, device="meta")),
        "scale must be on the same device as x: got scale on meta and x on cpu",
    ),
    (
        "device_group_index",
        bad(group_index=gi([1, 4, 6]).to("meta")),
        "group_index must be on the same device as x: got group_index on meta and x on cpu",
    ),
    (
        "device_offset",
        bad(offset=torch.ones((), device="meta")),
        "offset must be on the same device as x: got offset on meta and x on cpu",
    ),
    (
        "device_x",
        bad(x=torch.ones(6, 8, device="meta")),
        "scale must be on the same device as x: got scale on cpu and x on meta",
    ),
]


@pytest.mark.parametrize("inputs,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(inputs, message):
    raises(inputs, message)


def test_every_rule_through_torch_ops_then_the_process_keeps_working():
    # The registered op itself (what torch.compile calls) raises the same RuntimeError,
    # and a valid call still works after all of them.
    for _, inputs, message in CASES:
        raises(inputs, message, fn=op)
    y = groupquant.npu_group_quant(torch.ones(2, 8), torch.ones(1, 8), torch.tensor([2]))
    assert y.tolist() == [[1] * 8] * 2


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
    raises(inputs, "group_index values must not exceed M=6 (x.size(0)): group_index[2]=7")


# ---- The fake checks what it reads with the same words as the core ----------------------

FAKE_CHECKED = [
    c
    for c in CASES
    if c[0].startswith(("x_", "dst_dtype", "quint4x2", "empty_x_float64", "empty_x_quint4x2"))
]


def to_meta(inputs: dict) -> dict:
    return {k: v.to("meta") if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}


@pytest.mark.parametrize(
    "inputs,message", [c[1:] for c in FAKE_CHECKED], ids=[c[0] for c in FAKE_CHECKED]
)
def test_fake_gives_the_cpu_message(inputs, message):
    raises(to_meta(inputs), message, fn=op)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["scale", "group_index", "offset"])
def test_cpu_and_cuda_mixed(name):
    inputs = bad()
    inputs[name] = inputs[name].cuda()
    raises(inputs, f"{name} must be on the same device as x", exact=False)
