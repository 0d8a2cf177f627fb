"""npu_dynamic_quant / npu_dynamic_quant_asymmetric: the SPEC's worked vectors, the op
against the numpy oracle (reference_dynamic.py) bit for bit, views, special values, empty
inputs, thread counts, errors, torch.compile and opcheck.

The oracle is tested first, on SPEC-dynamic-quant.md §7 (V1-V5) and on fp8 encodings: it
is only trusted once those pass.
"""

import doctest
import zlib

import groupquant
import numpy as np
import pytest
import reference_dynamic as ref
import torch
import torch._dynamo.testing
from conftest import assert_unchanged, bits, short, snapshot
from torch._subclasses.fake_tensor import FakeTensorMode

HAVE_OP = hasattr(groupquant, "npu_dynamic_quant")
needs_op = pytest.mark.skipif(not HAVE_OP, reason="groupquant was built without the dynamic ops")

X_DTYPES = [torch.float16, torch.bfloat16]
INDEX_DTYPES = [torch.int32, torch.int64]
CHIPS = ["a2", "950"]
# Output kind -> the dst_type forms that select it (the 7.x dtype first, then 26.x codes).
DST_TYPES = {
    "int8": [None, torch.int8, 1],
    "int4": [torch.quint4x2, 16],
    "e4m3fn": [torch.float8_e4m3fn, 24, 292],
    "e5m2": [torch.float8_e5m2, 23, 291],
}
FP8_TORCH = {"e4m3fn": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}
# (output, chip) pairs the op supports: fp8 is 950-only.
OUT_CHIPS = [("int8", "a2"), ("int4", "a2"), ("int8", "950"), ("int4", "950")] + [
    ("e4m3fn", "950"),
    ("e5m2", "950"),
]


def pair_id(p) -> str:
    return f"{p[0]}-{p[1]}"


def f32_hex(values) -> list:
    return [f"{ref.f32_bits(v):#010x}" for v in np.ravel(values)]


def fp16(rows) -> np.ndarray:
    """float16 values as float32 (the oracle's input form)."""
    return np.asarray(rows, dtype=np.float16).astype(np.float32)


# ---- The oracle against SPEC §7 -----------------------------------------------------------

V1_X = [
    [1.6875, -1.0, 0.5, 0.25, 0, 0, 0, 0.75],
    [3.0, 0.5, 1.0, -1.0, 0.125, 0, 0, -0.5],
    [5.0, 0.1875, 0.25, -1.25, -0.25, 63.5, 0.5, -2.5],
]
V1_SMOOTH = [[1] * 8, [0.25, 4.0, 1, 1, 1, 1, 1, 1]]
V1_GROUP = [1, 3]
V1_Y = [
    [127, -75, 38, 19, 0, 0, 0, 56],
    [48, 127, 64, -64, 8, 0, 0, -32],
    [2, 2, 0, -2, 0, 127, 1, -5],
]
V1_SCALE = {
    "a2": ["0x3c59b366", "0x3c810204", "0x3f000000"],
    "950": ["0x3c59b367", "0x3c810204", "0x3f000000"],
}

V3_X = [[0] * 8, [7, -7, 2.5, -0.5, 1.5, 3, -3.5, 0]]
V3_Y = [[0x00000000], [0x0C320297]]
V3_SCALE = ["0x00000000", "0x3f800000"]

V4_X = [[-1, 0, 0.5, 2, 1, -0.5, 1.25, 0.25], [1] * 8, [0] * 8]
V4 = {
    "a2": dict(
        y=[[-128, -43, 0, 127, 42, -86, 63, -22], [0] * 8, [127] * 8],
        scale=["0x3c40c0c1", "0x2b8cbccc", "0x2b8cbccc"],
        offset=["0xc22c0000", "0xd368d4a5", "0x42fe0000"],
    ),
    "950": dict(
        y=[[-128, -43, 0, 127, 42, -85, 63, -22], [0] * 8, [0] * 8],
        scale=["0x3c40c0c2", "0x00000000", "0x00000000"],
        offset=["0xc22bfffc", "0xff800000", None],  # None: a NaN (payload unspecified, §9.7)
    ),
}

V5_X = [[3, 1, -0.5, 0.1, 2, -3, 0, 1.5]]
V5_Y = "7e 71 e9 57 79 fe 00 76"
V5_SCALE = ["0x3bdb6db8"]


@pytest.mark.parametrize("chip", CHIPS)
def test_oracle_v1_moe_int8(chip):
    y, scale = ref.dynamic_quant_ref(fp16(V1_X), fp16(V1_SMOOTH), V1_GROUP, chip=chip)
    assert y.tolist() == V1_Y
    assert f32_hex(scale) == V1_SCALE[chip]
    # The A2 MoE path is kernel 7 (scale = 1/q).
    assert ref.a2_kernel_key(3, 8, smooth=True, group=True, experts=2, out="int8") == 7


def test_oracle_v2_a2_double_buffered_scale():
    y, scale = ref.dynamic_quant_ref(fp16(V1_X[:1]), chip="a2")
    assert ref.a2_kernel_key(1, 8, smooth=False, group=False, experts=0, out="int8") == 2
    assert y.tolist() == V1_Y[:1]
    assert f32_hex(scale) == ["0x3c59b367"]  # m*c, not the MoE kernel's 0x3c59b366


@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("moe", [True, False], ids=["moe", "plain"])
def test_oracle_v3_zero_row_and_int4_packing(chip, moe):
    args = (np.ones((1, 8), np.float32), [2]) if moe else ()
    y, scale = ref.dynamic_quant_ref(fp16(V3_X), *args, out="int4", chip=chip)
    assert y.dtype == np.int32 and y.view(np.uint32).tolist() == V3_Y
    assert f32_hex(scale) == V3_SCALE


