// The CUDA kernel's per-thread work, written as __host__ __device__ code so that
// tests/cpp/cuda_body_test.cc can compile it with a plain C++ compiler and run it over a
// simulated grid against the reference. The kernel in group_quant.cu is a thin wrapper
// around run_thread(); everything that decides which bytes are read and written lives
// here. Only the leaf helpers (16-byte loads and stores, fp16 widening, float -> int)
// have a device and a host spelling, and both implement the same function.
//
// Work mapping: `lanes` consecutive threads share one row (lanes a power of two: 1..128
// within a block, or whole blocks for a few very wide rows, launch_shape.h), rows are
// taken grid-stride. A thread finds the group of its first row by a binary search over
// group_index and carries it forward over its later rows (rows, and so groups, only
// grow), usually with no load at all; the row's lanes compute the same group from the
// same entries (broadcast loads in a warp), with no exchange between threads. A row is
// processed in chunks of kCols columns: 32 bytes of x (two 16-byte loads: 8 fp32 or 16
// fp16/bf16 columns) and the matching scale bytes, giving one 8- or 16-byte int8 store or
// one or two int4 words; a lane issues the loads of kUnroll chunks before their stores.
// A scalar head aligns x to 16 bytes; a scalar tail finishes the row; rows whose x,
// scale and y cannot all be aligned at the same column, and column-strided views, go
// fully scalar. All indices are 64-bit.
//
// group_index is never read on the host: every thread checks a grid-strided share of
// its entries (SPEC rules: >= 0, <= M, non-decreasing, last == M), and every row checks
// that the group it found really owns it before it reads scale. A thread that finds a
// violation returns a Failure; the kernel turns that into a device-side assertion.
#ifndef GROUPQUANT_SRC_CUDA_GROUP_QUANT_CUH_
#define GROUPQUANT_SRC_CUDA_GROUP_QUANT_CUH_

#include <groupquant/groupquant.h>

#include <cstdint>
#include <cstring>

#include "src/element.h"
#include "src/kernel_list.h"
#include "src/output_kind.h"
#include "src/problem.h"
#include "src/validate.h"

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#endif
#if defined(__CUDA_ARCH__)  // the device pass only: g++ (-Wall) rejects unknown pragmas
#define GQ_UNROLL _Pragma("unroll")
#else
#define GQ_UNROLL
#endif

namespace groupquant::detail::cuda {

// Threads per block; choose_lanes' lanes per row divide it.
inline constexpr int kBlockThreads = 256;
inline constexpr int kMaxLanesPerRow = 128;

// Everything a thread reads: plain values, passed to the kernel by value. Pointers are
// element [0, 0] of each tensor (byte offsets applied), strides are in elements.
struct Params {
  int64_t M, N, G;
  // __restrict__: y never overlaps the inputs (the API requires it), so the compiler may
  // keep loads ahead of stores and send the inputs through the read-only path.
  const char* __restrict__ x;
  int64_t x_stride0, x_stride1;
  const char* __restrict__ scale;
  int64_t scale_stride0, scale_stride1;
  const char* __restrict__ group_index;
  int64_t group_index_stride;
  int32_t group_index_is_int64;
  const char* __restrict__ offset;  // null when absent; scale's dtype
  char* __restrict__ y;
  int64_t y_stride0, y_stride1;  // in int8 elements or int32 words
  int32_t unit_cols;             // x, scale and y rows are contiguous (vector path allowed)
  int32_t lanes;                 // threads per row
};

// What a thread reports when group_index breaks SPEC.md (code kNone: all fine).
struct Failure {
  enum Code : int32_t {
    kNone = 0,
    kNegative,    // group_index[index] = value < 0
    kDecreasing,  // group_index[index] = value < group_index[index - 1] = other
    kAboveM,      // group_index[index] = value > M
    kLastNotM,    // group_index[G - 1] = value != M
    kRowUnowned,  // row `other` is owned by no group: search ended at index
  };
  int32_t code;
  int64_t index, value, other;
};

// ---- Dtypes ---------------------------------------------------------------------------

template <gq_dtype D>
struct Float;
template <>
struct Float<GQ_DTYPE_FLOAT32> {
  static constexpr int kSize = 4;
};
template <>
struct Float<GQ_DTYPE_FLOAT16> {
  static constexpr int kSize = 2;
};
template <>
struct Float<GQ_DTYPE_BFLOAT16> {
  static constexpr int kSize = 2;
};

// Exact widening of a 16-bit float. On the device cvt.f32.f16 is exact (every half is a
// float), the same value as element.h's integer decoding that the host runs.
GQ_HOST_DEVICE float widen_f16(uint16_t bits) {
#if defined(__CUDA_ARCH__)
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(bits));
  return f;
#else
  return f16_to_float(bits);
#endif
}

