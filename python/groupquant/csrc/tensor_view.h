// at::Tensor -> gq_tensor, and the few rules only the torch layer can check (devices,
// dst_dtype). Header-only, so the CPU and the CUDA extension share one copy of it.
//
// The core validates everything else and writes the text of every argument error; this layer
// only turns the torch types into the C ABI's and a failed gq_status into a
// RuntimeError carrying the core's message.
#ifndef GROUPQUANT_PYTHON_CSRC_TENSOR_VIEW_H_
#define GROUPQUANT_PYTHON_CSRC_TENSOR_VIEW_H_

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <groupquant/groupquant.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace groupquant::torch_binding {

// Torch dtypes the core has no code for travel as this code, which names no dtype, so the core
// rejects it with its usual rule text ("x must be float32, ...: got dtype code -1");
// raise_core_error() then puts torch's dtype name in place of the code. Checking these dtypes here
// instead would duplicate the rule text and report a dtype error before a rank error.
inline constexpr gq_dtype kUnknownDtype = static_cast<gq_dtype>(-1);

inline gq_dtype to_gq_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return GQ_DTYPE_FLOAT32;
    case at::kHalf:
      return GQ_DTYPE_FLOAT16;
    case at::kBFloat16:
      return GQ_DTYPE_BFLOAT16;
    case at::kChar:
      return GQ_DTYPE_INT8;
    case at::kInt:
      return GQ_DTYPE_INT32;
    case at::kLong:
      return GQ_DTYPE_INT64;
    case at::kFloat8_e4m3fn:
      return GQ_DTYPE_FLOAT8_E4M3FN;
    case at::kFloat8_e5m2:
      return GQ_DTYPE_FLOAT8_E5M2;
    default:
      return kUnknownDtype;
  }
}

// The torch dtype of an output dtype the core reports (gq_output_spec and
// gq_dynamic_quant_output_spec only report these).
inline at::ScalarType to_torch_dtype(gq_dtype t) {
  switch (t) {
    case GQ_DTYPE_INT32:
      return at::kInt;
    case GQ_DTYPE_FLOAT8_E4M3FN:
      return at::kFloat8_e4m3fn;
    case GQ_DTYPE_FLOAT8_E5M2:
      return at::kFloat8_e5m2;
    default:
      return at::kChar;
  }
}

// The core's work runs on torch's intra-op pool, so torch.set_num_threads applies.
inline void torch_parallel_for(void* /*runner_ctx*/, int64_t begin, int64_t end, int64_t grain,
                               gq_task_fn fn, void* task_ctx) {
  at::parallel_for(begin, end, grain, [&](int64_t b, int64_t e) { fn(task_ctx, b, e); });
}

// Python's spelling of a dtype without the "torch." prefix: "float64", "qint8".
inline std::string dtype_name(at::ScalarType t) { return std::string(c10::getDtypeNames(t).first); }

// A non-owning gq_tensor over t. The shape and strides point into t's TensorImpl, so
// the view is valid while t is alive and not resized. No copy: the core reads any
// non-negative strides (torch has no negative ones) and the storage offset is folded
// into data. A tensor carrying a lazy negation bit is resolved first (the only case
// that copies), since its memory does not hold the values it represents. Inputs are
// read through const_data_ptr(), which leaves copy-on-write storage unmaterialized.
class TensorView {
 public:
  enum Access { kRead, kWrite };
  explicit TensorView(const at::Tensor& t, Access access = kRead)
      : tensor_(t.is_neg() ? t.resolve_neg() : t) {
    view_.data =
        access == kWrite ? tensor_.data_ptr() : const_cast<void*>(tensor_.const_data_ptr());
    view_.ndim = static_cast<int32_t>(tensor_.dim());
    view_.dtype = to_gq_dtype(tensor_.scalar_type());
    view_.shape = tensor_.sizes().data();
    view_.strides = tensor_.strides().data();
    view_.byte_offset = 0;
  }
  const gq_tensor* get() const { return &view_; }
  const at::Tensor& tensor() const { return tensor_; }

 private:
  at::Tensor tensor_;
  gq_tensor view_{};
};

// dst_dtype -> output kind: None, int8 and qint8 give int8 [M, N]; quint4x2 gives
// packed int4 in int32 [M, N/8] (SPEC.md "Output").
inline gq_output_kind output_kind(std::optional<at::ScalarType> dst_dtype) {
  if (!dst_dtype || *dst_dtype == at::kChar || *dst_dtype == at::kQInt8) return GQ_OUTPUT_INT8;
  if (*dst_dtype == at::kQUInt4x2) return GQ_OUTPUT_INT4_PACKED;
  TORCH_CHECK(false,
              "dst_dtype must be None, torch.int8, torch.qint8 or torch.quint4x2: got torch.",
              dtype_name(*dst_dtype));
}

// The integer kind of the .kind overloads (the public wrapper's dst_dtype, mapped before
// graphs are traced, so exported graphs carry no quantized dtype) -> gq_output_kind. Any
// code passes through (saturated to int32) and the core rejects unknown ones with its text.
inline gq_output_kind output_kind(int64_t kind) {
  return static_cast<gq_output_kind>(std::clamp<int64_t>(kind, std::numeric_limits<int32_t>::min(),
                                                         std::numeric_limits<int32_t>::max()));
}