@pytest.mark.parametrize("chip", CHIPS)
def test_oracle_v4_asymmetric_int8(chip):
    y, scale, offset = ref.dynamic_quant_ref(fp16(V4_X), chip=chip, asymmetric=True)
    assert y.tolist() == V4[chip]["y"]
    assert f32_hex(scale) == V4[chip]["scale"]
    for got, want in zip(offset, V4[chip]["offset"]):
        assert np.isnan(got) if want is None else f32_hex(got) == [want]


def test_oracle_v5_fp8_e4m3fn():
    y, scale = ref.dynamic_quant_ref(fp16(V5_X), out="e4m3fn", chip="950")
    assert y.dtype == np.uint8 and y.tobytes().hex(" ") == V5_Y
    assert f32_hex(scale) == V5_SCALE
    assert ref.decode_fp8(y, "e4m3fn").tolist() == [[448, 144, -72, 15, 288, -448, 0, 224]]


@pytest.mark.parametrize("out", ["e4m3fn", "e5m2"])
def test_oracle_fp8_encoding(out):
    # Round to nearest even on the fp8 grid agrees with torch's conversion wherever torch
    # does not overflow; every finite code round-trips; beyond max, +-inf saturate; NaN -> 0.
    rng = np.random.default_rng(0)
    fmax = ref.FP8[out][2]
    v = (rng.normal(size=50000) * 10.0 ** rng.integers(-12, 6, size=50000)).astype(np.float32)
    v = np.concatenate([v[np.abs(v) <= fmax], np.float32([0.0, fmax, -fmax])])
    torch_bits = torch.from_numpy(v).to(FP8_TORCH[out]).view(torch.uint8).numpy()
    assert np.array_equal(ref.encode_fp8(v, out), torch_bits)
    codes = np.arange(256, dtype=np.uint8)
    values = ref.decode_fp8(codes, out)
    finite = np.isfinite(values)
    assert np.array_equal(ref.encode_fp8(values[finite], out), codes[finite])
    max_code = ref.encode_fp8(np.float32([fmax]), out)[0]
    edge = np.float32([fmax * 1.2, np.inf, -np.inf, -fmax * 4, np.nan, -0.0])
    assert ref.encode_fp8(edge, out).tolist() == [max_code, max_code, max_code | 0x80] + [
        max_code | 0x80,
        0,
        0x80,
    ]


def test_oracle_a2_kernel_keys():
    key = ref.a2_kernel_key
    assert key(100, 4096, smooth=False, group=False, experts=0, out="int8") == 100
    assert key(100, 4096, smooth=False, group=False, experts=0, out="int4") == 10
    assert key(500, 4096, smooth=True, group=False, experts=0, out="int8") == 10
    assert key(3, 16320, smooth=False, group=False, experts=0, out="int8") == 10
    assert key(3, 16320, smooth=True, group=False, experts=0, out="int8") == 6  # 17a > max
    assert key(3, 17792, smooth=False, group=False, experts=0, out="int8") == 6
    assert key(3, 16001, smooth=False, group=False, experts=0, out="int8") == 0
    assert key(3, 40, smooth=False, group=False, experts=0, out="int8") == 2
    # group_index without smooth: ignored, yet kernels 100 and 10 are skipped (§4).
    assert key(100, 4096, smooth=False, group=True, experts=3, out="int8") == 2
    assert key(3, 11000, smooth=True, group=True, experts=2048, out="int8") == 7
    assert key(3, 11000, smooth=True, group=True, experts=4096, out="int8") == 8
    assert key(3, 12000, smooth=True, group=True, experts=1, out="int8") == 8


# ---- Helpers for the op ---------------------------------------------------------------------


def f32(t):
    return None if t is None else t.detach().cpu().to(torch.float32).numpy()


def expected(x, smooth=None, group_index=None, *, out="int8", chip="a2", asymmetric=False):
    """The oracle's outputs as torch tensors of the op's dtypes."""
    gi = None if group_index is None else group_index.cpu().numpy()
    outs = ref.dynamic_quant_ref(f32(x), f32(smooth), gi, out=out, chip=chip, asymmetric=asymmetric)
    y = torch.from_numpy(np.ascontiguousarray(outs[0]))
    if out in FP8_TORCH:
        y = y.view(FP8_TORCH[out])
    return (y,) + tuple(torch.from_numpy(np.ascontiguousarray(v)) for v in outs[1:])


def call(x, smooth=None, group_index=None, *, out="int8", chip="a2", asymmetric=False, form=0):
    """The public wrapper with the form-th dst_type spelling of out."""
    fn = groupquant.npu_dynamic_quant_asymmetric if asymmetric else groupquant.npu_dynamic_quant
    return fn(
        x, smooth_scales=smooth, group_index=group_index, dst_type=DST_TYPES[out][form], chip=chip
    )


def assert_bits_equal(got, want):
    assert len(got) == len(want)
    for name, g, w in zip(("y", "scale", "offset"), got, want):
        assert g.dtype == w.dtype, name
        assert g.shape == w.shape, (name, g.shape, w.shape)
        if name == "offset" and w.numel():
            # NaN offsets (950 zero rows) compare as NaN, whatever the payload (§9.7).
            nan = torch.isnan(w)
            assert torch.equal(torch.isnan(g), nan), name
            g, w = g[~nan], w[~nan]
        mismatch = bits(g) != bits(w)
        assert not mismatch.any(), (name, int(mismatch.sum()), mismatch.nonzero()[:5].tolist())


