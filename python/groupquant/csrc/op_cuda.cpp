// The CUDA implementation of groupquant::npu_group_quant (schema: op.cpp), over the core's
// CUDA C ABI (include/groupquant/groupquant_cuda.h). Built, with dynamic_quant_cuda.cpp
// (the npu_dynamic_quant ops), as groupquant._C_cuda only when torch has CUDA and nvcc is
// installed.
//
// The output comes from torch's caching allocator (at::empty on x's device) and the
// kernel runs on torch's current stream, so the call is asynchronous, orders with the
// caller's other work and can be captured in a CUDA graph: group_index is never read on
// the host (the kernel checks it and fails with a device-side assertion).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>  // at::cuda::getCurrentCUDAStream is this function
#include <groupquant/groupquant_cuda.h>
#include <torch/library.h>

#include <optional>

#include "python/groupquant/csrc/python_module.h"
#include "python/groupquant/csrc/tensor_view.h"

// `import groupquant._C_cuda` loads this library, which runs the registrations below.
GROUPQUANT_PYTHON_MODULE(_C_cuda, "groupquant CUDA operator")

namespace groupquant::torch_binding {
namespace {

// out: the caller's output, or null for a fresh one. Returns the output.
at::Tensor run(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& group_index,
               const std::optional<at::Tensor>& offset, gq_output_kind kind,
               const at::Tensor* out) {
  TORCH_CHECK(x.is_cuda(), "x must be a CUDA tensor for the CUDA implementation: got x on ",
              x.device());
  const c10::cuda::CUDAGuard device_guard(x.device());
  const OpCall call(x, scale, group_index, offset, kind, out);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
  if (gq_group_quant_cuda(call.x(), call.scale(), call.group_index(), call.offset(), call.kind(),
                          stream, call.y()) != GQ_STATUS_SUCCESS) {
    call.fail();
  }
  return call.output();
}

at::Tensor npu_group_quant_cuda(const at::Tensor& x, const at::Tensor& scale,
                                const at::Tensor& group_index,
                                const std::optional<at::Tensor>& offset,
                                std::optional<at::ScalarType> dst_dtype) {
  check_same_device(x, scale, group_index, offset);
  return run(x, scale, group_index, offset, output_kind(dst_dtype), nullptr);
}

// The overloads of op.cpp's schema: out=, and dst_dtype as the core's integer kind.
at::Tensor& npu_group_quant_out_cuda(const at::Tensor& x, const at::Tensor& scale,
                                     const at::Tensor& group_index,
                                     const std::optional<at::Tensor>& offset,
                                     std::optional<at::ScalarType> dst_dtype, at::Tensor& out) {
  check_same_device(x, scale, group_index, offset, &out);
  run(x, scale, group_index, offset, output_kind(dst_dtype), &out);
  return out;
}

at::Tensor npu_group_quant_kind_cuda(const at::Tensor& x, const at::Tensor& scale,
                                     const at::Tensor& group_index,
                                     const std::optional<at::Tensor>& offset, int64_t kind) {
  check_same_device(x, scale, group_index, offset);
  return run(x, scale, group_index, offset, output_kind(kind), nullptr);
}

void npu_group_quant_kind_into_cuda(const at::Tensor& x, const at::Tensor& scale,
                                    const at::Tensor& group_index,
                                    const std::optional<at::Tensor>& offset, int64_t kind,
                                    at::Tensor& out) {
  check_same_device(x, scale, group_index, offset, &out);
  run(x, scale, group_index, offset, output_kind(kind), &out);
}

}  // namespace
}  // namespace groupquant::torch_binding

TORCH_LIBRARY_IMPL(groupquant, CUDA, m) {
  m.impl("npu_group_quant", &groupquant::torch_binding::npu_group_quant_cuda);
  m.impl("npu_group_quant.out", &groupquant::torch_binding::npu_group_quant_out_cuda);
  m.impl("npu_group_quant.kind", &groupquant::torch_binding::npu_group_quant_kind_cuda);
  m.impl("npu_group_quant.kind_into", &groupquant::torch_binding::npu_group_quant_kind_into_cuda);
}
