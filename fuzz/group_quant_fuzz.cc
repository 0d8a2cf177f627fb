// libFuzzer target: arbitrary bytes -> one gq_group_quant call (shapes, strides, dtypes,
// byte offsets, offset tensor, output kind, group_index values, raw data), run on the
// reference and on every CPU ISA this machine has, with 1 and 2 threads or a caller
// parallel_for. What must hold (a violation aborts, so libFuzzer keeps the input):
//
//  1. No crash and no out-of-bounds access: every buffer is allocated to exactly the
//     extent of its view, so ASan sees a read or write one byte past any tensor.
//  2. The library accepts exactly when an independent re-statement of SPEC.md's rules
//     (shadow_valid below, written from the spec, sharing no code with src/validate.cc)
//     says the call is valid.
//  3. Accepted: every ISA writes the reference's bytes, bit for bit, touches nothing
//     else (y's padding and every input unchanged), and y's elements are distinct and
//     disjoint from every input.
//  4. Rejected: status GQ_STATUS_INVALID_ARGUMENT, the reference's exact (non-empty)
//     message, and no byte of any buffer changed.
//
// Input format (fuzz/README.md): a fixed header read byte by byte (missing bytes read
// as 0, which decodes to a small valid call), then raw data bytes for x, scale, offset.
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

#define GQ_FUZZ_TARGET "group_quant_fuzz"
#include "fuzz/fuzz_support.h"