// Element `i` of a packed array of dtype D, from 32-bit words (little-endian).
template <gq_dtype D>
GQ_HOST_DEVICE float unpack(const uint32_t* words, int i) {
  if constexpr (D == GQ_DTYPE_FLOAT32) {
    return float_from_bits(words[i]);
  } else {
    const uint16_t bits = static_cast<uint16_t>(words[i / 2] >> (16 * (i % 2)));
    if constexpr (D == GQ_DTYPE_FLOAT16) {
      return widen_f16(bits);
    } else {
      return bf16_to_float(bits);
    }
  }
}

// Scalar loads from an address aligned to sizeof(T) (the launcher checks every base
// pointer; strides are in elements). On the device one typed load (scale and group_index
// through the read-only cache); on the host a memcpy of the same bytes.
template <typename T>
GQ_HOST_DEVICE T load_aligned(const char* p) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const T*>(p);
#else
  T v;
  memcpy(&v, p, sizeof v);
  return v;
#endif
}
template <typename T>
GQ_HOST_DEVICE T load_readonly(const char* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(reinterpret_cast<const T*>(p));
#else
  T v;
  memcpy(&v, p, sizeof v);
  return v;
#endif
}

// One element of dtype D at byte address p.
template <gq_dtype D, bool kReadOnly = false>
GQ_HOST_DEVICE float load_scalar(const char* p) {
  if constexpr (D == GQ_DTYPE_FLOAT32) {
    return kReadOnly ? load_readonly<float>(p) : load_aligned<float>(p);
  } else {
    const uint16_t bits =
        kReadOnly ? load_readonly<unsigned short>(p) : load_aligned<unsigned short>(p);
    return D == GQ_DTYPE_FLOAT16 ? widen_f16(bits) : bf16_to_float(bits);
  }
}

// ---- 16-byte memory operations ----------------------------------------------------------
// The device spellings are single 128-bit instructions; the host ones copy the same
// bytes, so the host-simulated test exercises exactly the addresses the GPU touches.

// How a 16-byte load uses the caches: x is streamed (read once, evict first, so scale rows
// stay in L2); scale rows are reused by every row of a group (read-only cache).
enum class Load { kStream, kReadOnly };

// n consecutive 16-byte loads from p (16-byte aligned) into 4 * n words.
template <int n, Load kHint>
GQ_HOST_DEVICE void load16(const char* p, uint32_t* words) {
#if defined(__CUDA_ARCH__)
  for (int k = 0; k < n; ++k) {
    const uint4* at = reinterpret_cast<const uint4*>(p) + k;
    const uint4 v = kHint == Load::kStream ? __ldcs(at) : __ldg(at);
    words[4 * k] = v.x, words[4 * k + 1] = v.y, words[4 * k + 2] = v.z, words[4 * k + 3] = v.w;
  }
#else
  memcpy(words, p, 16 * n);
#endif
}

// One store of n 32-bit words (n = 1, 2 or 4; p aligned to 4 * n bytes).
template <int n>
GQ_HOST_DEVICE void store_words(char* p, const uint32_t* w) {
#if defined(__CUDA_ARCH__)
  if constexpr (n == 1) {
    __stcs(reinterpret_cast<unsigned int*>(p), w[0]);
  } else if constexpr (n == 2) {
    __stcs(reinterpret_cast<uint2*>(p), make_uint2(w[0], w[1]));
  } else {
    static_assert(n == 4, "store_words: 1, 2 or 4 words");
    __stcs(reinterpret_cast<uint4*>(p), make_uint4(w[0], w[1], w[2], w[3]));
  }
#else
  memcpy(p, w, 4 * n);
#endif
}

