"""groupquant.to_group_index: Ascend's group-list forms -> cumulative end rows (type 0).

Checked against conversions written out by hand, against a plain-Python model on random
lists, for dtype and device, without host syncs, under torch.compile, and for its errors.
"""

import groupquant
import numpy as np
import pytest
import torch
import torch._dynamo.testing
from conftest import INDEX_DTYPES, short

to_group_index = groupquant.to_group_index


def as_list(t: torch.Tensor) -> list:
    return [int(v) for v in t.tolist()]


# ---- Hand conversions ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", INDEX_DTYPES, ids=short)
def test_type0_is_returned_as_is(dtype):
    gi = torch.tensor([0, 2, 2, 7], dtype=dtype)
    out = to_group_index(gi, 0)
    assert out is gi


@pytest.mark.parametrize("dtype", INDEX_DTYPES, ids=short)
@pytest.mark.parametrize(
    "counts, expected",
    [
        ([3, 0, 2, 5], [3, 3, 5, 10]),
        ([0, 0, 4], [0, 0, 4]),
        ([7], [7]),
        ([0], [0]),
        ([], []),
    ],
)
def test_type1_counts(dtype, counts, expected):
    out = to_group_index(torch.tensor(counts, dtype=dtype), 1)
    assert out.dtype == dtype and out.shape == (len(counts),)
    assert as_list(out) == expected


@pytest.mark.parametrize("dtype", INDEX_DTYPES, ids=short)
@pytest.mark.parametrize(
    "pairs, num_experts, expected",
    [
        # npu_grouped_matmul's layout: every expert once, non-empty ones first (ascending
        # ids), then the empty ones (ascending ids). E = K = 4.
        ([[1, 5], [3, 2], [0, 0], [2, 0]], None, [0, 5, 5, 7]),
        ([[0, 2], [1, 3], [2, 1]], None, [2, 5, 6]),
        ([[2, 4], [0, 0], [1, 0]], None, [0, 0, 4]),
        # npu_moe_init_routing_v2's key_value layout: only the experts with rows, E given.
        ([[1, 5], [3, 2]], 6, [0, 5, 5, 7, 7, 7]),
        ([[0, 1]], 3, [1, 1, 1]),
        ([[4, 9]], 5, [0, 0, 0, 0, 9]),
        # Padding rows of count 0 (any id) change nothing.
        ([[1, 5], [0, 0], [0, 0]], 2, [0, 5]),
        # The same expert twice: its counts add up.
        ([[1, 2], [1, 3]], 2, [0, 5]),
        # No pairs at all.
        (np.zeros((0, 2), dtype=np.int64), 3, [0, 0, 0]),
        (np.zeros((0, 2), dtype=np.int64), None, []),
    ],
)
def test_type2_pairs(dtype, pairs, num_experts, expected):
    group_list = torch.tensor(np.asarray(pairs, dtype=np.int64), dtype=dtype).reshape(-1, 2)
    out = to_group_index(group_list, 2, num_experts=num_experts)
    assert out.dtype == dtype and out.shape == (len(expected),)
    assert as_list(out) == expected


def test_type2_out_of_range_ids_count_for_no_expert():
    # Ids outside [0, E) add to no expert, so the last value falls short of the row count
    # (12 here) and the op that takes the result rejects it; nothing is read out of bounds.
    pairs = torch.tensor([[0, 2], [5, 7], [-1, 3], [1, 0]])
    assert as_list(to_group_index(pairs, 2, num_experts=2)) == [2, 2]


def test_type2_order_does_not_matter():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 9, size=16)
    pairs = np.stack([np.arange(16), counts], axis=1)
    expected = as_list(to_group_index(torch.from_numpy(pairs), 2))
    for _ in range(5):
        shuffled = torch.from_numpy(pairs[rng.permutation(16)])
        assert as_list(to_group_index(shuffled, 2)) == expected


def test_type2_matches_the_counts_form():
    # The same experts as (expert, count) pairs in grouped_matmul's layout and as counts.
    rng = np.random.default_rng(4)
    for e in (1, 5, 64, 1024):
        counts = rng.integers(0, 50, size=e) * (rng.random(e) < 0.7)
        order = np.concatenate([np.flatnonzero(counts), np.flatnonzero(counts == 0)])
        pairs = np.stack([order, counts[order]], axis=1)
        via_pairs = to_group_index(torch.from_numpy(pairs), 2)
        via_counts = to_group_index(torch.from_numpy(counts), 1)
        assert torch.equal(via_pairs, via_counts)
        assert as_list(via_counts) == list(np.cumsum(counts))


def test_the_result_feeds_npu_group_quant():
    # Counts -> cumulative end rows -> the op, against the same op with a hand-made index.
    x = torch.randn(9, 8)
    scale = torch.rand(3, 8) + 0.5
    counts = torch.tensor([4, 0, 5], dtype=torch.int32)
    via_helper = groupquant.npu_group_quant(x, scale, to_group_index(counts, 1))
    by_hand = groupquant.npu_group_quant(x, scale, torch.tensor([4, 4, 9], dtype=torch.int32))
    assert torch.equal(via_helper, by_hand)


