"""A W8A8 mixture-of-experts feed-forward block on groupquant's ops, in one process and
expert-parallel across processes (torch.distributed).

The block is DeepSeek/Qwen style: E experts, a softmax router, top-k experts per token with
their weights renormalised to sum to 1, and per expert ``down(silu(gate(x)) * up(x))`` (gate
and up fused into one ``[2I, H]`` weight, as serving engines store them). Weights are int8 per
output channel. The activations entering both GEMMs are int8, quantized one of three ways:

* ``static-expert``: ``npu_group_quant`` with a per-expert, per-channel scale row from a
  calibration pass (``127 / amax`` of the channel over the calibration tokens that expert got);
* ``static-shared``: the same op with ONE scale row for all experts, the element-wise max over
  experts of their amax: the collapse vLLM and sglang apply when a kernel takes one input
  scale for every expert;
* ``dynamic``: ``npu_dynamic_quant`` per token, after a per-expert SmoothQuant smooth row
  (``smooth = sqrt(amax_w / amax_x)`` per channel, alpha = 0.5).

A per-channel activation factor cannot be applied after an int8 GEMM (it multiplies the summed
dimension), so every such factor (the static scale rows, the smooth rows) is folded into the
expert's weights before they are quantized: ``x @ W.T == (x * s) @ (W / s).T``. The int8 GEMM
result is then dequantized with the per-channel weight scale alone (static modes) or with the
per-token activation scale times the per-channel weight scale (dynamic).

Tokens are sorted by expert (stable), ``group_index`` comes from the per-expert counts through
``groupquant.to_group_index`` (Ascend's ``group_list_type=1``), and the GEMMs run per expert
group with ``torch._int_mm`` (exact int32 accumulation).

Expert parallelism (``torchrun --nproc-per-node 2 examples/moe_w8a8.py --ep``, gloo on CPU):
each rank holds its own tokens and E/R experts; ranks exchange per-expert token counts, then
the tokens (``all_to_all_single``); each rank builds its local ``group_index`` from the counts
it received, runs its experts, and a second ``all_to_all_single`` returns the results, which
each rank combines. Every step is per token (the router's dot products in a fixed order, the
exact integer GEMMs, element-wise dequantization, the top-k combine in a fixed order), so the
EP result equals the one-process result bit for bit; the script checks it.

Run in one process (prints the accuracy table): ``python examples/moe_w8a8.py``.
"""

import argparse
import sys
import time
from dataclasses import dataclass

import groupquant
import torch
import torch.distributed as dist
import torch.nn.functional as F

MODES = ("static-expert", "static-shared", "dynamic")
_DYNAMIC = getattr(groupquant, "npu_dynamic_quant", None)  # None on builds without it


def _group_index(counts: torch.Tensor) -> torch.Tensor:
    """Cumulative end rows of the expert groups from their row counts."""
    if hasattr(groupquant, "to_group_index"):
        return groupquant.to_group_index(counts, 1)
    return torch.cumsum(counts, 0)  # the same thing, for builds that predate to_group_index


def available_modes():
    return [m for m in MODES if m != "dynamic" or _DYNAMIC is not None]


@dataclass(frozen=True)
class Config:
    experts: int = 8
    top_k: int = 2
    hidden: int = 256  # H
    inter: int = 128  # I; a multiple of 64, see _swiglu
    tokens: int = 512  # evaluation tokens (all ranks together)
    calib_tokens: int = 8192
    outliers: bool = True  # per-expert outlier channels in x and in the SwiGLU output


# ---- Model and data --------------------------------------------------------------------


def _outlier_channels(cfg: Config, n: int, gen: torch.Generator) -> torch.Tensor:
    """[E, 4] distinct channels of [0, n), four per expert."""
    return torch.randperm(n, generator=gen)[: 4 * cfg.experts].view(cfg.experts, 4)


