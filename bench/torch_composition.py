"""What users run without groupquant: the operator's math as a composition of torch ops.

Shared by bench_op.py (CPU), bench_cuda.py (GPU) and bench_dynamic_quant.py (CPU), eager
and under torch.compile.
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


def torch_dynamic_quant(x, smooth_scales, group_index, int4):
    """npu_dynamic_quant's math on Atlas A2 for the MoE path (smooth [E, H] chosen through
    group_index; scale = 1/q, which the A2 MoE kernels return) in plain torch ops: smooth
    multiply, max |xs| ignoring NaN, q = DMAX / max, y = round(xs * q), int4 packing."""
    import torch

    rows = torch.arange(x.shape[0], device=x.device, dtype=group_index.dtype)
    experts = torch.searchsorted(group_index, rows, right=True)
    xs = x.float() * smooth_scales.index_select(0, experts).float()
    dmax, lo, hi = (7.0, -8, 7) if int4 else (127.0, -128, 127)
    m = torch.where(xs.isnan(), 0.0, xs).abs().amax(dim=-1, keepdim=True)
    # Tensor / tensor: a Python number over a tensor (dmax / m) is computed by torch as
    # dmax * (1 / m), two roundings, which is not the NPU's division.
    q = torch.full_like(m, dmax) / m
    scale = (torch.ones_like(q) / q).squeeze(-1)
    v = xs * q
    y = torch.where(v.isnan(), 0.0, v).round().clamp(lo, hi)  # round() is half-to-even
    if not int4:
        return y.to(torch.int8), scale
    nibbles = y.to(torch.int64).bitwise_and(0xF).view(x.shape[0], x.shape[1] // 8, 8)
    shifts = torch.arange(0, 32, 4, device=x.device, dtype=torch.int64)
    return nibbles.bitwise_left_shift(shifts).sum(-1).to(torch.int32), scale
