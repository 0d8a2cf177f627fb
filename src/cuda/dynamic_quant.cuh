// npu_dynamic_quant(_asymmetric) on CUDA: what a block does, written as __host__ __device__
// code so that tests/cpp/dynamic_quant_cuda_body_test.cc runs it with a plain C++ compiler
// over simulated blocks against the reference. The kernel in dynamic_quant.cu only
// supplies the block (threadIdx, __syncthreads, shared memory); run_block() below decides
// every byte read and written.
//
// Work mapping: a team of `lanes` threads per row (32 = one warp for short rows, up to 256
// = the whole block), 256 / lanes rows per block, rows taken grid-stride. Per row:
//   1. lane 0 finds the row's expert (one binary search over group_index) and shares it;
//   2. every lane reads its share of the row once from global memory (two 16-byte loads of
//      x and of the smooth row per 16-column chunk when the row is contiguous and aligned;
//      element loads otherwise and for the tail), smooths it, accumulates its RowStats and,
//      when the row fits (`staged`), keeps the smoothed values in shared memory;
//   3. a tree reduction of the lanes' RowStats in shared memory (merge() ignores NaN as
//      accumulate() does, and max/min are exact, so the order does not change the bits);
//   4. lane 0 runs row_quant() once and writes scale (and offset);
//   5. every lane scales and encodes its share (scaled_value, encode_output) from shared
//      memory (or, for rows too long to stage, from a second read of x) and stores 16 bytes
//      (int8, fp8) or 8 bytes (packed int4) per chunk.
// The arithmetic is src/dynamic_quant_math.h unchanged (mul_rn/div_rn/... are the
// __f*_rn intrinsics on the device), so the bits are the CPU reference's.
//
// group_index is never read on the host. Every thread checks a grid-strided share of its
// entries at the start, and a row whose binary search ends past the last expert is never
// read. Any failure is reported as the FIRST bad entry of the whole array (a full scan,
// done only on failure), so the message does not depend on which thread saw it first.
#ifndef GROUPQUANT_SRC_CUDA_DYNAMIC_QUANT_CUH_
#define GROUPQUANT_SRC_CUDA_DYNAMIC_QUANT_CUH_

#include <groupquant/groupquant.h>

#include <cstdint>
#include <cstring>

#include "src/cuda/group_quant.cuh"  // leaf helpers: 16-byte loads/stores, widening, Failure
#include "src/dynamic_quant_math.h"
#include "src/element.h"
#include "src/output_kind.h"
#include "src/problem.h"

