#!/usr/bin/env python3
"""Writes the handcrafted seeds fuzz/corpus/seed-*.bin (group_quant_fuzz) and
fuzz/corpus-dynamic/seed-*.bin (dynamic_quant_fuzz); input formats: fuzz/README.md.

Each seed is one readable call; libFuzzer mutates from there. Run from the repo root:
    python3 fuzz/make_seeds.py
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
OUT_DYNAMIC = os.path.join(HERE, "corpus-dynamic")
F32, F16, BF16 = 0, 1, 2
CONTIG, EXPLICIT, TRANSPOSED, PADDED, COLSTRIDE, BROADCAST = 0, 1, 2, 3, 4, 5


def gi_bytes(ends, m):
    # The harness maps byte b to (b * (M + 1)) >> 8 (and forces the last end to M): pick
    # the largest b not above each end.
    return bytes(max(b for b in range(256) if (b * (m + 1)) >> 8 <= v) for v in ends)


def seed(
    name,
    *,
    xd=F32,
    sd=F32,
    gi64=True,
    int4=False,
    offset=False,
    threads2=False,
    pool=False,
    big=False,
    m=4,
    g=1,
    n=8,
    mistake=0,
    off_shape=0,
    layouts=((CONTIG, 0),) * 4,
    ends=None,
    corrupt=b"\x00",
    data=b"",
):
    flags = int4 | offset << 1 | threads2 << 2 | pool << 3 | (0xE0 if big else 0)
    head = bytes([xd, sd, 1 if gi64 else 0, flags, m, g, n, mistake, off_shape])
    lay = b"".join(bytes([mode, off]) for mode, off in layouts)
    rows = 65536 // n + 1 + m % 64 if big else m % 65  # the harness's M
    ends = ends if ends is not None else [rows] * g
    body = head + lay + b"\x00" + gi_bytes(ends, rows) + corrupt + data
    with open(os.path.join(OUT, f"seed-{name}.bin"), "wb") as f:
        f.write(body)


def f32s(*v):
    return struct.pack(f"<{len(v)}f", *v)


def main():
    os.makedirs(OUT, exist_ok=True)
    # SPEC test vector 1 (aclnn example): x 4x2, scale 3x2, group_index [1, 2, 4], offset 2.
    seed(
        "aclnn-example",
        m=4,
        g=3,
        n=2,
        offset=True,
        ends=[1, 2, 4],
        data=f32s(0, 1, 2, 3, 4, 5, 6, 7) + f32s(1, 2, 1, 2, 1, 2) + f32s(2),
    )
    # SPEC test vector 2: one packed int4 word 0x2D3870F1.
    seed(
        "int4-packing",
        int4=True,
        m=1,
        g=1,
        n=8,
        data=f32s(1, -1, 0, 7, -8, 3, -3, 2) + f32s(*[1] * 8),
    )
    # Ties, saturation, NaN/Inf/subnormal through raw bytes.
    seed(
        "specials",
        m=2,
        g=1,
        n=8,
        offset=True,
        data=f32s(0.5, 1.5, 2.5, -0.5, 127.5, -128.5, float("inf"), float("nan"))
        + f32s(-2.5, 1e30, -1e30, 0.0, -0.0, 1e-40, -1e-45, 3.4e38)
        + f32s(*[1] * 8)
        + f32s(0),
    )
    # Mixed dtypes, empty groups, two threads.
    seed(
        "bf16-f16-groups",
        xd=BF16,
        sd=F16,
        gi64=False,
        threads2=True,
        m=9,
        g=5,
        n=16,
        ends=[0, 3, 3, 7, 9],
        data=bytes(range(256)),
    )
    # Strided views: transposed x and y, padded scale, broadcast group_index; misaligned.
    seed(
        "transposed",
        xd=F16,
        m=7,
        g=2,
        n=24,
        ends=[3, 7],
        layouts=((TRANSPOSED, 161), (PADDED, 0), (CONTIG, 0), (TRANSPOSED, 0)),
        data=bytes(range(7, 250)),
    )
    seed(
        "misaligned",
        int4=True,
        offset=True,
        m=3,
        g=2,
        n=16,
        ends=[1, 3],
        layouts=((COLSTRIDE, 161), (EXPLICIT, 163), (EXPLICIT, 165), (EXPLICIT, 161)),
    )
    seed(
        "broadcast-x", m=6, g=3, n=8, ends=[2, 4, 6], layouts=((BROADCAST, 0),) + ((CONTIG, 0),) * 3
    )
    # Just over one driver chunk (2^16 elements): the multi-chunk split, caller pool.
    seed("multichunk", big=True, pool=True, threads2=True, m=0, g=3, n=64, ends=[100, 900, 1025])
    # Empty x with G == 0 (legal).
    seed("empty-g0", m=0, g=0, n=8)
    # group_index corruptions (negative, INT_MIN, INT_MAX, > M, last != M, decreasing).
    for i, name in enumerate(["negative", "min", "max", "above-m", "last-short", "decreasing"]):
        seed(f"gi-{name}", m=8, g=3, n=8, ends=[2, 5, 8], corrupt=bytes([160 + i, 1]))
    # One deliberate mistake each (kinds 0..16: see the harness).
    for k in range(17):
        seed(
            f"mistake-{k:02d}",
            m=5,
            g=2,
            n=9 if k == 0 else 8,
            int4=k == 0,
            offset=k in (13, 14),
            mistake=200 + k,
            ends=[2, 5],
            off_shape=1,
        )


# ---- dynamic_quant_fuzz --------------------------------------------------------------
INT8, INT4, E4M3, E5M2 = 0, 1, 2, 3
NO_SMOOTH, SMOOTH_H, SMOOTH_EH, GI_ONLY = 0, 1, 2, 3
A2, C950 = 0, 1


def dynamic_seed(
    name,
    *,
    bf16=False,
    kind=INT8,
    chip=A2,
    asym=False,
    smooth=NO_SMOOTH,
    gi64=False,
    threads2=False,
    pool=False,
    big=False,
    lead=(4,),
    h=16,
    e=1,
    mistake=0,
    layouts=((CONTIG, 0),) * 6,
    ends=None,
    corrupt=b"\x00",
    data=b"",
):
    flags = chip | asym << 1 | smooth << 2 | gi64 << 4 | threads2 << 5 | pool << 6 | big << 7
    rank_byte = (len(lead) - 1) | (0x80 if big else 0)
    head = bytes([int(bf16), kind, flags, rank_byte, mistake, *lead, h, e - 1])
    lay = b"".join(bytes([mode, off]) for mode, off in layouts)
    rows = 1
    for d in lead:
        rows *= d
    if big:
        rows = 65536 // h + 1 + rank_byte % 32  # the harness's rows
    g_len = e + 1 if mistake == 208 else e
    ends = ends if ends is not None else [rows] * g_len
    body = head + lay + b"\x00" + gi_bytes(ends, rows) + corrupt + data
    with open(os.path.join(OUT_DYNAMIC, f"seed-{name}.bin"), "wb") as f:
        f.write(body)


def f16s(*v):
    return struct.pack(f"<{len(v)}e", *v)


V1_X = [1.6875, -1.0, 0.5, 0.25, 0, 0, 0, 0.75, 3.0, 0.5, 1.0, -1.0, 0.125, 0, 0, -0.5]
V1_X += [5.0, 0.1875, 0.25, -1.25, -0.25, 63.5, 0.5, -2.5]


def main_dynamic():
    os.makedirs(OUT_DYNAMIC, exist_ok=True)
    # SPEC-dynamic-quant §7: V1 (MoE smooth [2, 8], group_index [1, 3]) on both chips,
    # V2 (no smooth), V3 (a zero row, int4), V4 (asymmetric), V5 (fp8 e4m3).
    v1_smooth = f16s(1, 1, 1, 1, 1, 1, 1, 1, 0.25, 4.0, 1, 1, 1, 1, 1, 1)
    for chip, name in ((A2, "a2"), (C950, "950")):
        dynamic_seed(
            f"v1-moe-{name}",
            chip=chip,
            smooth=SMOOTH_EH,
            lead=(3,),
            h=8,
            e=2,
            ends=[1, 3],
            data=f16s(*V1_X) + v1_smooth,
        )
    dynamic_seed("v2-no-smooth", lead=(1,), h=8, data=f16s(*V1_X[:8]))
    dynamic_seed(
        "v3-zero-row-int4",
        kind=INT4,
        smooth=SMOOTH_EH,
        lead=(2,),
        h=8,
        e=1,
        ends=[2],
        data=f16s(0, 0, 0, 0, 0, 0, 0, 0, 7, -7, 2.5, -0.5, 1.5, 3, -3.5, 0) + f16s(*[1] * 8),
    )
    v4 = [-1, 0, 0.5, 2, 1, -0.5, 1.25, 0.25] + [1] * 8 + [0] * 8
    for chip, name in ((A2, "a2"), (C950, "950")):
        dynamic_seed(f"v4-asym-{name}", chip=chip, asym=True, lead=(3,), h=8, data=f16s(*v4))
    dynamic_seed(
        "v5-fp8-e4m3",
        kind=E4M3,
        chip=C950,
        lead=(1,),
        h=8,
        data=f16s(3, 1, -0.5, 0.1, 2, -3, 0, 1.5),
    )
    # Special values through raw bytes: NaN rows, inf, signed zeros, subnormals.
    dynamic_seed(
        "specials-e5m2",
        kind=E5M2,
        chip=C950,
        asym=True,
        smooth=SMOOTH_H,
        lead=(3,),
        h=8,
        data=f16s(float("nan"), *[0.0] * 7)
        + f16s(float("inf"), -0.0, 0.0, 1e-7, -65504, 65504, 0.5, -2.5)
        + f16s(*[float("nan")] * 8)
        + f16s(*[2] * 8),
    )
    # Rank 3 and 4, strided and misaligned views, bf16, int64 group_index, two threads.
    dynamic_seed(
        "rank3-strided",
        bf16=True,
        smooth=SMOOTH_EH,
        gi64=True,
        threads2=True,
        lead=(3, 2),
        h=24,
        e=3,
        ends=[1, 4, 6],
        layouts=(
            (TRANSPOSED, 161),
            (TRANSPOSED, 0),
            (CONTIG, 0),
            (PADDED, 0),
            (CONTIG, 0),
            (CONTIG, 0),
        ),
        data=bytes(range(256)) * 2,
    )
    dynamic_seed(
        "rank4-int4-asym",
        kind=INT4,
        chip=C950,
        asym=True,
        lead=(2, 3, 2),
        h=16,
        layouts=(
            (PADDED, 163),
            (CONTIG, 0),
            (CONTIG, 0),
            (COLSTRIDE, 0),
            (TRANSPOSED, 0),
            (PADDED, 0),
        ),
        data=bytes(range(3, 250)),
    )
    # group_index without smooth_scales: ignored, whatever its values.
    dynamic_seed("gi-only-ignored", smooth=GI_ONLY, lead=(5,), h=8, e=2, ends=[9, 1])
    # Just over one driver chunk (2^16 elements): the multi-chunk split, caller pool.
    dynamic_seed("multichunk", big=True, pool=True, threads2=True, smooth=SMOOTH_H, h=64)
    # Empty: no rows; rows with H == 0 (scale filled with 0).
    dynamic_seed("empty-rows", lead=(0,), h=8)
    dynamic_seed("empty-h", asym=True, lead=(3,), h=0)
    # group_index corruptions (negative, INT_MIN, INT_MAX, > rows, last != rows, decreasing).
    for i, name in enumerate(["negative", "min", "max", "above-rows", "last-short", "decreasing"]):
        dynamic_seed(
            f"gi-{name}",
            smooth=SMOOTH_EH,
            lead=(8,),
            h=8,
            e=3,
            ends=[2, 5, 8],
            corrupt=bytes([160 + i, 1]),
        )
    # One deliberate mistake each (kinds 0..22: see the harness).
    for k in range(23):
        dynamic_seed(
            f"mistake-{k:02d}",
            kind=E4M3 if k == 17 else INT4 if k == 0 else INT8,
            asym=k in (14, 22),
            smooth=SMOOTH_EH if k in (3, 4, 6, 8, 9, 20, 21) else NO_SMOOTH,
            lead=(5,),
            h=9 if k == 0 else 8,
            e=2,
            mistake=200 + k,
            ends=[2, 5],
        )


if __name__ == "__main__":
    main()
    main_dynamic()
