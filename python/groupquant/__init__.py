"""groupquant: Ascend's ``torch_npu.npu_group_quant`` and ``npu_dynamic_quant(_asymmetric)``,
bit for bit, as PyTorch operators.

``import groupquant`` registers ``torch.ops.groupquant.npu_group_quant`` (CPU, and
CUDA when that extension was built) and ``npu_dynamic_quant`` / ``npu_dynamic_quant_asymmetric``
(CPU); the functions of the same names here are the same ops with the NPU operators'
signatures. :func:`groupquant.to_group_index` converts Ascend's
other group-list forms (counts, (expert, count) pairs) into the cumulative one.
"""

import importlib.util

import torch  # noqa: F401  (loads libtorch before the extension that links it)

from . import _C  # noqa: F401  (registers the schema and the CPU implementation)

if importlib.util.find_spec("groupquant._C_cuda") is not None:
    from . import _C_cuda  # noqa: F401  (the CUDA implementation, when it was built)

from .dynamic_quant import npu_dynamic_quant, npu_dynamic_quant_asymmetric
from .group_list import to_group_index
from .ops import npu_group_quant

__all__ = [
    "npu_group_quant",
    "npu_dynamic_quant",
    "npu_dynamic_quant_asymmetric",
    "to_group_index",
]
__version__ = "0.1.0"
