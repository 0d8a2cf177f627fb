"""The public wrappers of ``torch.ops.groupquant.npu_dynamic_quant`` and
``npu_dynamic_quant_asymmetric``, and their fakes.

The schemas and the CPU implementation live in C++ (``csrc/dynamic_quant.cpp``): the core
checks every argument and writes the error text; the binding adds the rules only torch
can check (devices, ``dst_type``, ``quant_mode``, ``dst_type_max``, ``chip``). The op takes
``dst_type`` as torch_npu 26.x does, an integer code, which keeps graphs free of quantized
dtypes (export and AOTInductor can carry it); the wrappers here also take the torch_npu
7.x form, a ``torch.dtype``.
"""

from typing import Optional, Tuple, Union

import torch

__all__ = ["npu_dynamic_quant", "npu_dynamic_quant_asymmetric"]

# dst_type codes (torch_npu 26.x, SPEC-dynamic-quant.md §1.2; c10::ScalarType values, and
# torch_npu's own 291/292 for the two fp8 dtypes) -> output dtype. Packed int4 (16) is int32
# [..., H/8]; the others keep input's shape.
_OUTPUT_DTYPE = {
    1: torch.int8,
    16: torch.int32,
    23: torch.float8_e5m2,
    291: torch.float8_e5m2,
    24: torch.float8_e4m3fn,
    292: torch.float8_e4m3fn,
}
_INT4_CODE = 16
# The torch_npu 7.x ScalarType form (and the fp8 dtypes of 26.x) -> code.
_DTYPE_CODE = {
    torch.int8: 1,
    torch.quint4x2: 16,
    torch.float8_e5m2: 23,
    torch.float8_e4m3fn: 24,
}
_CHIPS = ("a2", "950")

# The binding's messages for the rules it checks (csrc/dynamic_quant.cpp words them the
# same; test_dynamic_quant.py compares the fake's with the kernel's).
_DST_TYPE_RULE = (
    "dst_type must be None, torch.int8, torch.quint4x2, torch.float8_e4m3fn or "
    "torch.float8_e5m2, or one of the codes 1 (int8), 16 (quint4x2), 23 or 291 "
    "(float8_e5m2), 24 or 292 (float8_e4m3fn)"
)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _dst_type_code(dst_type: Union[None, int, torch.dtype]) -> Optional[int]:
    """The op's int dst_type for either form (None stays None: int8)."""
    if dst_type is None:
        return None
    if isinstance(dst_type, torch.dtype):
        if dst_type not in _DTYPE_CODE:
            raise RuntimeError(f"{_DST_TYPE_RULE}: got torch.{_dtype_name(dst_type)}")
        return _DTYPE_CODE[dst_type]
    if isinstance(dst_type, bool) or not isinstance(dst_type, int):
        raise RuntimeError(f"{_DST_TYPE_RULE}: got a {type(dst_type).__name__}")
    return dst_type  # the op checks the code


# The wrappers' dst_type_max defaults to the int 0, not 0.0: torch.compile(dynamic=True)
# traces a float default of an inlined function as a symbolic float and then restarts its
# analysis to specialize it (a second trace of the whole frame); an int stays a constant.
# The op's schema takes a float, and 0 converts to it.

# Resolved once (groupquant._C registered them already), as in ops.py.
_OP = torch.ops.groupquant.npu_dynamic_quant.default
_OP_ASYMMETRIC = torch.ops.groupquant.npu_dynamic_quant_asymmetric.default

_ARGS_DOC = """
    Args:
        input: ``[..., H]`` float16 or bfloat16, rank 2 to 8; ``rows = prod(shape[:-1])``.
        smooth_scales: optional, of ``input``'s dtype: ``[H]``, or ``[E, H]`` with
            ``group_index`` (one row per expert). Each row of ``input`` is multiplied by
            its smooth row before anything else.
        group_index: optional ``[E]`` int32 or int64, the cumulative end row of each expert
            (non-negative, non-decreasing, last value ``rows``; :func:`to_group_index`
            converts Ascend's other forms). Ignored without ``smooth_scales``, as on the NPU.
        dst_type: the output: ``None`` / ``torch.int8`` / ``1`` for int8;
            ``torch.quint4x2`` / ``16`` for int4 packed eight to an int32 ``[..., H/8]``
            (element ``8j+i`` in bits ``[4i, 4i+4)`` of word ``j``; ``H % 8 == 0``);
            ``torch.float8_e4m3fn`` / ``24`` / ``292`` and ``torch.float8_e5m2`` / ``23`` /
            ``291`` for fp8 (``chip="950"`` only).
        quant_mode: ``"pertoken"`` (the only mode implemented).
        dst_type_max: must be ``0.0`` (it only applies to hifloat8, which is not implemented).
        chip: ``"a2"`` (Atlas A2/A3, the default) or ``"950"`` (Ascend 950): whose arithmetic,
            bit for bit (they differ in the scale, the division and, for the asymmetric
            op, the epsilon clamp).
"""