def check(x, smooth=None, group_index=None, **kw):
    inputs = dict(x=x, smooth=smooth, group_index=group_index)
    before = snapshot(inputs)
    got = call(x, smooth, group_index, **kw)
    kw.pop("form", None)
    assert_bits_equal(got, expected(x, smooth, group_index, **kw))
    assert_unchanged(inputs, before)
    return got


def random_x(shape, dtype, rng, specials=0.0):
    """Wide values with exact .5 ties; with `specials`, that fraction of rows also holds
    one of inf, -inf, NaN, 0, a subnormal, or a huge value."""
    h = shape[-1]
    v = rng.normal(0.0, 1.0, size=shape) * 10.0 ** rng.integers(-2, 3, size=(*shape[:-1], 1))
    ties = rng.random(size=shape) < 0.2
    v[ties] = rng.integers(-60, 60, size=int(ties.sum())) + 0.5
    if specials and h:
        rows = v.reshape(-1, h)
        pick = rng.random(rows.shape[0]) < specials
        kinds = [np.inf, -np.inf, np.nan, 0.0, 1e-40, 6e4, -1e-7]
        for r in np.flatnonzero(pick):
            rows[r, rng.integers(0, h, size=rng.integers(1, 3))] = rng.choice(kinds)
    return torch.from_numpy(v).to(dtype)


def random_smooth(shape, dtype, rng):
    v = rng.normal(1.0, 0.6, size=shape)
    exact = rng.random(size=shape) < 0.4
    v[exact] = rng.choice([1.0, 0.5, 2.0, -1.0, 0.25], size=int(exact.sum()))
    return torch.from_numpy(v).to(dtype)


def random_group_index(rows, experts, dtype, rng):
    """Cumulative end rows of `experts` experts over `rows` rows, empty experts likely
    (the first one included)."""
    cuts = np.sort(rng.integers(0, rows + 1, size=experts - 1))
    cuts[: rng.integers(0, 2)] = 0
    return torch.from_numpy(np.concatenate([cuts, [rows]])).to(dtype)


SMOOTH_KINDS = ["none", "vector", "moe-int32", "moe-int64"]


def make_case(shape, x_dtype, smooth_kind, rng, experts=4, specials=0.1):
    x = random_x(shape, x_dtype, rng, specials)
    rows, h = int(np.prod(shape[:-1])), shape[-1]
    if smooth_kind == "none":
        return x, None, None
    if smooth_kind == "vector":
        return x, random_smooth((h,), x_dtype, rng), None
    index_dtype = torch.int32 if smooth_kind == "moe-int32" else torch.int64
    return (
        x,
        random_smooth((experts, h), x_dtype, rng),
        random_group_index(rows, experts, index_dtype, rng),
    )


# ---- §7 through the op -----------------------------------------------------------------------


def t16(rows):
    return torch.tensor(rows, dtype=torch.float16)


@needs_op
@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=short)
def test_v1(chip, index_dtype):
    gi = torch.tensor(V1_GROUP, dtype=index_dtype)
    y, scale = groupquant.npu_dynamic_quant(
        t16(V1_X), smooth_scales=t16(V1_SMOOTH), group_index=gi, chip=chip
    )
    assert y.dtype == torch.int8 and y.tolist() == V1_Y
    assert f32_hex(scale.numpy()) == V1_SCALE[chip]


@needs_op
def test_v2():
    y, scale = torch.ops.groupquant.npu_dynamic_quant(t16(V1_X[:1]))
    assert y.tolist() == V1_Y[:1] and f32_hex(scale.numpy()) == ["0x3c59b367"]


@needs_op
@pytest.mark.parametrize("chip", CHIPS)
@pytest.mark.parametrize("dst_type", DST_TYPES["int4"], ids=str)
def test_v3(chip, dst_type):
    y, scale = groupquant.npu_dynamic_quant(
        t16(V3_X),
        smooth_scales=t16([[1] * 8]),
        group_index=torch.tensor([2], dtype=torch.int32),
        dst_type=dst_type,
        chip=chip,
    )
    assert y.dtype == torch.int32 and y.shape == (2, 1)
    assert y.numpy().view(np.uint32).tolist() == V3_Y
    assert f32_hex(scale.numpy()) == V3_SCALE


@needs_op
@pytest.mark.parametrize("chip", CHIPS)
def test_v4(chip):
    y, scale, offset = groupquant.npu_dynamic_quant_asymmetric(t16(V4_X), chip=chip)
    assert y.tolist() == V4[chip]["y"]
    assert f32_hex(scale.numpy()) == V4[chip]["scale"]
    for got, want in zip(offset.numpy(), V4[chip]["offset"]):
        assert np.isnan(got) if want is None else f32_hex(got) == [want]


@needs_op
@pytest.mark.parametrize("dst_type", DST_TYPES["e4m3fn"], ids=str)
def test_v5(dst_type):
    y, scale = groupquant.npu_dynamic_quant(t16(V5_X), dst_type=dst_type, chip="950")
    assert y.dtype == torch.float8_e4m3fn
    assert y.view(torch.uint8).numpy().tobytes().hex(" ") == V5_Y
    assert f32_hex(scale.numpy()) == V5_SCALE


# ---- The op against the oracle ---------------------------------------------------------------


