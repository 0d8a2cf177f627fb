"""A numpy oracle for npu_dynamic_quant / npu_dynamic_quant_asymmetric, written from
SPEC-dynamic-quant.md alone (§2, §3 and the decisions of §10; no C++ code shared).

Inputs are numpy float32 arrays holding the float16 / bfloat16 values (widening is exact);
every step is numpy float32 arithmetic, each operation rounded to nearest even and never
fused, as the SPEC's fl(...) notation says. Results are numpy arrays: y (int8, int32
words of packed int4, or uint8 fp8 bit patterns), scale and offset (float32).

    y, scale = dynamic_quant_ref(x, smooth, group_index, out="int8", chip="a2")
    y, scale, offset = dynamic_quant_ref(..., asymmetric=True)
"""

import numpy as np

F = np.float32

# Output kinds: the largest magnitude DMAX (§0), the symmetric range R of the asymmetric
# op (§0) and the clamp range of integer outputs (§2.2 A4).
DMAX = {"int8": 127.0, "int4": 7.0, "e4m3fn": 448.0, "e5m2": 57344.0}
RANGE = {"int8": 255.0, "int4": 15.0, "e4m3fn": 896.0, "e5m2": 114688.0}
INT_LIMITS = {"int8": (-128, 127), "int4": (-8, 7)}
# fp8 formats: exponent bias, mantissa bits, largest finite value (OCP e4m3fn / e5m2).
FP8 = {"e4m3fn": (7, 3, 448.0), "e5m2": (15, 2, 57344.0)}

A2_EPSILON = F(1e-12)  # §2.3 B1: bits 0x2b8cbccc
A2_MAX_USE = 195584  # §2.2: UB 196608 B less 1 KiB
A2_KERNEL_100_H = (4096, 5120, 10240)


def f32_bits(v) -> int:
    return int(np.asarray(v, dtype=F).view(np.uint32))


def f32_from_bits(b: int) -> np.float32:
    return np.array([b], dtype=np.uint32).view(F)[0]


def inverse_dmax(out: str) -> np.float32:
    """c = fl(1/DMAX), the compile-time constant of §0."""
    return F(1) / F(DMAX[out])


# ---- A2 kernel selection (§2.2 table) ---------------------------------------------------


def _align(v: int, k: int) -> int:
    return (v + k - 1) // k * k


def a2_kernel_key(rows: int, h: int, *, smooth: bool, group: bool, experts: int, out: str) -> int:
    """The A2 DynamicQuant kernel the tiling picks (§2.2), top-down. `group` is whether a
    group_index tensor is present at all (with smooth it selects the MoE kernels; without
    smooth it is ignored, yet still skips kernels 100 and 10, §4)."""
    a = _align(h, 16)
    if smooth and group:
        return 8 if 4 * _align(experts, 8) + 17 * a > A2_MAX_USE else 7
    if not group:
        if out == "int8" and h in A2_KERNEL_100_H and 4 <= rows <= 384:
            return 100
        if h % 8 == 0 and 128 <= h <= (12800 if smooth else 16320):
            return 10
    if (17 if smooth else 11) * a > A2_MAX_USE:
        return 6
    if (19 if smooth else 13) * a < A2_MAX_USE:
        return 2  # 2/3: the double-buffered kernels
    return 0  # 0/1


def a2_scale_is_inverse_q(key: int) -> bool:
    """Kernels 0/1/6/7/8 return scale = fl(1/q); kernels 2/3/10/100 return fl(m*c)."""
    return key in (0, 1, 6, 7, 8)


# ---- Output encodings -------------------------------------------------------------------


def rint_saturate(v: np.ndarray, out: str) -> np.ndarray:
    """Round half to even, saturate to the integer range, NaN -> 0 (§2.2 A4, §10.6)."""
    lo, hi = INT_LIMITS[out]
    with np.errstate(invalid="ignore"):
        q = np.clip(np.rint(v), lo, hi)
    return np.where(np.isnan(v), 0, q).astype(np.int64)


def encode_fp8(v: np.ndarray, out: str) -> np.ndarray:
    """float32 -> fp8 bit patterns (uint8): round to nearest even on the fp8 grid
    (subnormals included), saturate to +-max (+-inf too), NaN -> 0x00 (§2.4 C3)."""
    bias, mbits, fmax = FP8[out]
    v = np.asarray(v, dtype=np.float64)  # every float32 value, exactly
    nan = np.isnan(v)
    sign = np.signbit(v) & ~nan
    a = np.minimum(np.abs(np.where(nan, 0.0, v)), fmax)  # max is on the grid: clamp first
    min_normal_exp = 1 - bias
    # The grid spacing at a's binade (the subnormal spacing below the smallest normal).
    _, e2 = np.frexp(a)  # a = f * 2**e2, f in [0.5, 1)
    exp = np.maximum(e2 - 1, min_normal_exp)
    ulp = np.ldexp(1.0, exp - mbits)
    units = np.rint(a / ulp)  # exact scaling by a power of 2, then RNE
    rounded = units * ulp  # a value on the grid (may carry into the next binade)
    _, e2r = np.frexp(rounded)
    exp_r = np.where(rounded == 0, min_normal_exp, np.maximum(e2r - 1, min_normal_exp))
    normal = rounded >= np.ldexp(1.0, min_normal_exp)
    mant = np.where(
        normal,
        np.rint(rounded / np.ldexp(1.0, exp_r - mbits)) - (1 << mbits),
        np.rint(rounded / np.ldexp(1.0, min_normal_exp - mbits)),
    )
    field = np.where(normal, exp_r + bias, 0)
    bits = (field.astype(np.int64) << mbits) | mant.astype(np.int64)
    return (bits | (sign.astype(np.int64) << 7)).astype(np.uint8)


