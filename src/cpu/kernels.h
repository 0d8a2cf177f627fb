// CPU row kernels: the contract every ISA implements.
//
// A row kernel quantizes one contiguous row of n elements: x[0..n) of its dtype,
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

namespace groupquant::detail {

using RowKernel = void (*)(const void* x, const void* scale, float offset, void* y, int64_t n);

// Every (x, scale, out) combination an ISA provides; dtype tokens f32 f16 bf16 in,
// qs8 qs4 out.
#define GQ_ROW_KERNEL_TYPES(X, isa) \
  X(isa, f32, f32, qs8)             \
  X(isa, f32, f16, qs8)             \
  X(isa, f32, bf16, qs8)            \
  X(isa, f16, f32, qs8)             \
  X(isa, f16, f16, qs8)             \
  X(isa, f16, bf16, qs8)            \
  X(isa, bf16, f32, qs8)            \
  X(isa, bf16, f16, qs8)            \
  X(isa, bf16, bf16, qs8)           \
  X(isa, f32, f32, qs4)             \
  X(isa, f32, f16, qs4)             \
  X(isa, f32, bf16, qs4)            \
  X(isa, f16, f32, qs4)             \
  X(isa, f16, f16, qs4)             \
  X(isa, f16, bf16, qs4)            \
  X(isa, bf16, f32, qs4)            \
  X(isa, bf16, f16, qs4)            \
  X(isa, bf16, bf16, qs4)

// Tokens -> enums.
#define GQ_DTYPE_OF_f32 GQ_DTYPE_FLOAT32
#define GQ_DTYPE_OF_f16 GQ_DTYPE_FLOAT16
#define GQ_DTYPE_OF_bf16 GQ_DTYPE_BFLOAT16
#define GQ_KIND_OF_qs8 GQ_OUTPUT_INT8
#define GQ_KIND_OF_qs4 GQ_OUTPUT_INT4_PACKED
#define GQ_ISA_OF_scalar ::groupquant::detail::Isa::kScalar
#define GQ_ISA_OF_avx2 ::groupquant::detail::Isa::kAvx2
#define GQ_ISA_OF_avx512 ::groupquant::detail::Isa::kAvx512
#define GQ_ISA_OF_neon ::groupquant::detail::Isa::kNeon

#define GQ_CPU_KERNEL(isa, x, s, out)                                                         \
  void row_##x##_##s##_##out##__##isa(const void* x_row, const void* scale_row, float offset, \
                                      void* y_row, int64_t n);
#include "src/cpu/kernels.inc"
#undef GQ_CPU_KERNEL

// The kernel of `isa` for these dtypes; null if this build lacks that ISA.
RowKernel find_row_kernel(Isa isa, gq_dtype x, gq_dtype scale, gq_output_kind kind);

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_CPU_KERNELS_H_