def make_tokens(cfg: Config, n: int, seed: int, x_channels: torch.Tensor) -> torch.Tensor:
    """[n, H] bf16 tokens. With outliers, token t belongs to a cluster c (uniform) and carries
    large values (|x| 20..40, random sign) in cluster c's four channels; the router sends
    cluster c mostly to experts c and c + 1, so each expert sees outliers in its own few
    channels only."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cfg.hidden, generator=gen)
    if cfg.outliers:
        cluster = torch.randint(0, cfg.experts, (n,), generator=gen)
        size = 20 + 20 * torch.rand(n, 4, generator=gen)
        sign = torch.randint(0, 2, (n, 4), generator=gen) * 2 - 1
        x.scatter_(1, x_channels[cluster], size * sign)
    return x.to(torch.bfloat16)


def _quantize_weight(w: torch.Tensor):
    """int8 per output channel: w [E, O, K] fp32 -> (q int8 [E, O, K], scale fp32 [E, O])."""
    scale = (w.abs().amax(-1) / 127).clamp_min(1e-12)
    q = torch.round(w / scale[..., None]).clamp(-127, 127).to(torch.int8)
    return q, scale


def _fold_and_quantize(w: torch.Tensor, act_factor: torch.Tensor):
    """Quantized weights for activations multiplied by act_factor [E, K] per channel."""
    return _quantize_weight(w / act_factor[:, None, :].float())


def build_model(cfg: Config, seed: int) -> dict:
    """The float layer, a calibration pass, and every mode's quantized parameters."""
    gen = torch.Generator().manual_seed(seed)
    e, h, i = cfg.experts, cfg.hidden, cfg.inter
    x_channels = _outlier_channels(cfg, h, gen)
    h_channels = _outlier_channels(cfg, i, gen)
    gate_up = torch.randn(e, 2 * i, h, generator=gen) / h**0.5
    down = torch.randn(e, h, i, generator=gen) / i**0.5
    router = torch.randn(e, h, generator=gen) / (2 * h**0.5)
    if cfg.outliers:
        for ex in range(e):
            # Cluster ex's channels steer its tokens to experts ex and ex + 1.
            router[ex, x_channels[ex]] += 0.1
            router[(ex + 1) % e, x_channels[ex]] += 0.08
            # Expert ex's own SwiGLU outlier channels: larger gate and up rows.
            gate_up[ex, h_channels[ex]] *= 4
            gate_up[ex, i + h_channels[ex]] *= 4
        # Experts' activations differ in scale too (SwiGLU squares it: a 16x range), their
        # outputs do not: the down projections undo it.
        spread = torch.logspace(-1, 1, e, base=2)
        gate_up *= spread[:, None, None]
        down /= spread[:, None, None] ** 2
    model = dict(router=router, gate_up=gate_up, down=down, top_k=cfg.top_k)

    # Calibration: per expert and channel, the amax of what enters each GEMM.
    calib = make_tokens(cfg, cfg.calib_tokens, seed + 1000, x_channels)
    _, experts = route(calib, router, cfg.top_k)
    x_amax = torch.zeros(e, h)
    h_amax = torch.zeros(e, i)
    for ex in range(e):
        rows = calib[(experts == ex).any(-1)].float()
        if rows.shape[0]:
            act = _swiglu_float(rows @ gate_up[ex].t(), i)
            x_amax[ex] = rows.abs().amax(0)
            h_amax[ex] = act.abs().amax(0)
    x_amax.clamp_min_(1e-6)
    h_amax.clamp_min_(1e-6)

    q = {}
    for name, amax in (("x", x_amax), ("h", h_amax)):
        q[f"{name}_scale_expert"] = 127 / amax  # [E, K]
        q[f"{name}_scale_shared"] = (127 / amax.amax(0)).expand_as(amax).contiguous()
        w_amax = (gate_up if name == "x" else down).abs().amax(1)  # [E, K]
        q[f"{name}_smooth"] = (w_amax / amax).sqrt().to(torch.bfloat16)
    for mode, tag in (("static-expert", "scale_expert"), ("static-shared", "scale_shared")):
        model[mode] = dict(
            x=q[f"x_{tag}"],
            h=q[f"h_{tag}"],
            gate_up=_fold_and_quantize(gate_up, q[f"x_{tag}"]),
            down=_fold_and_quantize(down, q[f"h_{tag}"]),
        )
    model["dynamic"] = dict(
        x=q["x_smooth"],
        h=q["h_smooth"],
        gate_up=_fold_and_quantize(gate_up, q["x_smooth"]),
        down=_fold_and_quantize(down, q["h_smooth"]),
    )
    model["w8a16"] = dict(gate_up=_quantize_weight(gate_up), down=_quantize_weight(down))
    model["x_channels"] = x_channels
    return model