// ---- Arithmetic ---------------------------------------------------------------------------

// round_half_to_even(v) clamped to [lo, hi], NaN -> 0. The device uses cvt.rni.s32.f32
// (__float2int_rn): round to nearest even, saturating to the int32 range; our reading of
// the PTX ISA is that it also maps NaN to 0, but we do not rely on that and test NaN
// first, so the host emulation below runs the same decisions. The host emulates the
// instruction with element.h's round_saturate on the int32 range (float(INT32_MAX) is
// 2^31, so v >= 2^31 saturates exactly as cvt does).
GQ_HOST_DEVICE int32_t to_int_saturate(float v, int32_t lo, int32_t hi) {
  if (v != v) return 0;
#if defined(__CUDA_ARCH__)
  const int32_t q = __float2int_rn(v);
#else
  const int32_t q = round_saturate(v, INT32_MIN, INT32_MAX);
#endif
  return q < lo ? lo : (q > hi ? hi : q);
}

// SPEC.md's arithmetic for one element: one fp32 multiply, one fp32 add only when an
// offset is given (mul_rn/add_rn are __fmul_rn/__fadd_rn on the device: never an FMA).
template <gq_output_kind K>
GQ_HOST_DEVICE int32_t quantize(float x, float s, bool has_offset, float offset) {
  float v = mul_rn(x, s);
  if (has_offset) v = add_rn(v, offset);
  static_assert(K == GQ_OUTPUT_INT8 || K == GQ_OUTPUT_INT4_PACKED, "npu_group_quant's kinds");
  constexpr OutputTraits kOut = output_traits(K);
  return to_int_saturate(v, kOut.lo, kOut.hi);
}

// ---- Groups -------------------------------------------------------------------------------

GQ_HOST_DEVICE int64_t group_end_at(const Params& p, int64_t g) {
  const char* at = p.group_index + g * p.group_index_stride * (p.group_index_is_int64 ? 8 : 4);
  return p.group_index_is_int64 ? static_cast<int64_t>(load_readonly<long long>(at))
                                : load_readonly<int>(at);
}

// SPEC's rules for entry i of group_index (the entry and its left neighbour).
GQ_HOST_DEVICE Failure check_group_entry(const Params& p, int64_t i) {
  const int64_t v = group_end_at(p, i);
  if (v < 0) return {Failure::kNegative, i, v, 0};
  if (v > p.M) return {Failure::kAboveM, i, v, 0};
  if (i > 0) {
    const int64_t prev = group_end_at(p, i - 1);
    if (v < prev) return {Failure::kDecreasing, i, v, prev};
  }
  if (i == p.G - 1 && v != p.M) return {Failure::kLastNotM, i, v, 0};
  return {Failure::kNone, 0, 0, 0};
}

// The group of `row` (0 <= row < M): the first g with group_index[g] > row. Reads only
// entries in [0, G), whatever their values. Whatever the values, the search also ends
// with group_index[g-1] <= row (when g > 0) and group_index[g] > row (when g < G), as
// it has compared both: so when g < G the row is consistently owned by g, and the only
// case left is g == G (row >= every entry it compared), reported here before anyone
// reads scale row G. A bad group_index can make a row fail, never read or write out of
// bounds.
GQ_HOST_DEVICE int64_t find_group(const Params& p, int64_t row, Failure* failure) {
  int64_t lo = 0, hi = p.G;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (group_end_at(p, mid) > row) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  if (lo >= p.G) *failure = {Failure::kRowUnowned, lo, 0, row};
  return lo;
}