_RAISES_DOC = """
    Raises:
        RuntimeError: for any input SPEC-dynamic-quant.md §10 rejects (ranks, dtypes,
            shapes, ``group_index`` values, devices, ``dst_type``, ``quant_mode``,
            ``dst_type_max``, ``chip``); the message names the argument, the rule and the
            offending value. Nothing is written.
"""


def npu_dynamic_quant(
    input: torch.Tensor,
    *,
    smooth_scales: Optional[torch.Tensor] = None,
    group_index: Optional[torch.Tensor] = None,
    dst_type: Union[None, int, torch.dtype] = None,
    quant_mode: str = "pertoken",
    dst_type_max: float = 0,  # not 0.0: see the note above _OP
    chip: str = "a2",
) -> Tuple[torch.Tensor, torch.Tensor]:
    return _OP(
        input,
        smooth_scales=smooth_scales,
        group_index=group_index,
        dst_type=_dst_type_code(dst_type),
        quant_mode=quant_mode,
        dst_type_max=dst_type_max,
        chip=chip,
    )


npu_dynamic_quant.__doc__ = (
    r"""Quantizes every row of ``input`` with its own scale (torch_npu.npu_dynamic_quant).

    Bit for bit the NPU's kernel for ``chip``. Per row: ``xs = x * smooth`` (fp32, when
    ``smooth_scales`` is given), ``m = max |xs|`` (NaN elements ignored), then

    * ``chip="a2"``: ``q = DMAX / m``, ``y = round_half_even(xs * q)``, and the scale the
      NPU returns: ``1 / q`` or ``m * fl(1/DMAX)`` depending on the NPU kernel the shape
      selects (SPEC-dynamic-quant.md §2.2);
    * ``chip="950"``: ``scale = m * fl(1/DMAX)``, ``y = round_half_even(xs / scale)``;

    saturated to the output's range (``DMAX`` = 127, 7, 448, 57344 for int8, int4, e4m3fn,
    e5m2); NaN gives 0. Dequantize with ``xs ~ y * scale``.
"""
    + _ARGS_DOC
    + """
    Returns:
        ``(y, scale)``: ``y`` as ``dst_type`` says, ``scale`` float32 ``input.shape[:-1]``.
"""
    + _RAISES_DOC
    + """
    Example::

        >>> x = torch.tensor([[1.0, -2.0, 0.5, 4.0]], dtype=torch.float16).expand(2, 4)
        >>> y, scale = groupquant.npu_dynamic_quant(x)
        >>> y
        tensor([[ 32, -64,  16, 127],
                [ 32, -64,  16, 127]], dtype=torch.int8)
"""
)


