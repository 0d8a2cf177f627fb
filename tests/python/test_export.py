"""Deployment paths: torch.export (save and load) and AOTInductor, for every dst_dtype,
with a dynamic M, bit-exact against eager. The public wrapper turns dst_dtype into the
core's integer output kind before tracing, so no saved graph carries qint8 or quint4x2
(neither serializes)."""

import os

import groupquant
import pytest
import torch
from conftest import DST_DTYPES, make_inputs, short


class Quantize(torch.nn.Module):
    """The NPU docs' graph-mode network, for one dst_dtype."""

    def __init__(self, dst_dtype):
        super().__init__()
        self.dst_dtype = dst_dtype

    def forward(self, x, scale, group_index, offset):
        return groupquant.npu_group_quant(
            x, scale, group_index, offset=offset, dst_dtype=self.dst_dtype
        )


class AllKinds(torch.nn.Module):
    """Every dst_dtype in one graph (one AOTInductor compile for all of them)."""

    def forward(self, x, scale, group_index, offset):
        return tuple(
            groupquant.npu_group_quant(x, scale, group_index, offset=offset, dst_dtype=d)
            for d in DST_DTYPES
        )


def args(m, seed):
    inputs = make_inputs(m, 32, g=4, x_dtype=torch.bfloat16, scale_dtype=torch.float16, seed=seed)
    return (inputs["x"], inputs["scale"], inputs["group_index"], inputs["offset"])


DYNAMIC_M = {
    "x": {0: torch.export.Dim("m", min=2)},
    "scale": None,
    "group_index": None,
    "offset": None,
}
# M values the traced graph must serve (traced with 9; min=2 since 0 and 1 specialize).
CHECK_M = (2, 9, 33, 130)


def eager(dst_dtype, a):
    return groupquant.npu_group_quant(a[0], a[1], a[2], offset=a[3], dst_dtype=dst_dtype)


@pytest.mark.parametrize("dst_dtype", DST_DTYPES, ids=short)
def test_export_save_load(dst_dtype, tmp_path):
    ep = torch.export.export(Quantize(dst_dtype), args(9, 0), dynamic_shapes=DYNAMIC_M)
    targets = {n.target for n in ep.graph.nodes if n.op == "call_function"}
    assert torch.ops.groupquant.npu_group_quant.kind in targets
    path = os.path.join(tmp_path, "quantize.pt2")
    torch.export.save(ep, path)
    loaded = torch.export.load(path).module()
    for m in CHECK_M:
        a = args(m, m)
        assert torch.equal(loaded(*a), eager(dst_dtype, a)), m


@pytest.mark.aoti  # one AOTInductor build (about a minute on 2 cores); -m "not aoti" skips it
def test_aoti_compile_and_package(tmp_path):
    ep = torch.export.export(AllKinds(), args(9, 0), dynamic_shapes=DYNAMIC_M)
    package = torch._inductor.aoti_compile_and_package(
        ep, package_path=os.path.join(tmp_path, "all_kinds.pt2")
    )
    runner = torch._inductor.aoti_load_package(package)
    for m in CHECK_M:
        a = args(m, 100 + m)
        got = runner(*a)
        assert len(got) == len(DST_DTYPES)
        for d, g in zip(DST_DTYPES, got):
            want = eager(d, a)
            assert g.dtype == want.dtype and torch.equal(g, want), (m, d)
