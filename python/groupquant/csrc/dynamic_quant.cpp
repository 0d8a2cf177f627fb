// The torch operators groupquant::npu_dynamic_quant and npu_dynamic_quant_asymmetric: the
// schemas (torch_npu 26.x's, plus our chip) and their CPU implementation over the core's
// C ABI. The core checks every argument and writes the error text; the rules torch alone
// can check, and everything else the CPU and CUDA implementations (dynamic_quant_cuda.cpp)
// share, are in dynamic_quant_call.h.
#include <ATen/ATen.h>
#include <groupquant/groupquant.h>
#include <torch/library.h>

#include <optional>
#include <string>
#include <vector>

#include "python/groupquant/csrc/dynamic_quant_call.h"
#include "python/groupquant/csrc/empty_output.h"
#include "python/groupquant/csrc/tensor_view.h"

namespace groupquant::torch_binding {
namespace {

std::vector<at::Tensor> dynamic_quant_cpu(const at::Tensor& input,
                                          const std::optional<at::Tensor>& smooth_scales,
                                          const std::optional<at::Tensor>& group_index,
                                          std::optional<int64_t> dst_type,
                                          const std::string& quant_mode, double dst_type_max,
                                          const std::string& chip, bool asymmetric) {
  const gq_dynamic_quant_config config = dynamic_quant_rules(
      input, smooth_scales, group_index, dst_type, quant_mode, dst_type_max, chip, asymmetric);
  TORCH_CHECK(input.is_cpu(),
              "input must be a CPU tensor for the CPU implementation: got input on ",
              input.device());
  // Fresh outputs as npu_group_quant's (empty_output.h): huge pages advised for big ones.
  const DynamicQuantCall call(input, smooth_scales, group_index, config, &empty_cpu_output);
  gq_options run{};
  run.parallel_for = &torch_parallel_for;
  if (gq_dynamic_quant(call.input(), call.smooth_scales(), call.group_index(), call.config(), &run,
                       call.y(), call.scale(), call.offset()) != GQ_STATUS_SUCCESS) {
    call.fail();
  }
  return call.outputs();
}

}  // namespace
}  // namespace groupquant::torch_binding

// A fragment: op.cpp's TORCH_LIBRARY(groupquant, m) owns the namespace.
TORCH_LIBRARY_FRAGMENT(groupquant, m) {
  m.def(
      "npu_dynamic_quant(Tensor input, *, Tensor? smooth_scales=None, Tensor? group_index=None, "
      "int? dst_type=None, str quant_mode=\"pertoken\", float dst_type_max=0.0, "
      "str chip=\"a2\") -> (Tensor, Tensor)");
  m.def(
      "npu_dynamic_quant_asymmetric(Tensor input, *, Tensor? smooth_scales=None, "
      "Tensor? group_index=None, int? dst_type=None, str quant_mode=\"pertoken\", "
      "float dst_type_max=0.0, str chip=\"a2\") -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(groupquant, CPU, m) {
  using namespace groupquant::torch_binding;
  m.impl("npu_dynamic_quant", &npu_dynamic_quant_op<dynamic_quant_cpu>);
  m.impl("npu_dynamic_quant_asymmetric", &npu_dynamic_quant_asymmetric_op<dynamic_quant_cpu>);
}
