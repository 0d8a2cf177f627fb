"""Graph mode: torch.compile(fullgraph=True, dynamic=True) traces the op without a graph
break, and the compiled code gives the eager bits while M (and N) change between calls.

Compiling is slow (inductor writes and builds C++), so each backend compiles one
function that returns both output kinds and is reused by every call below.
"""

import groupquant
import pytest
import torch
import torch._dynamo.testing
from conftest import make_inputs

from reference import npu_group_quant_ref

BACKENDS = ["inductor", "aot_eager"]


def both_kinds(x, scale, group_index, offset):
    # A little work around the op, so the backend has to schedule ops on both sides.
    x = x * 1.0
    y8 = groupquant.npu_group_quant(x, scale, group_index, offset=offset, dst_dtype=torch.qint8)
    y4 = groupquant.npu_group_quant(x, scale, group_index, offset=offset, dst_dtype=torch.quint4x2)
    return y8, y4, y8.to(torch.int32).sum(dim=1)


@pytest.fixture(scope="module", params=BACKENDS)
def compiled(request):
    """(compiled function, compile counter) per backend, shared by this module's tests."""
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounterWithBackend(request.param)
    fn = torch.compile(both_kinds, backend=counter, fullgraph=True, dynamic=True)
    yield fn, counter
    torch._dynamo.reset()


def expected(inputs):
    args = (inputs["x"], inputs["scale"], inputs["group_index"], inputs["offset"])
    y8 = npu_group_quant_ref(*args, torch.qint8)
    return y8, npu_group_quant_ref(*args, torch.quint4x2), y8.to(torch.int32).sum(dim=1)


def test_m_changes_without_recompiling(compiled):
    fn, counter = compiled
    for i, (m, sizes) in enumerate(
        [
            (6, [1, 3, 2, 0]),
            (19, [0, 10, 9, 0]),
            (64, [16] * 4),
            (3, [3, 0, 0, 0]),
            (33, [8, 8, 8, 9]),
        ]
    ):
        inputs = make_inputs(m, 16, sizes, x_dtype=torch.float16, seed=i)
        got = fn(**inputs)
        for g, e in zip(got, expected(inputs)):
            assert g.dtype == e.dtype and torch.equal(g, e)
    # One graph for every M (dynamic=True): the first call compiles, later ones reuse it.
    assert counter.frame_count == 1


def test_n_and_g_change_too(compiled):
    fn, counter = compiled
    frames = counter.frame_count
    for i, (m, n, g) in enumerate([(10, 24, 3), (40, 64, 7), (7, 16, 2)]):
        inputs = make_inputs(m, n, g=g, x_dtype=torch.float16, seed=10 + i)
        got = fn(**inputs)
        for a, e in zip(got, expected(inputs)):
            assert torch.equal(a, e)
    # Same dtypes, and no size (or N/8) of 0 or 1, which dynamo specializes: one graph.
    assert counter.frame_count == max(frames, 1)


def test_invalid_values_raise_at_run_time(compiled):
    # group_index values cannot be checked while tracing; the kernel checks them when
    # the compiled graph runs, with the same error as in eager mode.
    fn, _ = compiled
    inputs = make_inputs(6, 16, [1, 3, 2, 0], seed=0)
    inputs["group_index"] = torch.tensor([1, 4, 3, 6])
    with pytest.raises(RuntimeError, match="group_index must be non-decreasing"):
        fn(**inputs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_docs_graph_mode_example(backend):
    # The torch_npu docs' graph-mode Network, dst_dtype passed as a forward argument.
    class Network(torch.nn.Module):
        def forward(self, x, scale, group_index, offset, dst_type):
            return groupquant.npu_group_quant(
                x, scale, group_index, offset=offset, dst_dtype=dst_type
            )

    torch._dynamo.reset()
    model = torch.compile(Network(), backend=backend, fullgraph=True, dynamic=True)
    torch.manual_seed(0)
    x = torch.randn(6, 4).to(torch.float16)
    scale = torch.randn(4, 4).to(torch.float32)
    group_index = torch.tensor([1, 4, 6, 6], dtype=torch.int32)
    offset = torch.randn(1).to(torch.float32)
    y = model(x, scale, group_index, offset=offset, dst_type=torch.qint8)
    assert torch.equal(y, npu_group_quant_ref(x, scale, group_index, offset, torch.qint8))
    if backend == "aot_eager":  # cheap enough to recompile for the other output kind
        x8 = torch.randn(5, 8)
        scale8 = torch.randn(2, 8)
        gi = torch.tensor([2, 5], dtype=torch.int32)
        offset8 = torch.randn(1)
        y4 = model(x8, scale8, gi, offset=offset8, dst_type=torch.quint4x2)
        assert torch.equal(y4, npu_group_quant_ref(x8, scale8, gi, offset8, torch.quint4x2))
    torch._dynamo.reset()


def test_fake_output_is_symbolic():
    # Tracing with symbolic sizes gives symbolic output sizes: M for int8, M and N/8 for int4.
    from torch.fx.experimental.proxy_tensor import make_fx

    def f(x, scale, gi):
        return (
            groupquant.npu_group_quant(x, scale, gi),
            groupquant.npu_group_quant(x, scale, gi, dst_dtype=torch.quint4x2),
        )

    inputs = make_inputs(12, 16, [5, 7], offset="none", seed=1)
    gm = make_fx(f, tracing_mode="symbolic")(inputs["x"], inputs["scale"], inputs["group_index"])
    # The wrapper calls the integer-kind overload (no quantized dtype in the graph).
    outs = [
        n
        for n in gm.graph.nodes
        if n.op == "call_function" and n.target is torch.ops.groupquant.npu_group_quant.kind
    ]
    assert len(outs) == 2
    y8, y4 = (n.meta["val"] for n in outs)
    assert y8.dtype == torch.int8 and y4.dtype == torch.int32
    assert isinstance(y8.shape[0], torch.SymInt) and isinstance(y8.shape[1], torch.SymInt)
    assert str(y4.shape[1]) != str(y8.shape[1])  # N // 8, not N
