"""Shared input builders for the operator's tests (import them: `from conftest import ...`).

Tests run against the installed package (`make install-python`): the source tree keeps
the package under python/, so it cannot shadow the build by accident.
"""

import groupquant  # registers torch.ops.groupquant
import numpy as np
import pytest
import torch

FLOAT_DTYPES = [torch.float32, torch.float16, torch.bfloat16]
INDEX_DTYPES = [torch.int32, torch.int64]
# Every dst_dtype the op accepts, and the two output kinds they give.
DST_DTYPES = [None, torch.int8, torch.qint8, torch.quint4x2]
OUTPUT_KINDS = [torch.qint8, torch.quint4x2]
OFFSET_KINDS = ["none", "0d", "1d"]  # no offset, shape [], shape [1]


# Values at every rounding and saturation edge, each with what it gives (int8, int4) times
# a scale of 1 with no offset, in float32, float16 and bfloat16 alike: ties at every half
# (the int8 and int4 boundaries too), values that saturate (finite in every dtype, or
# only in some: 1e6 is inf in float16), +-inf, NaN, zeros of both signs, a subnormal.
SPECIAL_VALUES = [
    (0.5, 0, 0),
    (1.5, 2, 2),
    (2.5, 2, 2),
    (-0.5, 0, 0),
    (-2.5, -2, -2),
    (127.5, 127, 7),
    (-128.5, -128, -8),
    (7.5, 8, 7),
    (-8.5, -8, -8),
    (6.5, 6, 6),
    (-7.5, -8, -8),
    (1e6, 127, 7),
    (-1e6, -128, -8),
    (1e4, 127, 7),
    (-1e4, -128, -8),
    (float("inf"), 127, 7),
    (float("-inf"), -128, -8),
    (float("nan"), 0, 0),
    (0.0, 0, 0),
    (-0.0, 0, 0),
    (1e-40, 0, 0),
    (3.0, 3, 3),
    (-3.0, -3, -3),
    (200.0, 127, 7),
]


def short(dtype) -> str:
    return "None" if dtype is None else str(dtype).removeprefix("torch.")


def group_index_from_sizes(sizes, dtype=torch.int64) -> torch.Tensor:
    """Cumulative end rows of groups with the given row counts (zeros are empty groups)."""
    ends = np.cumsum(np.asarray(sizes, dtype=np.int64))
    return torch.tensor(ends, dtype=dtype).reshape(len(sizes))


def random_group_sizes(m: int, g: int, rng: np.random.Generator) -> list:
    """g group sizes summing to m, with empty groups likely."""
    cuts = np.sort(rng.integers(0, m + 1, size=g - 1))
    return list(np.diff(np.concatenate([[0], cuts, [m]])))


def random_x(m: int, n: int, dtype: torch.dtype, rng: np.random.Generator) -> torch.Tensor:
    """Values that reach every branch: wide normals, exact ties (k + 0.5), values that
    saturate, +-inf, NaN, zeros of both signs, and subnormals."""
    v = rng.normal(0.0, 60.0, size=(m, n))
    specials = np.array([value for value, _, _ in SPECIAL_VALUES])
    pick = rng.random(size=(m, n)) < 0.25
    v[pick] = rng.choice(specials, size=int(pick.sum()))
    ties = rng.random(size=(m, n)) < 0.15
    v[ties] = rng.integers(-140, 140, size=int(ties.sum())) + 0.5
    return torch.from_numpy(v).to(dtype)


def random_scale(g: int, n: int, dtype: torch.dtype, rng: np.random.Generator) -> torch.Tensor:
    """Mostly moderate magnitudes of both signs; exact 1.0 and 0.5 keep ties intact."""
    v = rng.normal(0.0, 1.5, size=(g, n))
    exact = rng.random(size=(g, n)) < 0.3
    v[exact] = rng.choice([1.0, 0.5, -1.0, 2.0, 0.0], size=int(exact.sum()))
    return torch.from_numpy(v).to(dtype)


def make_offset(kind: str, dtype: torch.dtype, rng: np.random.Generator):
    if kind == "none":
        return None
    # Mostly small exact values: with the exact scales and the k + 0.5 inputs they
    # keep many results on .5 ties.
    value = float(rng.choice([0.5, -1.0, 0.0, 3.0, -1.25, rng.normal(0, 2)]))
    t = torch.tensor(value, dtype=torch.float64).to(dtype)
    return t if kind == "0d" else t.reshape(1)


def make_inputs(
    m,
    n,
    sizes=None,
    *,
    g=None,
    x_dtype=torch.float32,
    scale_dtype=torch.float32,
    index_dtype=torch.int64,
    offset="1d",
    seed=0,
) -> dict:
    """Keyword arguments for npu_group_quant (dst_dtype aside)."""
    rng = np.random.default_rng(seed)
    if sizes is None:
        sizes = random_group_sizes(m, g if g is not None else 4, rng)
    return dict(
        x=random_x(m, n, x_dtype, rng),
        scale=random_scale(len(sizes), n, scale_dtype, rng),
        group_index=group_index_from_sizes(sizes, index_dtype),
        offset=make_offset(offset, scale_dtype, rng),
    )


