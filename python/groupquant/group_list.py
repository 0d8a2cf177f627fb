"""Ascend's three group-list conventions, turned into the one every op here takes.

Every groupquant op takes ``group_index`` in cumulative form: ``group_index[e]`` is the end
row of expert ``e`` (Ascend's ``group_list_type=0``). Ascend's MoE ops also produce and take
two other forms (``npu_grouped_matmul``'s ``group_list_type``, ``npu_moe_init_routing_v2``'s
``expert_tokens_num_type``):

* type 1, counts: ``[E]``, the number of rows of each expert;
* type 2, (expert, count) pairs: ``[K, 2]``, row ``i`` = ``[expert id, count]``.
  ``npu_grouped_matmul`` lists every expert once, the experts with rows first (ascending
  ids), then the empty ones (ascending ids), so ``K == E``;
  ``npu_moe_init_routing_v2`` ("key_value" mode) lists the experts that have rows.

:func:`to_group_index` converts either into type 0 on the tensor's own device, with no
host sync (no ``.item()``, no shape that depends on values), so it runs asynchronously on
CUDA and traces into one graph under ``torch.compile(fullgraph=True)``.
"""

from typing import Optional

import torch

__all__ = ["to_group_index"]

_INDEX_DTYPES = (torch.int32, torch.int64)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def to_group_index(
    group_list: torch.Tensor, group_list_type: int, *, num_experts: Optional[int] = None
) -> torch.Tensor:
    r"""Converts an Ascend group list into cumulative end rows (``group_list_type=0``).

    Args:
        group_list: int32 or int64 tensor, on any device, in the form
            ``group_list_type`` names:

            * ``0``: ``[E]`` cumulative end rows; returned as is.
            * ``1``: ``[E]`` row counts per expert; returns their inclusive cumulative
              sum, ``out[e] = counts[0] + ... + counts[e]``.
            * ``2``: ``[K, 2]`` rows of ``(expert id, row count)``; returns
              ``out[e]`` = the sum of the counts of every pair whose id is ``<= e``, for
              ``e`` in ``0 .. E-1``. The order of the pairs does not matter, so both
              Ascend layouts (and padding rows of count 0) give the same result.
        group_list_type: 0, 1 or 2, as in ``npu_grouped_matmul``.
        num_experts: ``E``, the length of the result. Types 0 and 1 have it as their
            length (when given, it must match). For type 2 it defaults to ``K``, the
            number of pairs, which is right when every expert is listed once
            (``npu_grouped_matmul``'s layout); pass it when only some experts are
            listed (``npu_moe_init_routing_v2``'s).

    Returns:
        A 1-D tensor of ``E`` cumulative end rows, of ``group_list``'s dtype and device.

    Raises:
        TypeError: ``group_list`` is not a tensor, or ``group_list_type`` /
            ``num_experts`` are not ints.
        ValueError: a ``group_list_type`` other than 0, 1, 2, a dtype other than int32 or
            int64, a shape that does not fit the type, or a negative ``num_experts``.

    Values are not checked here (that would need a host sync): the ops that take the
    result check theirs (non-negative, non-decreasing, last value = rows). A negative
    count, or a type-2 id outside ``[0, E)`` (counted for no expert, so the last value
    falls short of the rows), therefore fails in the op that consumes the result.

    Example::

        >>> counts = torch.tensor([2, 0, 3], dtype=torch.int32)
        >>> groupquant.to_group_index(counts, 1)
        tensor([2, 2, 5], dtype=torch.int32)
        >>> pairs = torch.tensor([[0, 2], [2, 3], [1, 0]])   # (expert, count)
        >>> groupquant.to_group_index(pairs, 2)
        tensor([2, 2, 5])
    """
    if not isinstance(group_list, torch.Tensor):
        raise TypeError(f"group_list must be a torch.Tensor: got {type(group_list).__name__}")
    if isinstance(group_list_type, bool) or not isinstance(group_list_type, int):
        raise TypeError(
            f"group_list_type must be an int (0, 1 or 2): got {type(group_list_type).__name__}"
        )
    if group_list_type not in (0, 1, 2):
        raise ValueError(
            "group_list_type must be 0 (cumulative end rows), 1 (counts) or "
            f"2 ((expert, count) pairs): got {group_list_type}"
        )
    if num_experts is not None and (
        isinstance(num_experts, bool) or not isinstance(num_experts, (int, torch.SymInt))
    ):
        raise TypeError(f"num_experts must be an int or None: got {type(num_experts).__name__}")
    if group_list.dtype not in _INDEX_DTYPES:
        raise ValueError(f"group_list must be int32 or int64: got {_dtype_name(group_list.dtype)}")

    if group_list_type in (0, 1):
        if group_list.dim() != 1:
            raise ValueError(
                f"group_list of group_list_type {group_list_type} must be 1-D [E]: got shape "
                f"{list(group_list.shape)}"
            )
        if num_experts is not None and num_experts != group_list.shape[0]:
            raise ValueError(
                f"num_experts must equal group_list.size(0) for group_list_type "
                f"{group_list_type}: got num_experts={num_experts} and group_list of shape "
                f"{list(group_list.shape)}"
            )
        if group_list_type == 0:
            return group_list
        # torch.cumsum promotes integers to int64 unless told the dtype.
        return torch.cumsum(group_list, dim=0, dtype=group_list.dtype)

    if group_list.dim() != 2 or group_list.shape[1] != 2:
        raise ValueError(
            "group_list of group_list_type 2 must be [K, 2] (expert id, count) pairs: got "
            f"shape {list(group_list.shape)}"
        )
    experts = group_list.shape[0] if num_experts is None else num_experts
    if experts < 0:
        raise ValueError(f"num_experts must be non-negative: got {num_experts}")
    ids, counts = group_list[:, 0], group_list[:, 1]
    # Per-expert counts by a scatter-add into E + 1 bins, the last one collecting the ids
    # outside [0, E) so that no index is ever out of bounds; then the running sum.
    in_range = (ids >= 0) & (ids < experts)
    bins = torch.where(in_range, ids, experts).to(torch.int64)
    per_expert = torch.zeros(experts + 1, dtype=group_list.dtype, device=group_list.device)
    per_expert = per_expert.scatter_add(0, bins, counts)[:experts]
    return torch.cumsum(per_expert, dim=0, dtype=group_list.dtype)