// The group of `row` for a thread whose previous row `prev` (< row) was in group g, with
// `end` = group_index[g] (> prev): rows only grow along a thread's grid stride, and groups
// with them, so the search starts at g. Usually row < end and nothing is loaded at all;
// otherwise it gallops forward (g + 1, g + 2, g + 4, ...) to the first entry > row and
// bisects the last gap, about 2 log2(groups skipped) loads instead of log2(G). It keeps
// find_group's guarantee whatever the values: it only leaves a g' with group_index[g'-1]
// <= row (the entry it compared, or group_index[g] <= prev < row) and group_index[g'] > row,
// or g' == G, reported as kRowUnowned. With a valid group_index that g' is the one owner
// find_group returns; with an invalid one the entry checks fail the launch anyway.
GQ_HOST_DEVICE int64_t next_group(const Params& p, int64_t row, int64_t g, int64_t* end,
                                  Failure* failure) {
  if (row < *end) return g;
  int64_t lo = g, hi = g + 1, hi_end = 0, step = 1;  // group_index[lo] <= row
  while (hi < p.G) {
    hi_end = group_end_at(p, hi);
    if (hi_end > row) break;
    lo = hi;
    step *= 2;
    hi = p.G - hi > step ? hi + step : p.G;
  }
  while (hi - lo > 1) {  // group_index[lo] <= row < group_index[hi] = hi_end (or hi == G)
    const int64_t mid = lo + (hi - lo) / 2;
    const int64_t v = group_end_at(p, mid);
    if (v > row) {
      hi = mid, hi_end = v;
    } else {
      lo = mid;
    }
  }
  if (hi >= p.G) *failure = {Failure::kRowUnowned, hi, 0, row};
  *end = hi_end;
  return hi;
}

// ---- Rows ---------------------------------------------------------------------------------

// Columns per vector chunk: 32 bytes of x.
template <gq_dtype XD>
inline constexpr int kCols = 32 / Float<XD>::kSize;

// Threads per row: enough for about two chunks each, a power of two in [1, 128].
inline int32_t choose_lanes(int64_t N, int cols) {
  const int64_t chunks = (N + cols - 1) / cols;
  int32_t lanes = 1;
  while (lanes < kMaxLanesPerRow && 2 * static_cast<int64_t>(lanes) < chunks) lanes *= 2;
  return lanes;
}

// Where the vector chunks of a row start (column), or -1 when the row goes scalar.
// Needs unit column strides, x 16-byte aligned at that column (after a scalar head of
// fewer than 16 bytes), scale 16-byte aligned and y aligned to the store at the same
// column, and at least one whole chunk. int4 has no head: words start at column 0.
template <gq_dtype XD, gq_dtype SD, gq_output_kind K>
GQ_HOST_DEVICE int64_t vector_start(const Params& p, const char* xr, const char* sr,
                                    const char* yr) {
  constexpr int kXs = Float<XD>::kSize, kSs = Float<SD>::kSize;
  constexpr int kStoreBytes = K == GQ_OUTPUT_INT8 ? kCols<XD> : kCols<XD> / 2;
  if (!p.unit_cols) return -1;
  const uintptr_t xa = reinterpret_cast<uintptr_t>(xr);
  if (xa % kXs != 0) return -1;
  const int64_t head = static_cast<int64_t>((16 - xa % 16) % 16) / kXs;
  if (K == GQ_OUTPUT_INT4_PACKED && head != 0) return -1;
  if (p.N - head < kCols<XD>) return -1;
  if (reinterpret_cast<uintptr_t>(sr + head * kSs) % 16 != 0) return -1;
  const int64_t y_byte = K == GQ_OUTPUT_INT8 ? head : 0;
  if (reinterpret_cast<uintptr_t>(yr + y_byte) % kStoreBytes != 0) return -1;
  return head;
}