namespace {

using gqfuzz::dtype_size;
using gqfuzz::fail;
using gqfuzz::Reader;

bool is_float(int32_t c) {
  return c == GQ_DTYPE_FLOAT32 || c == GQ_DTYPE_FLOAT16 || c == GQ_DTYPE_BFLOAT16;
}

gq_dtype as_dtype(int32_t code) {
  gq_dtype d;  // any int32 is a valid gq_dtype (the enum spans the whole range)
  std::memcpy(&d, &code, sizeof d);
  return d;
}

// An exactly sized allocation (0 bytes is a real, unreadable allocation).
struct Buffer {
  std::unique_ptr<uint8_t[]> mem;
  size_t size = 0;
  explicit Buffer(size_t n) : mem(new uint8_t[n]), size(n) {}
};

struct View {
  int32_t ndim = 2;
  int32_t dtype = GQ_DTYPE_FLOAT32;
  std::vector<int64_t> shape, strides;
  bool null_strides = false, null_data = false;
  uint64_t byte_offset = 0;
  Buffer* buffer = nullptr;  // where data points (null_data aside)

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  bool empty() const { return numel() == 0; }
  int64_t stride(int i) const {
    if (!null_strides) return strides[static_cast<size_t>(i)];
    int64_t s = 1;
    for (int j = ndim - 1; j > i; --j) s *= shape[static_cast<size_t>(j)];
    return s;
  }
  bool negative() const {
    for (int i = 0; i < ndim; ++i) {
      if (shape[static_cast<size_t>(i)] < 0 || stride(i) < 0) return true;
    }
    return false;
  }
  // Bytes from the buffer start to one past the last element (valid views only).
  int64_t extent_bytes() const {
    if (empty()) return static_cast<int64_t>(byte_offset);
    int64_t last = 0;
    for (int i = 0; i < ndim; ++i) last += (shape[static_cast<size_t>(i)] - 1) * stride(i);
    return static_cast<int64_t>(byte_offset) + (last + 1) * dtype_size(dtype);
  }
  gq_tensor tensor() const {
    gq_tensor t;
    t.data = null_data ? nullptr : buffer->mem.get();
    t.ndim = ndim;
    t.dtype = as_dtype(dtype);
    t.shape = shape.data();
    t.strides = null_strides ? nullptr : strides.data();
    t.byte_offset = byte_offset;
    return t;
  }
  // Address range [begin, end) of the elements; empty for an empty view.
  std::pair<uintptr_t, uintptr_t> span() const {
    if (empty() || null_data) return {0, 0};
    const auto base = reinterpret_cast<uintptr_t>(buffer->mem.get()) + byte_offset;
    return {base,
            base + static_cast<uintptr_t>(extent_bytes() - static_cast<int64_t>(byte_offset))};
  }
};

// Strides for a 2-D (or other) view from one layout byte: compact, transposed, padded,
// column-strided, broadcast (stride 0), negative, or arbitrary small strides.
void choose_layout(Reader& in, View& v, bool allow_negative) {
  const uint8_t b = in.byte();
  const int mode = b % 8, arg = b >> 3;
  const size_t nd = v.shape.size();
  v.strides.assign(nd, 1);
  for (int i = static_cast<int>(nd) - 2; i >= 0; --i) {
    v.strides[static_cast<size_t>(i)] = v.strides[static_cast<size_t>(i) + 1] *
                                        std::max<int64_t>(1, v.shape[static_cast<size_t>(i) + 1]);
  }
  if (mode == 0) v.null_strides = true;
  if (nd == 2) {
    const int64_t rows = std::max<int64_t>(1, v.shape[0]), cols = std::max<int64_t>(1, v.shape[1]);
    switch (mode) {
      case 2:
        v.strides = {1, rows};
        break;  // transposed
      case 3:
        v.strides = {cols + 1 + arg % 4, 1};
        break;  // padded rows
      case 4:
        v.strides = {cols * (2 + arg % 2) + arg % 3, 2 + arg % 2};
        break;  // column stride
      case 5:
        v.strides[static_cast<size_t>(arg % 2)] = 0;
        break;  // broadcast
      case 6:
        if (allow_negative && (arg & 1)) v.strides[static_cast<size_t>((arg >> 1) % 2)] = -1;
        break;
      case 7:
        v.strides = {in.byte() % 70, in.byte() % 70};
        break;  // anything small
      default:
        break;
    }
  } else if (nd == 1 && mode >= 5) {
    v.strides = {mode == 5 ? 0 : 1 + arg % 3};
  }
  const uint8_t o = in.byte();
  v.byte_offset = o < 160 ? 0 : o % 16;  // sometimes misaligned
}

// Allocates the view's buffer to exactly its extent (a compact one for a view that
// validation must reject on its shape or strides).
std::unique_ptr<Buffer> allocate(View& v) {
  int64_t bytes;
  if (v.negative()) {
    bytes = 64;
  } else {
    bytes = v.extent_bytes();
  }
  auto buf = std::make_unique<Buffer>(static_cast<size_t>(bytes));
  v.buffer = buf.get();
  return buf;
}

// Writes a float tensor's elements (raw bytes from the input: NaN, Inf, subnormals...).
void fill_elements(Reader& in, const View& v) {
  if (v.empty() || v.negative() || v.null_data || v.ndim > 2) {
    in.fill(v.buffer->mem.get(), v.buffer->size);
    return;
  }
  const int64_t es = dtype_size(v.dtype);
  const int64_t rows = v.ndim == 2 ? v.shape[0] : 1, cols = v.ndim >= 1 ? v.shape[v.ndim - 1] : 1;
  const int64_t rs = v.ndim == 2 ? v.stride(0) : 0, cs = v.ndim >= 1 ? v.stride(v.ndim - 1) : 0;
  std::memset(v.buffer->mem.get(), 0xC3, v.buffer->size);  // padding between elements
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      in.fill(v.buffer->mem.get() + v.byte_offset + (r * rs + c * cs) * es,
              static_cast<size_t>(es));
    }
  }
}

