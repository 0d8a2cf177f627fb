// The torch operator groupquant::npu_group_quant: the schema (the NPU operator's,
// unchanged) and its CPU implementation over the core's C ABI.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <Python.h>
#include <groupquant/groupquant.h>
#include <torch/library.h>

#include <optional>

#include "python/groupquant/csrc/tensor_view.h"

// `import groupquant._C` loads this library, which runs the registrations below; the
// module itself is empty.
extern "C" PyObject* PyInit__C(void) {
  static PyModuleDef module_def = {PyModuleDef_HEAD_INIT,
                                   "_C",
                                   "groupquant CPU operator",
                                   -1,
                                   nullptr,
                                   nullptr,
                                   nullptr,
                                   nullptr,
                                   nullptr};
  return PyModule_Create(&module_def);
}

namespace groupquant::torch_binding {
namespace {

// The core's work runs on torch's intra-op pool, so torch.set_num_threads applies.
void torch_parallel_for(void* /*runner_ctx*/, int64_t begin, int64_t end, int64_t grain,
                        gq_task_fn fn, void* task_ctx) {
  at::parallel_for(begin, end, grain, [&](int64_t b, int64_t e) { fn(task_ctx, b, e); });
}

at::Tensor npu_group_quant_cpu(const at::Tensor& x, const at::Tensor& scale,
                               const at::Tensor& group_index,
                               const std::optional<at::Tensor>& offset,
                               std::optional<at::ScalarType> dst_dtype) {
  check_same_device(x, scale, group_index, offset);
  TORCH_CHECK(x.is_cpu(), "x must be a CPU tensor for the CPU implementation: got x on ",
              x.device());
  const gq_output_kind kind = output_kind(dst_dtype);
  const at::Tensor* offset_ptr = offset ? &*offset : nullptr;
  const auto fail = [&] {
    raise_core_error(
        {{"x", &x}, {"scale", &scale}, {"group_index", &group_index}, {"offset", offset_ptr}});
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
  gq_options options{};
  options.parallel_for = &torch_parallel_for;
  if (gq_group_quant(x_view.get(), scale_view.get(), group_index_view.get(),
                     offset_view ? offset_view->get() : nullptr, kind, &options,
                     y_view.get()) != GQ_STATUS_SUCCESS) {
    fail();
  }
  return y;
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
