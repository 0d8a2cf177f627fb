"""The public wrapper of ``torch.ops.groupquant.npu_group_quant``, its fakes, and the CPU
ISA switch.

The schemas and the real implementations live in C++ (``csrc/op.cpp``); the core checks
every argument and writes the text of every argument error. The fakes below only derive the output's
dtype and shape, with the core's own rules and messages for what they have to read.
"""

from typing import Optional

import torch

from . import _C

__all__ = ["npu_group_quant", "cpu_isa", "set_cpu_isa", "cpu_isa_supported"]

# dst_dtype -> output dtype (SPEC.md "Output"): int8 [M, N], or int4 packed eight to
# an int32 [M, N/8]. The C++ binding maps the same four values to the core's kinds.
_OUTPUT_DTYPE = {
    None: torch.int8,
    torch.int8: torch.int8,
    torch.qint8: torch.int8,
    torch.quint4x2: torch.int32,
}
_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# The core's output kinds (gq_output_kind), the `kind` of the .kind overloads.
_KIND_INT8, _KIND_INT4 = 0, 1
_KIND_DTYPE = {_KIND_INT8: torch.int8, _KIND_INT4: torch.int32}

# Resolved once (groupquant/_C registered them already): the lookup through torch.ops
# costs about 0.2 us a call, some 4% of a decode-sized call.
_OPS = torch.ops.groupquant.npu_group_quant
_OP, _OP_OUT, _OP_KIND, _OP_KIND_INTO = _OPS.default, _OPS.out, _OPS.kind, _OPS.kind_into