// SPEC.md: tensors on different devices are an error. Compared with x's device.
inline void check_same_device(const at::Tensor& x, const at::Tensor& scale,
                              const at::Tensor& group_index,
                              const std::optional<at::Tensor>& offset,
                              const at::Tensor* out = nullptr) {
  auto check = [&](const at::Tensor& t, const char* name) {
    TORCH_CHECK(t.device() == x.device(), name, " must be on the same device as x: got ", name,
                " on ", t.device(), " and x on ", x.device());
  };
  check(scale, "scale");
  check(group_index, "group_index");
  if (offset) check(*offset, "offset");
  if (out != nullptr) check(*out, "out");
}

// Throws the core's message for a failed call as a RuntimeError (c10::Error). Where the
// message names a dtype by the placeholder code, torch's name for it is put in. The core
// calls the output y; with y_is_out its rules are reported for the argument `out`.
[[noreturn]] inline void raise_core_error(
    std::initializer_list<std::pair<const char*, const at::Tensor*>> named_inputs,
    bool y_is_out = false) {
  std::string message = gq_last_error();
  const std::string code = "dtype code " + std::to_string(static_cast<int>(kUnknownDtype));
  for (const auto& [name, t] : named_inputs) {
    if (t == nullptr || to_gq_dtype(t->scalar_type()) != kUnknownDtype) continue;
    const size_t at = message.find(code);
    if (message.rfind(std::string(name) + " ", 0) == 0 && at != std::string::npos) {
      message.replace(at, code.size(), dtype_name(t->scalar_type()));
      break;
    }
  }
  if (y_is_out && message.rfind("y ", 0) == 0) message.replace(0, 1, "out");
  TORCH_CHECK(false, message);
}

// A fresh output of this shape and dtype on options' device.
using AllocateOutput = at::Tensor (*)(at::IntArrayRef shape, const at::TensorOptions& options);
inline at::Tensor empty_output(at::IntArrayRef shape, const at::TensorOptions& options) {
  return at::empty(shape, options);
}

// What both backends do once the devices are checked: the output kind, the output (the
// caller's `out`, or a fresh one to the core's spec from `allocate`), and the core's views
// of every tensor. fail() raises the core's last error. The core validates `out` like y
// (dtype, shape, strides, no overlap with an input) before anything is written.
class OpCall {
 public:
  OpCall(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& group_index,
         const std::optional<at::Tensor>& offset, std::optional<at::ScalarType> dst_dtype)
      : OpCall(x, scale, group_index, offset, output_kind(dst_dtype), nullptr) {}

  OpCall(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& group_index,
         const std::optional<at::Tensor>& offset, gq_output_kind kind, const at::Tensor* out,
         AllocateOutput allocate = &empty_output)
      : kind_(kind), x_(x), scale_(scale), group_index_(group_index), y_is_out_(out != nullptr) {
    if (offset) offset_.emplace(*offset);
    if (out != nullptr) {
      // Its memory must hold the values it stands for: a lazily negated view would be
      // written through a resolved copy (int tensors never carry the bit; this is a guard).
      TORCH_CHECK(!out->is_neg() && !out->is_conj(),
                  "out must not be a lazily negated or conjugated view");
      y_.emplace(*out, TensorView::kWrite);
      return;
    }
    gq_dtype y_dtype = GQ_DTYPE_INT8;
    int64_t y_shape[2] = {0, 0};
    if (gq_output_spec(x_.get(), kind_, &y_dtype, y_shape) != GQ_STATUS_SUCCESS) fail();
    y_.emplace(allocate({y_shape[0], y_shape[1]},
                        x.options().dtype(y_dtype == GQ_DTYPE_INT32 ? at::kInt : at::kChar)),
               TensorView::kWrite);
  }

  gq_output_kind kind() const { return kind_; }
  const gq_tensor* x() const { return x_.get(); }
  const gq_tensor* scale() const { return scale_.get(); }
  const gq_tensor* group_index() const { return group_index_.get(); }
  const gq_tensor* offset() const { return offset_ ? offset_->get() : nullptr; }
  const gq_tensor* y() const { return y_->get(); }
  const at::Tensor& output() const { return y_->tensor(); }

  [[noreturn]] void fail() const {
    raise_core_error({{"x", &x_.tensor()},
                      {"scale", &scale_.tensor()},
                      {"group_index", &group_index_.tensor()},
                      {"offset", offset_ ? &offset_->tensor() : nullptr},
                      {"y", y_ ? &y_->tensor() : nullptr}},
                     y_is_out_);
  }

 private:
  gq_output_kind kind_;
  TensorView x_, scale_, group_index_;
  bool y_is_out_;
  std::optional<TensorView> offset_, y_;
};

}  // namespace groupquant::torch_binding

#endif  // GROUPQUANT_PYTHON_CSRC_TENSOR_VIEW_H_