def base_inputs(m=6, n=8, sizes=(1, 3, 2), index_dtype=torch.int64, offset="0d") -> dict:
    """The valid call the bad-input tests break (test_validation.py, test_hostile.py): x
    float32 [6, 8], scale float32 [3, 8], group_index int64 [1, 4, 6], offset float32 [],
    as in tests/cpp/tester.h; docs/hostile-inputs.md's messages are for it."""
    return make_inputs(m, n, list(sizes), index_dtype=index_dtype, offset=offset, seed=7)


def call(inputs: dict, dst_dtype=None, fn=groupquant.npu_group_quant) -> torch.Tensor:
    """fn (the public wrapper unless told; torch.ops.groupquant.npu_group_quant is the
    other entry point) on the x, scale, group_index and offset of inputs."""
    return fn(
        inputs["x"],
        inputs["scale"],
        inputs["group_index"],
        offset=inputs["offset"],
        dst_dtype=dst_dtype,
    )


def every_call_form(test):
    """Parametrizes test(x_dtype, scale_dtype, index_dtype, offset, dst_dtype) over every
    x and scale dtype, group_index dtype, offset form and dst_dtype."""
    for mark in (
        pytest.mark.parametrize("x_dtype", FLOAT_DTYPES, ids=short),
        pytest.mark.parametrize("scale_dtype", FLOAT_DTYPES, ids=short),
        pytest.mark.parametrize("index_dtype", INDEX_DTYPES, ids=short),
        pytest.mark.parametrize("offset", OFFSET_KINDS),
        pytest.mark.parametrize("dst_dtype", DST_DTYPES, ids=short),
    ):  # in the order stacked decorators apply (the bottom one first)
        test = mark(test)
    return test


# (x dtype, scale dtype) pairs for the strided-view tests, and their test ids.
VIEW_DTYPE_PAIRS = [
    (torch.float32, torch.float32),
    (torch.float16, torch.bfloat16),
    (torch.bfloat16, torch.float32),
]


def pair_id(dtypes) -> str:
    return f"{short(dtypes[0])}-{short(dtypes[1])}"


def strided_views(inputs: dict) -> dict:
    """Name -> inputs with one or more tensors replaced by a non-contiguous, sliced,
    broadcast or storage-offset (misaligned) view, made on the inputs' device. Each
    holds the same values but "scale_broadcast_row" (scale's first row for every group)."""
    x, scale, gi, offset = inputs["x"], inputs["scale"], inputs["group_index"], inputs["offset"]
    m, n = x.shape
    g = scale.shape[0]

    def zeros(*shape, like):
        return torch.zeros(*shape, dtype=like.dtype, device=like.device)

    def offset_in(base):
        return None if offset is None else base.copy_(offset.reshape(base.shape))

    return {
        "x_transposed": dict(inputs, x=x.t().contiguous().t()),
        "x_column_step": dict(inputs, x=zeros(m, 2 * n, like=x)[:, ::2].copy_(x)),
        "x_misaligned_rows": dict(inputs, x=zeros(m, n + 1, like=x)[:, 1:].copy_(x)),
        "x_row_step_offset": dict(inputs, x=zeros(2 * m + 1, n + 3, like=x)[1::2, 3:].copy_(x)),
        "scale_transposed": dict(inputs, scale=scale.t().contiguous().t()),
        "scale_sliced": dict(
            inputs, scale=zeros(g + 2, n + 5, like=scale)[2:, 1 : n + 1].copy_(scale)
        ),
        "scale_broadcast_row": dict(inputs, scale=scale[:1].expand(g, n)),
        "group_index_step": dict(inputs, group_index=zeros(3 * g + 1, like=gi)[1::3].copy_(gi)),
        "offset_view": dict(inputs, offset=offset_in(zeros(5, like=scale)[3:4])),
        "all_transposed": dict(
            x=x.t().contiguous().t(),
            scale=scale.t().contiguous().t(),
            group_index=zeros(2 * g, like=gi)[1::2].copy_(gi),
            offset=offset_in(zeros(3, like=scale)[2]),
        ),
    }


def snapshot(inputs: dict) -> dict:
    """Copies (values, shape, strides, storage offset) to prove inputs are not mutated."""
    return {
        k: None if t is None else (t.clone(), t.stride(), t.storage_offset())
        for k, t in inputs.items()
    }


def assert_unchanged(inputs: dict, before: dict) -> None:
    for k, t in inputs.items():
        if t is None:
            continue
        copy, stride, storage_offset = before[k]
        assert t.stride() == stride and t.storage_offset() == storage_offset, k
        if t.is_meta:  # no data to compare
            continue
        assert torch.equal(bits(t), bits(copy)), k


_SAME_SIZE_INT = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def bits(t: torch.Tensor) -> torch.Tensor:
    """t's bit patterns, so that NaN == NaN and -0.0 != 0.0."""
    return t.contiguous().view(_SAME_SIZE_INT[t.element_size()])


@pytest.fixture
def restore_num_threads():
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)