def decode_fp8(bits: np.ndarray, out: str) -> np.ndarray:
    """fp8 bit patterns -> float64 values (for checking encode_fp8; NaN codes -> nan)."""
    bias, mbits, _ = FP8[out]
    b = np.asarray(bits, dtype=np.int64)
    sign = np.where(b & 0x80, -1.0, 1.0)
    field = (b >> mbits) & ((1 << (7 - mbits)) - 1)
    mant = b & ((1 << mbits) - 1)
    value = np.where(
        field == 0,
        np.ldexp(mant.astype(np.float64), 1 - bias - mbits),
        np.ldexp((mant + (1 << mbits)).astype(np.float64), field - bias - mbits),
    )
    if out == "e4m3fn":
        value = np.where((field == 15) & (mant == 7), np.nan, value)
    else:
        value = np.where(field == 31, np.where(mant == 0, np.inf, np.nan), value)
    return sign * value


def pack_int4(q: np.ndarray) -> np.ndarray:
    """[..., H] values in [-8, 7] -> int32 [..., H/8]: element 8j+i in bits [4i, 4i+4)
    of word j, two's-complement nibbles (§3)."""
    nibbles = (q.astype(np.int64) & 0xF).reshape(*q.shape[:-1], q.shape[-1] // 8, 8)
    words = np.zeros(nibbles.shape[:-1], dtype=np.uint64)
    for i in range(8):
        words |= nibbles[..., i].astype(np.uint64) << np.uint64(4 * i)
    return words.astype(np.uint32).view(np.int32)


def encode(v: np.ndarray, out: str) -> np.ndarray:
    if out in FP8:
        return encode_fp8(v, out)
    q = rint_saturate(v, out)
    return pack_int4(q) if out == "int4" else q.astype(np.int8)


# ---- The arithmetic (§2) ----------------------------------------------------------------


def expert_of_rows(group_index: np.ndarray, rows: int) -> np.ndarray:
    """S1: e(r) = min{e : group_index[e] >= r+1} = searchsorted(.., r, 'right')."""
    return np.searchsorted(np.asarray(group_index, dtype=np.int64), np.arange(rows), side="right")


def _nan_reduce(fn, xs: np.ndarray, empty: float) -> np.ndarray:
    """Row reduction ignoring NaN elements; a row of NaNs only reduces to `empty` (§10.6)."""
    filled = np.where(np.isnan(xs), F(empty), xs)
    return fn(filled, axis=1).astype(F)


def dynamic_quant_ref(
    x,
    smooth=None,
    group_index=None,
    *,
    out="int8",
    chip="a2",
    asymmetric=False,
    a2_kernel=None,
):
    """The expected outputs for a valid call. x: float32 array [..., H] of fp16/bf16
    values; smooth: float32 [H] or [E, H]; group_index: int [E] (only used with smooth).
    a2_kernel overrides the §2.2 selection (to test both scale formulas on one shape)."""
    x = np.asarray(x, dtype=F)
    lead, h = x.shape[:-1], x.shape[-1]
    rows = int(np.prod(lead, dtype=np.int64))
    x2 = x.reshape(rows, h)
    moe = smooth is not None and group_index is not None

    # S2/S3: the smooth row of every row, then xs = fl(x * s).
    if smooth is None:
        xs = x2
    else:
        s = np.asarray(smooth, dtype=F)
        s_rows = s[expert_of_rows(group_index, rows)] if moe else s[None, :]
        with np.errstate(over="ignore", invalid="ignore"):
            xs = x2 * s_rows

    def finish(y, *scalars):
        y_shape = (*lead, h // 8) if out == "int4" else (*lead, h)
        return (y.reshape(y_shape),) + tuple(v.reshape(lead) for v in scalars)

    if rows == 0 or h == 0:  # §10.7: empty y, zero scale/offset
        y = encode(np.zeros((rows, h), dtype=F), out)
        zeros = np.zeros(rows, dtype=F)
        return finish(y, zeros, zeros) if asymmetric else finish(y, zeros)

    with np.errstate(all="ignore"):
        if not asymmetric:
            m = _nan_reduce(np.max, np.abs(xs), 0.0)[:, None]  # S4
            if chip == "a2":
                if a2_kernel is None:
                    experts = 0 if group_index is None else len(group_index)
                    a2_kernel = a2_kernel_key(
                        rows,
                        h,
                        smooth=smooth is not None,
                        group=group_index is not None,
                        experts=experts,
                        out=out,
                    )
                q = F(DMAX[out]) / m  # A1
                scale = F(1) / q if a2_scale_is_inverse_q(a2_kernel) else m * inverse_dmax(out)
                v = xs * q  # A3: multiply, never divide by scale
            else:
                scale = m * inverse_dmax(out)  # C1
                v = xs / scale  # C2, modelled correctly rounded (§10.8)
            return finish(encode(v, out), scale[:, 0])

        mx = _nan_reduce(np.max, xs, 0.0)[:, None]
        mn = _nan_reduce(np.min, xs, 0.0)[:, None]
        if chip == "a2":
            scale = (mx - mn) / F(RANGE[out])  # B1
            scale = np.where(scale > A2_EPSILON, scale, A2_EPSILON).astype(F)  # NaN -> eps
            offset = F(DMAX[out]) - mx / scale  # B2
            back = F(1) / scale  # B3
            v = (xs * back) + offset  # B4: two roundings
        else:
            scale = (mx - mn) * (F(1) / F(RANGE[out]))  # D1: no clamp
            offset = F(DMAX[out]) + (-(mx / scale))  # D2
            v = (xs / scale) + offset  # D3
        return finish(encode(v, out), scale[:, 0], offset[:, 0])
