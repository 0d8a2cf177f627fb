"""The example from the torch_npu.npu_group_quant docs, on the CPU operator.

Runs it once as a single op (eager) and once inside
torch.compile(model, fullgraph=True, dynamic=True), prints the inputs and the int8
result, and checks both against the numpy oracle (tests/python/reference.py).
Exits non-zero on a mismatch. Run with `make demo`.
"""

import os
import sys

import groupquant
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))  # the numpy oracle
from reference import npu_group_quant_ref  # noqa: E402


class Network(torch.nn.Module):
    """The docs' graph-mode model, with the import as the only change."""

    def forward(self, x, scale, group_index, offset, dst_type):
        return groupquant.npu_group_quant(x, scale, group_index, offset=offset, dst_dtype=dst_type)


def main() -> int:
    torch.manual_seed(0)
    # From the docs (minus .npu()): 6 rows in groups [0,1) [1,4) [4,6) and an empty 4th.
    x = torch.randn(6, 4).to(torch.float16)
    scale = torch.randn(4, 4).to(torch.float32)
    group_index = torch.tensor([1, 4, 6, 6], dtype=torch.int32)
    offset = torch.randn(1).to(torch.float32)
    dst_dtype = torch.qint8

    torch.set_printoptions(precision=4, sci_mode=False)
    print(f"torch {torch.__version__}, groupquant {groupquant.__version__}")
    print(f"x (float16):\n{x}")
    print(f"scale (float32):\n{scale}")
    print(f"group_index (int32): {group_index}")
    print(f"offset (float32): {offset}")
    print(f"dst_dtype: {dst_dtype}\n")

    expected = npu_group_quant_ref(x, scale, group_index, offset, dst_dtype)

    y = groupquant.npu_group_quant(x, scale, group_index, offset=offset, dst_dtype=dst_dtype)
    print(f"single-op mode:\n{y}")

    model = torch.compile(Network(), fullgraph=True, dynamic=True)
    y_graph = model(x, scale, group_index, offset=offset, dst_type=dst_dtype)
    print(f"graph mode (torch.compile, fullgraph=True, dynamic=True):\n{y_graph}\n")

    ok = True
    for name, got in (("single-op", y), ("graph", y_graph)):
        match = got.dtype == expected.dtype and torch.equal(got, expected)
        ok &= match
        print(f"{name} mode {'matches' if match else 'DOES NOT match'} the reference")
    if not ok:
        print(f"expected:\n{expected}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