def npu_group_quant(
    x: torch.Tensor,
    scale: torch.Tensor,
    group_index: torch.Tensor,
    *,
    offset: Optional[torch.Tensor] = None,
    dst_dtype: Optional[torch.dtype] = None,
    out: Optional[torch.Tensor] = None,
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
        out: optional; the result is written into it and it is returned (no allocation:
            a serving loop that reuses its buffers pays none). It must already have the
            result's dtype and shape, any non-overlapping strides, be on ``x``'s device
            and share no memory with an input; it is never resized.

    Returns:
        A new tensor on ``x``'s device: int8 ``[M, N]`` or int32 ``[M, N/8]``; or ``out``.

    Raises:
        RuntimeError: for any input SPEC.md rejects (ranks, dtypes, shapes,
            ``group_index`` values, devices, ``dst_dtype``, ``out``); the message names
            the argument, the rule and the offending value. Nothing is written.

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
    # dst_dtype -> the core's output kind here, before any graph is traced: the graphs
    # that torch.compile, torch.export and AOTInductor see call the .kind overloads, with an
    # int, since neither torch.export.save nor AOTInductor can serialize qint8 or quint4x2.
    if dst_dtype is None or dst_dtype is torch.int8 or dst_dtype is torch.qint8:
        kind = _KIND_INT8
    elif dst_dtype is torch.quint4x2:
        kind = _KIND_INT4
    elif out is None:  # not an output dtype: the dtype overloads raise the rule
        return _OP(x, scale, group_index, offset=offset, dst_dtype=dst_dtype)
    else:
        return _OP_OUT(x, scale, group_index, offset=offset, dst_dtype=dst_dtype, out=out)
    if out is None:
        return _OP_KIND(x, scale, group_index, offset, kind)
    _OP_KIND_INTO(x, scale, group_index, offset, kind, out)
    return out


def cpu_isa() -> str:
    """The instruction set whose CPU kernels run: ``"avx512"``, ``"avx2"`` or ``"scalar"``.

    The best one this CPU and build support is picked when the first call needs it; the
    environment variable ``GROUPQUANT_CPU_ISA`` (read once, at that moment) or
    :func:`set_cpu_isa` overrides it. Every ISA gives the same bits; only the speed
    differs, so this says why a machine's numbers differ from the README's.

    Raises:
        RuntimeError: ``GROUPQUANT_CPU_ISA`` names an ISA this machine cannot run.
    """
    return _C.cpu_isa()


def set_cpu_isa(name: str) -> None:
    """Forces the CPU kernels of ``name`` (``"scalar"``, ``"avx2"``, ``"avx512"``), or
    ``"auto"`` for the best supported one, for every later call in this process.

    Raises:
        RuntimeError: ``name`` is no ISA, or this CPU or build cannot run it; the
            kernels in use do not change.
    """
    _C.set_cpu_isa(name)


def cpu_isa_supported(name: str) -> bool:
    """Whether this build and this CPU can run the kernels of ``name``."""
    return _C.cpu_isa_supported(name)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# The fake (meta) implementations: torch.compile, torch.export and opcheck trace the op
# with them, on tensors that have no data, so they can only derive the output. They check
# what that needs, like the core's gq_output_spec (x's rank and dtype, the output kind,
# N % 8), plus the devices and, for out=, out's dtype and shape; the values-level rules run
# in the real kernel when the graph runs.
def _check_devices(x, **tensors):
    for name, t in tensors.items():
        if t is not None and t.device != x.device:
            raise RuntimeError(
                f"{name} must be on the same device as x: got {name} on {t.device} "
                f"and x on {x.device}"
            )


def _fake_output_spec(x, kind):
    """(dtype, shape) of the output for x and an output kind, with the core's rules."""
    if kind not in _KIND_DTYPE:
        raise RuntimeError(
            f"dst_dtype must be int8, qint8 or quint4x2: got output kind code {kind}"
        )
    if x.dim() != 2:
        shape = f" of shape {list(x.shape)}" if 0 < x.dim() <= 8 else ""
        raise RuntimeError(f"x must be 2-D: got a {x.dim()}-D tensor{shape}")
    if x.dtype not in _FLOAT_DTYPES:
        raise RuntimeError(f"x must be float32, float16 or bfloat16: got {_dtype_name(x.dtype)}")
    m, n = x.shape
    if kind == _KIND_INT4:
        torch._check(
            n % 8 == 0,
            lambda: (
                "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a "
                f"multiple of 8: got {n}"
            ),
        )
        return torch.int32, (m, n // 8)
    return torch.int8, (m, n)


def _kind_of(dst_dtype):
    if dst_dtype not in _OUTPUT_DTYPE:
        raise RuntimeError(
            f"dst_dtype must be None, torch.int8, torch.qint8 or torch.quint4x2: got {dst_dtype}"
        )
    return _KIND_INT4 if _OUTPUT_DTYPE[dst_dtype] == torch.int32 else _KIND_INT8


def _fake_fresh(x, scale, group_index, offset, kind):
    _check_devices(x, scale=scale, group_index=group_index, offset=offset)
    dtype, shape = _fake_output_spec(x, kind)
    return x.new_empty(shape, dtype=dtype)


def _fake_into(x, scale, group_index, offset, kind, out):
    _check_devices(x, scale=scale, group_index=group_index, offset=offset, out=out)
    dtype, shape = _fake_output_spec(x, kind)
    if out.dtype != dtype:
        rule = (
            "int8 (output kind int8)" if dtype == torch.int8 else "int32 (output kind packed int4)"
        )
        raise RuntimeError(f"out must be {rule}: got {_dtype_name(out.dtype)}")
    torch._check(
        out.dim() == 2 and out.shape[0] == shape[0] and out.shape[1] == shape[1],
        lambda: f"out must have shape {list(shape)} for x {list(x.shape)}: got {list(out.shape)}",
    )
    return out


@torch.library.register_fake("groupquant::npu_group_quant")
def _npu_group_quant_fake(x, scale, group_index, *, offset=None, dst_dtype=None):
    _check_devices(x, scale=scale, group_index=group_index, offset=offset)
    return _fake_fresh(x, scale, group_index, offset, _kind_of(dst_dtype))


@torch.library.register_fake("groupquant::npu_group_quant.out")
def _npu_group_quant_out_fake(x, scale, group_index, *, offset=None, dst_dtype=None, out):
    _check_devices(x, scale=scale, group_index=group_index, offset=offset, out=out)
    return _fake_into(x, scale, group_index, offset, _kind_of(dst_dtype), out)


@torch.library.register_fake("groupquant::npu_group_quant.kind")
def _npu_group_quant_kind_fake(x, scale, group_index, offset, kind):
    return _fake_fresh(x, scale, group_index, offset, kind)


@torch.library.register_fake("groupquant::npu_group_quant.kind_into")
def _npu_group_quant_kind_into_fake(x, scale, group_index, offset, kind, out):
    _fake_into(x, scale, group_index, offset, kind, out)