# ---- No host sync, devices, graph mode --------------------------------------------------


@pytest.mark.parametrize("group_list_type", [1, 2])
def test_no_host_sync_meta_tensors(group_list_type):
    # Meta tensors have no data: any .item(), .tolist() or value-dependent shape would raise.
    shape = (6,) if group_list_type == 1 else (6, 2)
    out = to_group_index(torch.empty(shape, dtype=torch.int32, device="meta"), group_list_type)
    assert out.device.type == "meta" and out.dtype == torch.int32 and out.shape == (6,)
    if group_list_type == 2:
        out = to_group_index(torch.empty(shape, dtype=torch.int64, device="meta"), 2, num_experts=9)
        assert out.shape == (9,) and out.dtype == torch.int64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", INDEX_DTYPES, ids=short)
def test_cuda_device(dtype):
    pairs = torch.tensor([[1, 5], [3, 2], [0, 0], [2, 0]], dtype=dtype, device="cuda")
    out = to_group_index(pairs, 2)
    assert out.device == pairs.device and out.dtype == dtype
    assert as_list(out.cpu()) == [0, 5, 5, 7]
    counts = torch.tensor([3, 0, 2], dtype=dtype, device="cuda")
    assert as_list(to_group_index(counts, 1).cpu()) == [3, 3, 5]


def convert_both(counts, pairs):
    return to_group_index(counts, 1), to_group_index(pairs, 2)


@pytest.mark.parametrize("backend", ["inductor", "aot_eager"])
def test_compile_fullgraph_one_graph(backend):
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounterWithBackend(backend)
    fn = torch.compile(convert_both, backend=counter, fullgraph=True, dynamic=True)
    rng = np.random.default_rng(5)
    for e in (4, 9, 33):
        counts = rng.integers(0, 20, size=e)
        order = rng.permutation(e)
        pairs = np.stack([order, counts[order]], axis=1)
        c = torch.from_numpy(counts).to(torch.int32)
        p = torch.from_numpy(pairs).to(torch.int32)
        got_counts, got_pairs = fn(c, p)
        expected = list(np.cumsum(counts))
        assert got_counts.dtype == torch.int32 and as_list(got_counts) == expected
        assert got_pairs.dtype == torch.int32 and as_list(got_pairs) == expected
    assert counter.frame_count == 1  # E changed, the graph did not
    torch._dynamo.reset()


def test_compile_feeds_the_op():
    torch._dynamo.reset()

    def quant(x, scale, counts):
        return groupquant.npu_group_quant(x, scale, to_group_index(counts, 1))

    fn = torch.compile(quant, fullgraph=True, dynamic=True, backend="aot_eager")
    x, scale = torch.randn(10, 16), torch.rand(3, 16) + 0.5
    counts = torch.tensor([2, 0, 8])
    assert torch.equal(fn(x, scale, counts), quant(x, scale, counts))
    torch._dynamo.reset()


# ---- Errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        (([1, 2], 1), {}, TypeError, "group_list must be a torch.Tensor: got list"),
        ((torch.tensor([1]), 3), {}, ValueError, "group_list_type must be 0 .*got 3"),
        ((torch.tensor([1]), -1), {}, ValueError, "group_list_type must be 0 .*got -1"),
        ((torch.tensor([1]), "1"), {}, TypeError, "group_list_type must be an int .*got str"),
        ((torch.tensor([1]), True), {}, TypeError, "group_list_type must be an int .*got bool"),
        (
            (torch.tensor([1.0]), 1),
            {},
            ValueError,
            "group_list must be int32 or int64: got float32",
        ),
        (
            (torch.tensor([1], dtype=torch.int16), 0),
            {},
            ValueError,
            "group_list must be int32 or int64: got int16",
        ),
        (
            (torch.tensor([[1, 2]]), 1),
            {},
            ValueError,
            r"group_list of group_list_type 1 must be 1-D \[E\]: got shape \[1, 2\]",
        ),
        (
            (torch.tensor(3), 0),
            {},
            ValueError,
            r"group_list of group_list_type 0 must be 1-D \[E\]: got shape \[\]",
        ),
        (
            (torch.tensor([1, 2]), 2),
            {},
            ValueError,
            r"group_list_type 2 must be \[K, 2\] .*got shape \[2\]",
        ),
        (
            (torch.zeros(3, 3, dtype=torch.int64), 2),
            {},
            ValueError,
            r"group_list_type 2 must be \[K, 2\] .*got shape \[3, 3\]",
        ),
        (
            (torch.tensor([1, 2]), 1),
            {"num_experts": 3},
            ValueError,
            r"num_experts must equal group_list.size\(0\) .*got num_experts=3",
        ),
        (
            (torch.tensor([[0, 1]]), 2),
            {"num_experts": -1},
            ValueError,
            "num_experts must be non-negative: got -1",
        ),
        (
            (torch.tensor([[0, 1]]), 2),
            {"num_experts": 2.0},
            TypeError,
            "num_experts must be an int or None: got float",
        ),
    ],
)
def test_errors(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        to_group_index(*args, **kwargs)
