"""A numpy oracle for npu_group_quant, written from SPEC.md alone (no C++ code shared).

Inputs are torch tensors (numpy has no bfloat16); they are widened to float32 first,
which is exact for float16 and bfloat16, and all arithmetic is numpy float32: one
multiply, one add, both rounded to nearest even, never fused.
"""

import numpy as np
import torch

INT4_DTYPES = (torch.quint4x2,)


def _float32(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy()


def group_of_rows(group_index: np.ndarray, m: int) -> np.ndarray:
    """Group of every row: g with group_index[g-1] <= r < group_index[g]."""
    return np.searchsorted(group_index, np.arange(m), side="right")


def pack_int4(q: np.ndarray) -> np.ndarray:
    """[M, N] values in [-8, 7] -> int32 [M, N/8]; column 8w+k in bits [4k, 4k+3] of word w."""
    m, n = q.shape
    nibbles = (q.astype(np.int64) & 0xF).reshape(m, n // 8, 8)
    words = np.zeros((m, n // 8), dtype=np.uint64)
    for k in range(8):
        words |= nibbles[:, :, k].astype(np.uint64) << np.uint64(4 * k)
    return words.astype(np.uint32).view(np.int32)


def npu_group_quant_ref(x, scale, group_index, offset=None, dst_dtype=None) -> torch.Tensor:
    """The expected result of npu_group_quant for valid inputs, as a torch tensor."""
    xf, sf = _float32(x), _float32(scale)
    m, n = xf.shape
    int4 = dst_dtype in INT4_DTYPES
    lo, hi = (-8, 7) if int4 else (-128, 127)
    gi = group_index.detach().cpu().numpy().astype(np.int64)
    if m == 0 or n == 0:
        shape = (m, n // 8) if int4 else (m, n)
        return torch.zeros(shape, dtype=torch.int32 if int4 else torch.int8)
    with np.errstate(over="ignore", invalid="ignore"):
        v = xf * sf[group_of_rows(gi, m)]  # float32 * float32 -> float32, rounded once
        if offset is not None:
            v = v + _float32(offset).reshape(())  # a second, separate rounding
        q = np.rint(v)  # round half to even
    q = np.where(np.isnan(q), 0, np.clip(q, lo, hi))
    if int4:
        return torch.from_numpy(pack_int4(q))
    return torch.from_numpy(q.astype(np.int8))