@needs_op
@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize("smooth_kind", SMOOTH_KINDS)
@pytest.mark.parametrize("out_chip", OUT_CHIPS, ids=pair_id)
@pytest.mark.parametrize("x_dtype", X_DTYPES, ids=short)
def test_matches_oracle(x_dtype, out_chip, smooth_kind, asymmetric):
    out, chip = out_chip
    rng = np.random.default_rng(zlib.crc32(f"{short(x_dtype)}-{out}-{chip}-{smooth_kind}".encode()))
    for i, shape in enumerate([(37, 64), (3, 5, 24), (2, 3, 4, 16), (1, 8)]):
        x, smooth, gi = make_case(shape, x_dtype, smooth_kind, rng, experts=1 + i % 4)
        check(
            x, smooth, gi, out=out, chip=chip, asymmetric=asymmetric, form=i % len(DST_TYPES[out])
        )


@needs_op
@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize(
    "rows, h, smooth_kind, experts, out, key",
    [
        (100, 4096, "none", 0, "int8", 100),
        (100, 4096, "none", 0, "int4", 10),
        (5, 520, "vector", 0, "int8", 10),
        (3, 17792, "none", 0, "int8", 6),
        (3, 16001, "none", 0, "int8", 0),
        (6, 40, "none", 0, "int8", 2),
        (3, 11000, "moe-int32", 5, "int8", 7),
        (3, 12000, "moe-int64", 2, "int8", 8),
    ],
)
def test_every_a2_kernel_scale(rows, h, smooth_kind, experts, out, key, asymmetric):
    # The A2 scale's bits depend on the NPU kernel the shape selects (§2.2, §10.8).
    moe = smooth_kind.startswith("moe")
    assert (
        ref.a2_kernel_key(
            rows, h, smooth=smooth_kind != "none", group=moe, experts=experts, out=out
        )
        == key
    )
    rng = np.random.default_rng(key)
    x, smooth, gi = make_case(
        (rows, h), torch.bfloat16, smooth_kind, rng, experts=max(experts, 1), specials=0
    )
    check(x, smooth, gi, out=out, chip="a2", asymmetric=asymmetric)


@needs_op
@pytest.mark.xfail(
    strict=True,
    reason="the core (src/validate.cc, a2_scale_is_reciprocal) drops group_index without "
    "smooth_scales before the kernel selection, so it keeps kernel 10's m*c scale; SPEC §4 "
    "says the NPU's tiling skips kernels 100 and 10 whenever the group tensor is present",
)
def test_a2_group_index_without_smooth_is_ignored_but_selects_the_kernel():
    # Without smooth_scales, group_index takes no part in the arithmetic, yet its presence
    # skips kernels 100 and 10 (§4): at H = 16000 the A2 scale is then 1/q (kernel 0/1)
    # instead of m*c (kernel 10).
    rows, h = 40, 16000
    assert ref.a2_kernel_key(rows, h, smooth=False, group=True, experts=2, out="int8") == 0
    assert ref.a2_kernel_key(rows, h, smooth=False, group=False, experts=0, out="int8") == 10
    x = random_x((rows, h), torch.bfloat16, np.random.default_rng(9))
    gi = torch.tensor([3, 7], dtype=torch.int32)  # not even a valid index for 40 rows
    with_index = groupquant.npu_dynamic_quant(x, group_index=gi)
    without = groupquant.npu_dynamic_quant(x)
    assert_bits_equal(with_index, expected(x, None, gi))
    assert_bits_equal(without, expected(x))
    assert torch.equal(with_index[0], without[0])
    assert not torch.equal(bits(with_index[1]), bits(without[1]))


@needs_op
@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize("out_chip", OUT_CHIPS, ids=pair_id)
def test_views(out_chip, asymmetric):
    out, chip = out_chip
    rng = np.random.default_rng(11)
    x, smooth, gi = make_case((12, 32), torch.bfloat16, "moe-int64", rng, experts=3)
    z = torch.zeros
    views = {
        "x_transposed": dict(x=x.t().contiguous().t()),
        "x_column_step": dict(x=z(12, 64, dtype=x.dtype)[:, ::2].copy_(x)),
        "x_storage_offset": dict(x=z(25, 35, dtype=x.dtype)[1::2, 3:].copy_(x)),
        "x_rank3_permuted": dict(
            x=x.reshape(3, 4, 32).permute(1, 0, 2).contiguous().permute(1, 0, 2)
        ),
        "smooth_transposed": dict(smooth=smooth.t().contiguous().t()),
        "smooth_broadcast_row": dict(smooth=smooth[:1].expand(3, 32)),
        "group_index_step": dict(gi=z(9, dtype=gi.dtype)[1::3].copy_(gi)),
    }
    for name, change in views.items():
        case = {**dict(x=x, smooth=smooth, gi=gi), **change}
        check(case["x"], case["smooth"], case["gi"], out=out, chip=chip, asymmetric=asymmetric)
    vector = smooth[1]
    check(
        x.t().contiguous().t(),
        z(64, dtype=x.dtype)[::2].copy_(vector),
        None,
        out=out,
        chip=chip,
        asymmetric=asymmetric,
    )


# ---- Special values, empty inputs, threads --------------------------------------------------


