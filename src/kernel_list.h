// Every dtype combination of every op, listed once. Each list is an X-macro that calls
// X(ctx, <dtype tokens>) per combination, passing ctx through (a CPU ISA, or anything a
// backend needs). The lists feed the CPU kernel table (src/cpu/kernels.inc), the kernel
// tests and the benchmarks; a backend that lacks a combination says so where it expands
// the list. Dtype tokens: f32 f16 bf16 in; qs8 (int8), qs4 (packed int4), f8e4m3
// (float8_e4m3fn), f8e5m2 (float8_e5m2) out.
#ifndef GROUPQUANT_SRC_KERNEL_LIST_H_
#define GROUPQUANT_SRC_KERNEL_LIST_H_

#include <groupquant/groupquant.h>

// npu_group_quant: X(ctx, x, scale, out).
#define GQ_GROUP_QUANT_TYPES(X, ctx) \
  X(ctx, f32, f32, qs8)              \
  X(ctx, f32, f16, qs8)              \
  X(ctx, f32, bf16, qs8)             \
  X(ctx, f16, f32, qs8)              \
  X(ctx, f16, f16, qs8)              \
  X(ctx, f16, bf16, qs8)             \
  X(ctx, bf16, f32, qs8)             \
  X(ctx, bf16, f16, qs8)             \
  X(ctx, bf16, bf16, qs8)            \
  X(ctx, f32, f32, qs4)              \
  X(ctx, f32, f16, qs4)              \
  X(ctx, f32, bf16, qs4)             \
  X(ctx, f16, f32, qs4)              \
  X(ctx, f16, f16, qs4)              \
  X(ctx, f16, bf16, qs4)             \
  X(ctx, bf16, f32, qs4)             \
  X(ctx, bf16, f16, qs4)             \
  X(ctx, bf16, bf16, qs4)

// npu_dynamic_quant(_asymmetric): X(ctx, x, out); smooth_scales has x's dtype. Chip and
// symmetry are run-time parameters of one kernel.
#define GQ_DYNAMIC_QUANT_TYPES(X, ctx) \
  X(ctx, f16, qs8)                     \
  X(ctx, f16, qs4)                     \
  X(ctx, f16, f8e4m3)                  \
  X(ctx, f16, f8e5m2)                  \
  X(ctx, bf16, qs8)                    \
  X(ctx, bf16, qs4)                    \
  X(ctx, bf16, f8e4m3)                 \
  X(ctx, bf16, f8e5m2)

// Tokens -> enums.
#define GQ_DTYPE_OF_f32 GQ_DTYPE_FLOAT32
#define GQ_DTYPE_OF_f16 GQ_DTYPE_FLOAT16
#define GQ_DTYPE_OF_bf16 GQ_DTYPE_BFLOAT16
#define GQ_KIND_OF_qs8 GQ_OUTPUT_INT8
#define GQ_KIND_OF_qs4 GQ_OUTPUT_INT4_PACKED
#define GQ_KIND_OF_f8e4m3 GQ_OUTPUT_FLOAT8_E4M3FN
#define GQ_KIND_OF_f8e5m2 GQ_OUTPUT_FLOAT8_E5M2

#endif  // GROUPQUANT_SRC_KERNEL_LIST_H_
