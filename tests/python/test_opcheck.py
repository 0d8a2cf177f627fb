"""torch.library.opcheck: schema, fake/real agreement, autograd registration, and AOT
dispatch with dynamic shapes, for every dtype pair and both output kinds."""

import pytest
import torch
from conftest import FLOAT_DTYPES, OUTPUT_KINDS, make_inputs, short

op = torch.ops.groupquant.npu_group_quant.default


def opcheck(inputs: dict, dst_dtype) -> None:
    result = torch.library.opcheck(
        op,
        (inputs["x"], inputs["scale"], inputs["group_index"]),
        {"offset": inputs["offset"], "dst_dtype": dst_dtype},
    )
    assert set(result.values()) == {"SUCCESS"}, result


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
@pytest.mark.parametrize("scale_dtype", FLOAT_DTYPES, ids=short)
@pytest.mark.parametrize("x_dtype", FLOAT_DTYPES, ids=short)
def test_every_dtype_pair(x_dtype, scale_dtype, kind):
    opcheck(
        make_inputs(
            11,
            16,
            [3, 0, 8],
            x_dtype=x_dtype,
            scale_dtype=scale_dtype,
            index_dtype=torch.int32,
            seed=0,
        ),
        kind,
    )


@pytest.mark.parametrize("dst_dtype", [None, torch.int8], ids=short)
@pytest.mark.parametrize("offset", ["none", "0d"])
def test_offset_forms_and_index_dtype(offset, dst_dtype):
    opcheck(make_inputs(9, 24, [4, 5], index_dtype=torch.int64, offset=offset, seed=1), dst_dtype)


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
def test_strided_inputs(kind):
    inputs = make_inputs(10, 16, [6, 4], seed=2)
    inputs["x"] = inputs["x"].t().contiguous().t()
    inputs["scale"] = torch.zeros(2, 32)[:, ::2].copy_(inputs["scale"])
    opcheck(inputs, kind)


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=short)
def test_empty(kind):
    opcheck(make_inputs(0, 16, [0, 0], seed=3), kind)