SPECIAL_ROWS = {
    "zeros": [0.0] * 8,
    "neg_zeros": [-0.0] * 8,
    "pos_inf": [1.0, np.inf, -2.0, 0.5, 0.0, 3.0, -1.0, 2.5],
    "neg_inf": [1.0, -np.inf, -2.0, 0.5, 0.0, 3.0, -1.0, 2.5],
    "both_inf": [np.inf, -np.inf, 0, 0, 1, 1, 1, 1],
    "all_pos_inf": [np.inf] * 8,
    "one_nan": [1.0, np.nan, -2.0, 0.5, 0.0, 3.0, -1.0, 2.5],
    "all_nan": [np.nan] * 8,
    "nan_and_inf": [np.nan, np.inf, 1, 1, 1, 1, 1, 1],
    "constant": [3.0] * 8,
    "subnormal_bf16": [1e-40, -2e-40, 3e-39, 0, 0, 0, 0, 1e-39],
    "subnormal_fp16": [6e-8, -1.2e-7, 3e-6, 0, 0, 0, 0, 5e-8],
    "huge": [6e4, -6.5e4, 1, 1, 1, 1, 1, 1],
}


@needs_op
@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize("out_chip", OUT_CHIPS, ids=pair_id)
@pytest.mark.parametrize("x_dtype", X_DTYPES, ids=short)
def test_special_rows(x_dtype, out_chip, asymmetric):
    out, chip = out_chip
    x = torch.tensor(list(SPECIAL_ROWS.values()), dtype=torch.float64).to(x_dtype)
    check(x, out=out, chip=chip, asymmetric=asymmetric)
    # And after a smooth multiply that makes some of them (inf * 0 = NaN, overflow).
    smooth = torch.tensor([1.0, 0.0, -1.0, 2.0, 1e30, 1.0, 0.5, 1.0], dtype=torch.float64)
    check(x, smooth.to(x_dtype), out=out, chip=chip, asymmetric=asymmetric)


@needs_op
@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize("out_chip", OUT_CHIPS, ids=pair_id)
@pytest.mark.parametrize("shape", [(0, 16), (2, 0, 16), (3, 0), (2, 2, 0)], ids=str)
def test_empty(shape, out_chip, asymmetric):
    # rows == 0: empty outputs; H == 0: y has a last dim of 0, scale (and offset) are 0.
    out, chip = out_chip
    x = torch.empty(shape, dtype=torch.float16)
    got = check(x, out=out, chip=chip, asymmetric=asymmetric)
    assert got[1].shape == shape[:-1]
    if shape[-1] == 0 and got[1].numel():
        for v in got[1:]:
            assert torch.equal(v, torch.zeros(shape[:-1]))
    # With an [E, H] smooth and experts that own no rows.
    h = shape[-1]
    rows = int(np.prod(shape[:-1]))
    smooth = torch.ones(3, h, dtype=torch.float16)
    gi = torch.tensor([0, rows, rows], dtype=torch.int32)
    check(x, smooth, gi, out=out, chip=chip, asymmetric=asymmetric)


@needs_op
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
def test_thread_counts(threads, asymmetric, restore_num_threads):
    torch.set_num_threads(threads)
    rng = np.random.default_rng(13)
    x, smooth, gi = make_case((1031, 72), torch.bfloat16, "moe-int32", rng, experts=9)
    for out, chip in OUT_CHIPS:
        check(x, smooth, gi, out=out, chip=chip, asymmetric=asymmetric)


@needs_op
def test_both_entry_points_agree():
    rng = np.random.default_rng(17)
    x, smooth, gi = make_case((9, 16), torch.float16, "moe-int64", rng, experts=2)
    for code in (1, 16, 23, 24, 291, 292):
        kw = dict(smooth_scales=smooth, group_index=gi, dst_type=code, chip="950")
        for wrapper, op in (
            (groupquant.npu_dynamic_quant, torch.ops.groupquant.npu_dynamic_quant),
            (
                groupquant.npu_dynamic_quant_asymmetric,
                torch.ops.groupquant.npu_dynamic_quant_asymmetric,
            ),
        ):
            assert_bits_equal(wrapper(x, **kw), op(x, **kw))


# ---- Odd but legal ------------------------------------------------------------------------


@needs_op
def test_odd_but_legal_inputs():
    rng = np.random.default_rng(29)
    x, smooth, gi = make_case((10, 24), torch.float16, "moe-int32", rng, experts=3, specials=0)
    plain = expected(x, smooth, gi, chip="950", asymmetric=True)
    kw = dict(chip="950", asymmetric=True)
    # A lazily negated x: the result for -x.
    neg = x._neg_view()
    assert neg.is_neg()
    assert_bits_equal(call(neg, smooth, gi, **kw), expected(-x, smooth, gi, **kw))
    # Inputs that require grad: the same bits (the op has no derivative; torch's autograd
    # fallback may still mark the float outputs as requiring grad).
    got = call(x.clone().requires_grad_(), smooth.clone().requires_grad_(), gi, **kw)
    assert_bits_equal([t.detach() for t in got], plain)
    # Misaligned data: x at an odd byte address.
    raw = bytearray(2 * x.numel() + 1)
    odd = torch.frombuffer(raw, dtype=torch.float16, offset=1, count=x.numel()).view(x.shape)
    assert odd.data_ptr() % 2 == 1
    odd.copy_(x)
    assert_bits_equal(call(odd, smooth, gi, **kw), plain)
    # Stride-0 x (one row for every row), and inputs sharing memory.
    row = x[:1].expand(10, 24)
    assert_bits_equal(call(row, smooth, gi, **kw), expected(row.contiguous(), smooth, gi, **kw))
    assert_bits_equal(call(x, x[:3], gi, **kw), expected(x, x[:3].clone(), gi, **kw))


