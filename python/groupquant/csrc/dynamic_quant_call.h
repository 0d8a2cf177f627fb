// What the CPU and the CUDA implementations of groupquant::npu_dynamic_quant(_asymmetric)
// share: the torch-only rules (devices, dst_type, quant_mode, dst_type_max, chip; the core's
// config has no place for them), the outputs allocated to the core's spec through torch's
// allocator on input's device, the core's views of every tensor, and the two ops' wrappers.
// Each backend adds only its device check, its device guard and the core call.
// python/groupquant/dynamic_quant.py holds the fakes, which word these rules the same.
#ifndef GROUPQUANT_PYTHON_CSRC_DYNAMIC_QUANT_CALL_H_
#define GROUPQUANT_PYTHON_CSRC_DYNAMIC_QUANT_CALL_H_

#include <ATen/ATen.h>
#include <groupquant/groupquant.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "python/groupquant/csrc/tensor_view.h"

namespace groupquant::torch_binding {

// dst_type is a c10::ScalarType code (torch_npu 26.x, SPEC-dynamic-quant.md §1.2), or
// torch_npu's own 291/292 for the fp8 dtypes.
static_assert(static_cast<int>(at::kChar) == 1 && static_cast<int>(at::kQUInt4x2) == 16 &&
              static_cast<int>(at::kFloat8_e5m2) == 23 &&
              static_cast<int>(at::kFloat8_e4m3fn) == 24);

inline gq_output_kind dynamic_output_kind(std::optional<int64_t> dst_type) {
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

inline gq_chip parse_chip(const std::string& chip) {
  if (chip == "a2") return GQ_CHIP_A2;
  if (chip == "950") return GQ_CHIP_950;
  TORCH_CHECK(false, "chip must be \"a2\" or \"950\": got \"", chip, "\"");
}

// The torch-only rules, in the fakes' order: devices, dst_type, quant_mode, dst_type_max,
// chip. Returns the core's config.
inline gq_dynamic_quant_config dynamic_quant_rules(
    const at::Tensor& input, const std::optional<at::Tensor>& smooth_scales,
    const std::optional<at::Tensor>& group_index, std::optional<int64_t> dst_type,
    const std::string& quant_mode, double dst_type_max, const std::string& chip, bool asymmetric) {
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

// One call once the rules and the device are checked (on CUDA, under input's device
// guard): the core's views of the inputs, and y, scale (and offset when asymmetric)
// allocated to the core's output spec with input's options by `allocate` (by default
// at::empty: on input's device through torch's (caching) allocator). fail() raises the core's last
// error.
class DynamicQuantCall {
 public:
  DynamicQuantCall(const at::Tensor& input, const std::optional<at::Tensor>& smooth_scales,
                   const std::optional<at::Tensor>& group_index,
                   const gq_dynamic_quant_config& config, AllocateOutput allocate = &empty_output)
      : config_(config), x_(input) {
    if (smooth_scales) smooth_.emplace(*smooth_scales);
    if (group_index) groups_.emplace(*group_index);
    gq_dtype y_dtype = GQ_DTYPE_INT8;
    int32_t y_ndim = 0;
    int64_t y_shape[8] = {};
    if (gq_dynamic_quant_output_spec(x_.get(), &config_, &y_dtype, &y_ndim, y_shape) !=
        GQ_STATUS_SUCCESS) {
      fail();
    }
    const auto options = input.options();
    y_.emplace(allocate(at::IntArrayRef(y_shape, y_ndim), options.dtype(to_torch_dtype(y_dtype))),
               TensorView::kWrite);
    const auto lead = input.sizes().slice(0, input.dim() - 1);  // the spec checked rank >= 2
    scale_.emplace(allocate(lead, options.dtype(at::kFloat)), TensorView::kWrite);
    if (config_.asymmetric) {
      offset_.emplace(allocate(lead, options.dtype(at::kFloat)), TensorView::kWrite);
    }
  }

  const gq_dynamic_quant_config* config() const { return &config_; }
  const gq_tensor* input() const { return x_.get(); }
  const gq_tensor* smooth_scales() const { return smooth_ ? smooth_->get() : nullptr; }
  const gq_tensor* group_index() const { return groups_ ? groups_->get() : nullptr; }
  const gq_tensor* y() const { return y_->get(); }
  const gq_tensor* scale() const { return scale_->get(); }
  const gq_tensor* offset() const { return offset_ ? offset_->get() : nullptr; }
  // {y, scale, offset}; offset is undefined for the symmetric op.
  std::vector<at::Tensor> outputs() const {
    return {y_->tensor(), scale_->tensor(), offset_ ? offset_->tensor() : at::Tensor()};
  }

  [[noreturn]] void fail() const {
    raise_core_error({{"input", &x_.tensor()},
                      {"smooth_scales", smooth_ ? &smooth_->tensor() : nullptr},
                      {"group_index", groups_ ? &groups_->tensor() : nullptr}});
  }

 private:
  gq_dynamic_quant_config config_;
  TensorView x_;
  std::optional<TensorView> smooth_, groups_, y_, scale_, offset_;
};

// A backend's implementation of both ops: (the op's arguments, asymmetric) -> outputs().
using DynamicQuantImpl = std::vector<at::Tensor> (*)(
    const at::Tensor& input, const std::optional<at::Tensor>& smooth_scales,
    const std::optional<at::Tensor>& group_index, std::optional<int64_t> dst_type,
    const std::string& quant_mode, double dst_type_max, const std::string& chip, bool asymmetric);

// The two ops' kernels for a backend, in the schema's types (registered with m.impl).
template <DynamicQuantImpl impl>
std::tuple<at::Tensor, at::Tensor> npu_dynamic_quant_op(
    const at::Tensor& input, const std::optional<at::Tensor>& smooth_scales,
    const std::optional<at::Tensor>& group_index, std::optional<int64_t> dst_type,
    c10::string_view quant_mode, double dst_type_max, c10::string_view chip) {
  auto out = impl(input, smooth_scales, group_index, dst_type, std::string(quant_mode),
                  dst_type_max, std::string(chip), false);
  return {out[0], out[1]};
}

template <DynamicQuantImpl impl>
std::tuple<at::Tensor, at::Tensor, at::Tensor> npu_dynamic_quant_asymmetric_op(
    const at::Tensor& input, const std::optional<at::Tensor>& smooth_scales,
    const std::optional<at::Tensor>& group_index, std::optional<int64_t> dst_type,
    c10::string_view quant_mode, double dst_type_max, c10::string_view chip) {
  auto out = impl(input, smooth_scales, group_index, dst_type, std::string(quant_mode),
                  dst_type_max, std::string(chip), true);
  return {out[0], out[1], out[2]};
}

}  // namespace groupquant::torch_binding

#endif  // GROUPQUANT_PYTHON_CSRC_DYNAMIC_QUANT_CALL_H_
