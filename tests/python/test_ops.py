"""Eager results of groupquant.npu_group_quant, bit for bit against the numpy oracle."""

import doctest
import inspect
import os
import subprocess
import sys
import threading
import time
import zlib

import groupquant
import groupquant.ops
import numpy as np
import pytest
import torch
from conftest import (
    DST_DTYPES,
    FLOAT_DTYPES,
    OUTPUT_KINDS,
    SPECIAL_VALUES,
    VIEW_DTYPE_PAIRS,
    assert_unchanged,
    call,
    every_call_form,
    group_index_from_sizes,
    make_inputs,
    pair_id,
    short,
    snapshot,
    strided_views,
)

from reference import npu_group_quant_ref

op = torch.ops.groupquant.npu_group_quant


def check(inputs: dict, dst_dtype=None, fn=groupquant.npu_group_quant) -> torch.Tensor:
    """Runs the op, checks dtype, shape and every bit against the oracle, and that the
    inputs are untouched."""
    before = snapshot(inputs)
    y = call(inputs, dst_dtype, fn)
    expected = npu_group_quant_ref(
        inputs["x"], inputs["scale"], inputs["group_index"], inputs["offset"], dst_dtype
    )
    assert y.dtype == expected.dtype and y.shape == expected.shape
    assert y.device == inputs["x"].device and y.is_contiguous()
    assert torch.equal(y, expected)
    assert_unchanged(inputs, before)
    return y


# ---- The SPEC.md test vectors ----------------------------------------------------------


def test_spec_vector_aclnn_example():
    x = torch.tensor([[0, 1], [2, 3], [4, 5], [6, 7]], dtype=torch.float32)
    scale = torch.tensor([[1, 2], [1, 2], [1, 2]], dtype=torch.float32)
    group_index = torch.tensor([1, 2, 4])
    y = groupquant.npu_group_quant(x, scale, group_index, offset=torch.tensor(2.0))
    assert y.dtype == torch.int8
    assert y.tolist() == [[2, 4], [4, 8], [6, 12], [8, 16]]