# ---- The layer ---------------------------------------------------------------------------


def route(x: torch.Tensor, router: torch.Tensor, top_k: int):
    """Softmax gate, top-k, weights renormalised: (weights fp32 [T, k], experts int64 [T, k]).

    Per token and independent of how many tokens share the call: the logits are summed over
    the hidden dimension in a fixed order (a GEMM's blocking may depend on the row count), the
    softmax is torch's row-wise kernel, and the renormalising sum runs over k in order."""
    xt = x.float().t().contiguous()  # [H, T]: each step below is one contiguous row
    wt = router.t().contiguous()[:, :, None]  # [H, E, 1]
    logits = wt[0] * xt[0]  # [E, T]
    for c in range(1, xt.shape[0]):
        logits = logits + wt[c] * xt[c]  # a multiply, then an add: never fused
    probs = torch.softmax(logits.t(), dim=-1)
    top, experts = torch.topk(probs, top_k, dim=-1)
    total = top[:, 0]
    for k in range(1, top_k):
        total = total + top[:, k]
    return top / total[:, None], experts


def _swiglu_float(gate_up: torch.Tensor, inter: int) -> torch.Tensor:
    return F.silu(gate_up[:, :inter]) * gate_up[:, inter:]


def _swiglu(gate_up: torch.Tensor, inter: int) -> torch.Tensor:
    # silu's vector and scalar exp can differ by an ulp, and torch uses the scalar one for a
    # row's tail: with I % 64 == 0 every element takes the vector path, so a token's value
    # does not depend on which rows share the call (bit-equal EP).
    assert inter % 64 == 0, f"inter must be a multiple of 64: got {inter}"
    return _swiglu_float(gate_up, inter).to(torch.bfloat16)


