// npu_group_quant on a column-major x (unit row stride) with int8 output: the driver's path
// for big x.t().contiguous().t() and other transposed views (src/cpu/column_major.cc).
#ifndef GROUPQUANT_SRC_CPU_COLUMN_MAJOR_H_
#define GROUPQUANT_SRC_CPU_COLUMN_MAJOR_H_

#include <cstdint>

#include "src/cpu/kernels.h"
#include "src/problem.h"

namespace groupquant::detail {

// Whether this path handles p: x's columns contiguous (and its rows not), int8 output
// with contiguous y rows. The driver takes it only for calls at the streaming-store size
// (row_stream.h): below that the tiled path of driver.cc is faster (measured: the short
// column runs cost a kernel call each, and y would stay in cache anyway).
bool column_major_path_applies(const Problem& p);

// The work is cut into chunks of one band of rows x one strip of columns, numbered band
// by band; the chunks are independent and each costs about the same.
int64_t column_major_chunks(const Problem& p);

// Chunks [chunk_begin, chunk_end). `kernel` is the int8 row kernel of p's dtypes; y's
// whole aligned lines are written with non-temporal stores, fenced before returning. The
// caller has set the default floating-point environment.
void run_column_major_chunks(const Problem& p, RowKernel kernel, float offset, int64_t chunk_begin,
                             int64_t chunk_end);

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_CPU_COLUMN_MAJOR_H_