namespace groupquant::detail::cuda {

inline constexpr int kDynamicBlockThreads = 256;
inline constexpr int kDynamicMinLanes = 32;  // a warp
inline constexpr int kDynamicMaxTeams = kDynamicBlockThreads / kDynamicMinLanes;
// Columns per vector chunk: 32 bytes of fp16/bf16 x, two 16-byte loads.
inline constexpr int kDynamicCols = 16;

struct DynamicParams {
  DynamicProblem p;
  int32_t lanes;         // threads per row: 32, 64, 128 or 256
  int32_t staged;        // smoothed rows kept in shared memory (stage_stride floats each)
  int64_t stage_stride;  // floats per team in shared memory: H rounded up to 4
  int32_t unit_cols;     // x, smooth and y columns contiguous: vector chunks allowed
};

// Shared memory a block needs besides the staged rows.
struct BlockShared {
  RowStats slots[kDynamicBlockThreads];
  RowQuant quants[kDynamicMaxTeams];
  int64_t experts[kDynamicMaxTeams];  // -1: no row (past the end, or no expert owns it)
};

// Threads per row: about two chunks per lane, a power of two in [32, 256].
inline int32_t choose_dynamic_lanes(int64_t h) {
  const int64_t chunks = (h + kDynamicCols - 1) / kDynamicCols;
  int32_t lanes = kDynamicMinLanes;
  while (lanes < kDynamicBlockThreads && 2 * static_cast<int64_t>(lanes) < chunks) lanes *= 2;
  return lanes;
}

// Shared-memory bytes of the staged rows of one block (0 when not staged).
inline int64_t stage_bytes(const DynamicParams& dp) {
  return dp.staged ? (kDynamicBlockThreads / dp.lanes) * dp.stage_stride * 4 : 0;
}

// The kernel's arguments for a validated problem (host only: reads no tensor memory).
// Rows stage in shared memory when a block's rows fit in max_stage_bytes.
inline DynamicParams make_dynamic_params(const DynamicProblem& p, int64_t max_stage_bytes) {
  DynamicParams dp{};
  dp.p = p;
  dp.lanes = choose_dynamic_lanes(p.H);
  dp.stage_stride = (p.H + 3) / 4 * 4;
  dp.staged = 1;
  dp.staged = stage_bytes(dp) <= max_stage_bytes;
  const int64_t y_cols = p.H / output_traits(p.op.kind).cols_per_word;
  // A size-1 dimension's stride is arbitrary (torch gives any value); it is never used.
  dp.unit_cols = (p.x_col_stride == 1 || p.H <= 1) &&
                 (p.smooth == nullptr || p.smooth_stride[1] == 1 || p.H <= 1) &&
                 (p.y_col_stride == 1 || y_cols <= 1);
  return dp;
}

// Every tensor the kernel reads or writes with typed loads must be aligned to its element
// size (torch tensors are; a C caller's byte_offset might not be).
inline Misaligned misaligned_argument(const DynamicProblem& p) {
  const struct {
    const char* name;
    const char* ptr;
    int64_t size;
  } args[] = {{"input", p.x, 2},
              {"smooth_scales", p.smooth, 2},
              {"group_index", p.group_index, p.group_index_dtype == GQ_DTYPE_INT64 ? 8 : 4},
              {"y", p.y, output_traits(p.op.kind).word_bytes},
              {"scale", p.scale, 4},
              {"offset", p.offset, 4}};
  for (const auto& a : args) {
    const auto remainder = static_cast<int64_t>(reinterpret_cast<uintptr_t>(a.ptr) % a.size);
    if (a.ptr != nullptr && remainder != 0) return {a.name, a.size, remainder};
  }
  return {nullptr, 0, 0};
}

// ---- group_index ----------------------------------------------------------------------

GQ_HOST_DEVICE int64_t expert_end(const DynamicProblem& p, int64_t e) {
  const bool wide = p.group_index_dtype == GQ_DTYPE_INT64;
  const char* at = p.group_index + e * p.group_index_stride * (wide ? 8 : 4);
  return wide ? static_cast<int64_t>(load_readonly<long long>(at)) : load_readonly<int>(at);
}

// SPEC-dynamic-quant.md §10.5 for entry i (>= 0, <= rows, non-decreasing, last == rows).
GQ_HOST_DEVICE Failure check_expert_entry(const DynamicProblem& p, int64_t i) {
  const int64_t v = expert_end(p, i);
  if (v < 0) return {Failure::kNegative, i, v, 0};
  if (i > 0) {  // in the CPU check's order, so both name the same rule
    const int64_t prev = expert_end(p, i - 1);
    if (v < prev) return {Failure::kDecreasing, i, v, prev};
  }
  if (v > p.rows) return {Failure::kAboveM, i, v, 0};
  if (i == p.E - 1 && v != p.rows) return {Failure::kLastNotM, i, v, 0};
  return {Failure::kNone, 0, 0, 0};
}

// The first bad entry of the whole group_index (kNone if there is none). Only called once
// something failed, so every failing thread reports the same entry.
GQ_HOST_DEVICE Failure first_bad_entry(const DynamicProblem& p) {
  for (int64_t i = 0; i < p.E; ++i) {
    const Failure f = check_expert_entry(p, i);
    if (f.code != Failure::kNone) return f;
  }
  return {Failure::kNone, 0, 0, 0};
}

// Thread tid of num_threads checks entries tid, tid + num_threads, ...
GQ_HOST_DEVICE Failure check_expert_entries(const DynamicProblem& p, int64_t tid,
                                            int64_t num_threads) {
  if (p.group_index == nullptr) return {Failure::kNone, 0, 0, 0};
  for (int64_t i = tid; i < p.E; i += num_threads) {
    if (check_expert_entry(p, i).code != Failure::kNone) return first_bad_entry(p);
  }
  return {Failure::kNone, 0, 0, 0};
}

// The expert of `row` (the first e with group_index[e] > row), or -1 with *failure set
// when the search ends past the last expert. Reads only entries in [0, E). Cannot happen
// for a valid group_index, so a bad entry exists and is what gets reported.
GQ_HOST_DEVICE int64_t find_expert(const DynamicProblem& p, int64_t row, Failure* failure) {
  if (p.group_index == nullptr) return 0;
  int64_t lo = 0, hi = p.E;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (expert_end(p, mid) > row) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  if (lo < p.E) return lo;
  *failure = first_bad_entry(p);
  if (failure->code == Failure::kNone) *failure = {Failure::kRowUnowned, lo, 0, row};
  return -1;
}

// ---- One row's memory -------------------------------------------------------------------

struct RowPointers {
  const char* x;
  const char* smooth;  // null: no smoothing
  char* y;
  bool vector;  // whole 16-column chunks run vectorised
};

template <gq_output_kind K>
inline constexpr int kChunkStoreBytes = output_traits(K).word_bytes* kDynamicCols /
                                        output_traits(K).cols_per_word;

template <gq_output_kind K>
GQ_HOST_DEVICE RowPointers row_pointers(const DynamicParams& dp, int64_t row, int64_t expert) {
  const DynamicProblem& p = dp.p;
  RowPointers r;
  r.x = p.x + row_offset(p.row_dims, p.x_rows, row) * 2;
  r.smooth = p.smooth != nullptr ? p.smooth + expert * p.smooth_stride[0] * 2 : nullptr;
  r.y = p.y + row_offset(p.row_dims, p.y_rows, row) * output_traits(K).word_bytes;
  // x and smooth 16-byte aligned at column 0 (both 2-byte types, so at every chunk), y
  // aligned to one chunk's store; otherwise the row runs element by element.
  r.vector = dp.unit_cols && p.H >= kDynamicCols && reinterpret_cast<uintptr_t>(r.x) % 16 == 0 &&
             reinterpret_cast<uintptr_t>(r.smooth) % 16 == 0 &&
             reinterpret_cast<uintptr_t>(r.y) % kChunkStoreBytes<K> == 0;
  return r;
}

// xs = fl(x * s) (S2, S3) of one column, any strides.
template <gq_dtype XD>
GQ_HOST_DEVICE float smoothed_element(const DynamicProblem& p, const RowPointers& r, int64_t j) {
  const float xf = load_scalar<XD>(r.x + j * p.x_col_stride * 2);
  if (r.smooth == nullptr) return xf;
  return mul_rn(xf, load_scalar<XD, true>(r.smooth + j * p.smooth_stride[1] * 2));
}

// The 16 smoothed columns of chunk c: two 16-byte streaming loads of x, two read-only
// loads of the smooth row (reused by every row of the expert).
template <gq_dtype XD>
GQ_HOST_DEVICE void smoothed_chunk(const RowPointers& r, int64_t c, float* xs) {
  uint32_t xw[8];
  load16<2, Load::kStream>(r.x + c * kDynamicCols * 2, xw);
  if (r.smooth != nullptr) {
    uint32_t sw[8];
    load16<2, Load::kReadOnly>(r.smooth + c * kDynamicCols * 2, sw);
    GQ_UNROLL
    for (int i = 0; i < kDynamicCols; ++i) xs[i] = mul_rn(unpack<XD>(xw, i), unpack<XD>(sw, i));
  } else {
    GQ_UNROLL
    for (int i = 0; i < kDynamicCols; ++i) xs[i] = unpack<XD>(xw, i);
  }
}

// 16 floats to and from the staged row in shared memory (16-byte aligned): four 16-byte
// shared-memory accesses on the device, the same bytes on the host.
GQ_HOST_DEVICE void stage_put(float* dst, const float* v) {
#if defined(__CUDA_ARCH__)
  GQ_UNROLL
  for (int k = 0; k < 4; ++k) {
    reinterpret_cast<float4*>(dst)[k] =
        make_float4(v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3]);
  }
#else
  memcpy(dst, v, 16 * sizeof(float));
#endif
}
GQ_HOST_DEVICE void stage_get(const float* src, float* v) {
#if defined(__CUDA_ARCH__)
  GQ_UNROLL
  for (int k = 0; k < 4; ++k) {
    const float4 f = reinterpret_cast<const float4*>(src)[k];
    v[4 * k] = f.x, v[4 * k + 1] = f.y, v[4 * k + 2] = f.z, v[4 * k + 3] = f.w;
  }
#else
  memcpy(v, src, 16 * sizeof(float));
#endif
}

