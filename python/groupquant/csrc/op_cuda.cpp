// The CUDA implementation of groupquant::npu_group_quant (schema: op.cpp), over the core's
// CUDA C ABI (include/groupquant/groupquant_cuda.h). Built as groupquant._C_cuda only
// when torch has CUDA and nvcc is installed.
//
// The output comes from torch's caching allocator (at::empty on x's device) and the
// kernel runs on torch's current stream, so the call is asynchronous, orders with the
// caller's other work and can be captured in a CUDA graph: group_index is never read on
// the host (the kernel checks it and fails with a device-side assertion).
#include <ATen/ATen.h>
#include <Python.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>  // at::cuda::getCurrentCUDAStream is this function
#include <groupquant/groupquant_cuda.h>
#include <torch/library.h>

#include <optional>

#include "python/groupquant/csrc/tensor_view.h"

// `import groupquant._C_cuda` loads this library, which runs the registration below.
extern "C" PyObject* PyInit__C_cuda(void) {
  static PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C_cuda", "groupquant CUDA operator",
                                   -1, nullptr, nullptr, nullptr, nullptr, nullptr};
  return PyModule_Create(&module_def);
}

namespace groupquant::torch_binding {
namespace {

at::Tensor npu_group_quant_cuda(const at::Tensor& x, const at::Tensor& scale,
                                const at::Tensor& group_index,
                                const std::optional<at::Tensor>& offset,
                                std::optional<at::ScalarType> dst_dtype) {
  check_same_device(x, scale, group_index, offset);
  TORCH_CHECK(x.is_cuda(), "x must be a CUDA tensor for the CUDA implementation: got x on ",
              x.device());
  const c10::cuda::CUDAGuard device_guard(x.device());
  const gq_output_kind kind = output_kind(dst_dtype);
  const at::Tensor* offset_ptr = offset ? &*offset : nullptr;
  const auto fail = [&] {
    raise_core_error({{"x", &x}, {"scale", &scale}, {"group_index", &group_index},
                      {"offset", offset_ptr}});
  };

  const TensorView x_view(x);
  gq_dtype y_dtype = GQ_DTYPE_INT8;
  int64_t y_shape[2] = {0, 0};
  if (gq_output_spec(x_view.get(), kind, &y_dtype, y_shape) != GQ_STATUS_SUCCESS) fail();
  at::Tensor y = at::empty({y_shape[0], y_shape[1]},
                           x.options().dtype(y_dtype == GQ_DTYPE_INT32 ? at::kInt : at::kChar));

  const TensorView scale_view(scale), group_index_view(group_index), y_view(y, TensorView::kWrite);
  std::optional<TensorView> offset_view;
  if (offset) offset_view.emplace(*offset);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
  if (gq_group_quant_cuda(x_view.get(), scale_view.get(), group_index_view.get(),
                          offset_view ? offset_view->get() : nullptr, kind, stream,
                          y_view.get()) != GQ_STATUS_SUCCESS) {
    fail();
  }
  return y;
}

}  // namespace
}  // namespace groupquant::torch_binding

TORCH_LIBRARY_IMPL(groupquant, CUDA, m) {
  m.impl("npu_group_quant", &groupquant::torch_binding::npu_group_quant_cuda);
}
