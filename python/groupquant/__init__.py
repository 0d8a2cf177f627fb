"""groupquant: Ascend's ``torch_npu.npu_group_quant``, bit for bit, as a PyTorch operator.

``import groupquant`` registers ``torch.ops.groupquant.npu_group_quant`` (CPU, and
CUDA when that extension was built); :func:`groupquant.npu_group_quant` is the same op
with the NPU operator's signature. :func:`groupquant.to_group_index` converts Ascend's
other group-list forms (counts, (expert, count) pairs) into the cumulative one.
"""

import importlib.util

import torch  # noqa: F401  (loads libtorch before the extension that links it)

from . import _C  # noqa: F401  (registers the schema and the CPU implementation)

if importlib.util.find_spec("groupquant._C_cuda") is not None:
    from . import _C_cuda  # noqa: F401  (the CUDA implementation, when it was built)

from .group_list import to_group_index
from .ops import npu_group_quant

__all__ = ["npu_group_quant", "to_group_index"]
__version__ = "0.1.0"