// One float32 at a 4-byte aligned address.
GQ_HOST_DEVICE void store_float(char* p, float v) {
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<float*>(p) = v;
#else
  memcpy(p, &v, sizeof v);
#endif
}

// ---- The phases of a row (one lane each) ---------------------------------------------------

// Step 2: the lane's columns read, smoothed, reduced and (stage != null) kept.
template <gq_dtype XD, gq_output_kind K>
GQ_HOST_DEVICE RowStats load_row(const DynamicParams& dp, const RowPointers& r, int lane,
                                 float* stage) {
  const int64_t h = dp.p.H;
  RowStats s;
  int64_t tail = 0;
  if (r.vector) {
    const int64_t chunks = h / kDynamicCols;
    for (int64_t c = lane; c < chunks; c += dp.lanes) {
      float xs[kDynamicCols];
      smoothed_chunk<XD>(r, c, xs);
      GQ_UNROLL
      for (int i = 0; i < kDynamicCols; ++i) accumulate(s, xs[i]);
      if (stage != nullptr) stage_put(stage + c * kDynamicCols, xs);
    }
    tail = chunks * kDynamicCols;
  }
  for (int64_t j = tail + lane; j < h; j += dp.lanes) {
    const float xs = smoothed_element<XD>(dp.p, r, j);
    accumulate(s, xs);
    if (stage != nullptr) stage[j] = xs;
  }
  return s;
}

