// Streaming-store variants of the row kernels: the same contract and results as the
// kernels of kernels.h, but whole 64-byte lines of y are written with non-temporal
// stores. That skips the read-for-ownership of each output line (a quarter of the
// traffic of a bf16 -> int8 stream) and keeps y out of the caches, so the driver uses
// them only when a call's data is far larger than the last-level cache. Each call ends
// with an sfence, so its stores are ordered before it returns.
#ifndef GROUPQUANT_SRC_CPU_ROW_STREAM_H_
#define GROUPQUANT_SRC_CPU_ROW_STREAM_H_

#include <groupquant/groupquant.h>

#include <cstdint>

#include "src/cpu/isa.h"
#include "src/cpu/kernels.h"

namespace groupquant::detail {

#if GQ_HAVE_AVX2
RowKernel find_streaming_row_kernel_avx2(gq_dtype x, gq_dtype scale, gq_output_kind kind);
#endif
#if GQ_HAVE_AVX512
RowKernel find_streaming_row_kernel_avx512(gq_dtype x, gq_dtype scale, gq_output_kind kind);
#endif

// The streaming variant for `isa`, or null where there is none (the scalar ISA).
inline RowKernel find_streaming_row_kernel(Isa isa, gq_dtype x, gq_dtype scale,
                                           gq_output_kind kind) {
#if GQ_HAVE_AVX2
  if (isa == Isa::kAvx2) return find_streaming_row_kernel_avx2(x, scale, kind);
#endif
#if GQ_HAVE_AVX512
  if (isa == Isa::kAvx512) return find_streaming_row_kernel_avx512(x, scale, kind);
#endif
  (void)isa, (void)x, (void)scale, (void)kind;
  return nullptr;
}

// Defines an ISA's 18 npu_group_quant kernels (group_quant_<x>_<scale>_<out>__<isa>) and its
// find_streaming_row_kernel_<isa>() from the file's template row_<isa><x, scale, kind,
// stream>, which has the RowKernel signature; stream selects the streaming-store variant.
#define GQ_DEFINE_SIMD_ROW_KERNELS(isa)                                                        \
  GQ_GROUP_QUANT_TYPES(GQ_DEFINE_SIMD_ROW_KERNEL_, isa)                                        \
  RowKernel find_streaming_row_kernel_##isa(gq_dtype x, gq_dtype scale, gq_output_kind kind) { \
    GQ_GROUP_QUANT_TYPES(GQ_FIND_STREAMING_ROW_KERNEL_, isa)                                   \
    return nullptr;                                                                            \
  }
#define GQ_DEFINE_SIMD_ROW_KERNEL_(isa, xt, st, out)                                          \
  void group_quant_##xt##_##st##_##out##__##isa(const void* x_row, const void* scale_row,     \
                                                float offset, void* y_row, int64_t n) {       \
    row_##isa<GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out, false>(x_row, scale_row,  \
                                                                           offset, y_row, n); \
  }
#define GQ_FIND_STREAMING_ROW_KERNEL_(isa, xt, st, out)                                 \
  if (x == GQ_DTYPE_OF_##xt && scale == GQ_DTYPE_OF_##st && kind == GQ_KIND_OF_##out) { \
    return &row_##isa<GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out, true>;      \
  }

// Software prefetch of x into L2 for the ISAs' streaming variants, kStreamPrefetchElements
// ahead: 2 KiB of 16-bit x, 4 KiB of fp32 x. The hardware prefetcher alone leaves too few
// reads in flight: measured at 2 threads against the copy (AVX-512), bf16 -> int8 +10-15%
// (2 KiB); fp32 x, which had none, +3% (2 threads) and +6% (1 thread, CPU time) with it;
// 4 KiB of bf16 for int4 output was no better than 2 KiB. Called once per main-loop
// iteration, for that iteration's kElements elements of x starting at element i. A prefetch
// never faults, so running past the end of x is harmless; the address is formed as an
// integer, not as an out-of-range pointer. (__builtin_prefetch locality 2 is prefetcht1.)
inline constexpr int64_t kStreamPrefetchElements = 1024;
template <gq_dtype kX, int64_t kElements>
inline void prefetch_stream_x(const void* x, int64_t i) {
  constexpr int64_t kSize = kX == GQ_DTYPE_FLOAT32 ? 4 : 2;
  const uintptr_t p = reinterpret_cast<uintptr_t>(x) +
                      static_cast<uintptr_t>((i + kStreamPrefetchElements) * kSize);
  for (int64_t b = 0; b < kElements * kSize; b += 64) {
    __builtin_prefetch(reinterpret_cast<const char*>(p + b), 0, 2);
  }
}

// The drivers (npu_group_quant's, and npu_dynamic_quant's through DynamicOp::stream_output)
// stream when x and y of a call add up to at least this many bytes: a
// footprint beyond a typical last-level cache slice (32 MiB), where y would be evicted
// before its consumer reads it anyway. Settable for tests.
inline constexpr int64_t kDefaultStreamingMinBytes = int64_t{32} << 20;
int64_t streaming_min_bytes();
void set_streaming_min_bytes(int64_t bytes);

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_CPU_ROW_STREAM_H_
