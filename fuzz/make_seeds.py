#!/usr/bin/env python3
"""Writes the handcrafted seeds fuzz/corpus/seed-*.bin (input format: fuzz/README.md).

Each seed is one readable call; libFuzzer mutates from there. Run from the repo root:
    python3 fuzz/make_seeds.py
"""

import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
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


if __name__ == "__main__":
    main()