// Step 5: the lane's columns scaled, encoded and stored.
template <gq_dtype XD, gq_output_kind K>
GQ_HOST_DEVICE void store_row(const DynamicParams& dp, const RowPointers& r, const DynamicOp& op,
                              const RowQuant& q, int lane, const float* stage) {
  constexpr OutputTraits kOut = output_traits(K);
  const DynamicProblem& p = dp.p;
  const int64_t h = p.H;
  int64_t tail = 0;
  if (r.vector) {
    const int64_t chunks = h / kDynamicCols;
    for (int64_t c = lane; c < chunks; c += dp.lanes) {
      float xs[kDynamicCols];
      if (stage != nullptr) {
        stage_get(stage + c * kDynamicCols, xs);
      } else {
        smoothed_chunk<XD>(r, c, xs);
      }
      constexpr int kWords = kChunkStoreBytes<K> / 4;
      uint32_t out[kWords];
      GQ_UNROLL
      for (int w = 0; w < kWords; ++w) out[w] = 0;
      GQ_UNROLL
      for (int i = 0; i < kDynamicCols; ++i) {
        const int32_t v = encode_output(kOut, scaled_value(op, q, xs[i]));
        if constexpr (kOut.encoding == Encoding::kPackedInt4) {
          out[i / 8] |= pack_nibble(v, i % 8);
        } else {
          out[i / 4] |= (static_cast<uint32_t>(v) & 0xFFu) << (8 * (i % 4));
        }
      }
      store_words<kWords>(r.y + c * kChunkStoreBytes<K>, out);
    }
    tail = chunks * kDynamicCols;
  }
  const auto value = [&](int64_t j) {
    const float xs = stage != nullptr ? stage[j] : smoothed_element<XD>(p, r, j);
    return encode_output(kOut, scaled_value(op, q, xs));
  };
  if constexpr (kOut.encoding == Encoding::kPackedInt4) {
    for (int64_t w = tail / 8 + lane; w < h / 8; w += dp.lanes) {  // H % 8 == 0 (validated)
      uint32_t word = 0;
      for (int k = 0; k < 8; ++k) word |= pack_nibble(value(8 * w + k), k);
      store_words<1>(r.y + 4 * w * p.y_col_stride, &word);
    }
  } else {
    static_assert(kOut.word_bytes == 1, "one byte per element");
    for (int64_t j = tail + lane; j < h; j += dp.lanes) {
      r.y[j * p.y_col_stride] = static_cast<char>(value(j));
    }
  }
}

// ---- The block -------------------------------------------------------------------------------

