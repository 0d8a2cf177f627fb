#include "src/validate.h"

#include <initializer_list>
#include <sstream>

#include "src/element.h"
#include "src/groups.h"

namespace groupquant::detail {
namespace {

bool is_known(gq_dtype d) { return d >= GQ_DTYPE_FLOAT32 && d <= GQ_DTYPE_FLOAT8_E5M2; }

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

// The porting mistake: per-group row counts (torch_npu's group_list_type=1) where end rows
// are wanted. Read only on the error path: whole-list evidence that the values are counts.
std::string counts_hint(const GroupIndex& gi, int64_t rows, const std::string& rows_short) {
  int64_t sum = 0;
  for (int64_t g = 0; g < gi.G; ++g) {
    const int64_t v = gi.end(g);
    if (v < 0 || __builtin_add_overflow(sum, v, &sum)) return "";
  }
  if (sum != rows) return "";
  return "; the values sum to " + rows_short +
         ", like per-group counts; end rows, not counts: use torch.cumsum (or "
         "groupquant.to_group_index)";
}

// group_index values (SPEC.md): >= 0, non-decreasing, <= rows, last == rows. Shared by
// every op that routes rows by group; `rows_name` says where rows comes from, and
// `rows_short` names it in the counts hint.
void check_group_index_values(const GroupIndex& gi, int64_t rows, const std::string& rows_name,
                              const std::string& rows_short) {
  int64_t previous = 0;
  for (int64_t g = 0; g < gi.G; ++g) {
    const int64_t v = gi.end(g);
    // The message is built only on failure: an ostringstream per group costs ~0.1 us, a
    // tenth of a decode-size call for 8 groups.
    if (v < 0 || (g > 0 && v < previous) || v > rows) {
      std::ostringstream m;
      if (v < 0) {
        m << "group_index values must be non-negative: group_index[" << g << "]=" << v;
      } else if (g > 0 && v < previous) {
        m << "group_index must be non-decreasing: group_index[" << g << "]=" << v
          << " < group_index[" << g - 1 << "]=" << previous;
      } else {
        m << "group_index values must not exceed " << rows_name << ": group_index[" << g
          << "]=" << v;
      }
      fail(m.str() + counts_hint(gi, rows, rows_short));
    }
    previous = v;
  }
  if (previous != rows) {
    fail("group_index last value must equal " + rows_name + ": group_index[" +
         std::to_string(gi.G - 1) + "]=" + std::to_string(previous) +
         counts_hint(gi, rows, rows_short));
  }
}

constexpr const char* kFloatRule = "float32, float16 or bfloat16";
constexpr auto kFloatTypes = {GQ_DTYPE_FLOAT32, GQ_DTYPE_FLOAT16, GQ_DTYPE_BFLOAT16};

const gq_tensor& check_x(const gq_tensor* x) {
  return check_tensor(x, "x", 2, 2, "2-D", kFloatTypes, kFloatRule);
}

void check_kind(gq_output_kind kind, int64_t n) {
  if (kind != GQ_OUTPUT_INT8 && kind != GQ_OUTPUT_INT4_PACKED) {  // npu_group_quant's kinds
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
    case GQ_DTYPE_FLOAT8_E4M3FN:
      return "float8_e4m3fn";
    case GQ_DTYPE_FLOAT8_E5M2:
      return "float8_e5m2";
    default:
      return "unknown";
  }
}

int64_t dtype_size(gq_dtype dtype) {
  switch (dtype) {
    case GQ_DTYPE_INT8:
    case GQ_DTYPE_FLOAT8_E4M3FN:
    case GQ_DTYPE_FLOAT8_E5M2:
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
  const OutputTraits t = output_traits(kind);
  return {t.storage, {x.shape[0], x.shape[1] / t.cols_per_word}};
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

  // torch_npu's group_list_type=2: [E, 2] (expert, count) pairs instead of end rows.
  if (a.group_index != nullptr && a.group_index->ndim == 2 && a.group_index->shape != nullptr &&
      a.group_index->shape[1] == 2) {
    fail("group_index must be 1-D: got a 2-D tensor of shape " + shape_string(*a.group_index) +
         "; [E, 2] looks like (expert, count) pairs (group_list_type=2): convert them with "
         "groupquant.to_group_index(group_list, 2)");
  }
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
  const std::string y_rule =
      std::string(dtype_name(spec.dtype)) + " (output kind " + output_traits(a.kind).name + ")";
  const gq_tensor& y = check_tensor(a.y, "y", 2, 2, "2-D", {spec.dtype}, y_rule.c_str());
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

  if (!empty && check == GroupIndexCheck::kOnHost) {
    check_group_index_values(group_index_of(p), M, "M=" + std::to_string(M) + " (x.size(0))",
                             "M=" + std::to_string(M));
  }
  return p;
}

// ---- npu_dynamic_quant / npu_dynamic_quant_asymmetric (SPEC-dynamic-quant.md §4, §10) ----
namespace {

constexpr auto kHalfTypes = {GQ_DTYPE_FLOAT16, GQ_DTYPE_BFLOAT16};
constexpr const char* kHalfRule = "float16 or bfloat16";

// No two distinct elements of an N-D view share memory: with the dimensions of size > 1
// sorted by stride, each stride must pass the extent of all the smaller ones. This also
// rejects a few exotic interleaved layouts that do not overlap; torch never makes those.
bool self_overlapping_nd(const gq_tensor& t) {
  int64_t strides[8], sizes[8];
  int32_t n = 0;
  for (int32_t i = 0; i < t.ndim; ++i) {
    if (t.shape[i] == 0) return false;
    if (t.shape[i] > 1) strides[n] = stride_of(t, i), sizes[n++] = t.shape[i];
  }
  for (int32_t i = 1; i < n; ++i) {  // insertion sort by stride
    for (int32_t j = i; j > 0 && strides[j] < strides[j - 1]; --j) {
      std::swap(strides[j], strides[j - 1]);
      std::swap(sizes[j], sizes[j - 1]);
    }
  }
  int64_t extent = 0;  // of the dimensions so far, in elements
  for (int32_t i = 0; i < n; ++i) {
    if (strides[i] <= extent) return true;
    extent += (sizes[i] - 1) * strides[i];
  }
  return false;
}

std::string strides_string(const gq_tensor& t) {
  std::string s = "[";
  for (int32_t i = 0; i < t.ndim; ++i) s += (i ? ", " : "") + std::to_string(stride_of(t, i));
  return s + "]";
}

void check_output(const gq_tensor& t, const char* name, int32_t ndim, const int64_t* shape,
                  const std::string& for_x) {
  bool same = t.ndim == ndim;
  for (int32_t i = 0; same && i < ndim; ++i) same = t.shape[i] == shape[i];
  if (!same) {
    fail(std::string(name) + " must have shape " + dims_string(ndim, shape) + " for input " +
         for_x + ": got " + shape_string(t));
  }
  if (self_overlapping_nd(t)) {
    fail(std::string(name) + " strides must not make elements overlap: got strides " +
         strides_string(t) + " for shape " + shape_string(t));
  }
}

const char* chip_name(gq_chip chip) { return chip == GQ_CHIP_950 ? "950" : "a2"; }

}  // namespace

DynamicOutputSpec validate_dynamic_output_spec(const gq_tensor* x_arg,
                                               const gq_dynamic_quant_config* config) {
  if (config == nullptr) fail("config must not be null");
  if (!is_known_output_kind(config->kind)) {
    fail("dst_type must be int8, quint4x2, float8_e4m3fn or float8_e5m2: got output kind code " +
         std::to_string(static_cast<int>(config->kind)));
  }
  if (config->chip != GQ_CHIP_A2 && config->chip != GQ_CHIP_950) {
    fail("chip must be \"a2\" (Atlas A2/A3) or \"950\" (Ascend 950): got chip code " +
         std::to_string(static_cast<int>(config->chip)));
  }
  if (config->asymmetric != 0 && config->asymmetric != 1) {
    fail("asymmetric must be 0 or 1: got " + std::to_string(config->asymmetric));
  }
  const OutputTraits t = output_traits(config->kind);
  if (t.encoding == Encoding::kFloat8 && config->chip != GQ_CHIP_950) {
    fail(std::string("dst_type ") + t.name +
         " is only produced by Ascend 950: pass chip=\"950\" (got chip=\"" +
         chip_name(config->chip) + "\")");
  }
  const gq_tensor& x = check_tensor(x_arg, "input", 2, 8, "2-D to 8-D", kHalfTypes,
                                    "float16 or bfloat16 (the NPU kernels take no float32)");
  const int64_t h = x.shape[x.ndim - 1];
  if (t.cols_per_word > 1 && h % t.cols_per_word != 0) {
    fail("dst_type quint4x2 (packed int4) requires input.size(-1) to be a multiple of 8: got " +
         std::to_string(h));
  }
  DynamicOutputSpec spec{};
  spec.dtype = t.storage;
  spec.ndim = x.ndim;
  for (int32_t i = 0; i < x.ndim; ++i) spec.shape[i] = x.shape[i];
  spec.shape[x.ndim - 1] = h / t.cols_per_word;
  return spec;
}

DynamicProblem validate_dynamic_arguments(const DynamicArguments& a, GroupIndexCheck check) {
  const DynamicOutputSpec spec = validate_dynamic_output_spec(a.x, a.config);
  const gq_tensor& x = *a.x;
  const gq_dynamic_quant_config& config = *a.config;
  const int32_t lead = x.ndim - 1;
  const int64_t h = x.shape[lead];
  int64_t rows = 1;
  for (int32_t i = 0; i < lead; ++i) rows *= x.shape[i];  // no overflow: x's extent checked
  const std::string for_x = shape_string(x);

  const gq_tensor* smooth = nullptr;
  const gq_tensor* gi = nullptr;
  int64_t E = 1;
  if (a.smooth_scales != nullptr) {
    smooth = &check_tensor(a.smooth_scales, "smooth_scales", 1, 2, "1-D [H] or 2-D [E, H]",
                           kHalfTypes, kHalfRule);
    if (smooth->dtype != x.dtype) {
      fail(std::string("smooth_scales dtype must equal input dtype: got smooth_scales ") +
           dtype_name(smooth->dtype) + " with input " + dtype_name(x.dtype));
    }
    if (smooth->shape[smooth->ndim - 1] != h) {
      fail("smooth_scales.size(-1) must equal input.size(-1): got smooth_scales " +
           shape_string(*smooth) + " for input " + for_x);
    }
    if (a.group_index == nullptr && smooth->ndim == 2) {
      fail("smooth_scales of shape [E, H] needs group_index to route rows to experts: got " +
           shape_string(*smooth) + " without group_index");
    }
    if (a.group_index != nullptr) {  // without smooth_scales, group_index is ignored (§4)
      if (smooth->ndim != 2) {
        fail("smooth_scales must be 2-D [E, H] when group_index is given: got " +
             shape_string(*smooth));
      }
      gi = &check_tensor(a.group_index, "group_index", 1, 1, "1-D",
                         {GQ_DTYPE_INT32, GQ_DTYPE_INT64}, "int32 or int64");
      E = smooth->shape[0];
      if (gi->shape[0] != E) {
        fail("group_index.size(0) must equal smooth_scales.size(0): got group_index " +
             shape_string(*gi) + " for smooth_scales " + shape_string(*smooth));
      }
      if (E == 0) fail("smooth_scales.size(0) (the number of experts E) must be at least 1: got 0");
    }
  }

  const gq_tensor& y = check_tensor(a.y, "y", spec.ndim, spec.ndim, "of input's rank", {spec.dtype},
                                    (std::string(dtype_name(spec.dtype)) + " (output kind " +
                                     output_traits(config.kind).name + ")")
                                        .c_str());
  check_output(y, "y", spec.ndim, spec.shape.data(), for_x);
  const char* out_rank = "of rank input.dim() - 1";
  const gq_tensor& scale =
      check_tensor(a.scale, "scale", lead, lead, out_rank, {GQ_DTYPE_FLOAT32}, "float32");
  check_output(scale, "scale", lead, x.shape, for_x);
  const gq_tensor* offset = nullptr;
  if (config.asymmetric) {
    if (a.offset == nullptr) fail("offset must not be null for the asymmetric op");
    offset = &check_tensor(a.offset, "offset", lead, lead, out_rank, {GQ_DTYPE_FLOAT32}, "float32");
    check_output(*offset, "offset", lead, x.shape, for_x);
  } else if (a.offset != nullptr) {
    fail("offset must be null for the symmetric op (npu_dynamic_quant returns no offset)");
  }

  // No output may share memory with an input or with another output.
  const std::pair<const char*, const gq_tensor*> outputs[] = {
      {"y", &y}, {"scale", &scale}, {"offset", offset}};
  const std::pair<const char*, const gq_tensor*> inputs[] = {
      {"input", &x}, {"smooth_scales", smooth}, {"group_index", gi}};
  for (size_t i = 0; i < 3; ++i) {
    if (outputs[i].second == nullptr) continue;
    const ByteSpan o = span_of(*outputs[i].second);
    auto overlaps = [&](const gq_tensor* t) {
      const ByteSpan s = t != nullptr ? span_of(*t) : ByteSpan{};
      return s.begin < o.end && o.begin < s.end;
    };
    for (const auto& [name, t] : inputs) {
      if (overlaps(t)) {
        fail(std::string(outputs[i].first) + " must not overlap an input: it shares memory with " +
             name);
      }
    }
    for (size_t j = 0; j < i; ++j) {
      if (overlaps(outputs[j].second)) {
        fail(std::string(outputs[i].first) +
             " must not overlap another output: it shares memory with " + outputs[j].first);
      }
    }
  }

  DynamicProblem p;
  p.op.kind = config.kind;
  p.op.chip_950 = config.chip == GQ_CHIP_950;
  p.op.asymmetric = config.asymmetric != 0;
  p.op.scale_is_reciprocal =
      !p.op.chip_950 && !p.op.asymmetric &&
      a2_scale_is_reciprocal(smooth != nullptr, a.group_index != nullptr, config.kind, rows, h);
  p.rows = rows;
  p.H = h;
  p.x_dtype = x.dtype;
  p.x = base_of(x);
  p.x_col_stride = stride_of(x, lead);
  p.y = const_cast<char*>(base_of(y));
  p.y_col_stride = stride_of(y, lead);
  p.scale = const_cast<char*>(base_of(scale));
  p.offset = offset != nullptr ? const_cast<char*>(base_of(*offset)) : nullptr;
  // Row dimensions: size-1 dimensions dropped, then neighbours merged where every tensor
  // lays them out contiguously.
  const gq_tensor* row_tensors[] = {&x, &y, &scale, offset};
  RowStrides* row_strides[] = {&p.x_rows, &p.y_rows, &p.scale_rows, &p.offset_rows};
  int32_t n = 0;
  for (int32_t d = 0; d < lead; ++d) {
    if (x.shape[d] == 1 && lead > 1) continue;
    const bool merge = n > 0 && [&] {
      for (int k = 0; k < 4; ++k) {
        if (row_tensors[k] == nullptr) continue;
        if (row_strides[k]->stride[n - 1] != stride_of(*row_tensors[k], d) * x.shape[d]) {
          return false;
        }
      }
      return true;
    }();
    if (merge) {
      p.row_dims.size[n - 1] *= x.shape[d];
      for (int k = 0; k < 4; ++k) {
        if (row_tensors[k] != nullptr)
          row_strides[k]->stride[n - 1] = stride_of(*row_tensors[k], d);
      }
    } else {
      p.row_dims.size[n] = x.shape[d];
      for (int k = 0; k < 4; ++k) {
        if (row_tensors[k] != nullptr) row_strides[k]->stride[n] = stride_of(*row_tensors[k], d);
      }
      ++n;
    }
  }
  if (n == 0) {  // every leading dimension has size 1: one row
    p.row_dims.size[0] = 1;
    n = 1;
  }
  p.row_dims.ndim = n;

  if (smooth != nullptr) {
    p.smooth = base_of(*smooth);
    p.smooth_stride[0] = smooth->ndim == 2 ? stride_of(*smooth, 0) : 0;
    p.smooth_stride[1] = stride_of(*smooth, smooth->ndim - 1);
  }
  if (gi != nullptr) {
    p.group_index = base_of(*gi);
    p.group_index_dtype = gi->dtype;
    p.group_index_stride = stride_of(*gi, 0);
    p.E = E;
    if (rows > 0 && check == GroupIndexCheck::kOnHost) {
      check_group_index_values(
          group_index_of(p), rows,
          "the number of rows " + std::to_string(rows) + " (the product of input's leading sizes)",
          std::to_string(rows) + " rows");
    }
  }
  return p;
}

}  // namespace groupquant::detail
