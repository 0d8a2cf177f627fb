// The torch operators groupquant::npu_dynamic_quant and npu_dynamic_quant_asymmetric: the
// schemas (torch_npu 26.x's, plus our chip) and their CPU implementation over the core's
// C ABI. The core checks every argument and writes the error text; this file adds only the
// rules torch alone can check (devices, and the dst_type, quant_mode, dst_type_max and chip
// arguments, which have no place in the core's config). python/groupquant/dynamic_quant.py
// holds the fakes, which word these rules the same.
#include <ATen/ATen.h>
#include <groupquant/groupquant.h>
#include <torch/library.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "python/groupquant/csrc/empty_output.h"
#include "python/groupquant/csrc/tensor_view.h"

namespace groupquant::torch_binding {
namespace {

// dst_type is a c10::ScalarType code (torch_npu 26.x, SPEC-dynamic-quant.md §1.2), or
// torch_npu's own 291/292 for the fp8 dtypes.
static_assert(static_cast<int>(at::kChar) == 1 && static_cast<int>(at::kQUInt4x2) == 16 &&
              static_cast<int>(at::kFloat8_e5m2) == 23 &&
              static_cast<int>(at::kFloat8_e4m3fn) == 24);

gq_output_kind dynamic_output_kind(std::optional<int64_t> dst_type) {
  switch (dst_type.value_or(1)) {
    case 1:
      return GQ_OUTPUT_INT8;
    case 16:
      return GQ_OUTPUT_INT4_PACKED;
    case 23:
    case 291:
      return GQ_OUTPUT_FLOAT8_E5M2;
    case 24:
    case 292:
      return GQ_OUTPUT_FLOAT8_E4M3FN;
    default:
      TORCH_CHECK(false,
                  "dst_type must be None, torch.int8, torch.quint4x2, torch.float8_e4m3fn or "
                  "torch.float8_e5m2, or one of the codes 1 (int8), 16 (quint4x2), 23 or 291 "
                  "(float8_e5m2), 24 or 292 (float8_e4m3fn): got ",
                  *dst_type);
  }
}

gq_chip parse_chip(const std::string& chip) {
  if (chip == "a2") return GQ_CHIP_A2;
  if (chip == "950") return GQ_CHIP_950;
  TORCH_CHECK(false, "chip must be \"a2\" or \"950\": got \"", chip, "\"");
}

// The torch-only rules, in the fakes' order: devices, dst_type, quant_mode, dst_type_max,
// chip. Returns the core's config.
gq_dynamic_quant_config torch_rules(const at::Tensor& input,
                                    const std::optional<at::Tensor>& smooth_scales,
                                    const std::optional<at::Tensor>& group_index,
                                    std::optional<int64_t> dst_type, const std::string& quant_mode,
                                    double dst_type_max, const std::string& chip, bool asymmetric) {
  for (const auto& [name, t] :
       {std::pair{"smooth_scales", &smooth_scales}, std::pair{"group_index", &group_index}}) {
    TORCH_CHECK(!t->has_value() || (*t)->device() == input.device(), name,
                " must be on the same device as input: got ", name, " on ", (*t)->device(),
                " and input on ", input.device());
  }
  gq_dynamic_quant_config config{};
  config.kind = dynamic_output_kind(dst_type);
  TORCH_CHECK(quant_mode == "pertoken", "quant_mode must be \"pertoken\": got \"", quant_mode,
              "\"");
  TORCH_CHECK(dst_type_max == 0.0, "dst_type_max must be 0 (hifloat8 only): got ", dst_type_max);
  config.chip = parse_chip(chip);
  config.asymmetric = asymmetric ? 1 : 0;
  return config;
}

// Both ops: y and scale (and offset when asymmetric) allocated to the core's spec, then the
// core's call. Returns {y, scale, offset}; offset is undefined for the symmetric op.
std::vector<at::Tensor> dynamic_quant_cpu(const at::Tensor& input,
                                          const std::optional<at::Tensor>& smooth_scales,
                                          const std::optional<at::Tensor>& group_index,
                                          std::optional<int64_t> dst_type,
                                          const std::string& quant_mode, double dst_type_max,
                                          const std::string& chip, bool asymmetric) {
  const gq_dynamic_quant_config config = torch_rules(input, smooth_scales, group_index, dst_type,
                                                     quant_mode, dst_type_max, chip, asymmetric);
  TORCH_CHECK(input.is_cpu(),
              "input must be a CPU tensor for the CPU implementation: got input on ",
              input.device());
  const TensorView x(input);
  std::optional<TensorView> smooth, groups;
  if (smooth_scales) smooth.emplace(*smooth_scales);
  if (group_index) groups.emplace(*group_index);
  auto fail = [&]() {
    raise_core_error({{"input", &x.tensor()},
                      {"smooth_scales", smooth ? &smooth->tensor() : nullptr},
                      {"group_index", groups ? &groups->tensor() : nullptr}});
  };

  gq_dtype y_dtype = GQ_DTYPE_INT8;
  int32_t y_ndim = 0;
  int64_t y_shape[8] = {};
  if (gq_dynamic_quant_output_spec(x.get(), &config, &y_dtype, &y_ndim, y_shape) !=
      GQ_STATUS_SUCCESS) {
    fail();
  }
  // Fresh outputs as npu_group_quant's (empty_output.h): huge pages advised for big ones.
  const auto options = input.options();
  const TensorView y(
      empty_cpu_output(at::IntArrayRef(y_shape, y_ndim), options.dtype(to_torch_dtype(y_dtype))),
      TensorView::kWrite);
  const auto lead = input.sizes().slice(0, input.dim() - 1);  // the spec checked rank >= 2
  const TensorView scale(empty_cpu_output(lead, options.dtype(at::kFloat)), TensorView::kWrite);
  std::optional<TensorView> offset;
  if (asymmetric) {
    offset.emplace(empty_cpu_output(lead, options.dtype(at::kFloat)), TensorView::kWrite);
  }

  gq_options run{};
  run.parallel_for = &torch_parallel_for;
  if (gq_dynamic_quant(x.get(), smooth ? smooth->get() : nullptr, groups ? groups->get() : nullptr,
                       &config, &run, y.get(), scale.get(),
                       offset ? offset->get() : nullptr) != GQ_STATUS_SUCCESS) {
    fail();
  }
  return {y.tensor(), scale.tensor(), offset ? offset->tensor() : at::Tensor()};
}

std::tuple<at::Tensor, at::Tensor> npu_dynamic_quant_cpu(
    const at::Tensor& input, const std::optional<at::Tensor>& smooth_scales,
    const std::optional<at::Tensor>& group_index, std::optional<int64_t> dst_type,
    c10::string_view quant_mode, double dst_type_max, c10::string_view chip) {
  auto out = dynamic_quant_cpu(input, smooth_scales, group_index, dst_type, std::string(quant_mode),
                               dst_type_max, std::string(chip), false);
  return {out[0], out[1]};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> npu_dynamic_quant_asymmetric_cpu(
    const at::Tensor& input, const std::optional<at::Tensor>& smooth_scales,
    const std::optional<at::Tensor>& group_index, std::optional<int64_t> dst_type,
    c10::string_view quant_mode, double dst_type_max, c10::string_view chip) {
  auto out = dynamic_quant_cpu(input, smooth_scales, group_index, dst_type, std::string(quant_mode),
                               dst_type_max, std::string(chip), true);
  return {out[0], out[1], out[2]};
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
  m.impl("npu_dynamic_quant", &groupquant::torch_binding::npu_dynamic_quant_cpu);
  m.impl("npu_dynamic_quant_asymmetric",
         &groupquant::torch_binding::npu_dynamic_quant_asymmetric_cpu);
}
