"""Shared input builders for the operator's tests (import them: `from conftest import ...`).

Tests run against the installed package (`make install-python`): the source tree keeps
the package under python/, so it cannot shadow the build by accident.
"""

import groupquant  # noqa: F401  (registers torch.ops.groupquant)
import numpy as np
import pytest
import torch

FLOAT_DTYPES = [torch.float32, torch.float16, torch.bfloat16]
INDEX_DTYPES = [torch.int32, torch.int64]
# Every dst_dtype the op accepts, and the two output kinds they give.
DST_DTYPES = [None, torch.int8, torch.qint8, torch.quint4x2]
OUTPUT_KINDS = [torch.qint8, torch.quint4x2]
OFFSET_KINDS = ["none", "0d", "1d"]  # no offset, shape [], shape [1]


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
    specials = np.array(
        [
            0.5,
            1.5,
            2.5,
            -0.5,
            -2.5,
            127.5,
            -128.5,
            7.5,
            -8.5,
            1e6,
            -1e6,
            np.inf,
            -np.inf,
            np.nan,
            0.0,
            -0.0,
            1e-40,
            -3.0,
            200.0,
        ]
    )
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
