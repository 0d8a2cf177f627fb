#include "src/cpu/kernels.h"

namespace groupquant::detail {

RowKernel find_row_kernel(Isa isa, gq_dtype x, gq_dtype scale, gq_output_kind kind) {
#define GQ_CPU_GROUP_QUANT_KERNEL(i, xt, st, out)                                   \
  if (isa == GQ_ISA_OF_##i && x == GQ_DTYPE_OF_##xt && scale == GQ_DTYPE_OF_##st && \
      kind == GQ_KIND_OF_##out)                                                     \
    return &group_quant_##xt##_##st##_##out##__##i;
#include "src/cpu/kernels.inc"
  return nullptr;
}

DynamicRowKernel find_dynamic_quant_kernel(Isa isa, gq_dtype x, gq_output_kind kind) {
  DynamicRowKernel best = nullptr;  // kernels.inc lists ISAs best last
#define GQ_CPU_DYNAMIC_QUANT_KERNEL(i, xt, out)                                            \
  if (static_cast<int>(GQ_ISA_OF_##i) <= static_cast<int>(isa) && x == GQ_DTYPE_OF_##xt && \
      kind == GQ_KIND_OF_##out)                                                            \
    best = &dynamic_quant_##xt##_##out##__##i;
#include "src/cpu/kernels.inc"
  return best;
}

}  // namespace groupquant::detail