// Columns [c0, c1) of a row, one element (int8) or one int4 word (8 columns) per step,
// spread over the row's lanes; any strides. For int4, c0 and c1 are multiples of 8.
template <gq_dtype XD, gq_dtype SD, gq_output_kind K>
GQ_HOST_DEVICE void scalar_columns(const Params& p, const char* xr, const char* sr, char* yr,
                                   int64_t c0, int64_t c1, int64_t lane, bool has_offset,
                                   float offset) {
  constexpr int kXs = Float<XD>::kSize, kSs = Float<SD>::kSize;
  if constexpr (K == GQ_OUTPUT_INT8) {
    for (int64_t c = c0 + lane; c < c1; c += p.lanes) {
      const float xf = load_scalar<XD>(xr + c * p.x_stride1 * kXs);
      const float sf = load_scalar<SD, true>(sr + c * p.scale_stride1 * kSs);
      yr[c * p.y_stride1] = static_cast<char>(quantize<K>(xf, sf, has_offset, offset));
    }
  } else {
    for (int64_t w = c0 / 8 + lane; w < c1 / 8; w += p.lanes) {
      uint32_t word = 0;
      for (int k = 0; k < 8; ++k) {
        const int64_t c = 8 * w + k;
        const float xf = load_scalar<XD>(xr + c * p.x_stride1 * kXs);
        const float sf = load_scalar<SD, true>(sr + c * p.scale_stride1 * kSs);
        word |= pack_nibble(quantize<K>(xf, sf, has_offset, offset), k);
      }
      store_words<1>(yr + 4 * w * p.y_stride1, &word);
    }
  }
}

// Chunks a lane keeps in flight: its loads of x and scale for kUnroll chunks are all issued
// before the first of their stores (2 * kUnroll 16-byte loads of x, 64 bytes). Two match
// the launch shape, which leaves every lane about two chunks (choose_lanes, plan_launch).
inline constexpr int kUnroll = 2;

// n chunks, each kCols contiguous, aligned columns; chunk u starts `step` columns after
// chunk u - 1 (step = lanes * kCols: the lane's next chunk), at xc / sc / yc for u = 0.
// Every load is issued before any compute and store, so the lane has n chunks of x and
// scale in flight at once instead of one.
template <gq_dtype XD, gq_dtype SD, gq_output_kind K, int n>
GQ_HOST_DEVICE void vector_chunks(const char* __restrict__ xc, const char* __restrict__ sc,
                                  char* __restrict__ yc, int64_t step, bool has_offset,
                                  float offset) {
  constexpr int kN = kCols<XD>, kXs = Float<XD>::kSize, kSs = Float<SD>::kSize;
  constexpr int kSLoads = kN * kSs / 16;
  constexpr int kOutWords = K == GQ_OUTPUT_INT8 ? kN / 4 : kN / 8;
  uint32_t xw[n][8], sw[n][4 * kSLoads];
  GQ_UNROLL
  for (int u = 0; u < n; ++u) load16<2, Load::kStream>(xc + u * step * kXs, xw[u]);
  GQ_UNROLL
  for (int u = 0; u < n; ++u) load16<kSLoads, Load::kReadOnly>(sc + u * step * kSs, sw[u]);
  GQ_UNROLL
  for (int u = 0; u < n; ++u) {
    uint32_t out[kOutWords];
    for (int j = 0; j < kOutWords; ++j) out[j] = 0;
    GQ_UNROLL
    for (int i = 0; i < kN; ++i) {
      const int32_t q = quantize<K>(unpack<XD>(xw[u], i), unpack<SD>(sw[u], i), has_offset, offset);
      if constexpr (K == GQ_OUTPUT_INT8) {
        out[i / 4] |= (static_cast<uint32_t>(q) & 0xFFu) << (8 * (i % 4));
      } else {
        out[i / 8] |= pack_nibble(q, i % 8);
      }
    }
    // int8: one byte a column; int4: one word per 8 columns (step is a multiple of 8).
    store_words<kOutWords>(yc + u * (K == GQ_OUTPUT_INT8 ? step : step / 2), out);
  }
}