@needs_op
def test_all_meta_gives_the_shapes_only():
    x = torch.empty(3, 5, 16, dtype=torch.bfloat16, device="meta")
    smooth = torch.empty(4, 16, dtype=torch.bfloat16, device="meta")
    gi = torch.empty(4, dtype=torch.int32, device="meta")
    y, scale, offset = groupquant.npu_dynamic_quant_asymmetric(
        x, smooth_scales=smooth, group_index=gi, dst_type=torch.quint4x2
    )
    assert y.is_meta and y.dtype == torch.int32 and tuple(y.shape) == (3, 5, 2)
    for t in (scale, offset):
        assert t.is_meta and t.dtype == torch.float32 and tuple(t.shape) == (3, 5)
    y, scale = groupquant.npu_dynamic_quant(x, dst_type=torch.float8_e5m2, chip="950")
    assert y.dtype == torch.float8_e5m2 and tuple(y.shape) == (3, 5, 16)


# ---- Errors -------------------------------------------------------------------------------
# The torch-level rules (the binding's, worded the same by the fakes). Under FakeTensorMode
# the fake must raise the same message as the kernel.

TORCH_RULES = [
    (dict(dst_type=torch.qint8), "dst_type must be None, torch.int8, .*: got torch.qint8"),
    (dict(dst_type=torch.float16), "dst_type must be None, .*: got torch.float16"),
    (dict(dst_type=290), "dst_type must be None, .*: got 290"),
    (dict(dst_type=285), "dst_type must be None, .*: got 285"),
    (dict(dst_type=2), "dst_type must be None, .*: got 2"),
    (dict(dst_type="int8"), "dst_type must be None, .*: got a str"),
    (dict(quant_mode="pertensor"), 'quant_mode must be "pertoken": got "pertensor"'),
    (dict(dst_type_max=448.0), r"dst_type_max must be 0 \(hifloat8 only\): got 448"),
    (dict(chip="910b"), 'chip must be "a2" or "950": got "910b"'),
    (dict(chip="A2"), 'chip must be "a2" or "950": got "A2"'),
]


@needs_op
@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize(
    "kwargs, message", TORCH_RULES, ids=lambda v: str(v) if isinstance(v, dict) else ""
)
def test_torch_rules(kwargs, message, asymmetric):
    fn = groupquant.npu_dynamic_quant_asymmetric if asymmetric else groupquant.npu_dynamic_quant
    x = torch.ones(2, 8, dtype=torch.float16)
    with pytest.raises(RuntimeError, match=message):
        fn(x, **kwargs)
    with FakeTensorMode() as mode, pytest.raises(RuntimeError, match=message):
        fn(mode.from_tensor(x), **kwargs)


@needs_op
def test_devices():
    x = torch.ones(2, 8, dtype=torch.float16)
    smooth = torch.ones(8, dtype=torch.float16, device="meta")
    message = (
        "smooth_scales must be on the same device as input: "
        "got smooth_scales on meta and input on cpu"
    )
    with pytest.raises(RuntimeError, match=message):
        groupquant.npu_dynamic_quant(x, smooth_scales=smooth)
    gi = torch.tensor([2], device="meta")
    with pytest.raises(RuntimeError, match="group_index must be on the same device as input"):
        groupquant.npu_dynamic_quant_asymmetric(
            x, smooth_scales=torch.ones(1, 8, dtype=torch.float16), group_index=gi
        )


# The core's rules: each case breaks one thing of a valid MoE call (input float16 [6, 8],
# smooth_scales float16 [3, 8], group_index int64 [1, 4, 6]) and gives the core's message as
# the first line of a RuntimeError, through both entry points, with no input changed.
# "spec" marks the rules of gq_dynamic_quant_output_spec, which the fake raises too (so
# torch.compile fails while tracing); the others surface when the kernel runs.

ROWS_NAME = "the number of rows 6 (the product of input's leading sizes)"


def base_call(**change):
    call_args = dict(
        input=torch.from_numpy(np.arange(48).reshape(6, 8) / 8.0 - 3).to(torch.float16),
        smooth_scales=torch.full((3, 8), 0.5, dtype=torch.float16),
        group_index=torch.tensor([1, 4, 6]),
        dst_type=None,
        chip="a2",
    )
    call_args.update(change)
    return call_args


