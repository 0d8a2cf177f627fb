#include "src/validate.h"

#include <initializer_list>
#include <sstream>

#include "src/element.h"

namespace groupquant::detail {
namespace {

bool is_known(gq_dtype d) { return d >= GQ_DTYPE_FLOAT32 && d <= GQ_DTYPE_INT64; }

std::string dtype_string(gq_dtype d) {
  return is_known(d) ? dtype_name(d) : "dtype code " + std::to_string(static_cast<int>(d));
}

std::string dims_string(int32_t ndim, const int64_t* dims) {
  std::string s = "[";
  for (int32_t i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string shape_string(const gq_tensor& t) { return dims_string(t.ndim, t.shape); }

[[noreturn]] void fail(const std::string& message) { throw Error(message); }

// Rank, dtype, non-negative sizes and strides, and an extent that 64-bit byte
// addressing can hold: what every tensor argument must have before its shape is read.
const gq_tensor& check_tensor(const gq_tensor* t, const char* name, int32_t min_ndim,
                              int32_t max_ndim, const char* rank_rule,
                              std::initializer_list<gq_dtype> dtypes, const char* dtype_rule) {
  if (t == nullptr) fail(std::string(name) + " must not be null");
  if (t->ndim < min_ndim || t->ndim > max_ndim) {
    std::ostringstream m;
    m << name << " must be " << rank_rule << ": got a " << t->ndim << "-D tensor";
    if (t->ndim > 0 && t->ndim <= 8 && t->shape != nullptr) m << " of shape " << shape_string(*t);
    fail(m.str());
  }
  bool dtype_ok = false;
  for (gq_dtype d : dtypes) dtype_ok |= t->dtype == d;
  if (!dtype_ok)
    fail(std::string(name) + " must be " + dtype_rule + ": got " + dtype_string(t->dtype));
  if (t->ndim > 0 && t->shape == nullptr) fail(std::string(name) + " shape must not be null");
  // Checked before any pointer arithmetic: data + byte_offset must stay a real address.
  if (t->byte_offset > static_cast<uint64_t>(INT64_MAX)) {
    fail(std::string(name) + " byte_offset must be below 2^63: got " +
         std::to_string(t->byte_offset));
  }
  int64_t numel = 1, last_byte = 0;
  bool overflow = false;
  for (int32_t i = 0; i < t->ndim; ++i) {
    if (t->shape[i] < 0)
      fail(std::string(name) + " sizes must be non-negative: got shape " + shape_string(*t));
    if (t->strides != nullptr && t->strides[i] < 0) {
      fail(std::string(name) + " strides must be non-negative: got strides " +
           dims_string(t->ndim, t->strides));
    }
    overflow |= __builtin_mul_overflow(numel, t->shape[i], &numel);
  }
  if (!overflow && numel > 0) {
    // Largest element offset, in elements, then in bytes.
    int64_t extent = 0, stride = 1;
    for (int32_t i = t->ndim - 1; i >= 0 && !overflow; --i) {
      const int64_t s = t->strides != nullptr ? t->strides[i] : stride;
      int64_t term;
      overflow |= __builtin_mul_overflow(t->shape[i] - 1, s, &term);
      overflow |= __builtin_add_overflow(extent, term, &extent);
      overflow |= __builtin_mul_overflow(stride, t->shape[i], &stride);
    }
    overflow |= __builtin_mul_overflow(extent + 1, dtype_size(t->dtype), &last_byte);
    overflow |= __builtin_add_overflow(last_byte, static_cast<int64_t>(t->byte_offset), &last_byte);
  }
  if (overflow)
    fail(std::string(name) + " is too large: its extent overflows 64-bit byte offsets (shape " +
         shape_string(*t) + ")");
  if (numel > 0 && t->data == nullptr) {
    fail(std::string(name) + " data must not be null for a non-empty tensor: shape " +
         shape_string(*t));
  }
  return *t;
}

int64_t stride_of(const gq_tensor& t, int32_t dim) {
  if (t.strides != nullptr) return t.strides[dim];
  int64_t s = 1;
  for (int32_t i = t.ndim - 1; i > dim; --i) s *= t.shape[i];
  return s;
}

// Null stays null (an empty tensor may have no storage): offsetting it would be UB.
const char* base_of(const gq_tensor& t) {
  return t.data == nullptr ? nullptr : static_cast<const char*>(t.data) + t.byte_offset;
}

struct ByteSpan {
  uintptr_t begin = 0, end = 0;  // [begin, end); empty when begin == end
};

ByteSpan span_of(const gq_tensor& t) {
  int64_t last = 0;
  for (int32_t i = 0; i < t.ndim; ++i) {
    if (t.shape[i] == 0) return {};
    last += (t.shape[i] - 1) * stride_of(t, i);
  }
  const auto begin = reinterpret_cast<uintptr_t>(base_of(t));
  return {begin, begin + static_cast<uintptr_t>((last + 1) * dtype_size(t.dtype))};
}

// Two distinct elements of a 2-D view never share memory.
bool self_overlapping(const gq_tensor& t) {
  const int64_t s0 = stride_of(t, 0), s1 = stride_of(t, 1);
  const int64_t n0 = t.shape[0], n1 = t.shape[1];
  if (n0 == 0 || n1 == 0 || (n0 == 1 && n1 == 1)) return false;
  if (n0 <= 1) return s1 == 0;
  if (n1 <= 1) return s0 == 0;
  const bool dim1_inner = s1 <= s0;
  const int64_t inner_stride = dim1_inner ? s1 : s0, inner_size = dim1_inner ? n1 : n0;
  const int64_t outer_stride = dim1_inner ? s0 : s1;
  return inner_stride == 0 || outer_stride < inner_stride * inner_size;
}

void check_group_index_values(const Problem& p) {
  int64_t previous = 0;
  for (int64_t g = 0; g < p.G; ++g) {
    const int64_t v = load_index(p.group_index, p.group_index_dtype, g * p.group_index_stride);
    // The message is built only on failure: an ostringstream per group costs ~0.1 us, a
    // tenth of a decode-size call for 8 groups.
    if (v < 0 || (g > 0 && v < previous) || v > p.M) {
      std::ostringstream m;
      if (v < 0) {
        m << "group_index values must be non-negative: group_index[" << g << "]=" << v;
      } else if (g > 0 && v < previous) {
        m << "group_index must be non-decreasing: group_index[" << g << "]=" << v
          << " < group_index[" << g - 1 << "]=" << previous;
      } else {
        m << "group_index values must not exceed M=" << p.M << " (x.size(0)): group_index[" << g
          << "]=" << v;
      }
      fail(m.str());
    }
    previous = v;
  }
  if (previous != p.M) {
    fail("group_index last value must equal M=" + std::to_string(p.M) +
         " (x.size(0)): group_index[" + std::to_string(p.G - 1) + "]=" + std::to_string(previous));
  }
}

constexpr const char* kFloatRule = "float32, float16 or bfloat16";
constexpr auto kFloatTypes = {GQ_DTYPE_FLOAT32, GQ_DTYPE_FLOAT16, GQ_DTYPE_BFLOAT16};

const gq_tensor& check_x(const gq_tensor* x) {
  return check_tensor(x, "x", 2, 2, "2-D", kFloatTypes, kFloatRule);
}

void check_kind(gq_output_kind kind, int64_t n) {
  if (kind != GQ_OUTPUT_INT8 && kind != GQ_OUTPUT_INT4_PACKED) {
    fail("dst_dtype must be int8, qint8 or quint4x2: got output kind code " +
         std::to_string(static_cast<int>(kind)));
  }
  if (kind == GQ_OUTPUT_INT4_PACKED && n % 8 != 0) {
    fail("dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got " +
         std::to_string(n));
  }
}

}  // namespace

const char* dtype_name(gq_dtype dtype) {
  switch (dtype) {
    case GQ_DTYPE_FLOAT32:
      return "float32";
    case GQ_DTYPE_FLOAT16:
      return "float16";
    case GQ_DTYPE_BFLOAT16:
      return "bfloat16";
    case GQ_DTYPE_INT8:
      return "int8";
    case GQ_DTYPE_INT32:
      return "int32";
    case GQ_DTYPE_INT64:
      return "int64";
    default:
      return "unknown";
  }
}

int64_t dtype_size(gq_dtype dtype) {
  switch (dtype) {
    case GQ_DTYPE_INT8:
      return 1;
    case GQ_DTYPE_FLOAT16:
    case GQ_DTYPE_BFLOAT16:
      return 2;
    case GQ_DTYPE_FLOAT32:
    case GQ_DTYPE_INT32:
      return 4;
    case GQ_DTYPE_INT64:
      return 8;
    default:
      return 1;  // unknown codes never pass validation
  }
}

OutputSpec validate_output_spec(const gq_tensor* x_arg, gq_output_kind kind) {
  const gq_tensor& x = check_x(x_arg);
  check_kind(kind, x.shape[1]);
  if (kind == GQ_OUTPUT_INT4_PACKED) return {GQ_DTYPE_INT32, {x.shape[0], x.shape[1] / 8}};
  return {GQ_DTYPE_INT8, {x.shape[0], x.shape[1]}};
}

Problem validate_arguments(const Arguments& a, GroupIndexCheck check) {
  const gq_tensor& x = check_x(a.x);
  const int64_t M = x.shape[0], N = x.shape[1];

  const gq_tensor& scale = check_tensor(a.scale, "scale", 2, 2, "2-D", kFloatTypes, kFloatRule);
  if (scale.shape[1] != N) {
    fail("scale.size(1) must equal x.size(1): got scale " + shape_string(scale) + " for x " +
         shape_string(x));
  }
  const int64_t G = scale.shape[0];

  const gq_tensor& gi = check_tensor(a.group_index, "group_index", 1, 1, "1-D",
                                     {GQ_DTYPE_INT32, GQ_DTYPE_INT64}, "int32 or int64");
  if (gi.shape[0] != G) {
    fail("group_index.size(0) must equal scale.size(0): got group_index " + shape_string(gi) +
         " for scale " + shape_string(scale));
  }
  const bool empty = M == 0 || N == 0;
  if (G == 0 && !empty) {
    fail(
        "scale.size(0) (the number of groups G) must be at least 1 when x is non-empty: got G=0 "
        "for x " +
        shape_string(x));
  }

  if (a.offset != nullptr) {
    const gq_tensor& offset = check_tensor(a.offset, "offset", 0, 1, "a scalar of shape [] or [1]",
                                           kFloatTypes, kFloatRule);
    if (offset.dtype != scale.dtype) {
      fail(std::string("offset dtype must equal scale dtype: got offset ") +
           dtype_name(offset.dtype) + " with scale " + dtype_name(scale.dtype));
    }
    if (offset.ndim == 1 && offset.shape[0] != 1) {
      fail("offset must have shape [] or [1]: got " + shape_string(offset));
    }
  }

  const OutputSpec spec = validate_output_spec(&x, a.kind);
  const char* y_rule =
      a.kind == GQ_OUTPUT_INT8 ? "int8 (output kind int8)" : "int32 (output kind packed int4)";
  const gq_tensor& y = check_tensor(a.y, "y", 2, 2, "2-D", {spec.dtype}, y_rule);
  if (y.shape[0] != spec.shape[0] || y.shape[1] != spec.shape[1]) {
    fail("y must have shape " + dims_string(2, spec.shape.data()) + " for x " + shape_string(x) +
         ": got " + shape_string(y));
  }
  if (self_overlapping(y)) {
    fail("y strides must not make elements overlap: got strides " +
         dims_string(2, std::array<int64_t, 2>{stride_of(y, 0), stride_of(y, 1)}.data()) +
         " for shape " + shape_string(y));
  }
  const ByteSpan y_span = span_of(y);
  const std::pair<const char*, const gq_tensor*> inputs[] = {
      {"x", &x}, {"scale", &scale}, {"group_index", &gi}, {"offset", a.offset}};
  for (const auto& [name, t] : inputs) {
    if (t == nullptr) continue;
    const ByteSpan s = span_of(*t);
    if (s.begin < y_span.end && y_span.begin < s.end) {
      fail(std::string("y must not overlap an input: it shares memory with ") + name);
    }
  }

  Problem p;
  p.M = M;
  p.N = N;
  p.G = G;
  p.kind = a.kind;
  p.x_dtype = x.dtype;
  p.x = base_of(x);
  p.x_stride[0] = stride_of(x, 0);
  p.x_stride[1] = stride_of(x, 1);
  p.scale_dtype = scale.dtype;
  p.scale = base_of(scale);
  p.scale_stride[0] = stride_of(scale, 0);
  p.scale_stride[1] = stride_of(scale, 1);
  p.group_index_dtype = gi.dtype;
  p.group_index = base_of(gi);
  p.group_index_stride = stride_of(gi, 0);
  p.offset = a.offset != nullptr ? base_of(*a.offset) : nullptr;
  p.y = const_cast<char*>(base_of(y));
  p.y_stride[0] = stride_of(y, 0);
  p.y_stride[1] = stride_of(y, 1);

  if (!empty && check == GroupIndexCheck::kOnHost) check_group_index_values(p);
  return p;
}

}  // namespace groupquant::detail
