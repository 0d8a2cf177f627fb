"""What users run without groupquant: the operator's math as a composition of torch ops.

Shared by bench_op.py (CPU) and bench_cuda.py (GPU), eager and under torch.compile.
"""


def torch_group_quant(x, scale, group_index, offset, int4):
    """The operator's math in plain torch ops (what a user would write without it)."""
    import torch

    rows = torch.arange(x.shape[0], device=x.device, dtype=group_index.dtype)
    groups = torch.searchsorted(group_index, rows, right=True)
    v = x.float() * scale.index_select(0, groups).float()
    if offset is not None:
        v = v + offset.float()
    lo, hi = (-8, 7) if int4 else (-128, 127)
    q = torch.nan_to_num(v, nan=0.0).round().clamp(lo, hi)  # round() is half-to-even
    if not int4:
        return q.to(torch.int8)
    nibbles = q.to(torch.int64).bitwise_and(0xF).view(x.shape[0], x.shape[1] // 8, 8)
    shifts = torch.arange(0, 32, 4, device=x.device, dtype=torch.int64)
    return nibbles.bitwise_left_shift(shifts).sum(-1).to(torch.int32)
