"""The W8A8 MoE example (examples/moe_w8a8.py): expert parallelism on 2 gloo ranks equals one
process bit for bit, and each quantization mode's error stays within the bounds its accuracy
table shows (README "MoE layer")."""

import os
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import moe_w8a8 as moe  # noqa: E402


def _rank_main(rank, world, init_file, model, x, modes, out_file):
    torch.set_num_threads(1)  # as torchrun's workers; the one-process side keeps its threads
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        full, lines = moe.ep_run(model, x, modes)
        if rank == 0:
            torch.save(dict(outs=full, lines=lines), out_file)
    finally:
        dist.destroy_process_group()


# 41 tokens: ranks of 21 and 20 tokens, odd row counts per expert, likely an empty expert.
@pytest.mark.parametrize("seed,tokens", [(3, 41)])
def test_expert_parallel_equals_one_process_bit_for_bit(tmp_path, seed, tokens):
    cfg = moe.Config(tokens=tokens, calib_tokens=256)
    model = moe.build_model(cfg, seed)
    x = moe.make_tokens(cfg, cfg.tokens, seed + 2000, model["x_channels"])
    modes = moe.available_modes()  # the quantized modes: every step exact or per token
    out_file = tmp_path / "ep.pt"
    mp.spawn(
        _rank_main,
        args=(2, str(tmp_path / "rendezvous"), model, x, modes, str(out_file)),
        nprocs=2,
    )
    ep = torch.load(out_file)
    assert [line.split(":")[0] for line in ep["lines"]] == ["rank 0/2", "rank 1/2"]
    assert ep["lines"][0].startswith("rank 0/2: experts 0..3, 21 tokens")
    for mode in modes:
        assert moe.same_bits(ep["outs"][mode], moe.moe_forward(model, mode, x)), mode


def test_dynamic_quant_is_available():
    # The dynamic mode would be skipped (not failed) without the op; the test suite wants it.
    assert "dynamic" in moe.available_modes()


@pytest.fixture(scope="module")
def table():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # the example's default: small shapes, fastest on one thread
    try:
        return moe.accuracy()  # the README's table: same sizes and seeds
    finally:
        torch.set_num_threads(saved)


# (outliers, mode) -> (upper bound on the relative Frobenius error, on the max abs error), each
# about 1.5x the worst seed in the README's table. Every mode quantizes (its error is above
# 0.5%, where the float layer has 0), and a broken quantization (a wrong scale or group, a
# missing fold of the activation factors into the weights) gives tens of percent.
BOUNDS = {
    (True, "w8a16"): (0.018, 6.5),
    (True, "static-expert"): (0.055, 21.0),
    (True, "static-shared"): (0.12, 36.0),
    (True, "dynamic"): (0.030, 12.0),
    (False, "w8a16"): (0.018, 0.045),
    (False, "static-expert"): (0.105, 1.3),
    (False, "static-shared"): (0.065, 0.75),
    (False, "dynamic"): (0.030, 0.12),
}


@pytest.mark.parametrize(
    "outliers,mode", list(BOUNDS), ids=[f"{'outliers' if o else 'plain'}-{m}" for o, m in BOUNDS]
)
def test_error_within_bounds(table, outliers, mode):
    if mode == "dynamic" and mode not in moe.available_modes():
        pytest.skip("npu_dynamic_quant not available")
    rel_bound, abs_bound = BOUNDS[(outliers, mode)]
    for rel, max_abs in table["errors"][(outliers, mode)]:
        assert 0.005 < rel < rel_bound and max_abs < abs_bound, (rel, max_abs)


def test_per_expert_scales_beat_the_shared_scale_on_outliers(table):
    errs = table["errors"]
    for expert, shared in zip(errs[(True, "static-expert")], errs[(True, "static-shared")]):
        assert shared[0] > 1.5 * expert[0] and shared[1] > 1.3 * expert[1], (expert, shared)
