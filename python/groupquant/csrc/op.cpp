// The torch operator groupquant::npu_group_quant: the schema (the NPU operator's,
// unchanged) and its CPU implementation over the core's C ABI.
#include <ATen/ATen.h>
#include <groupquant/groupquant.h>
#include <torch/library.h>

#include <optional>

#include "python/groupquant/csrc/python_module.h"
#include "python/groupquant/csrc/tensor_view.h"

// `import groupquant._C` loads this library, which runs the registrations below.
GROUPQUANT_PYTHON_MODULE(_C, "groupquant CPU operator")

namespace groupquant::torch_binding {
namespace {

at::Tensor npu_group_quant_cpu(const at::Tensor& x, const at::Tensor& scale,
                               const at::Tensor& group_index,
                               const std::optional<at::Tensor>& offset,
                               std::optional<at::ScalarType> dst_dtype) {
  check_same_device(x, scale, group_index, offset);
  TORCH_CHECK(x.is_cpu(), "x must be a CPU tensor for the CPU implementation: got x on ",
              x.device());
  const OpCall call(x, scale, group_index, offset, dst_dtype);
  gq_options options{};
  options.parallel_for = &torch_parallel_for;
  if (gq_group_quant(call.x(), call.scale(), call.group_index(), call.offset(), call.kind(),
                     &options, call.y()) != GQ_STATUS_SUCCESS) {
    call.fail();
  }
  return call.output();
}

}  // namespace
}  // namespace groupquant::torch_binding

TORCH_LIBRARY(groupquant, m) {
  m.def(
      "npu_group_quant(Tensor x, Tensor scale, Tensor group_index, *, Tensor? offset=None, "
      "ScalarType? dst_dtype=None) -> Tensor");
}

TORCH_LIBRARY_IMPL(groupquant, CPU, m) {
  m.impl("npu_group_quant", &groupquant::torch_binding::npu_group_quant_cpu);
}