// Every SPEC.md validation rule, restated from the spec for the inputs this harness
// builds (small sizes: the 64-bit overflow rules never apply here). Returns the broken
// rule, or null for a valid call.
const char* shadow_invalid(const View& x, const View& s, const View& gi, const View* off,
                           int32_t kind, const View& y, const std::vector<int64_t>& gi_values) {
  for (const View* v : {&x, &s, &gi, &y}) {
    if (v->negative()) return "negative size or stride";
    if (!v->empty() && v->null_data) return "null data";
  }
  if (x.ndim != 2 || !is_float(x.dtype)) return "x rank/dtype";
  if (s.ndim != 2 || !is_float(s.dtype)) return "scale rank/dtype";
  const int64_t M = x.shape[0], N = x.shape[1], G = s.shape[0];
  if (s.shape[1] != N) return "scale.size(1)";
  if (gi.ndim != 1 || (gi.dtype != GQ_DTYPE_INT32 && gi.dtype != GQ_DTYPE_INT64))
    return "group_index rank/dtype";
  if (gi.shape[0] != G) return "group_index length";
  const bool empty = M == 0 || N == 0;
  if (G == 0 && !empty) return "G == 0";
  if (off != nullptr) {
    if (off->ndim < 0 || off->ndim > 1 || !is_float(off->dtype)) return "offset rank/dtype";
    if (off->negative() || (off->null_data && !off->empty())) return "offset negative/null";
    if (off->dtype != s.dtype) return "offset dtype";
    if (off->ndim == 1 && off->shape[0] != 1) return "offset shape";
  }
  if (kind != GQ_OUTPUT_INT8 && kind != GQ_OUTPUT_INT4_PACKED) return "kind";
  if (kind == GQ_OUTPUT_INT4_PACKED && N % 8 != 0) return "int4 N % 8";
  if (y.ndim != 2 || y.dtype != (kind == GQ_OUTPUT_INT8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32))
    return "y rank/dtype";
  if (y.shape[0] != M || y.shape[1] != (kind == GQ_OUTPUT_INT8 ? N : N / 8)) return "y shape";
  // y: no two elements may share memory. The documented rule (docs/hostile-inputs.md):
  // sort the dims by stride; the inner stride must be non-zero and inner size * inner
  // stride must not exceed the outer stride (dims of size 1 ignored; an empty y has no
  // elements to overlap).
  if (!y.empty()) {
    const int64_t n0 = y.shape[0], n1 = y.shape[1], s0 = y.stride(0), s1 = y.stride(1);
    if (n0 > 1 && n1 > 1) {
      const bool inner1 = s1 <= s0;
      const int64_t is = inner1 ? s1 : s0, isz = inner1 ? n1 : n0, os = inner1 ? s0 : s1;
      if (is == 0 || os < is * isz) return "y self-overlap";
    } else if (n1 == 1 && n0 > 1 && s0 == 0) {
      return "y self-overlap (dim 0)";
    } else if (n0 == 1 && n1 > 1 && s1 == 0) {
      return "y self-overlap (dim 1)";
    }
  }
  const auto ys = y.span();
  for (const View* v : {&x, &s, &gi, off}) {
    if (v == nullptr) continue;
    const auto vs = v->span();
    if (vs.first < ys.second && ys.first < vs.second) return "y overlaps an input";
  }
  if (!empty) {
    int64_t prev = 0;
    for (int64_t v : gi_values) {
      if (v < 0 || v < prev || v > M) return "group_index value";
      prev = v;
    }
    if (prev != M) return "group_index last";
  }
  return nullptr;
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

int32_t weird_dtype(uint8_t b) {
  static const int32_t kCodes[] = {6, 7, 99, -1, std::numeric_limits<int32_t>::max()};
  return kCodes[b % 5];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::string> isas = supported_isas();
  Reader in(data, size);

  // ---- Header ------------------------------------------------------------------------
  const uint8_t b_xd = in.byte(), b_sd = in.byte(), b_gd = in.byte(), flags = in.byte();
  const uint8_t b_m = in.byte();
  const int64_t G = in.byte() % 17;
  int64_t N = in.byte() % 65;
  const uint8_t mistake = in.byte();  // >= 200: one deliberate mistake of kind mistake - 200
  const int mk = mistake >= 200 ? mistake - 200 : -1;

  int32_t kind = (flags & 1) ? GQ_OUTPUT_INT4_PACKED : GQ_OUTPUT_INT8;
  if (kind == GQ_OUTPUT_INT4_PACKED && mk != 0) N &= ~int64_t{7};
  // Small problems, and one in eight just over the driver's 2^16-element chunk, so the
  // multi-chunk split (threads, caller parallel_for) runs too.
  const bool big = (flags & 0xE0) == 0xE0 && N > 0;
  const int64_t M = big ? 65536 / N + 1 + b_m % 64 : b_m % 65;
  if (mk == 1) kind = (flags >> 4) % 2 ? 2 : -1;  // unknown output kind code
  const bool with_offset = (flags >> 1) & 1;
  const int32_t threads = 1 + ((flags >> 2) & 1);
  const bool caller_pool = (flags >> 3) & 1;

  View x, s, gi, off, y;
  x.dtype = b_xd % 3;
  s.dtype = b_sd % 3;
  gi.dtype = b_gd % 2 ? GQ_DTYPE_INT64 : GQ_DTYPE_INT32;
  if (mk == 2) x.dtype = b_xd % 2 ? GQ_DTYPE_INT8 + b_xd % 3 : weird_dtype(b_xd);
  if (mk == 3) s.dtype = b_sd % 2 ? GQ_DTYPE_INT8 + b_sd % 3 : weird_dtype(b_sd);
  if (mk == 4) gi.dtype = b_gd % 2 ? (b_gd >> 1) % 4 : weird_dtype(b_gd);  // float or int8 codes

  x.shape = {M, N};
  if (mk == 5) {  // x of another rank
    static const std::vector<int64_t> kShapes[] = {{}, {8}, {1, 2, 8}, {2, 1, 1, 8}};
    x.shape = kShapes[flags % 4];
  }
  s.shape = {G, mk == 6 ? N + 1 : N};
  if (mk == 7) s.shape = {G * std::max<int64_t>(N, 1)};
  const int64_t g_len = mk == 8 ? G + 1 : G;
  gi.shape = {g_len};
  if (mk == 9) gi.shape = {g_len, 1};
  const int64_t y_cols = kind == GQ_OUTPUT_INT4_PACKED ? N / 8 : N;
  y.shape = {M, mk == 10 ? y_cols + 1 : y_cols};
  y.dtype = kind == GQ_OUTPUT_INT4_PACKED ? GQ_DTYPE_INT32 : GQ_DTYPE_INT8;
  if (mk == 11) y.dtype = y.dtype == GQ_DTYPE_INT8 ? GQ_DTYPE_INT32 : GQ_DTYPE_INT8;
  if (mk == 12) x.shape[0] = -x.shape[0] - 1;  // negative size

  off.dtype = s.dtype;
  if (mk == 13) off.dtype = (s.dtype + 1) % 3;
  off.shape = {};
  off.null_strides = true;
  const uint8_t b_off = in.byte();
  if (b_off % 4 == 1 || mk == 14) {
    static const std::vector<int64_t> kShapes[] = {{1}, {2}, {0}, {1, 1}};
    off.shape = kShapes[mk == 14 ? 1 + b_off % 3 : 0];
  }

  for (View* v : {&x, &s, &gi, &y, &off}) v->ndim = static_cast<int32_t>(v->shape.size());
  choose_layout(in, x, true);
  choose_layout(in, s, true);
  choose_layout(in, gi, true);
  choose_layout(in, y, true);
  const uint8_t b_nul = in.byte();
  if (mk == 15) {  // a null data pointer
    View* v[] = {&x, &s, &gi, &y, &off};
    v[b_nul % 5]->null_data = true;
  } else if (b_nul == 255) {  // null data on whichever tensors are empty (legal)
    for (View* v : {&x, &s, &gi, &y}) v->null_data = v->empty();
  }

  std::vector<std::unique_ptr<Buffer>> buffers;
  for (View* v : {&x, &s, &gi, &off}) buffers.push_back(allocate(*v));
  buffers.push_back(allocate(y));
  if (mk == 16) {  // y laid over an input's buffer where it fits
    const uint8_t which = in.byte();
    Buffer* target = (which % 3 == 0 ? x : which % 3 == 1 ? s : gi).buffer;
    if (!y.negative() && static_cast<size_t>(y.extent_bytes()) <= target->size) y.buffer = target;
  }

  // ---- Contents ----------------------------------------------------------------------
  // group_index: sorted cumulative ends with last == M, then maybe one corruption.
  std::vector<int64_t> gv(static_cast<size_t>(std::max<int64_t>(g_len, 0)));
  for (auto& v : gv) v = (in.byte() * (M + 1)) >> 8;
  std::sort(gv.begin(), gv.end());
  if (!gv.empty()) gv.back() = M;
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
        gv[k] = M + 1;
        break;
      case 4:
        gv.back() = M - 1;
        break;
      case 5:
        if (k > 0)
          std::swap(gv[k], gv[k - 1]);
        else
          gv[k] = M + 2;
        break;
      case 6:
        std::fill(gv.begin(), gv.end(), 0);
        break;
      default:
        gv[k] = -static_cast<int64_t>(in.byte()) - 1;
        break;
    }
  }
  // Write the values where the view reads them (a broadcast or gapped stride included).
  std::vector<int64_t> gi_read;  // what the view reads, index by index
  std::memset(gi.buffer->mem.get(), 0x7B, gi.buffer->size);
  if (!gi.negative() && !gi.null_data && gi.ndim == 1 &&
      (gi.dtype == GQ_DTYPE_INT32 || gi.dtype == GQ_DTYPE_INT64)) {
    const int64_t es = dtype_size(gi.dtype);
    for (size_t i = 0; i < gv.size(); ++i) {
      uint8_t* p =
          gi.buffer->mem.get() + gi.byte_offset + static_cast<int64_t>(i) * gi.stride(0) * es;
      if (es == 4) {
        const int32_t v = static_cast<int32_t>(gv[i]);
        std::memcpy(p, &v, 4);
      } else {
        std::memcpy(p, &gv[i], 8);
      }
    }
    for (size_t i = 0; i < gv.size(); ++i) {
      const uint8_t* p =
          gi.buffer->mem.get() + gi.byte_offset + static_cast<int64_t>(i) * gi.stride(0) * es;
      int64_t v;
      if (es == 4) {
        int32_t w;
        std::memcpy(&w, p, 4);
        v = w;
      } else {
        std::memcpy(&v, p, 8);
      }
      gi_read.push_back(v);  // a stride-0 view reads the last value written everywhere
    }
  } else if (!gi.null_data) {
    in.fill(gi.buffer->mem.get(), gi.buffer->size);
  }
  if (y.buffer == buffers.back().get()) std::memset(y.buffer->mem.get(), 0xA5, y.buffer->size);
  fill_elements(in, x);
  fill_elements(in, s);
  if (!off.null_data) in.fill(off.buffer->mem.get(), off.buffer->size);

  // ---- Expected outcome ----------------------------------------------------------------
  const gq_tensor xt = x.tensor(), st = s.tensor(), gt = gi.tensor(), ot = off.tensor(),
                  yt = y.tensor();
  const gq_tensor* op = with_offset || mk == 13 || mk == 14 ? &ot : nullptr;
  const char* invalid = shadow_invalid(x, s, gi, op != nullptr ? &off : nullptr, kind, y, gi_read);
  gq_output_kind kind_enum;
  std::memcpy(&kind_enum, &kind, sizeof kind_enum);

  std::vector<std::vector<uint8_t>> before;
  for (const auto& b : buffers) before.emplace_back(b->mem.get(), b->mem.get() + b->size);
  auto restore = [&] {
    for (size_t i = 0; i < buffers.size(); ++i)
      std::copy(before[i].begin(), before[i].end(), buffers[i]->mem.get());
  };
  auto unchanged_except = [&](const Buffer* allowed) {
    for (size_t i = 0; i < buffers.size(); ++i) {
      if (buffers[i].get() == allowed) continue;
      if (!std::equal(before[i].begin(), before[i].end(), buffers[i]->mem.get())) return false;
    }
    return true;
  };

  std::string ref_error;
  try {
    groupquant::group_quant_reference(xt, st, gt, op, kind_enum, yt);
  } catch (const groupquant::Error& e) {
    ref_error = e.what();
    FUZZ_CHECK(!ref_error.empty());
  }
  const bool accepted = ref_error.empty();
  static const bool verbose = std::getenv("GQ_FUZZ_VERBOSE") != nullptr;
  if (verbose) {  // one line per input, to read what a corpus file decodes to
    std::fprintf(stderr, "x %d [%lld, %lld] scale %d G=%lld gi %d kind %d mistake %d: %s%s",
                 x.dtype, static_cast<long long>(M), static_cast<long long>(N), s.dtype,
                 static_cast<long long>(G), gi.dtype, kind, mk,
                 accepted ? "accepted" : "rejected: ", ref_error.c_str());
    if (accepted && y.buffer->size > 0) {
      std::fprintf(stderr, " y[:8] =");
      for (size_t i = 0; i < std::min<size_t>(8, y.buffer->size); ++i)
        std::fprintf(stderr, " %02x", y.buffer->mem[i]);
    }
    std::fprintf(stderr, "\n");
  }
  if (accepted != (invalid == nullptr)) {
    fail(accepted ? "validation accepted an invalid call:" : "validation rejected a valid call:",
         accepted ? invalid : ref_error);
  }
  FUZZ_CHECK(unchanged_except(accepted ? y.buffer : nullptr), "reference wrote outside y");
  const std::vector<uint8_t> expected(y.buffer->mem.get(), y.buffer->mem.get() + y.buffer->size);
  if (accepted && !y.empty()) {
    // y's elements are distinct: the writes cannot race or overwrite each other.
    std::vector<int64_t> offs;
    for (int64_t r = 0; r < y.shape[0]; ++r) {
      for (int64_t c = 0; c < y.shape[1]; ++c) offs.push_back(r * y.stride(0) + c * y.stride(1));
    }
    std::sort(offs.begin(), offs.end());
    FUZZ_CHECK(std::adjacent_find(offs.begin(), offs.end()) == offs.end(),
               "accepted y has overlapping elements");
  }

  // ---- Every ISA, every threading mode: the same bytes ---------------------------------
  for (const std::string& isa : isas) {
    FUZZ_CHECK(gq_set_cpu_isa(isa.c_str()) == GQ_STATUS_SUCCESS, isa);
    for (int variant = 0; variant < 2; ++variant) {
      restore();
      gq_options options{variant == 0 ? 1 : threads, nullptr, nullptr};
      if (variant == 1 && caller_pool) options.parallel_for = &reverse_parallel_for;
      const gq_status status = gq_group_quant(&xt, &st, &gt, op, kind_enum, &options, &yt);
      if (accepted) {
        FUZZ_CHECK(status == GQ_STATUS_SUCCESS, isa + ": " + gq_last_error());
        FUZZ_CHECK(std::equal(expected.begin(), expected.end(), y.buffer->mem.get()),
                   isa + ": y differs from the reference");
        FUZZ_CHECK(unchanged_except(y.buffer), isa + ": wrote outside y");
      } else {
        FUZZ_CHECK(status == GQ_STATUS_INVALID_ARGUMENT, isa);
        FUZZ_CHECK(ref_error == gq_last_error(),
                   isa + ": '" + gq_last_error() + "' vs '" + ref_error + "'");
        FUZZ_CHECK(unchanged_except(nullptr), isa + ": a rejected call wrote memory");
      }
    }
  }
  // The output spec agrees with what validation accepted.
  if (accepted) {
    gq_dtype od;
    int64_t os[2];
    FUZZ_CHECK(gq_output_spec(&xt, kind_enum, &od, os) == GQ_STATUS_SUCCESS);
    FUZZ_CHECK(od == yt.dtype && os[0] == y.shape[0] && os[1] == y.shape[1]);
  }
  return 0;
}
