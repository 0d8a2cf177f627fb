#include "src/cpu/kernels.h"

namespace groupquant::detail {

RowKernel find_row_kernel(Isa isa, gq_dtype x, gq_dtype scale, gq_output_kind kind) {
#define GQ_CPU_KERNEL(i, xt, st, out)                                               \
  if (isa == GQ_ISA_OF_##i && x == GQ_DTYPE_OF_##xt && scale == GQ_DTYPE_OF_##st && \
      kind == GQ_KIND_OF_##out)                                                     \
    return &row_##xt##_##st##_##out##__##i;
#include "src/cpu/kernels.inc"
#undef GQ_CPU_KERNEL
  return nullptr;
}

}  // namespace groupquant::detail