def npu_dynamic_quant_asymmetric(
    input: torch.Tensor,
    *,
    smooth_scales: Optional[torch.Tensor] = None,
    group_index: Optional[torch.Tensor] = None,
    dst_type: Union[None, int, torch.dtype] = None,
    quant_mode: str = "pertoken",
    dst_type_max: float = 0,  # not 0.0: see the note above _OP
    chip: str = "a2",
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _OP_ASYMMETRIC(
        input,
        smooth_scales=smooth_scales,
        group_index=group_index,
        dst_type=_dst_type_code(dst_type),
        quant_mode=quant_mode,
        dst_type_max=dst_type_max,
        chip=chip,
    )


npu_dynamic_quant_asymmetric.__doc__ = (
    r"""Quantizes every row of ``input`` with its own scale and offset
    (torch_npu.npu_dynamic_quant_asymmetric).

    Bit for bit the NPU's kernel for ``chip``. Per row: ``xs = x * smooth`` (fp32, when
    ``smooth_scales`` is given), ``mx = max xs``, ``mn = min xs`` (NaN elements ignored), then

    * ``chip="a2"``: ``scale = max((mx - mn) / R, 1e-12)``, ``offset = DMAX - mx / scale``,
      ``y = round_half_even(xs * fl(1 / scale) + offset)`` (two roundings);
    * ``chip="950"``: ``scale = (mx - mn) * fl(1/R)`` (no clamp),
      ``offset = DMAX - mx / scale``, ``y = round_half_even(xs / scale + offset)``;

    saturated to the output's range (``R`` = 255, 15, 896, 114688 for int8, int4, e4m3fn,
    e5m2); NaN gives 0. Dequantize with ``xs ~ (y - offset) * scale``.
"""
    + _ARGS_DOC
    + """
    Returns:
        ``(y, scale, offset)``: ``y`` as ``dst_type`` says; ``scale`` and ``offset``
        float32 ``input.shape[:-1]``.
"""
    + _RAISES_DOC
)


# ---- Fakes -----------------------------------------------------------------------------
# torch.compile and opcheck trace the ops with these, on tensors without data. They derive
# the outputs and check, with the binding's and the core's messages, what that needs plus
# the rules the binding checks before the core; every other rule runs in the kernel when
# the graph runs.


def _check_torch_rules(input, smooth_scales, group_index, dst_type, quant_mode, dst_type_max, chip):
    for name, t in (("smooth_scales", smooth_scales), ("group_index", group_index)):
        if t is not None and t.device != input.device:
            raise RuntimeError(
                f"{name} must be on the same device as input: got {name} on {t.device} "
                f"and input on {input.device}"
            )
    if dst_type is not None and dst_type not in _OUTPUT_DTYPE:
        raise RuntimeError(f"{_DST_TYPE_RULE}: got {dst_type}")
    if quant_mode != "pertoken":
        raise RuntimeError(f'quant_mode must be "pertoken": got "{quant_mode}"')
    if dst_type_max != 0.0:
        raise RuntimeError(f"dst_type_max must be 0 (hifloat8 only): got {dst_type_max}")
    if chip not in _CHIPS:
        raise RuntimeError(f'chip must be "a2" or "950": got "{chip}"')


def _fake_outputs(input, dst_type, chip, outputs):
    # The core's gq_dynamic_quant_output_spec rules, in its order and words.
    code = 1 if dst_type is None else dst_type
    out_dtype = _OUTPUT_DTYPE[code]
    if out_dtype.is_floating_point and chip != "950":
        raise RuntimeError(
            f"dst_type {_dtype_name(out_dtype)} is only produced by Ascend 950: "
            f'pass chip="950" (got chip="{chip}")'
        )
    if not 2 <= input.dim() <= 8:
        shape = f" of shape {list(input.shape)}" if 0 < input.dim() <= 8 else ""
        raise RuntimeError(f"input must be 2-D to 8-D: got a {input.dim()}-D tensor{shape}")
    if input.dtype not in (torch.float16, torch.bfloat16):
        raise RuntimeError(
            "input must be float16 or bfloat16 (the NPU kernels take no float32): "
            f"got {_dtype_name(input.dtype)}"
        )
    *lead, h = input.shape
    if code == _INT4_CODE:
        torch._check(
            h % 8 == 0,
            lambda: (
                "dst_type quint4x2 (packed int4) requires input.size(-1) to be a multiple "
                f"of 8: got {h}"
            ),
        )
        y = input.new_empty((*lead, h // 8), dtype=torch.int32)
    else:
        y = input.new_empty(input.shape, dtype=out_dtype)
    return (y,) + tuple(input.new_empty(lead, dtype=torch.float32) for _ in range(outputs - 1))


@torch.library.register_fake("groupquant::npu_dynamic_quant")
def _npu_dynamic_quant_fake(
    input,
    *,
    smooth_scales=None,
    group_index=None,
    dst_type=None,
    quant_mode="pertoken",
    dst_type_max=0.0,
    chip="a2",
):
    _check_torch_rules(input, smooth_scales, group_index, dst_type, quant_mode, dst_type_max, chip)
    return _fake_outputs(input, dst_type, chip, 2)


@torch.library.register_fake("groupquant::npu_dynamic_quant_asymmetric")
def _npu_dynamic_quant_asymmetric_fake(
    input,
    *,
    smooth_scales=None,
    group_index=None,
    dst_type=None,
    quant_mode="pertoken",
    dst_type_max=0.0,
    chip="a2",
):
    _check_torch_rules(input, smooth_scales, group_index, dst_type, quant_mode, dst_type_max, chip)
    return _fake_outputs(input, dst_type, chip, 3)
