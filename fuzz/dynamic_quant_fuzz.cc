// libFuzzer target: arbitrary bytes -> one gq_dynamic_quant call (rank 2..4 x, shapes,
// strides, dtypes, byte offsets, output kind, chip, symmetry, smooth_scales none / [H] /
// [E, H] with group_index, group_index values, raw data), run on the reference and on
// every CPU ISA this machine has, with 1 and 2 threads or a caller parallel_for. The same
// checks as group_quant_fuzz.cc (a violation aborts, so libFuzzer keeps the input):
//
//  1. No crash and no out-of-bounds access: every buffer is allocated to exactly the
//     extent of its view, so ASan sees a read or write one byte past any tensor.
//  2. The library accepts exactly when shadow_invalid() below, a restatement of
//     SPEC-dynamic-quant.md §4 and §10's rules sharing no code with src/validate.cc, says
//     the call is valid.
//  3. Accepted: every ISA and threading mode writes the reference's bytes into y, scale
//     and offset, bit for bit, and touches nothing else; each output's elements are
//     distinct; gq_dynamic_quant_output_spec agrees with y.
//  4. Rejected: GQ_STATUS_INVALID_ARGUMENT, the reference's exact non-empty message, and
//     no byte of any buffer changed.
//
// Input format (fuzz/README.md): a header read byte by byte (a missing byte reads as 0,
// which decodes to a small valid call), then raw data bytes for x and smooth_scales.
#include <groupquant/groupquant.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <groupquant/groupquant.hpp>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#define GQ_FUZZ_TARGET "dynamic_quant_fuzz"
#include "fuzz/fuzz_support.h"

namespace {

using gqfuzz::dtype_size;
using gqfuzz::fail;
using gqfuzz::Reader;

bool is_half(int32_t c) { return c == GQ_DTYPE_FLOAT16 || c == GQ_DTYPE_BFLOAT16; }

template <typename E>
E as_enum(int32_t code) {
  E e;  // any int32 is a valid value of these enums (they span the whole range)
  std::memcpy(&e, &code, sizeof e);
  return e;
}

// An exactly sized allocation (0 bytes is a real, unreadable allocation).
struct Buffer {
  std::unique_ptr<uint8_t[]> mem;
  size_t size = 0;
  explicit Buffer(size_t n) : mem(new uint8_t[n]), size(n) {}
};

struct View {
  int32_t dtype = GQ_DTYPE_FLOAT16;
  std::vector<int64_t> shape, strides;
  bool null_strides = false, null_data = false;
  uint64_t byte_offset = 0;
  Buffer* buffer = nullptr;  // where data points (null_data aside)

