// The CUDA implementation of groupquant::npu_dynamic_quant and npu_dynamic_quant_asymmetric
// (schemas: dynamic_quant.cpp), over the core's CUDA C ABI (gq_dynamic_quant_cuda). Part of
// groupquant._C_cuda, with op_cuda.cpp.
//
// As for npu_group_quant: the outputs come from torch's caching allocator on input's device,
// the kernel runs on that device's current stream, and group_index values are checked by
// the kernel (a device-side assertion), never read on the host, so the call does not
// synchronise and can be captured in a CUDA graph.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <groupquant/groupquant_cuda.h>
#include <torch/library.h>

#include <optional>
#include <string>
#include <vector>

#include "python/groupquant/csrc/dynamic_quant_call.h"

namespace groupquant::torch_binding {
namespace {

std::vector<at::Tensor> dynamic_quant_cuda(const at::Tensor& input,
                                           const std::optional<at::Tensor>& smooth_scales,
                                           const std::optional<at::Tensor>& group_index,
                                           std::optional<int64_t> dst_type,
                                           const std::string& quant_mode, double dst_type_max,
                                           const std::string& chip, bool asymmetric) {
  const gq_dynamic_quant_config config = dynamic_quant_rules(
      input, smooth_scales, group_index, dst_type, quant_mode, dst_type_max, chip, asymmetric);
  TORCH_CHECK(input.is_cuda(),
              "input must be a CUDA tensor for the CUDA implementation: got input on ",
              input.device());
  // Before any allocation or copy (a lazily negated input is resolved on the device).
  const c10::cuda::CUDAGuard device_guard(input.device());
  const DynamicQuantCall call(input, smooth_scales, group_index, config);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(input.device().index()).stream();
  if (gq_dynamic_quant_cuda(call.input(), call.smooth_scales(), call.group_index(), call.config(),
                            stream, call.y(), call.scale(), call.offset()) != GQ_STATUS_SUCCESS) {
    call.fail();
  }
  return call.outputs();
}

}  // namespace
}  // namespace groupquant::torch_binding

TORCH_LIBRARY_IMPL(groupquant, CUDA, m) {
  using namespace groupquant::torch_binding;
  m.impl("npu_dynamic_quant", &npu_dynamic_quant_op<dynamic_quant_cuda>);
  m.impl("npu_dynamic_quant_asymmetric", &npu_dynamic_quant_asymmetric_op<dynamic_quant_cuda>);
}