// A lane's share of row `row` in group g: its head and tail columns and its chunks, the
// chunks kUnroll at a time (chunks lane, lane + lanes, ...), then any it has left singly.
template <gq_dtype XD, gq_dtype SD, gq_output_kind K>
GQ_HOST_DEVICE void quantize_row(const Params& p, int64_t row, int64_t g, int64_t lane,
                                 bool has_offset, float offset) {
  constexpr int kXs = Float<XD>::kSize, kSs = Float<SD>::kSize, kN = kCols<XD>;
  constexpr int kYs = K == GQ_OUTPUT_INT8 ? 1 : 4;
  const char* __restrict__ xr = p.x + row * p.x_stride0 * kXs;
  const char* __restrict__ sr = p.scale + g * p.scale_stride0 * kSs;
  char* __restrict__ yr = p.y + row * p.y_stride0 * kYs;
  const int64_t head = vector_start<XD, SD, K>(p, xr, sr, yr);
  if (head < 0) {
    scalar_columns<XD, SD, K>(p, xr, sr, yr, 0, p.N, lane, has_offset, offset);
    return;
  }
  const int64_t chunks = (p.N - head) / kN, tail = head + chunks * kN;
  scalar_columns<XD, SD, K>(p, xr, sr, yr, 0, head, lane, has_offset, offset);
  const int64_t step = p.lanes * int64_t{kN};
  const auto y_at = [&](int64_t col) {
    return K == GQ_OUTPUT_INT8 ? yr + col : yr + 4 * (col / 8);
  };
  int64_t c = lane;
  for (; c + (kUnroll - 1) * int64_t{p.lanes} < chunks; c += kUnroll * int64_t{p.lanes}) {
    const int64_t col = head + c * kN;
    vector_chunks<XD, SD, K, kUnroll>(xr + col * kXs, sr + col * kSs, y_at(col), step, has_offset,
                                      offset);
  }
  for (; c < chunks; c += p.lanes) {  // the lane's last chunk when its count is odd
    const int64_t col = head + c * kN;
    vector_chunks<XD, SD, K, 1>(xr + col * kXs, sr + col * kSs, y_at(col), step, has_offset,
                                offset);
  }
  scalar_columns<XD, SD, K>(p, xr, sr, yr, tail, p.N, lane, has_offset, offset);
}

// lanes is a power of two, so a thread's row and lane are a shift and a mask, not a 64-bit
// division (a subroutine call on the GPU).
GQ_HOST_DEVICE int log2_of_power_of_two(int32_t v) {
#if defined(__CUDA_ARCH__)
  return __ffs(v) - 1;
#else
  return __builtin_ctz(static_cast<unsigned>(v));
#endif
}

// Everything thread `tid` of `num_threads` does (num_threads a multiple of p.lanes):
// its share of the group_index check, then its lane of every row it is given.
// Requires a non-empty problem (the launcher does not launch otherwise).
template <gq_dtype XD, gq_dtype SD, gq_output_kind K>
GQ_HOST_DEVICE Failure run_thread(const Params& p, int64_t tid, int64_t num_threads) {
  for (int64_t i = tid; i < p.G; i += num_threads) {
    const Failure f = check_group_entry(p, i);
    if (f.code != Failure::kNone) return f;
  }
  const bool has_offset = p.offset != nullptr;
  const float offset = has_offset ? load_scalar<SD, true>(p.offset) : 0.0f;
  const int shift = log2_of_power_of_two(p.lanes);
  const int64_t lane = tid & (p.lanes - 1), slots = num_threads >> shift;
  // The row's group: a binary search for the thread's first row, then carried forward
  // (next_group), so a thread that strides over many rows pays about one search in all.
  // Every lane of a row computes the same g from the same entries (broadcast loads in a
  // warp); nothing is exchanged between threads, so this holds for every lanes/rows
  // mapping, teams spanning blocks included, with no barrier in the row loop.
  int64_t g = 0, end = 0;
  for (int64_t row = tid >> shift; row < p.M; row += slots) {
    Failure f{Failure::kNone, 0, 0, 0};
    if (row < slots) {  // the first row of this thread
      g = find_group(p, row, &f);
      if (f.code == Failure::kNone) end = group_end_at(p, g);
    } else {
      g = next_group(p, row, g, &end, &f);
    }
    if (f.code != Failure::kNone) return f;
    quantize_row<XD, SD, K>(p, row, g, lane, has_offset, offset);
  }
  return {Failure::kNone, 0, 0, 0};
}