def test_spec_vector_int4_packing():
    x = torch.tensor([[1, -1, 0, 7, -8, 3, -3, 2]], dtype=torch.float32)
    y = groupquant.npu_group_quant(
        x, torch.ones(1, 8), torch.tensor([1], dtype=torch.int32), dst_dtype=torch.quint4x2
    )
    assert y.dtype == torch.int32 and y.shape == (1, 1)
    assert y.view(torch.uint32).item() == 0x2D3870F1


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=short)
def test_spec_ties_saturation_specials(dtype):
    values, want_int8, want_int4 = (list(column) for column in zip(*SPECIAL_VALUES))
    assert len(values) % 8 == 0  # whole int32 words of int4
    x = torch.tensor([values], dtype=dtype)
    one = torch.ones(1, len(values), dtype=dtype)
    gi = torch.tensor([1])
    int8 = groupquant.npu_group_quant(x, one, gi)
    assert int8.tolist() == [want_int8]
    int4 = groupquant.npu_group_quant(x, one, gi, dst_dtype=torch.quint4x2)
    nibbles = [
        (int4.view(torch.uint32)[0, w].item() >> (4 * k)) & 0xF
        for w in range(len(values) // 8)
        for k in range(8)
    ]
    signed = [v - 16 if v >= 8 else v for v in nibbles]
    assert signed == want_int4


def test_multiply_and_add_round_separately():
    # x*s = 1 + 2^-11 + 2^-24 exactly; fp32 rounds the tie to even, 1 + 2^-11. Adding
    # -0.5 - 2^-11 then gives exactly 0.5, which rounds to 0. A fused multiply-add
    # would round 0.5 + 2^-24 once and give 1.
    x = torch.tensor([[1.0 + 2.0**-12]])
    offset = torch.tensor(-0.5 - 2.0**-11)
    assert offset.item() == -0.5 - 2.0**-11  # exact in fp32
    gi = torch.tensor([1])
    y = groupquant.npu_group_quant(x, x, gi, offset=offset)
    assert y.item() == 0
    assert torch.equal(y, npu_group_quant_ref(x, x, gi, offset))


# ---- Every dtype pair, index dtype, offset form and dst_dtype ---------------------------


@every_call_form
def test_matches_reference(x_dtype, scale_dtype, index_dtype, offset, dst_dtype):
    inputs = make_inputs(
        37,
        48,
        g=5,
        x_dtype=x_dtype,
        scale_dtype=scale_dtype,
        index_dtype=index_dtype,
        offset=offset,
        seed=zlib.crc32(f"{x_dtype}{scale_dtype}{offset}".encode()),
    )
    check(inputs, dst_dtype)
    check(inputs, dst_dtype, fn=op)  # torch.ops.groupquant.npu_group_quant itself


def test_int8_dst_dtypes_agree():
    inputs = make_inputs(20, 16, g=3, seed=1)
    results = [check(inputs, d) for d in (None, torch.int8, torch.qint8)]
    assert all(torch.equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize("seed", range(8))
def test_random_shapes(seed):
    rng = np.random.default_rng(100 + seed)
    m, n, g = int(rng.integers(1, 300)), 8 * int(rng.integers(1, 40)), int(rng.integers(1, 12))
    dtypes = rng.choice(len(FLOAT_DTYPES), size=2)
    inputs = make_inputs(
        m, n, g=g, x_dtype=FLOAT_DTYPES[dtypes[0]], scale_dtype=FLOAT_DTYPES[dtypes[1]], seed=seed
    )
    for kind in OUTPUT_KINDS:
        check(inputs, kind)


# ---- Group layouts ---------------------------------------------------------------------

LAYOUTS = {
    "docs_example": [1, 3, 2, 0],
    "empty_first": [0, 4, 3],
    "empty_last": [3, 4, 0],
    "empty_first_and_last": [0, 0, 5, 2, 0, 0],
    "one_row_per_group": [1] * 9,
    "many_empty": [0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 4, 0, 0],
    "one_group": [9],
    "all_in_last": [0, 0, 0, 9],
    "all_in_first": [9, 0, 0, 0],
}


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_group_layouts(layout, kind):
    sizes = LAYOUTS[layout]
    inputs = make_inputs(sum(sizes), 24, sizes, seed=len(sizes))
    check(inputs, kind)


def test_each_group_uses_its_own_scale_row():
    # Group g's scale row is all g+1, so row r's output is (g+1) * x[r].
    sizes = [2, 0, 3, 1, 0]
    x = torch.ones(6, 8)
    scale = torch.arange(1, 6, dtype=torch.float32)[:, None].expand(5, 8)
    y = groupquant.npu_group_quant(x, scale, group_index_from_sizes(sizes))
    assert y[:, 0].tolist() == [1, 1, 3, 3, 3, 4]


def test_many_rows_many_groups():
    rng = np.random.default_rng(7)
    sizes = rng.integers(0, 40, size=300)
    inputs = make_inputs(
        int(sizes.sum()),
        64,
        list(sizes),
        x_dtype=torch.bfloat16,
        scale_dtype=torch.float16,
        index_dtype=torch.int32,
        seed=7,
    )
    for kind in OUTPUT_KINDS:
        check(inputs, kind)


# ---- Non-contiguous and offset views ---------------------------------------------------


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
@pytest.mark.parametrize("dtypes", VIEW_DTYPE_PAIRS, ids=pair_id)
def test_strided_views(dtypes, kind):
    inputs = make_inputs(29, 40, g=4, x_dtype=dtypes[0], scale_dtype=dtypes[1], seed=3)
    expected = check(inputs, kind)
    for name, v in strided_views(inputs).items():
        assert not all(
            t.is_contiguous() and t.storage_offset() == 0 for t in v.values() if t is not None
        ), name
        y = check(v, kind)
        if name != "scale_broadcast_row":  # the one view with other values
            assert torch.equal(y, expected), name


def test_broadcast_scale_row():
    # A stride-0 (expanded) scale is read as it is.
    inputs = make_inputs(12, 16, [5, 7], seed=4)
    inputs["scale"] = inputs["scale"][:1].expand(2, 16)
    assert inputs["scale"].stride() == (0, 1)
    for kind in OUTPUT_KINDS:
        check(inputs, kind)


def test_output_is_new_memory():
    inputs = make_inputs(8, 8, [8], seed=5)
    y1 = check(inputs)
    y2 = check(inputs)
    assert y1.data_ptr() != y2.data_ptr()


# ---- Empty tensors ---------------------------------------------------------------------


@pytest.mark.parametrize("dst_dtype", DST_DTYPES, ids=short)
@pytest.mark.parametrize("m,n,g", [(0, 16, 3), (5, 0, 2), (0, 0, 1), (0, 8, 0), (4, 0, 0)])
def test_empty(m, n, g, dst_dtype):
    x = torch.randn(m, n, dtype=torch.float16)
    scale = torch.randn(g, n)
    # Values of group_index are not inspected for an empty x (the NPU does the same).
    gi = torch.full((g,), -7, dtype=torch.int32)
    y = groupquant.npu_group_quant(x, scale, gi, offset=torch.tensor([1.0]), dst_dtype=dst_dtype)
    packed = dst_dtype == torch.quint4x2
    assert y.dtype == (torch.int32 if packed else torch.int8)
    assert y.shape == ((m, n // 8) if packed else (m, n))


# ---- Threads ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
def test_independent_of_thread_count(kind, restore_num_threads):
    # Big enough for many work chunks, with group boundaries inside chunks.
    inputs = make_inputs(1500, 264, g=37, x_dtype=torch.bfloat16, seed=11)
    results = []
    for threads in (1, 2, 3, 8):
        torch.set_num_threads(threads)
        results.append(check(inputs, kind))
    assert all(torch.equal(results[0], r) for r in results[1:])


def _cpu_ticks_by_thread() -> dict:
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        ticks[tid] = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


def _ticks_until(threads, enough, give_up_s=120.0):
    """Calls the op with torch.set_num_threads(threads) until enough(caller, helper) holds
    (or give_up_s passes) and returns the CPU ticks (/proc: utime + stime) the calling
    thread and the busiest other thread spent meanwhile."""
    x = torch.randn(2048, 4096)
    scale = torch.randn(4, 4096)
    gi = torch.tensor([512, 1024, 1536, 2048])
    torch.set_num_threads(threads)
    groupquant.npu_group_quant(x, scale, gi)  # starts the pool's threads
    before = _cpu_ticks_by_thread()
    give_up = time.monotonic() + give_up_s
    while True:
        for _ in range(4):
            groupquant.npu_group_quant(x, scale, gi)
        after = _cpu_ticks_by_thread()
        spent = {t: after[t] - before.get(t, 0) for t in after}
        caller = spent.pop(str(threading.get_native_id()))
        helper = max(spent.values(), default=0)
        if enough(caller, helper) or time.monotonic() > give_up:
            return caller, helper


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux /proc")
@pytest.mark.skipif(not torch.backends.openmp.is_available(), reason="torch without OpenMP")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs")
def test_set_num_threads_is_honoured(restore_num_threads):
    # Which threads did work, not how fast. The op's chunks go to at::parallel_for, which
    # under OpenMP gives each thread a fixed share: with two torch threads the second one
    # does half the work whenever the scheduler lets it run, so on a loaded machine its
    # ticks come late but they come; the loop waits for them (120 s at most: a bound, not
    # a measurement). With one torch thread no other thread works, however long it runs.
    min_ticks = 20  # 0.2 s of CPU at the usual 100 ticks/s: well above tick noise
    caller, helper = _ticks_until(1, lambda caller, helper: caller >= min_ticks)
    assert caller >= min_ticks and helper < 0.2 * caller, (caller, helper)
    caller, helper = _ticks_until(2, lambda caller, helper: helper >= min_ticks)
    assert helper >= min_ticks, (caller, helper)


# ---- Every CPU kernel set ----------------------------------------------------------------

ISA_SCRIPT = r"""
import sys, itertools, torch, groupquant
from conftest import FLOAT_DTYPES, OUTPUT_KINDS, make_inputs
from reference import npu_group_quant_ref
try:
    groupquant.npu_group_quant(torch.ones(1, 8), torch.ones(1, 8), torch.tensor([1]))
except RuntimeError as e:
    if "not supported" in str(e):
        print("UNSUPPORTED"); sys.exit(0)
    raise
for i, (xd, sd, kind) in enumerate(itertools.product(FLOAT_DTYPES, FLOAT_DTYPES, OUTPUT_KINDS)):
    inputs = make_inputs(45, 200, g=6, x_dtype=xd, scale_dtype=sd, seed=i)
    for name, x in (("contiguous", inputs["x"]), ("transposed", inputs["x"].t().contiguous().t())):
        y = groupquant.npu_group_quant(x, inputs["scale"], inputs["group_index"],
                                       offset=inputs["offset"], dst_dtype=kind)
        e = npu_group_quant_ref(x, inputs["scale"], inputs["group_index"], inputs["offset"], kind)
        assert torch.equal(y, e), (xd, sd, kind, name)
print("OK")
"""


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512", "neon"])
def test_every_cpu_isa(isa):
    # The kernel set is chosen once per process, so each runs in its own interpreter.
    env = dict(os.environ, GROUPQUANT_CPU_ISA=isa)
    here = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run(
        [sys.executable, "-c", ISA_SCRIPT],
        cwd=here,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if result.stdout.strip() == "UNSUPPORTED":
        pytest.skip(f"{isa} is not supported by this CPU or build")
    assert result.stdout.strip() == "OK"


# ---- The Python API --------------------------------------------------------------------


def test_signature_matches_the_npu_op():
    sig = inspect.signature(groupquant.npu_group_quant)
    params = list(sig.parameters.values())
    # The NPU op's parameters, plus out= (keyword-only, last).
    assert [p.name for p in params] == ["x", "scale", "group_index", "offset", "dst_dtype", "out"]
    assert [p.kind for p in params[3:]] == [inspect.Parameter.KEYWORD_ONLY] * 3
    assert params[3].default is None and params[4].default is None and params[5].default is None
    schema = str(op.default._schema)
    assert schema == (
        "groupquant::npu_group_quant(Tensor x, Tensor scale, Tensor group_index, *, "
        "Tensor? offset=None, ScalarType? dst_dtype=None) -> Tensor"
    )


def test_offset_and_dst_dtype_are_keyword_only():
    inputs = make_inputs(4, 8, [4], seed=0)
    with pytest.raises(TypeError):
        groupquant.npu_group_quant(
            inputs["x"], inputs["scale"], inputs["group_index"], inputs["offset"]
        )


def test_docstring_example_runs():
    doc = groupquant.npu_group_quant.__doc__
    assert "round_half_even" in doc and "quint4x2" in doc
    failures, attempted = doctest.testmod(groupquant.ops, verbose=False)[:2]
    assert attempted > 0 and failures == 0


def test_exported_names():
    assert groupquant.__all__ == [
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
    # The registered schema is the NPU operator's signature, argument for argument.
    assert str(torch.ops.groupquant.npu_group_quant.default._schema) == (
        "groupquant::npu_group_quant(Tensor x, Tensor scale, Tensor group_index, *, "
        "Tensor? offset=None, ScalarType? dst_dtype=None) -> Tensor"
    )