H16 = torch.float16
CORE_RULES = [
    # (id, change, message, raised by the fake too)
    (
        "input_1d",
        dict(input=torch.ones(48, dtype=H16)),
        "input must be 2-D to 8-D: got a 1-D tensor of shape [48]",
        True,
    ),
    (
        "input_0d",
        dict(input=torch.tensor(1.0, dtype=H16)),
        "input must be 2-D to 8-D: got a 0-D tensor",
        True,
    ),
    (
        "input_9d",
        dict(input=torch.ones([1] * 8 + [8], dtype=H16), smooth_scales=None),
        "input must be 2-D to 8-D: got a 9-D tensor",
        True,
    ),
    (
        "input_float32",
        dict(input=torch.ones(6, 8)),
        "input must be float16 or bfloat16 (the NPU kernels take no float32): got float32",
        True,
    ),
    (
        "input_float64",
        dict(input=torch.ones(6, 8, dtype=torch.float64)),
        "input must be float16 or bfloat16 (the NPU kernels take no float32): got float64",
        True,
    ),
    (
        "input_int8",
        dict(input=torch.ones(6, 8, dtype=torch.int8)),
        "input must be float16 or bfloat16 (the NPU kernels take no float32): got int8",
        True,
    ),
    (
        "input_bool",
        dict(input=torch.ones(6, 8, dtype=torch.bool)),
        "input must be float16 or bfloat16 (the NPU kernels take no float32): got bool",
        True,
    ),
    (
        "input_float8",
        dict(input=torch.ones(6, 8).to(torch.float8_e4m3fn)),
        "input must be float16 or bfloat16 (the NPU kernels take no float32): got float8_e4m3fn",
        True,
    ),
    (
        "int4_columns",
        dict(input=torch.ones(6, 12, dtype=H16), smooth_scales=None, dst_type=torch.quint4x2),
        "dst_type quint4x2 (packed int4) requires input.size(-1) to be a multiple of 8: got 12",
        True,
    ),
    (
        "int4_columns_empty",
        dict(input=torch.ones(0, 12, dtype=H16), smooth_scales=None, dst_type=16),
        "dst_type quint4x2 (packed int4) requires input.size(-1) to be a multiple of 8: got 12",
        True,
    ),
    (
        "e4m3fn_on_a2",
        dict(dst_type=torch.float8_e4m3fn),
        'dst_type float8_e4m3fn is only produced by Ascend 950: pass chip="950" (got chip="a2")',
        True,
    ),
    (
        "e5m2_on_a2",
        dict(dst_type=291),
        'dst_type float8_e5m2 is only produced by Ascend 950: pass chip="950" (got chip="a2")',
        True,
    ),
    (
        "smooth_bfloat16",
        dict(smooth_scales=torch.ones(3, 8, dtype=torch.bfloat16)),
        "smooth_scales dtype must equal input dtype: got smooth_scales bfloat16 with input float16",
        False,
    ),
    (
        "smooth_float32",
        dict(smooth_scales=torch.ones(3, 8)),
        "smooth_scales must be float16 or bfloat16: got float32",
        False,
    ),
    (
        "smooth_int32",
        dict(smooth_scales=torch.ones(3, 8, dtype=torch.int32)),
        "smooth_scales must be float16 or bfloat16: got int32",
        False,
    ),
    (
        "smooth_3d",
        dict(smooth_scales=torch.ones(1, 3, 8, dtype=H16)),
        "smooth_scales must be 1-D [H] or 2-D [E, H]: got a 3-D tensor of shape [1, 3, 8]",
        False,
    ),
    (
        "smooth_columns",
        dict(smooth_scales=torch.ones(3, 4, dtype=H16)),
        "smooth_scales.size(-1) must equal input.size(-1): "
        "got smooth_scales [3, 4] for input [6, 8]",
        False,
    ),
    (
        "smooth_2d_without_group",
        dict(group_index=None),
        "smooth_scales of shape [E, H] needs group_index to route rows to experts: "
        "got [3, 8] without group_index",
        False,
    ),
    (
        "smooth_1d_with_group",
        dict(smooth_scales=torch.ones(8, dtype=H16)),
        "smooth_scales must be 2-D [E, H] when group_index is given: got [8]",
        False,
    ),
    (
        "group_index_2d",
        dict(group_index=torch.tensor([[1], [4], [6]])),
        "group_index must be 1-D: got a 2-D tensor of shape [3, 1]",
        False,
    ),
    (
        "group_index_float32",
        dict(group_index=torch.tensor([1.0, 4.0, 6.0])),
        "group_index must be int32 or int64: got float32",
        False,
    ),
    (
        "group_index_int16",
        dict(group_index=torch.tensor([1, 4, 6], dtype=torch.int16)),
        "group_index must be int32 or int64: got int16",
        False,
    ),
    (
        "group_index_length",
        dict(group_index=torch.tensor([1, 6])),
        "group_index.size(0) must equal smooth_scales.size(0): "
        "got group_index [2] for smooth_scales [3, 8]",
        False,
    ),
    (
        "no_experts",
        dict(
            smooth_scales=torch.ones(0, 8, dtype=H16),
            group_index=torch.tensor([], dtype=torch.int64),
        ),
        "smooth_scales.size(0) (the number of experts E) must be at least 1: got 0",
        False,
    ),
    (
        "group_index_negative",
        dict(group_index=torch.tensor([-1, 4, 6], dtype=torch.int32)),
        "group_index values must be non-negative: group_index[0]=-1",
        False,
    ),
    (
        "group_index_decreasing",
        dict(group_index=torch.tensor([4, 1, 6])),
        "group_index must be non-decreasing: group_index[1]=1 < group_index[0]=4",
        False,
    ),
    (
        "group_index_above_rows",
        dict(group_index=torch.tensor([1, 7, 7])),
        f"group_index values must not exceed {ROWS_NAME}: group_index[1]=7",
        False,
    ),
    (
        "group_index_last_not_rows",
        dict(group_index=torch.tensor([1, 4, 5])),
        f"group_index last value must equal {ROWS_NAME}: group_index[2]=5",
        False,
    ),
    (
        "group_index_int64_max",
        dict(group_index=torch.tensor([1, 2**63 - 1, 6])),
        f"group_index values must not exceed {ROWS_NAME}: group_index[1]=9223372036854775807",
        False,
    ),
]


@needs_op
@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize("case", CORE_RULES, ids=lambda c: c[0])
def test_core_rules(case, asymmetric):
    _, change, message, spec_rule = case
    args = base_call(**change)
    inputs = {k: v for k, v in args.items() if isinstance(v, torch.Tensor)}
    before = snapshot(inputs)
    wrapper = (
        groupquant.npu_dynamic_quant_asymmetric if asymmetric else groupquant.npu_dynamic_quant
    )
    op = (
        torch.ops.groupquant.npu_dynamic_quant_asymmetric
        if asymmetric
        else torch.ops.groupquant.npu_dynamic_quant
    )
    code = args["dst_type"]
    code = groupquant.dynamic_quant._dst_type_code(code)
    for fn, dst_type in ((wrapper, args["dst_type"]), (op, code)):
        with pytest.raises(RuntimeError) as info:
            fn(**dict(args, dst_type=dst_type))
        assert str(info.value).splitlines()[0] == message
    assert_unchanged(inputs, before)
    # The fake: the output-spec rules raise the same message while tracing; the others
    # are left to the kernel (the fake returns outputs).
    with FakeTensorMode() as mode:
        fake_args = {
            k: mode.from_tensor(v) if isinstance(v, torch.Tensor) else v for k, v in args.items()
        }
        if spec_rule:
            with pytest.raises(RuntimeError) as info:
                wrapper(**fake_args)
            assert str(info.value).splitlines()[0] == message
        else:
            wrapper(**fake_args)


