// The entry points: validate, then run. The C functions are shims that turn the C++
// exceptions into a gq_status and a thread-local message.
#include <groupquant/groupquant.h>

#include <groupquant/groupquant.hpp>
#include <new>
#include <string>

#include "src/cpu/driver.h"
#include "src/cpu/isa.h"
#include "src/reference/dynamic_quant_ref.h"
#include "src/reference/group_quant_ref.h"
#include "src/status.h"
#include "src/validate.h"

namespace groupquant {

OutputSpec output_spec(const gq_tensor& x, gq_output_kind kind) {
  return detail::validate_output_spec(&x, kind);
}

void group_quant(const gq_tensor& x, const gq_tensor& scale, const gq_tensor& group_index,
                 const gq_tensor* offset, gq_output_kind kind, const gq_tensor& y,
                 const gq_options& options) {
  const detail::Problem p = detail::validate_arguments({&x, &scale, &group_index, offset, kind, &y},
                                                       detail::GroupIndexCheck::kOnHost);
  detail::run_cpu(p, options);
}

void group_quant_reference(const gq_tensor& x, const gq_tensor& scale, const gq_tensor& group_index,
                           const gq_tensor* offset, gq_output_kind kind, const gq_tensor& y) {
  detail::group_quant_ref(detail::validate_arguments({&x, &scale, &group_index, offset, kind, &y},
                                                     detail::GroupIndexCheck::kOnHost));
}

DynamicOutputSpec dynamic_quant_output_spec(const gq_tensor& x,
                                            const gq_dynamic_quant_config& config) {
  return detail::validate_dynamic_output_spec(&x, &config);
}

void dynamic_quant(const gq_tensor& x, const gq_tensor* smooth_scales, const gq_tensor* group_index,
                   const gq_dynamic_quant_config& config, const gq_tensor& y,
                   const gq_tensor& scale, const gq_tensor* offset, const gq_options& options) {
  detail::run_dynamic_cpu(detail::validate_dynamic_arguments(
                              {&x, smooth_scales, group_index, &config, &y, &scale, offset},
                              detail::GroupIndexCheck::kOnHost),
                          options);
}

void dynamic_quant_reference(const gq_tensor& x, const gq_tensor* smooth_scales,
                             const gq_tensor* group_index, const gq_dynamic_quant_config& config,
                             const gq_tensor& y, const gq_tensor& scale, const gq_tensor* offset) {
  detail::dynamic_quant_ref(detail::validate_dynamic_arguments(
      {&x, smooth_scales, group_index, &config, &y, &scale, offset},
      detail::GroupIndexCheck::kOnHost));
}

}  // namespace groupquant

namespace {

thread_local std::string last_error;

}  // namespace

namespace groupquant::detail {
// What gq_last_error() returns on this thread: set by guarded() (src/status.h) for every C
// entry point, this library's and groupquant_cuda's alike.
void set_last_error(const char* message) { last_error = message; }
}  // namespace groupquant::detail

extern "C" {

gq_status gq_output_spec(const gq_tensor* x, gq_output_kind kind, gq_dtype* out_dtype,
                         int64_t out_shape[2]) {
  return groupquant::detail::guarded([&] {
    const groupquant::OutputSpec spec = groupquant::detail::validate_output_spec(x, kind);
    if (out_dtype == nullptr || out_shape == nullptr) {
      throw groupquant::Error("out_dtype and out_shape must not be null");
    }
    *out_dtype = spec.dtype;
    out_shape[0] = spec.shape[0];
    out_shape[1] = spec.shape[1];
  });
}

gq_status gq_group_quant(const gq_tensor* x, const gq_tensor* scale, const gq_tensor* group_index,
                         const gq_tensor* offset, gq_output_kind kind, const gq_options* options,
                         const gq_tensor* y) {
  return groupquant::detail::guarded([&] {
    const groupquant::detail::Problem p = groupquant::detail::validate_arguments(
        {x, scale, group_index, offset, kind, y}, groupquant::detail::GroupIndexCheck::kOnHost);
    groupquant::detail::run_cpu(p, options != nullptr ? *options : gq_options{});
  });
}

gq_status gq_dynamic_quant_output_spec(const gq_tensor* x, const gq_dynamic_quant_config* config,
                                       gq_dtype* y_dtype, int32_t* y_ndim, int64_t y_shape[8]) {
  return groupquant::detail::guarded([&] {
    const groupquant::DynamicOutputSpec spec =
        groupquant::detail::validate_dynamic_output_spec(x, config);
    if (y_dtype == nullptr || y_ndim == nullptr || y_shape == nullptr) {
      throw groupquant::Error("y_dtype, y_ndim and y_shape must not be null");
    }
    *y_dtype = spec.dtype;
    *y_ndim = spec.ndim;
    for (int32_t i = 0; i < spec.ndim; ++i) y_shape[i] = spec.shape[i];
  });
}

gq_status gq_dynamic_quant(const gq_tensor* x, const gq_tensor* smooth_scales,
                           const gq_tensor* group_index, const gq_dynamic_quant_config* config,
                           const gq_options* options, const gq_tensor* y, const gq_tensor* scale,
                           const gq_tensor* offset) {
  return groupquant::detail::guarded([&] {
    const groupquant::detail::DynamicProblem p = groupquant::detail::validate_dynamic_arguments(
        {x, smooth_scales, group_index, config, y, scale, offset},
        groupquant::detail::GroupIndexCheck::kOnHost);
    groupquant::detail::run_dynamic_cpu(p, options != nullptr ? *options : gq_options{});
  });
}

const char* gq_last_error(void) { return last_error.c_str(); }

gq_status gq_set_cpu_isa(const char* name) {
  return groupquant::detail::guarded([&] {
    using groupquant::detail::Isa;
    const std::string_view requested = name != nullptr ? name : "";
    if (requested == "auto") {
      groupquant::detail::set_active_isa(groupquant::detail::best_isa());
      return;
    }
    const std::optional<Isa> isa = groupquant::detail::parse_isa(requested);
    if (!isa) {
      throw groupquant::Error(
          "CPU ISA name must be one of auto, scalar, avx2, avx512, neon: got '" +
          std::string(requested) + "'");
    }
    groupquant::detail::set_active_isa(*isa);
  });
}

const char* gq_cpu_isa(void) {
  try {
    return groupquant::detail::isa_name(groupquant::detail::active_isa());
  } catch (const std::exception& e) {
    last_error = e.what();
    return "unsupported";
  }
}

int gq_cpu_isa_supported(const char* name) {
  const auto isa = groupquant::detail::parse_isa(name != nullptr ? name : "");
  return isa && groupquant::detail::isa_supported(*isa) ? 1 : 0;
}

}  // extern "C"