  int32_t ndim() const { return static_cast<int32_t>(shape.size()); }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  bool empty() const { return numel() == 0; }
  int64_t stride(int i) const {
    if (!null_strides) return strides[static_cast<size_t>(i)];
    int64_t s = 1;
    for (int j = ndim() - 1; j > i; --j) s *= shape[static_cast<size_t>(j)];
    return s;
  }
  bool negative() const {
    for (int i = 0; i < ndim(); ++i) {
      if (shape[static_cast<size_t>(i)] < 0 || stride(i) < 0) return true;
    }
    return false;
  }
  // Element offset (in elements) of the element with row-major linear index `linear`.
  int64_t offset_of(int64_t linear) const {
    int64_t off = 0;
    for (int i = ndim() - 1; i >= 0; --i) {
      const int64_t n = shape[static_cast<size_t>(i)];
      off += (linear % n) * stride(i);
      linear /= n;
    }
    return off;
  }
  // Bytes from the buffer start to one past the last element (valid views only).
  int64_t extent_bytes() const {
    if (empty()) return static_cast<int64_t>(byte_offset);
    int64_t last = 0;
    for (int i = 0; i < ndim(); ++i) last += (shape[static_cast<size_t>(i)] - 1) * stride(i);
    return static_cast<int64_t>(byte_offset) + (last + 1) * dtype_size(dtype);
  }
  gq_tensor tensor() const {
    gq_tensor t;
    t.data = null_data ? nullptr : buffer->mem.get();
    t.ndim = ndim();
    t.dtype = as_enum<gq_dtype>(dtype);
    t.shape = shape.data();
    t.strides = null_strides ? nullptr : strides.data();
    t.byte_offset = byte_offset;
    return t;
  }
  // Address range [begin, end) of the elements; empty for an empty view.
  std::pair<uintptr_t, uintptr_t> span() const {
    if (empty() || null_data || negative()) return {0, 0};
    const auto base = reinterpret_cast<uintptr_t>(buffer->mem.get()) + byte_offset;
    return {base,
            base + static_cast<uintptr_t>(extent_bytes() - static_cast<int64_t>(byte_offset))};
  }
};

// Strides for an N-D view from one layout byte: null (compact), explicit compact,
// column-major, padded rows, a strided last dimension, a broadcast (stride 0), a
// negative stride, or arbitrary small strides; then a byte offset (often misaligned).
void choose_layout(Reader& in, View& v) {
  const uint8_t b = in.byte();
  const int mode = b % 8, arg = b >> 3;
  const size_t nd = v.shape.size();
  auto compact = [&](size_t from_dim, int64_t inner) {
    for (size_t i = from_dim + 1; i-- > 0;) {
      v.strides[i] = inner;
      inner *= std::max<int64_t>(1, v.shape[i]);
    }
  };
  v.strides.assign(nd, 1);
  if (nd > 0) compact(nd - 1, 1);
  if (mode == 0) v.null_strides = true;
  if (nd >= 1) {
    const size_t last = nd - 1;
    switch (mode) {
      case 2: {  // column-major
        int64_t s = 1;
        for (size_t i = 0; i < nd; ++i) {
          v.strides[i] = s;
          s *= std::max<int64_t>(1, v.shape[i]);
        }
        break;
      }
      case 3:  // padded rows
        if (nd >= 2) {
          v.strides[last - 1] = std::max<int64_t>(1, v.shape[last]) + 1 + arg % 4;
          if (nd >= 3)
            compact(last - 2, v.strides[last - 1] * std::max<int64_t>(1, v.shape[last - 1]));
        }
        break;
      case 4:  // a strided last dimension
        v.strides[last] = 2 + arg % 2;
        if (nd >= 2)
          compact(last - 1, v.strides[last] * std::max<int64_t>(1, v.shape[last]) + arg % 3);
        break;
      case 5:  // broadcast
        v.strides[static_cast<size_t>(arg) % nd] = 0;
        break;
      case 6:
        if (arg & 1) v.strides[static_cast<size_t>(arg >> 1) % nd] = -1;
        break;
      case 7:  // anything small
        for (auto& s : v.strides) s = in.byte() % 70;
        break;
      default:
        break;
    }
  }
  const uint8_t o = in.byte();
  v.byte_offset = o < 160 ? 0 : o % 16;
}

std::unique_ptr<Buffer> allocate(View& v) {
  const int64_t bytes = v.negative() ? 64 : v.extent_bytes();
  auto buf = std::make_unique<Buffer>(static_cast<size_t>(bytes));
  v.buffer = buf.get();
  return buf;
}

// Writes a tensor's elements from raw input bytes (NaN, Inf, subnormals...), padding
// between them a fixed pattern.
void fill_elements(Reader& in, const View& v) {
  if (v.empty() || v.negative() || v.null_data) {
    in.fill(v.buffer->mem.get(), v.buffer->size);
    return;
  }
  const int64_t es = dtype_size(v.dtype);
  std::memset(v.buffer->mem.get(), 0xC3, v.buffer->size);
  for (int64_t i = 0; i < v.numel(); ++i) {
    in.fill(v.buffer->mem.get() + v.byte_offset + v.offset_of(i) * es, static_cast<size_t>(es));
  }
}

// docs/hostile-inputs.md's rule for outputs: with the dimensions of size > 1 sorted by
// stride, each stride must exceed the largest offset the smaller ones reach.
bool overlapping(const View& v) {
  if (v.empty()) return false;
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size)
  for (int i = 0; i < v.ndim(); ++i) {
    if (v.shape[static_cast<size_t>(i)] > 1)
      dims.emplace_back(v.stride(i), v.shape[static_cast<size_t>(i)]);
  }
  std::stable_sort(dims.begin(), dims.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  int64_t reach = 0;
  for (const auto& [stride, size] : dims) {
    if (stride <= reach) return true;
    reach += (size - 1) * stride;
  }
  return false;
}

bool bad_tensor(const View& v) { return v.negative() || (!v.empty() && v.null_data); }

// SPEC-dynamic-quant.md §4 (the NPU's checks) with §10's decisions, restated for the
// calls this harness builds (small sizes: the 64-bit overflow rules never apply).
// Returns the broken rule, or null for a valid call.
const char* shadow_invalid(const View& x, const View* smooth, const View* gi, int32_t kind,
                           int32_t chip, int32_t asym, const View& y, const View& scale,
                           const View* offset, const std::vector<int64_t>& gi_values) {
  if (kind < GQ_OUTPUT_INT8 || kind > GQ_OUTPUT_FLOAT8_E5M2) return "kind";
  if (chip != GQ_CHIP_A2 && chip != GQ_CHIP_950) return "chip";
  if (asym != 0 && asym != 1) return "asymmetric flag";
  const bool fp8 = kind == GQ_OUTPUT_FLOAT8_E4M3FN || kind == GQ_OUTPUT_FLOAT8_E5M2;
  if (fp8 && chip != GQ_CHIP_950) return "fp8 needs chip 950";  // §10.2
  if (x.ndim() < 2 || x.ndim() > 8) return "x rank";            // §4, §10.4
  if (!is_half(x.dtype)) return "x dtype";
  if (bad_tensor(x)) return "x negative/null";
  const int64_t H = x.shape.back();
  int64_t rows = 1;
  for (int i = 0; i + 1 < x.ndim(); ++i) rows *= x.shape[static_cast<size_t>(i)];
  if (kind == GQ_OUTPUT_INT4_PACKED && H % 8 != 0) return "int4 H % 8";
  bool uses_gi = false;
  if (smooth != nullptr) {
    if (smooth->ndim() < 1 || smooth->ndim() > 2 || !is_half(smooth->dtype)) return "smooth rank";
    if (bad_tensor(*smooth)) return "smooth negative/null";
    if (smooth->dtype != x.dtype) return "smooth dtype != x dtype";
    if (smooth->shape.back() != H) return "smooth last dim";
    if (gi == nullptr && smooth->ndim() == 2) return "[E, H] smooth without group_index";
    if (gi != nullptr) {  // without smooth, group_index is ignored (§4)
      if (smooth->ndim() != 2) return "[H] smooth with group_index";
      if (gi->ndim() != 1) return "group_index rank";
      if (gi->dtype != GQ_DTYPE_INT32 && gi->dtype != GQ_DTYPE_INT64) return "group_index dtype";
      if (bad_tensor(*gi)) return "group_index negative/null";
      if (gi->shape[0] != smooth->shape[0]) return "E != smooth.size(0)";
      if (gi->shape[0] == 0) return "E == 0";
      uses_gi = true;
    }
  }
  const int32_t y_dtype = kind == GQ_OUTPUT_INT8            ? GQ_DTYPE_INT8
                          : kind == GQ_OUTPUT_INT4_PACKED   ? GQ_DTYPE_INT32
                          : kind == GQ_OUTPUT_FLOAT8_E4M3FN ? GQ_DTYPE_FLOAT8_E4M3FN
                                                            : GQ_DTYPE_FLOAT8_E5M2;
  std::vector<int64_t> y_shape = x.shape;
  if (kind == GQ_OUTPUT_INT4_PACKED) y_shape.back() /= 8;
  const std::vector<int64_t> s_shape(x.shape.begin(), x.shape.end() - 1);
  if (y.ndim() != x.ndim() || y.dtype != y_dtype || bad_tensor(y)) return "y rank/dtype";
  if (y.shape != y_shape) return "y shape";
  if (overlapping(y)) return "y self-overlap";
  if (scale.ndim() != x.ndim() - 1 || scale.dtype != GQ_DTYPE_FLOAT32 || bad_tensor(scale))
    return "scale rank/dtype";
  if (scale.shape != s_shape) return "scale shape";
  if (overlapping(scale)) return "scale self-overlap";
  if (asym && offset == nullptr) return "asymmetric without offset";
  if (!asym && offset != nullptr) return "symmetric with offset";
  if (offset != nullptr) {
    if (offset->ndim() != x.ndim() - 1 || offset->dtype != GQ_DTYPE_FLOAT32 || bad_tensor(*offset))
      return "offset rank/dtype";
    if (offset->shape != s_shape) return "offset shape";
    if (overlapping(*offset)) return "offset self-overlap";
  }
  const View* outs[] = {&y, &scale, offset};
  const View* ins[] = {&x, smooth, uses_gi ? gi : nullptr};
  auto meet = [](const View* a, const View* b) {
    const auto sa = a->span(), sb = b->span();
    return sa.first < sb.second && sb.first < sa.second;
  };
  for (int i = 0; i < 3; ++i) {
    if (outs[i] == nullptr) continue;
    for (const View* in : ins) {
      if (in != nullptr && meet(outs[i], in)) return "output overlaps an input";
    }
    for (int j = 0; j < i; ++j) {
      if (outs[j] != nullptr && meet(outs[i], outs[j])) return "outputs overlap";
    }
  }
  if (uses_gi && rows > 0) {  // §10.5: checked like npu_group_quant's
    int64_t prev = 0;
    for (int64_t v : gi_values) {
      if (v < 0 || v < prev || v > rows) return "group_index value";
      prev = v;
    }
    if (prev != rows) return "group_index last";
  }
  return nullptr;
}

// Elements at distinct addresses (what an accepted output must have).
bool distinct_elements(const View& v) {
  if (v.empty()) return true;
  std::vector<int64_t> offs;
  for (int64_t i = 0; i < v.numel(); ++i) offs.push_back(v.offset_of(i));
  std::sort(offs.begin(), offs.end());
  return std::adjacent_find(offs.begin(), offs.end()) == offs.end();
}

// Runs chunks in reverse, one at a time: results must not depend on chunk order.
void reverse_parallel_for(void*, int64_t begin, int64_t end, int64_t, gq_task_fn fn, void* ctx) {
  for (int64_t c = end; c > begin; --c) fn(ctx, c - 1, c);
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> isas;
  for (const char* name : {"scalar", "avx2", "avx512", "neon"}) {
    if (gq_cpu_isa_supported(name)) isas.emplace_back(name);
  }
  return isas;
}

int32_t weird_code(uint8_t b) {
  static const int32_t kCodes[] = {6, 7, 99, -1, std::numeric_limits<int32_t>::max()};
  return kCodes[b % 5];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::string> isas = supported_isas();
  Reader in(data, size);

  // ---- Header ------------------------------------------------------------------------
  const uint8_t b_xd = in.byte(), b_kind = in.byte(), flags = in.byte(), b_rank = in.byte();
  const uint8_t mistake = in.byte();  // >= 200: one deliberate mistake of kind mistake - 200
  const int mk = mistake >= 200 ? mistake - 200 : -1;
  const int32_t rank = 2 + (b_rank & 0x7F) % 3;
  std::vector<int64_t> shape(static_cast<size_t>(rank));
  for (int i = 0; i + 1 < rank; ++i) shape[static_cast<size_t>(i)] = in.byte() % (i == 0 ? 17 : 4);
  int64_t H = in.byte() % 65;
  const int64_t E = 1 + in.byte() % 8;

  int32_t kind = b_kind % 4;
  int32_t chip = (flags & 1) ? GQ_CHIP_950 : GQ_CHIP_A2;
  int32_t asym = (flags >> 1) & 1;
  const int smooth_mode = (flags >> 2) % 4;  // none, [H], [E, H] + group_index, group_index only
  const bool gi64 = (flags >> 4) & 1;
  const int32_t threads = 1 + ((flags >> 5) & 1);
  const bool caller_pool = (flags >> 6) & 1;
  if (kind == GQ_OUTPUT_INT4_PACKED && mk != 0) H &= ~int64_t{7};
  if (kind >= GQ_OUTPUT_FLOAT8_E4M3FN && mk != 17) chip = GQ_CHIP_950;
  if (mk == 1) kind = b_kind % 2 ? 4 : -1;
  if (mk == 18) chip = b_kind % 2 ? 2 : -1;
  if (mk == 19) asym = b_kind % 2 ? 2 : -1;
  shape.back() = H;
  // With the top bits of flags and of the rank byte set: rank 2, rows just over the
  // driver's 2^16-element chunk, so the multi-chunk split (threads, caller pool) runs too.
  if ((flags & 0x80) && H > 0 && (b_rank & 0x80)) {
    std::fill(shape.begin(), shape.end() - 1, 1);
    shape[0] = 65536 / H + 1 + b_rank % 32;
  }
  int64_t rows = 1;
  for (int i = 0; i + 1 < rank; ++i) rows *= shape[static_cast<size_t>(i)];

  View x, smooth, gi, y, scale, offset;
  x.dtype = b_xd % 2 ? GQ_DTYPE_BFLOAT16 : GQ_DTYPE_FLOAT16;
  if (mk == 2)
    x.dtype = b_xd % 3 == 0 ? GQ_DTYPE_FLOAT32 : b_xd % 3 == 1 ? GQ_DTYPE_INT8 : weird_code(b_xd);
  x.shape = shape;
  if (mk == 5) {  // x of another rank
    static const std::vector<int64_t> kShapes[] = {{}, {8}, {1, 1, 1, 1, 1, 1, 1, 1, 8}};
    x.shape = kShapes[b_xd % 3];
  }
  if (mk == 12) x.shape[0] = -x.shape[0] - 1;

  const bool has_smooth = smooth_mode == 1 || smooth_mode == 2 || mk == 7;
  const bool has_gi = smooth_mode >= 2;
  smooth.dtype = x.dtype;
  if (mk == 3)
    smooth.dtype = b_xd % 2 ? (x.dtype == GQ_DTYPE_FLOAT16 ? GQ_DTYPE_BFLOAT16 : GQ_DTYPE_FLOAT16)
                            : GQ_DTYPE_FLOAT32;
  smooth.shape = smooth_mode == 2 ? std::vector<int64_t>{E, H} : std::vector<int64_t>{H};
  if (mk == 6) smooth.shape.back() = H + 1;
  if (mk == 7)
    smooth.shape = smooth_mode == 2 ? std::vector<int64_t>{H} : std::vector<int64_t>{E, H};
  if (mk == 20 && smooth_mode == 2) smooth.shape[0] = 0;
  if (mk == 21) smooth.shape = {1, E, H};
  gi.dtype = gi64 ? GQ_DTYPE_INT64 : GQ_DTYPE_INT32;
  if (mk == 4) gi.dtype = b_xd % 2 ? (b_xd >> 1) % 4 : weird_code(b_xd);
  const int64_t g_len = mk == 8 ? E + 1 : (mk == 20 && smooth_mode == 2) ? 0 : E;
  gi.shape = {g_len};
  if (mk == 9) gi.shape = {g_len, 1};

  y.dtype = kind == GQ_OUTPUT_INT4_PACKED     ? GQ_DTYPE_INT32
            : kind == GQ_OUTPUT_FLOAT8_E4M3FN ? GQ_DTYPE_FLOAT8_E4M3FN
            : kind == GQ_OUTPUT_FLOAT8_E5M2   ? GQ_DTYPE_FLOAT8_E5M2
                                              : GQ_DTYPE_INT8;
  if (mk == 11) y.dtype = y.dtype == GQ_DTYPE_INT8 ? GQ_DTYPE_INT32 : GQ_DTYPE_INT8;
  y.shape = shape;
  if (kind == GQ_OUTPUT_INT4_PACKED) y.shape.back() = H / 8;
  if (mk == 10) y.shape.back() += 1;
  scale.dtype = offset.dtype = GQ_DTYPE_FLOAT32;
  scale.shape = offset.shape = std::vector<int64_t>(shape.begin(), shape.end() - 1);
  if (mk == 13) {
    if (b_xd % 2) {
      scale.dtype = GQ_DTYPE_FLOAT16;
    } else {
      scale.shape.push_back(1);
    }
  }
  if (mk == 22) offset.shape.back() += 1;
  const bool pass_offset = mk == 14 ? !asym : asym == 1 || (asym != 0 && b_xd % 2);

  choose_layout(in, x);
  choose_layout(in, smooth);
  choose_layout(in, gi);
  choose_layout(in, y);
  choose_layout(in, scale);
  choose_layout(in, offset);
  View* all[] = {&x, &smooth, &gi, &y, &scale, &offset};
  const uint8_t b_nul = in.byte();
  if (mk == 15) {
    all[b_nul % 6]->null_data = true;
  } else if (b_nul == 255) {  // null data on whichever tensors are empty (legal)
    for (View* v : all) v->null_data = v->empty();
  }
  std::vector<std::unique_ptr<Buffer>> buffers;
  for (View* v : all) buffers.push_back(allocate(*v));
  if (mk == 16) {  // an output laid over an input's or another output's buffer where it fits
    const uint8_t which = in.byte();
    View* out = which % 3 == 0 ? &y : which % 3 == 1 ? &scale : &offset;
    View* target = (which >> 2) % 3 == 0 ? &x : (which >> 2) % 3 == 1 ? &smooth : &y;
    if (target != out && !out->negative() &&
        static_cast<size_t>(out->extent_bytes()) <= target->buffer->size) {
      out->buffer = target->buffer;
    }
  }

  // ---- Contents ----------------------------------------------------------------------
  std::vector<int64_t> gv(static_cast<size_t>(std::max<int64_t>(g_len, 0)));
  for (auto& v : gv) v = (in.byte() * (rows + 1)) >> 8;
  std::sort(gv.begin(), gv.end());
  if (!gv.empty()) gv.back() = rows;
  const uint8_t corrupt = in.byte();
  if (corrupt >= 160 && !gv.empty()) {
    const size_t k = in.byte() % gv.size();
    const bool i32 = gi.dtype == GQ_DTYPE_INT32;
    switch (corrupt % 8) {
      case 0:
        gv[k] = -1;
        break;
      case 1:
        gv[k] = i32 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
        break;
      case 2:
        gv[k] = i32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
        break;
      case 3:
        gv[k] = rows + 1;
        break;
      case 4:
        gv.back() = rows - 1;
        break;
      case 5:
        if (k > 0)
          std::swap(gv[k], gv[k - 1]);
        else
          gv[k] = rows + 2;
        break;
      case 6:
        std::fill(gv.begin(), gv.end(), 0);
        break;
      default:
        gv[k] = -static_cast<int64_t>(in.byte()) - 1;
        break;
    }
  }
  // Write the values where the view reads them, then read back what it reads (a
  // broadcast stride reads the last value written everywhere).
  std::vector<int64_t> gi_read;
  std::memset(gi.buffer->mem.get(), 0x7B, gi.buffer->size);
  if (!gi.negative() && !gi.null_data && gi.ndim() == 1 &&
      (gi.dtype == GQ_DTYPE_INT32 || gi.dtype == GQ_DTYPE_INT64)) {
    const int64_t es = dtype_size(gi.dtype);
    auto at = [&](size_t i) {
      return gi.buffer->mem.get() + gi.byte_offset + static_cast<int64_t>(i) * gi.stride(0) * es;
    };
    for (size_t i = 0; i < gv.size(); ++i) {
      if (es == 4) {
        const int32_t v = static_cast<int32_t>(gv[i]);
        std::memcpy(at(i), &v, 4);
      } else {
        std::memcpy(at(i), &gv[i], 8);
      }
    }
    for (size_t i = 0; i < gv.size(); ++i) {
      int64_t v;
      if (es == 4) {
        int32_t w;
        std::memcpy(&w, at(i), 4);
        v = w;
      } else {
        std::memcpy(&v, at(i), 8);
      }
      gi_read.push_back(v);
    }
  } else if (!gi.null_data) {
    in.fill(gi.buffer->mem.get(), gi.buffer->size);
  }
  for (size_t i = 3; i < 6; ++i) {  // outputs on their own buffers start poisoned
    if (all[i]->buffer == buffers[i].get())
      std::memset(all[i]->buffer->mem.get(), 0xA5, all[i]->buffer->size);
  }
  fill_elements(in, x);
  fill_elements(in, smooth);

  // ---- Expected outcome ----------------------------------------------------------------
  const gq_tensor xt = x.tensor(), st = smooth.tensor(), gt = gi.tensor(), yt = y.tensor(),
                  sct = scale.tensor(), ot = offset.tensor();
  const gq_tensor* sp = has_smooth ? &st : nullptr;
  const gq_tensor* gp = has_gi ? &gt : nullptr;
  const gq_tensor* op = pass_offset ? &ot : nullptr;
  const gq_dynamic_quant_config config{as_enum<gq_output_kind>(kind), as_enum<gq_chip>(chip), asym};
  const char* invalid =
      shadow_invalid(x, has_smooth ? &smooth : nullptr, has_gi ? &gi : nullptr, kind, chip, asym, y,
                     scale, pass_offset ? &offset : nullptr, gi_read);

  std::vector<std::vector<uint8_t>> before;
  for (const auto& b : buffers) before.emplace_back(b->mem.get(), b->mem.get() + b->size);
  auto restore = [&] {
    for (size_t i = 0; i < buffers.size(); ++i)
      std::copy(before[i].begin(), before[i].end(), buffers[i]->mem.get());
  };
  std::vector<const Buffer*> written = {y.buffer, scale.buffer};
  if (op != nullptr) written.push_back(offset.buffer);
  auto unchanged_except = [&](bool outputs_may_change) {
    for (size_t i = 0; i < buffers.size(); ++i) {
      if (outputs_may_change &&
          std::find(written.begin(), written.end(), buffers[i].get()) != written.end()) {
        continue;
      }
      if (!std::equal(before[i].begin(), before[i].end(), buffers[i]->mem.get())) return false;
    }
    return true;
  };
  auto snapshot = [&] {
    std::vector<std::vector<uint8_t>> s;
    for (const auto& b : buffers) s.emplace_back(b->mem.get(), b->mem.get() + b->size);
    return s;
  };

  std::string ref_error;
  try {
    groupquant::dynamic_quant_reference(xt, sp, gp, config, yt, sct, op);
  } catch (const groupquant::Error& e) {
    ref_error = e.what();
    FUZZ_CHECK(!ref_error.empty());
  }
  const bool accepted = ref_error.empty();
  static const bool verbose = std::getenv("GQ_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::string dims;
    for (int64_t d : x.shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
    std::fprintf(stderr,
                 "x %d [%s] kind %d chip %d asym %d smooth %d E=%lld gi %d mistake %d: %s%s\n",
                 x.dtype, dims.c_str(), kind, chip, asym, smooth_mode, static_cast<long long>(E),
                 gi.dtype, mk, accepted ? "accepted" : "rejected: ", ref_error.c_str());
  }
  if (accepted != (invalid == nullptr)) {
    fail(accepted ? "validation accepted an invalid call:" : "validation rejected a valid call:",
         accepted ? invalid : ref_error);
  }
  FUZZ_CHECK(unchanged_except(accepted), "reference wrote outside its outputs");
  const auto expected = snapshot();
  if (accepted) {
    FUZZ_CHECK(distinct_elements(y) && distinct_elements(scale) &&
                   (op == nullptr || distinct_elements(offset)),
               "accepted output has overlapping elements");
  }

  // ---- Every ISA, every threading mode: the same bytes ---------------------------------
  for (const std::string& isa : isas) {
    FUZZ_CHECK(gq_set_cpu_isa(isa.c_str()) == GQ_STATUS_SUCCESS, isa);
    for (int variant = 0; variant < 2; ++variant) {
      restore();
      gq_options options{variant == 0 ? 1 : threads, nullptr, nullptr};
      if (variant == 1 && caller_pool) options.parallel_for = &reverse_parallel_for;
      const gq_status status = gq_dynamic_quant(&xt, sp, gp, &config, &options, &yt, &sct, op);
      if (accepted) {
        FUZZ_CHECK(status == GQ_STATUS_SUCCESS, isa + ": " + gq_last_error());
        FUZZ_CHECK(snapshot() == expected, isa + ": bytes differ from the reference's");
      } else {
        FUZZ_CHECK(status == GQ_STATUS_INVALID_ARGUMENT, isa);
        FUZZ_CHECK(ref_error == gq_last_error(),
                   isa + ": '" + gq_last_error() + "' vs '" + ref_error + "'");
        FUZZ_CHECK(unchanged_except(false), isa + ": a rejected call wrote memory");
      }
    }
  }
  if (accepted) {  // the output spec agrees with what validation accepted
    gq_dtype od;
    int32_t ond;
    int64_t os[8];
    FUZZ_CHECK(gq_dynamic_quant_output_spec(&xt, &config, &od, &ond, os) == GQ_STATUS_SUCCESS);
    FUZZ_CHECK(od == yt.dtype && ond == y.ndim() && std::equal(os, os + ond, y.shape.begin()));
  }
  return 0;
}