// Calls fn(XTag, STag, KTag) with std::integral_constant-like tags for the runtime
// dtypes, so the kernel and the host simulation instantiate the same 18 bodies.
template <auto V>
struct Tag {
  static constexpr auto value = V;
};

// Calls fn(Tag<x>, Tag<scale>, Tag<kind>) for the validated combination: one case per
// entry of npu_group_quant's dtype list (src/kernel_list.h), so the kernels instantiated
// are exactly the list's. Returns false for a combination the list lacks.
template <typename Fn>
bool dispatch(gq_dtype x, gq_dtype s, gq_output_kind k, Fn&& fn) {
#define GQ_CUDA_GROUP_QUANT_CASE_(ctx, xt, st, out)                                \
  if (x == GQ_DTYPE_OF_##xt && s == GQ_DTYPE_OF_##st && k == GQ_KIND_OF_##out) {   \
    fn(Tag<GQ_DTYPE_OF_##xt>{}, Tag<GQ_DTYPE_OF_##st>{}, Tag<GQ_KIND_OF_##out>{}); \
    return true;                                                                   \
  }
  GQ_GROUP_QUANT_TYPES(GQ_CUDA_GROUP_QUANT_CASE_, unused)
#undef GQ_CUDA_GROUP_QUANT_CASE_
  return false;
}

// The kernel reads elements with typed loads, so every base pointer must be aligned to
// its element size (torch tensors always are; a C caller's byte_offset might not be).
// Returns the first argument that is not, with its element size, or {nullptr, 0}.
struct Misaligned {
  const char* name;
  int64_t size, remainder;
};
inline Misaligned misaligned_argument(const Problem& pr) {
  const struct {
    const char* name;
    const char* ptr;
    int64_t size;
  } args[] = {{"x", pr.x, dtype_size(pr.x_dtype)},
              {"scale", pr.scale, dtype_size(pr.scale_dtype)},
              {"group_index", pr.group_index, dtype_size(pr.group_index_dtype)},
              {"offset", pr.offset, dtype_size(pr.scale_dtype)},
              {"y", pr.y, output_traits(pr.kind).word_bytes}};
  for (const auto& a : args) {
    const auto remainder = static_cast<int64_t>(reinterpret_cast<uintptr_t>(a.ptr) % a.size);
    if (a.ptr != nullptr && remainder != 0) return {a.name, a.size, remainder};
  }
  return {nullptr, 0, 0};
}

// The kernel's arguments for a validated problem (host only: no memory is read).
inline Params make_params(const Problem& pr) {
  Params p{};
  p.M = pr.M, p.N = pr.N, p.G = pr.G;
  p.x = pr.x, p.x_stride0 = pr.x_stride[0], p.x_stride1 = pr.x_stride[1];
  p.scale = pr.scale, p.scale_stride0 = pr.scale_stride[0], p.scale_stride1 = pr.scale_stride[1];
  p.group_index = pr.group_index, p.group_index_stride = pr.group_index_stride;
  p.group_index_is_int64 = pr.group_index_dtype == GQ_DTYPE_INT64;
  p.offset = pr.offset;
  p.y = pr.y, p.y_stride0 = pr.y_stride[0], p.y_stride1 = pr.y_stride[1];
  // A size-1 dimension's stride is arbitrary (torch gives any value); it is never used.
  p.unit_cols = (pr.x_stride[1] == 1 || pr.N <= 1) && (pr.scale_stride[1] == 1 || pr.N <= 1) &&
                (pr.y_stride[1] == 1 || pr.y_cols() <= 1);
  const int cols =
      pr.x_dtype == GQ_DTYPE_FLOAT32 ? kCols<GQ_DTYPE_FLOAT32> : kCols<GQ_DTYPE_FLOAT16>;
  p.lanes = choose_lanes(pr.N, cols);
  return p;
}

}  // namespace groupquant::detail::cuda

#endif  // GROUPQUANT_SRC_CUDA_GROUP_QUANT_CUH_