@needs_op
def test_group_index_is_not_read_without_smooth_or_rows():
    # Without smooth_scales, group_index is ignored (even a float one); with no rows, its
    # values are not inspected.
    args = base_call(smooth_scales=None, group_index=torch.tensor([9.5]))
    assert_bits_equal(groupquant.npu_dynamic_quant(**args), expected(args["input"]))
    empty = torch.ones(0, 8, dtype=H16)
    garbage = torch.tensor([7, -3, 2])
    y, scale = groupquant.npu_dynamic_quant(
        empty, smooth_scales=torch.ones(3, 8, dtype=H16), group_index=garbage
    )
    assert y.shape == (0, 8) and scale.shape == (0,)


# ---- Graph mode ------------------------------------------------------------------------------


def moe_quant(x, smooth, gi):
    # A little work on both sides, so the backend has to schedule around the ops.
    x = x * 1
    y8, s8 = groupquant.npu_dynamic_quant(x, smooth_scales=smooth, group_index=gi)
    y4, s4, o4 = groupquant.npu_dynamic_quant_asymmetric(
        x, smooth_scales=smooth, group_index=gi, dst_type=torch.quint4x2, chip="950"
    )
    yf, sf = groupquant.npu_dynamic_quant(x, dst_type=torch.float8_e4m3fn, chip="950")
    return y8, s8, y4, s4, o4, yf, sf, y8.to(torch.int32).sum(dim=-1)


@needs_op
@pytest.mark.parametrize("backend", ["inductor", "aot_eager"])
def test_compile_one_graph(backend):
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounterWithBackend(backend)
    fn = torch.compile(moe_quant, backend=counter, fullgraph=True, dynamic=True)
    rng = np.random.default_rng(19)
    for rows, h, experts in [(6, 16, 3), (19, 24, 4), (40, 64, 7), (3, 32, 2)]:
        x, smooth, gi = make_case((rows, h), torch.float16, "moe-int32", rng, experts=experts)
        got = fn(x, smooth, gi)
        want = (
            expected(x, smooth, gi)
            + expected(x, smooth, gi, out="int4", chip="950", asymmetric=True)
            + expected(x, out="e4m3fn", chip="950")
        )
        assert_bits_equal(got[:2], want[:2])
        assert_bits_equal(got[2:5], want[2:5])
        assert_bits_equal(got[5:7], want[5:7])
        assert torch.equal(got[7], want[0].to(torch.int32).sum(dim=-1))
    assert counter.frame_count == 1  # rows, H and E changed; the graph did not
    torch._dynamo.reset()


@needs_op
def test_compile_invalid_values_raise_at_run_time():
    torch._dynamo.reset()
    fn = torch.compile(moe_quant, backend="aot_eager", fullgraph=True, dynamic=True)
    x = torch.ones(6, 16, dtype=torch.float16)
    smooth = torch.ones(3, 16, dtype=torch.float16)
    with pytest.raises(RuntimeError, match="group_index"):
        fn(x, smooth, torch.tensor([1, 4, 3], dtype=torch.int32))
    torch._dynamo.reset()


OPCHECK_CASES = [
    ("plain", (9, 16), "none", {}),
    ("vector-int4", (3, 4, 16), "vector", dict(dst_type=16)),
    ("moe-int32-950-e5m2", (11, 24), "moe-int32", dict(dst_type=23, chip="950")),
    ("moe-int64-950-e4m3fn", (2, 3, 2, 8), "moe-int64", dict(dst_type=292, chip="950")),
    ("empty", (0, 16), "moe-int32", {}),
    ("h0", (4, 0), "none", {}),
]


@needs_op
@pytest.mark.parametrize("asymmetric", [False, True], ids=["sym", "asym"])
@pytest.mark.parametrize("case", OPCHECK_CASES, ids=lambda c: c[0])
def test_opcheck(case, asymmetric):
    _, shape, smooth_kind, kwargs = case
    rng = np.random.default_rng(23)
    # No special values: opcheck compares outputs with assert_close, where NaN != NaN.
    x, smooth, gi = make_case(shape, torch.bfloat16, smooth_kind, rng, experts=3, specials=0)
    op = (
        torch.ops.groupquant.npu_dynamic_quant_asymmetric
        if asymmetric
        else torch.ops.groupquant.npu_dynamic_quant
    )
    result = torch.library.opcheck(
        op.default, (x,), dict(smooth_scales=smooth, group_index=gi, **kwargs)
    )
    assert set(result.values()) == {"SUCCESS"}, result


@needs_op
def test_docstring_examples_run():
    for module in (groupquant.dynamic_quant, groupquant.group_list):
        globs = dict(vars(module), groupquant=groupquant, torch=torch)
        failures, attempted = doctest.testmod(module, globs=globs, verbose=False)[:2]
        assert attempted > 0 and failures == 0, module.__name__
