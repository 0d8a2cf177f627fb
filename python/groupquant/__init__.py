"""groupquant: Ascend's ``torch_npu.npu_group_quant``, bit for bit, as a PyTorch operator.

``import groupquant`` registers ``torch.ops.groupquant.npu_group_quant`` (CPU, and
CUDA when that extension was built); :func:`groupquant.npu_group_quant` is the same op
with the NPU operator's signature (plus ``out=``); :func:`groupquant.cpu_isa` and
:func:`groupquant.set_cpu_isa` tell and choose which CPU kernels run.
"""

import importlib.util

import torch  # noqa: F401  (loads libtorch before the extension that links it)

from . import _C  # noqa: F401  (registers the schema and the CPU implementation)

if importlib.util.find_spec("groupquant._C_cuda") is not None:
    from . import _C_cuda  # noqa: F401  (the CUDA implementation, when it was built)

from .ops import cpu_isa, cpu_isa_supported, npu_group_quant, set_cpu_isa

__all__ = ["npu_group_quant", "cpu_isa", "set_cpu_isa", "cpu_isa_supported"]
__version__ = "0.1.0"
