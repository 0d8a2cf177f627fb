"""The public wrapper of ``torch.ops.groupquant.npu_group_quant`` and its fake.

The schema and the real implementations live in C++ (``csrc/op.cpp``); the core checks
every argument and writes the text of every argument error. The fake below only derives the output's
dtype and shape, with the core's own rules and messages for what it has to read.
"""

from typing import Optional

import torch

__all__ = ["npu_group_quant"]

# dst_dtype -> output dtype (SPEC.md "Output"): int8 [M, N], or int4 packed eight to
# an int32 [M, N/8]. The C++ binding maps the same four values to the core's kinds.
_OUTPUT_DTYPE = {
    None: torch.int8,
    torch.int8: torch.int8,
    torch.qint8: torch.int8,
    torch.quint4x2: torch.int32,
}
_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# Resolved once (groupquant/_C registered it already): the lookup through torch.ops costs
# about 0.2 us a call, some 4% of a decode-sized call.
_OP = torch.ops.groupquant.npu_group_quant.default


def npu_group_quant(
    x: torch.Tensor,
    scale: torch.Tensor,
    group_index: torch.Tensor,
    *,
    offset: Optional[torch.Tensor] = None,
    dst_dtype: Optional[torch.dtype] = None,
) -> torch.Tensor:
    r"""Quantizes groups of rows of ``x``, each with its own per-channel scale row.

    The same operator as ``torch_npu.npu_group_quant``, bit for bit. Row ``r`` of ``x``
    belongs to group ``g`` when ``group_index[g-1] <= r < group_index[g]`` (with
    ``group_index[-1] = 0``; equal neighbours make an empty group), and::

        y[r, n] = clamp(round_half_even(float32(x[r, n]) * float32(scale[g, n])
                                        + float32(offset)), lo, hi)

    with one fp32 multiply and one fp32 add, each rounded to nearest even and never
    fused; no add at all without ``offset``; NaN gives 0; ``[lo, hi]`` is
    ``[-128, 127]`` for int8 and ``[-8, 7]`` for int4.

    Args:
        x: ``[M, N]`` float32, float16 or bfloat16; the rows, sorted by group.
        scale: ``[G, N]`` float32, float16 or bfloat16 (any pairing with ``x``).
        group_index: ``[G]`` int32 or int64; the cumulative end row of each group:
            non-negative, non-decreasing, last value ``M``.
        offset: optional ``[]`` or ``[1]`` tensor of ``scale``'s dtype, added after
            the multiply.
        dst_dtype: ``None``, ``torch.int8`` or ``torch.qint8`` for an int8 ``[M, N]``
            result; ``torch.quint4x2`` for packed int4: an int32 ``[M, N/8]`` whose
            word ``w`` holds columns ``8w..8w+7``, column ``8w+k`` in bits
            ``[4k, 4k+3]`` as a two's-complement nibble (``N % 8 == 0`` required).

    Returns:
        A new tensor on ``x``'s device: int8 ``[M, N]`` or int32 ``[M, N/8]``.

    Raises:
        RuntimeError: for any input SPEC.md rejects (ranks, dtypes, shapes,
            ``group_index`` values, devices, ``dst_dtype``); the message names the
            argument, the rule and the offending value. Nothing is written.

    Example::

        >>> import torch, groupquant
        >>> x = torch.tensor([[0., 1.], [2., 3.], [4., 5.], [6., 7.]])
        >>> scale = torch.tensor([[1., 2.], [1., 2.], [1., 2.]])
        >>> group_index = torch.tensor([1, 2, 4], dtype=torch.int32)
        >>> groupquant.npu_group_quant(x, scale, group_index, offset=torch.tensor(2.),
        ...                            dst_dtype=torch.qint8)
        tensor([[ 2,  4],
                [ 4,  8],
                [ 6, 12],
                [ 8, 16]], dtype=torch.int8)
    """
    return _OP(x, scale, group_index, offset=offset, dst_dtype=dst_dtype)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# The fake (meta) implementation: torch.compile and opcheck trace the op with it, on
# tensors that have no data, so it can only derive the output. It checks what that
# needs, like the core's gq_output_spec (x's rank and dtype, dst_dtype, N % 8), plus
# the devices; the values-level rules run in the real kernel when the graph runs.
@torch.library.register_fake("groupquant::npu_group_quant")
def _npu_group_quant_fake(x, scale, group_index, *, offset=None, dst_dtype=None):
    for name, t in (("scale", scale), ("group_index", group_index), ("offset", offset)):
        if t is not None and t.device != x.device:
            raise RuntimeError(
                f"{name} must be on the same device as x: got {name} on {t.device} "
                f"and x on {x.device}"
            )
    if dst_dtype not in _OUTPUT_DTYPE:
        raise RuntimeError(
            f"dst_dtype must be None, torch.int8, torch.qint8 or torch.quint4x2: got {dst_dtype}"
        )
    if x.dim() != 2:
        shape = f" of shape {list(x.shape)}" if 0 < x.dim() <= 8 else ""
        raise RuntimeError(f"x must be 2-D: got a {x.dim()}-D tensor{shape}")
    if x.dtype not in _FLOAT_DTYPES:
        raise RuntimeError(f"x must be float32, float16 or bfloat16: got {_dtype_name(x.dtype)}")
    m, n = x.shape
    out_dtype = _OUTPUT_DTYPE[dst_dtype]
    if out_dtype == torch.int32:
        torch._check(
            n % 8 == 0,
            lambda: (
                "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a "
                f"multiple of 8: got {n}"
            ),
        )
        return x.new_empty((m, n // 8), dtype=torch.int32)
    return x.new_empty((m, n), dtype=torch.int8)
