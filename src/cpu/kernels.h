// CPU row kernels: the contract every ISA implements, per op.
//
// npu_group_quant: a row kernel quantizes one contiguous row of n elements: x[0..n) of its dtype,
// scale[0..n) of its dtype, into y[0..n) int8 (qs8) or y[0..n/8) int32 (qs4, n % 8 == 0).
// It computes round_saturate(x * scale + offset) with the offset always added: with no
// offset the caller passes +0.0f, and p + 0.0f == p exactly under round-to-nearest (bar
// -0 -> +0), so the result is the spec's "no add" result. It reads and writes nothing
// outside those ranges, accepts any alignment, and assumes the caller set the default
// floating-point environment (the driver does).
#ifndef GROUPQUANT_SRC_CPU_KERNELS_H_
#define GROUPQUANT_SRC_CPU_KERNELS_H_

#include <groupquant/groupquant.h>

#include <cstdint>

#include "src/cpu/isa.h"
#include "src/dynamic_quant_math.h"
#include "src/kernel_list.h"

namespace groupquant::detail {

// npu_group_quant: one row, as described above.
using RowKernel = void (*)(const void* x, const void* scale, float offset, void* y, int64_t n);

// npu_dynamic_quant(_asymmetric): one contiguous row of n elements of x (and of the
// smooth row, of x's dtype, or null): smooths, reduces, and writes the row's y[0..n)
// (n / 8 int32 words for packed int4), *scale and, for the asymmetric op, *offset.
// n == 0 writes scale (and offset) 0. Reads x and smooth from memory once where the
// row fits in cache.
using DynamicRowKernel = void (*)(const void* x, const void* smooth, int64_t n, const DynamicOp& op,
                                  void* y, float* scale, float* offset);

#define GQ_ISA_OF_scalar ::groupquant::detail::Isa::kScalar
#define GQ_ISA_OF_avx2 ::groupquant::detail::Isa::kAvx2
#define GQ_ISA_OF_avx512 ::groupquant::detail::Isa::kAvx512
#define GQ_ISA_OF_neon ::groupquant::detail::Isa::kNeon

#define GQ_CPU_GROUP_QUANT_KERNEL(isa, x, s, out)                                       \
  void group_quant_##x##_##s##_##out##__##isa(const void* x_row, const void* scale_row, \
                                              float offset, void* y_row, int64_t n);
#define GQ_CPU_DYNAMIC_QUANT_KERNEL(isa, x, out)                                                \
  void dynamic_quant_##x##_##out##__##isa(const void* x_row, const void* smooth_row, int64_t n, \
                                          const DynamicOp& op, void* y_row, float* scale,       \
                                          float* offset);
#include "src/cpu/kernels.inc"

// The npu_group_quant kernel of `isa` for these dtypes; null if this build lacks it.
RowKernel find_row_kernel(Isa isa, gq_dtype x, gq_dtype scale, gq_output_kind kind);
// The npu_dynamic_quant kernel of `isa`, or of the best ISA below it that has one.
DynamicRowKernel find_dynamic_quant_kernel(Isa isa, gq_dtype x, gq_output_kind kind);

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_CPU_KERNELS_H_