def int8_mm(a: torch.Tensor, b_t: torch.Tensor) -> torch.Tensor:
    """a int8 [M, K] @ b_t int8 [K, N] -> int32 [M, N], exact.

    On the CPU, torch._int_mm takes any shape (M = 0 too). On CUDA it needs M > 16 and K, N
    multiples of 8, so small groups are padded with zero rows and the result sliced
    (K and N are the model's dimensions; untested here: no GPU)."""
    m = a.shape[0]
    if a.is_cuda and (m <= 16 or m % 8):
        padded = max(24, (m + 7) // 8 * 8)
        a = torch.cat([a, a.new_zeros(padded - m, a.shape[1])])
        return torch._int_mm(a, b_t)[:m]
    return torch._int_mm(a, b_t)


def _quantize_act(mode: str, act: torch.Tensor, params: torch.Tensor, group_index):
    """(int8 rows, per-row fp32 scale or None) with params [E_local, K] (scales or smooth)."""
    if mode == "dynamic":
        return _DYNAMIC(act, smooth_scales=params, group_index=group_index)
    return groupquant.npu_group_quant(act, params, group_index), None


def _grouped_gemm(q, row_scale, weight, counts, experts: range) -> torch.Tensor:
    """Per expert group: int8 GEMM, then dequantization (fp32)."""
    wq, ws = weight
    out = torch.empty(q.shape[0], wq.shape[1], dtype=torch.float32, device=q.device)
    start = 0
    for local, ex in enumerate(experts):
        end = start + int(counts[local])
        if end > start:  # empty groups: nothing to multiply
            acc = int8_mm(q[start:end], wq[ex].t()).float()
            if row_scale is not None:
                acc = acc * row_scale[start:end, None]
            out[start:end] = acc * ws[ex]
        start = end
    return out


def run_experts(model: dict, mode: str, x: torch.Tensor, counts: torch.Tensor, experts: range):
    """x bf16 [rows, H] sorted by expert, counts [len(experts)] -> fp32 [rows, H]."""
    p = model[mode]
    inter = model["gate_up"].shape[1] // 2
    if mode == "w8a16":  # weights-only baseline: float activations, dequantized weights
        out = torch.empty(x.shape[0], model["down"].shape[1])
        start = 0
        for local, ex in enumerate(experts):
            end = start + int(counts[local])
            (gq, gs), (dq, ds) = p["gate_up"], p["down"]
            act = _swiglu_float(
                x[start:end].float() @ (gq[ex].float() * gs[ex, :, None]).t(), inter
            )
            out[start:end] = act @ (dq[ex].float() * ds[ex, :, None]).t()
            start = end
        return out
    group_index = _group_index(counts)
    sl = slice(experts.start, experts.stop)
    q, s = _quantize_act(mode, x, p["x"][sl], group_index)
    act = _swiglu(_grouped_gemm(q, s, p["gate_up"], counts, experts), inter)
    q, s = _quantize_act(mode, act, p["h"][sl], group_index)
    return _grouped_gemm(q, s, p["down"], counts, experts)


def run_experts_float(model: dict, x: torch.Tensor, counts: torch.Tensor, experts: range):
    """The unquantized experts (fp32 weights and activations), for the error table."""
    inter = model["gate_up"].shape[1] // 2
    out = torch.empty(x.shape[0], model["down"].shape[1])
    start = 0
    for local, ex in enumerate(experts):
        end = start + int(counts[local])
        act = _swiglu_float(x[start:end].float() @ model["gate_up"][ex].t(), inter)
        out[start:end] = act @ model["down"][ex].t()
        start = end
    return out


def moe_forward(model: dict, mode: str, x: torch.Tensor, group=None, stats=None):
    """The MoE block on this process's tokens x bf16 [T, H] -> fp32 [T, H].

    With a process group of R ranks, rank r owns experts [r E/R, (r+1) E/R) and the tokens
    travel there and back with all_to_all_single; without one, every expert is local."""
    num_experts, top_k = model["router"].shape[0], model["top_k"]
    world = 1 if group is None else dist.get_world_size(group)
    rank = 0 if group is None else dist.get_rank(group)
    per_rank = num_experts // world
    mine = range(rank * per_rank, (rank + 1) * per_rank)

    weights, experts = route(x, model["router"], top_k)
    flat = experts.reshape(-1)  # pair p = token p // k, its (p % k)-th expert
    order = torch.sort(flat, stable=True).indices
    pairs = x[order // top_k]  # [T k, H], sorted by expert
    counts = torch.bincount(flat, minlength=num_experts)

    if group is None:
        recv, local_counts, regroup = pairs, counts, None
    else:
        # 1. per-expert counts: rank j gets the counts of its own experts from every rank.
        recv_counts = torch.empty_like(counts)
        dist.all_to_all_single(recv_counts, counts, group=group)
        send_splits = counts.view(world, per_rank).sum(1).tolist()
        recv_splits = recv_counts.view(world, per_rank).sum(1).tolist()
        # 2. the tokens.
        recv = pairs.new_empty(sum(recv_splits), x.shape[1])
        dist.all_to_all_single(recv, pairs, recv_splits, send_splits, group=group)
        # Received rows come source-major, then by expert: regroup them by local expert
        # (stable, so each expert's rows stay in source order) for the grouped GEMMs.
        local_id = torch.arange(per_rank).repeat(world).repeat_interleave(recv_counts)
        regroup = torch.sort(local_id, stable=True).indices
        local_counts = recv_counts.view(world, per_rank).sum(0)
        recv = recv[regroup]
        if stats is not None:
            stats.update(sent=send_splits, received=recv_splits, local_counts=local_counts)

    if mode == "float":
        y = run_experts_float(model, recv, local_counts, mine)
    else:
        y = run_experts(model, mode, recv, local_counts, mine)

    if group is not None:
        back = torch.empty_like(y)
        back[regroup] = y
        y = y.new_empty(pairs.shape[0], y.shape[1])
        dist.all_to_all_single(y, back, send_splits, recv_splits, group=group)  # 3. results

    per_pair = torch.empty_like(y)
    per_pair[order] = y  # back to token-major order
    per_pair = per_pair.view(x.shape[0], top_k, -1)
    out = weights[:, :1] * per_pair[:, 0]  # the weighted sum, over k in a fixed order
    for k in range(1, top_k):
        out = out + weights[:, k : k + 1] * per_pair[:, k]
    return out


# ---- Accuracy table and the EP check -------------------------------------------------------


def errors(out: torch.Tensor, ref: torch.Tensor):
    """(relative Frobenius error, max abs error)."""
    diff = out.double() - ref.double()
    return (diff.norm() / ref.double().norm()).item(), diff.abs().max().item()


def accuracy(seeds=(0, 1, 2), cfg_kwargs=None) -> dict:
    """{(outliers, mode): [(rel, max_abs) per seed]}, plus each setting's max |ref|."""
    table, ref_max = {}, {}
    for outliers in (True, False):
        cfg = Config(outliers=outliers, **(cfg_kwargs or {}))
        for seed in seeds:
            model = build_model(cfg, seed)
            x = make_tokens(cfg, cfg.tokens, seed + 2000, model["x_channels"])
            ref = moe_forward(model, "float", x)
            ref_max[outliers] = max(ref_max.get(outliers, 0.0), ref.abs().max().item())
            for mode in ["w8a16", *available_modes()]:
                table.setdefault((outliers, mode), []).append(
                    errors(moe_forward(model, mode, x), ref)
                )
    return dict(errors=table, ref_max=ref_max, seeds=seeds)


LABELS = {
    "w8a16": "W8A16 (weights only, baseline)",
    "static-expert": "W8A8 static, per-expert scales",
    "static-shared": "W8A8 static, one shared scale",
    "dynamic": "W8A8 dynamic per token + smooth",
}


def print_table(result: dict) -> None:
    seeds = result["seeds"]
    for outliers in (True, False):
        what = "with per-expert outliers" if outliers else "plain Gaussian activations"
        print(f"\n{what} (max |ref| {result['ref_max'][outliers]:.2f}; seeds {list(seeds)}):")
        print("| mode | rel. Frobenius error per seed | max abs error (worst seed) |")
        print("|---|---|---|")
        for mode in ["w8a16", *MODES]:
            if (outliers, mode) not in result["errors"]:
                print(f"| {LABELS[mode]} | skipped: npu_dynamic_quant not available | |")
                continue
            errs = result["errors"][(outliers, mode)]
            rels = " / ".join(f"{rel * 100:.3f}%" for rel, _ in errs)
            print(f"| {LABELS[mode]} | {rels} | {max(m for _, m in errs):.4f} |")


def ep_run(model: dict, x: torch.Tensor, modes, group=None):
    """Expert-parallel forward of the batch x (the same on every rank): rank r takes its
    slice of x (torch.tensor_split), runs every mode, and every rank gets back
    ({mode: fp32 output of the whole batch, in rank order}, [one stats line per rank])."""
    group = dist.group.WORLD if group is None else group
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    mine = torch.tensor_split(x, world)[rank]
    outs, stats = {}, {}
    start = time.perf_counter()
    for mode in modes:
        outs[mode] = moe_forward(model, mode, mine, group=group, stats=stats)
    per_rank = model["router"].shape[0] // world
    line = (
        f"rank {rank}/{world}: experts {rank * per_rank}..{(rank + 1) * per_rank - 1}, "
        f"{mine.shape[0]} tokens, token-expert rows sent per rank {stats['sent']}, received "
        f"{stats['received']}, local group_index {_group_index(stats['local_counts']).tolist()}, "
        f"{len(modes)} modes in {(time.perf_counter() - start) * 1e3:.0f} ms"
    )
    everyone = [None] * world
    dist.all_gather_object(everyone, (outs, line), group=group)
    full = {mode: torch.cat([o[mode] for o, _ in everyone]) for mode in modes}
    return full, [one for _, one in everyone]


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-pattern equality of fp32 tensors (so -0.0 != 0.0 and NaN == NaN)."""
    return a.shape == b.shape and torch.equal(a.view(torch.int32), b.view(torch.int32))


def main_ep(args) -> int:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    cfg = Config(tokens=args.tokens)
    # Rank 0 builds the model and calibrates; every rank gets the same tensors.
    holder = [build_model(cfg, args.seed) if rank == 0 else None]
    dist.broadcast_object_list(holder, src=0)
    model = holder[0]
    x = make_tokens(cfg, cfg.tokens, args.seed + 2000, model["x_channels"])
    modes = available_modes()
    full, lines = ep_run(model, x, modes)
    ok = True
    if rank == 0:
        for one in lines:
            print(one)
        for mode in modes:
            same = same_bits(full[mode], moe_forward(model, mode, x))  # vs this one process
            ok &= same
            print(
                f"{mode}: EP on {world} ranks {'matches' if same else 'DIFFERS FROM'} "
                "one process bit for bit"
            )
        if "dynamic" not in modes:
            print("dynamic: skipped: npu_dynamic_quant not available")
    dist.destroy_process_group()
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ep", action="store_true", help="expert-parallel (run with torchrun)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=Config.tokens)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the shapes are small, and on a busy machine a thread "
        "pool costs more than it gives; the results do not depend on it)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.ep:
        return main_ep(args)
    start = time.perf_counter()
    result = accuracy()
    print_table(result)
    if _DYNAMIC is None:
        print("dynamic: skipped: npu_dynamic_quant not available")
    print(f"\n({time.perf_counter() - start:.1f} s for both tables)")
    if torch.cuda.is_available():
        print(fp8_cuda_demo())
    return 0


# ---- CUDA fp8 path (written for GPUs with fp8 grouped GEMM; untested: no GPU here) ----------


def fp8_cuda_demo(seed: int = 0) -> str:
    """fp8 experts on CUDA: npu_dynamic_quant(chip="950") to float8_e4m3fn per token with the
    smooth rows, torch._scaled_grouped_mm over the expert groups (offs = group_index), smooth
    rows folded into the weights. Returns a line with its error against the float layer.
    UNTESTED: this repository's machines have no GPU."""
    if _DYNAMIC is None or not hasattr(torch, "_scaled_grouped_mm"):
        return "fp8 CUDA path: skipped (needs npu_dynamic_quant and torch._scaled_grouped_mm)"
    if torch.cuda.get_device_capability() < (9, 0):
        return "fp8 CUDA path: skipped (torch._scaled_grouped_mm needs sm90 or newer)"
    cfg = Config()
    model = build_model(cfg, seed)
    x = make_tokens(cfg, cfg.tokens, seed + 2000, model["x_channels"])
    weights, experts = route(x, model["router"], cfg.top_k)
    flat = experts.reshape(-1)
    order = torch.sort(flat, stable=True).indices
    pairs = x[order // cfg.top_k]
    counts = torch.bincount(flat, minlength=cfg.experts)
    group_index = _group_index(counts).to(torch.int32)
    fp8 = torch.float8_e4m3fn

    def quant_weight(w, smooth):  # [E, O, K] -> fp8 [E, K, O] (column-major), scale [E, O]
        w = w / smooth[:, None, :].float()
        scale = (w.abs().amax(-1) / 448).clamp_min(1e-12)
        return (w / scale[..., None]).to(fp8).cuda().transpose(1, 2), scale.cuda()

    # The op runs on the GPU where groupquant._C_cuda registered its kernel, else on the CPU.
    dev = "cuda" if groupquant._cuda_unavailable is None else "cpu"

    def gemm(act, smooth, w):
        q, s = _DYNAMIC(
            act.to(dev),
            smooth_scales=smooth.to(dev),
            group_index=group_index.to(dev),
            dst_type=fp8,
            chip="950",
        )
        wq, ws = w
        return torch._scaled_grouped_mm(
            q.cuda(), wq, s.cuda(), ws, offs=group_index.cuda(), out_dtype=torch.bfloat16
        )

    d = model["dynamic"]
    gu = gemm(pairs, d["x"], quant_weight(model["gate_up"], d["x"]))
    act = _swiglu_float(gu.float(), cfg.inter).to(torch.bfloat16)
    y = gemm(act, d["h"], quant_weight(model["down"], d["h"])).float().cpu()
    per_pair = torch.empty_like(y)
    per_pair[order] = y
    out = (weights[..., None] * per_pair.view(x.shape[0], cfg.top_k, -1)).sum(1)
    rel, max_abs = errors(out, moe_forward(model, "float", x))
    return (
        f"fp8 CUDA path (e4m3, dynamic + smooth): rel. Frobenius {rel * 100:.3f}%, "
        f"max abs {max_abs:.4f}"
    )


if __name__ == "__main__":
    sys.exit(main())