// log2 of a power of two, without a 64-bit division (a subroutine call on the GPU).
GQ_HOST_DEVICE int dynamic_log2(int32_t v) {
#if defined(__CUDA_ARCH__)
  return __ffs(v) - 1;
#else
  return __builtin_ctz(static_cast<unsigned>(v));
#endif
}

// Block `block` of `num_blocks`. `Block` runs one phase: block.each(fn) calls fn(t) for
// every live thread t in [0, 256) and then waits for all of them (the device: fn(threadIdx.x)
// then __syncthreads(); the host simulation: a loop). fn returns a Failure; each() returns
// false when the calling thread must stop (the device reports the failure first).
// `shared` is the block's BlockShared, `stage` its dynamic shared memory (staged only).
// Requires a non-empty problem (the launcher does not launch otherwise).
template <gq_dtype XD, gq_output_kind K, typename Block>
GQ_HOST_DEVICE void run_block(const DynamicParams& dp, Block& block, BlockShared& shared,
                              float* stage, int64_t block_index, int64_t num_blocks) {
  const DynamicProblem& p = dp.p;
  constexpr Failure kOk{Failure::kNone, 0, 0, 0};
  DynamicOp op = p.op;
  op.kind = K;  // a constant: output_traits() folds
  const int shift = dynamic_log2(dp.lanes);
  const int64_t teams = kDynamicBlockThreads >> shift;
  const int64_t num_threads = num_blocks * kDynamicBlockThreads;
  if (!block.each([&](int t) {
        return check_expert_entries(p, block_index * kDynamicBlockThreads + t, num_threads);
      })) {
    return;
  }
  for (int64_t first = block_index * teams; first < p.rows; first += num_blocks * teams) {
    // Step 1: lane 0 of each team finds its row's expert.
    if (!block.each([&](int t) {
          if ((t & (dp.lanes - 1)) != 0) return kOk;
          const int team = t >> shift;
          const int64_t row = first + team;
          Failure f = kOk;
          shared.experts[team] = row < p.rows ? find_expert(p, row, &f) : -1;
          return f;
        })) {
      return;
    }
    // Step 2.
    block.each([&](int t) {
      const int team = t >> shift, lane = t & (dp.lanes - 1);
      const int64_t expert = shared.experts[team];
      if (expert < 0) {
        shared.slots[t] = RowStats{};
        return kOk;
      }
      const RowPointers r = row_pointers<K>(dp, first + team, expert);
      float* st = dp.staged ? stage + team * dp.stage_stride : nullptr;
      shared.slots[t] = load_row<XD, K>(dp, r, lane, st);
      return kOk;
    });
    // Step 3: slots[team * lanes] ends up holding the team's RowStats.
    for (int stride = dp.lanes / 2; stride > 0; stride /= 2) {
      block.each([&](int t) {
        if ((t & (dp.lanes - 1)) < stride) {
          shared.slots[t] = merge(shared.slots[t], shared.slots[t + stride]);
        }
        return kOk;
      });
    }
    // Step 4.
    block.each([&](int t) {
      const int team = t >> shift;
      if ((t & (dp.lanes - 1)) != 0 || shared.experts[team] < 0) return kOk;
      const int64_t row = first + team;
      const RowQuant q = p.H == 0 ? RowQuant{} : row_quant(op, shared.slots[t]);
      shared.quants[team] = q;
      store_float(p.scale + row_offset(p.row_dims, p.scale_rows, row) * 4, q.scale);
      if (p.offset != nullptr) {
        store_float(p.offset + row_offset(p.row_dims, p.offset_rows, row) * 4, q.offset);
      }
      return kOk;
    });
    // Step 5; the barrier after it frees the staged rows for the next rows.
    block.each([&](int t) {
      const int team = t >> shift, lane = t & (dp.lanes - 1);
      const int64_t expert = shared.experts[team];
      if (expert < 0) return kOk;
      const RowPointers r = row_pointers<K>(dp, first + team, expert);
      const float* st = dp.staged ? stage + team * dp.stage_stride : nullptr;
      store_row<XD, K>(dp, r, op, shared.quants[team], lane, st);
      return kOk;
    });
  }
}

}  // namespace groupquant::detail::cuda

#endif  // GROUPQUANT_SRC_CUDA_DYNAMIC_QUANT_CUH_
