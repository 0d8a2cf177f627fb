"""groupquant: Ascend's ``torch_npu.npu_group_quant`` and ``npu_dynamic_quant(_asymmetric)``,
bit for bit, as PyTorch operators.

``import groupquant`` registers ``torch.ops.groupquant.npu_group_quant``,
``npu_dynamic_quant`` and ``npu_dynamic_quant_asymmetric`` (CPU, and CUDA when that
extension was built and loads); the functions of the same names here are the same ops
with the NPU operators' signatures. :func:`groupquant.to_group_index` converts Ascend's
other group-list forms (counts, (expert, count) pairs) into the cumulative one;
:func:`groupquant.cpu_isa` and :func:`groupquant.set_cpu_isa` tell and choose which CPU
kernels run; :func:`groupquant.empty_cache` and its neighbours manage the cache of large
output blocks (``groupquant.output_cache``).
"""

import importlib.util
import warnings

import torch  # loads libtorch before the extensions that link it

from . import _C  # noqa: F401  (registers the schema and the CPU implementation)


def _load_cuda():
    """Imports the CUDA implementation; returns None, or why CUDA tensors cannot use the op.

    Never raises: a CUDA extension that cannot load (a CUDA runtime older than the one it
    was built against, torch replaced after the build) must not take the CPU op down.
    Warns where the user has a CUDA torch but no working CUDA op."""
    try:
        from ._build_info import CUDA_BUILD  # written by setup.py: (state, reason)
    except ImportError:
        CUDA_BUILD = ("unknown", "no build record (groupquant/_build_info.py)")
    if importlib.util.find_spec("groupquant._C_cuda") is None:
        state, reason = CUDA_BUILD
        why = f"groupquant._C_cuda was not built ({state}: {reason})"
        if state in ("failed", "built") or (torch.version.cuda is not None and state == "skipped"):
            warnings.warn(
                f"{why}; the CUDA implementation is unavailable, the CPU one is unaffected. "
                "Reinstall with the CUDA toolkit that matches torch's CUDA "
                "(GROUPQUANT_NO_CUDA=1 builds CPU only, without this warning).",
                RuntimeWarning,
                stacklevel=2,
            )
        return why
    try:
        from . import _C_cuda  # noqa: F401  (registers the CUDA implementations)
    except (ImportError, OSError) as e:
        why = f"groupquant._C_cuda failed to load: {type(e).__name__}: {e}"
        warnings.warn(
            f"{why}; the CUDA implementation is unavailable, the CPU one is unaffected. "
            "Reinstall groupquant against the torch and CUDA runtime now installed.",
            RuntimeWarning,
            stacklevel=2,
        )
        return why
    return None


# None when the CUDA implementation is registered; otherwise why not (tests report it).
_cuda_unavailable = _load_cuda()

from .dynamic_quant import npu_dynamic_quant, npu_dynamic_quant_asymmetric  # noqa: E402
from .group_list import to_group_index  # noqa: E402
from .ops import cpu_isa, cpu_isa_supported, npu_group_quant, set_cpu_isa  # noqa: E402
from .output_cache import empty_cache, output_cache_info, set_output_cache_limit  # noqa: E402

__all__ = [
    "npu_group_quant",
    "npu_dynamic_quant",
    "npu_dynamic_quant_asymmetric",
    "to_group_index",
    "cpu_isa",
    "set_cpu_isa",
    "cpu_isa_supported",
    "output_cache_info",
    "empty_cache",
    "set_output_cache_limit",
]
__version__ = "0.1.0"
