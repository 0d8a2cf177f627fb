// The CPU driver of npu_dynamic_quant(_asymmetric): rows split into chunks of about
// kChunkBytes (parallel.h), each chunk's first expert found by binary search and then advanced
// row by row; rows whose x (or smooth row) is not contiguous take the strided scalar
// path, everything else the active ISA's row kernel, told to stream y (non-temporal
// stores) when the call is far larger than cache, as npu_group_quant's driver does.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "src/cpu/driver.h"
#include "src/cpu/kernels.h"
#include "src/cpu/parallel.h"
#include "src/cpu/row_stream.h"
#include "src/groups.h"
#include "src/reference/dynamic_quant_ref.h"
#include "src/validate.h"

namespace groupquant::detail {
namespace {

struct DynamicJob {
  const DynamicProblem* p;
  DynamicRowKernel kernel;
  DynamicOp op;  // p->op, with stream_output set for big calls
  int64_t rows_per_chunk;
  bool contiguous;  // x and smooth rows contiguous, y row contiguous
};

// A row that is not contiguous: the reference's per-element loop on this one row.
void run_strided_row(const DynamicProblem& p, int64_t r, int64_t e) {
  DynamicProblem row = p;
  row.rows = 1;
  row.row_dims = RowDims{};
  row.row_dims.size[0] = 1;
  if (p.H > 0) {  // with H == 0, x and y may have no storage (null): left as they are
    row.x = p.x + row_offset(p.row_dims, p.x_rows, r) * dtype_size(p.x_dtype);
    row.y = p.y + row_offset(p.row_dims, p.y_rows, r) * output_traits(p.op.kind).word_bytes;
  }
  row.scale = p.scale + row_offset(p.row_dims, p.scale_rows, r) * 4;
  if (p.offset != nullptr) row.offset = p.offset + row_offset(p.row_dims, p.offset_rows, r) * 4;
  if (p.smooth != nullptr) row.smooth = p.smooth + e * p.smooth_stride[0] * dtype_size(p.x_dtype);
  row.smooth_stride[0] = 0;
  row.group_index = nullptr;
  dynamic_quant_ref(row);
}

void run_dynamic_chunks(void* ctx, int64_t chunk_begin, int64_t chunk_end) {
  const DynamicJob& job = *static_cast<const DynamicJob*>(ctx);
  const DynamicProblem& p = *job.p;
  const int64_t row_begin = chunk_begin * job.rows_per_chunk;
  const int64_t row_end = std::min(p.rows, chunk_end * job.rows_per_chunk);
  if (row_begin >= row_end) return;  // parallel_chunks has set the FP environment
  const int64_t x_size = dtype_size(p.x_dtype);
  const int64_t y_size = output_traits(p.op.kind).word_bytes;
  // Without group_index every row uses smooth row 0 (or none): a one-expert index.
  const int64_t one_expert_end = INT64_MAX;
  const GroupIndex experts_index =
      p.group_index != nullptr
          ? group_index_of(p)
          : GroupIndex{reinterpret_cast<const char*>(&one_expert_end), GQ_DTYPE_INT64, 0, 1};
  GroupCursor experts(experts_index, row_begin);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t e = experts.group_of(r);
    if (!job.contiguous) {
      run_strided_row(p, r, e);
      continue;
    }
    // scale and offset may sit at any byte address (the CPU API has no alignment rule):
    // the kernel writes locals, copied out bytewise.
    float scale = 0.0f, offset = 0.0f;
    // With H == 0, x and y may have no storage (null): no pointer arithmetic on them.
    job.kernel(p.H == 0 ? p.x : p.x + row_offset(p.row_dims, p.x_rows, r) * x_size,
               p.smooth != nullptr ? p.smooth + e * p.smooth_stride[0] * x_size : nullptr, p.H,
               job.op, p.H == 0 ? p.y : p.y + row_offset(p.row_dims, p.y_rows, r) * y_size, &scale,
               p.offset != nullptr ? &offset : nullptr);
    std::memcpy(p.scale + row_offset(p.row_dims, p.scale_rows, r) * 4, &scale, 4);
    if (p.offset != nullptr) {
      std::memcpy(p.offset + row_offset(p.row_dims, p.offset_rows, r) * 4, &offset, 4);
    }
  }
}

}  // namespace

void run_dynamic_cpu(const DynamicProblem& p, const gq_options& options) {
  if (p.empty()) return;
  DynamicJob job;
  job.p = &p;
  job.kernel = find_dynamic_quant_kernel(active_isa(), p.x_dtype, p.op.kind);
  const OutputTraits out = output_traits(p.op.kind);
  const int64_t y_cols = p.H / out.cols_per_word;
  job.contiguous = (p.x_col_stride == 1 || p.H <= 1) &&
                   (p.smooth == nullptr || p.smooth_stride[1] == 1 || p.H <= 1) &&
                   (p.y_col_stride == 1 || y_cols <= 1);
  const int64_t row_bytes = p.H * dtype_size(p.x_dtype) + y_cols * out.word_bytes + 8;
  job.rows_per_chunk = std::max<int64_t>(1, kChunkBytes / row_bytes);
  const int64_t num_chunks = (p.rows + job.rows_per_chunk - 1) / job.rows_per_chunk;
  const int64_t bytes = p.rows * row_bytes;
  job.op = p.op;
  job.op.stream_output = bytes >= streaming_min_bytes();
  parallel_chunks(num_chunks, bytes, options, &run_dynamic_chunks, &job);
}

}  // namespace groupquant::detail
