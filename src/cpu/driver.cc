#include "src/cpu/driver.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

#include "src/cpu/column_major.h"
#include "src/cpu/kernels.h"
#include "src/cpu/parallel.h"
#include "src/cpu/row_stream.h"
#include "src/element.h"
#include "src/groups.h"
#include "src/validate.h"

namespace groupquant::detail {
namespace {

// Strided views go through row-major tiles of kTileRows x kTileCols elements (32 KiB of
// fp32 at most, on the stack): x's block is copied in, then the row kernels run over the
// tile's rows while it sits in L1/L2. For a column-major x each column of the block is
// 128 contiguous bytes or more, read whole (a big call of a column-major x with int8 output
// and contiguous y rows takes src/cpu/column_major.cc instead).
// kTileCols is a multiple of 8 (int4 words).
constexpr int64_t kTileRows = 64;
constexpr int64_t kTileCols = 128;

struct Job {
  const Problem* p;
  RowKernel kernel;
  RowKernel contiguous_kernel;  // kernel, or its streaming-store variant for big calls
  float offset;
  int64_t rows_per_chunk;
  bool contiguous_rows;  // every row of x, scale and y is contiguous
  bool column_major;     // src/cpu/column_major.h: chunks are its band x strip chunks
};

int64_t y_element_size(const Problem& p) { return output_traits(p.kind).word_bytes; }

// Rows [row_begin, row_end) whose x, scale and y rows are contiguous: one kernel call
// per row, pointers advanced, the group advanced as rows cross group ends.
void run_contiguous_rows(const Job& job, int64_t row_begin, int64_t row_end) {
  const Problem& p = *job.p;
  const int64_t x_row = p.x_stride[0] * dtype_size(p.x_dtype);
  const int64_t s_row = p.scale_stride[0] * dtype_size(p.scale_dtype);
  const int64_t y_row = p.y_stride[0] * y_element_size(p);
  int64_t g = group_of_row(p, row_begin);
  int64_t g_end = group_end(p, g);
  const char* x = p.x + row_begin * x_row;
  char* y = p.y + row_begin * y_row;
  for (int64_t r = row_begin; r < row_end; ++r, x += x_row, y += y_row) {
    while (r >= g_end) g_end = group_end(p, ++g);  // rows are sorted by group
    job.contiguous_kernel(x, p.scale + g * s_row, job.offset, y, p.N);
  }
}

#if defined(__SSE2__)
// Column-major blocks (unit row stride): 8x8 (16-bit) or 4x4 (32-bit) SSE2 transposes,
// each column segment one 16-byte load, each tile row segment one 16-byte store; and a
// prefetch of the segments below them, which the next tile reads (one per column, each
// column a page apart: too many streams for the
// hardware prefetchers to follow). Returns the columns done (a multiple of the block width).
inline void transpose8x8_16(const char* src, int64_t col_stride_bytes, char* dst,
                            int64_t row_bytes) {
  __m128i c[8], t[8];
  for (int k = 0; k < 8; ++k) {
    c[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k * col_stride_bytes));
  }
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm_unpacklo_epi16(c[2 * k], c[2 * k + 1]);
    t[2 * k + 1] = _mm_unpackhi_epi16(c[2 * k], c[2 * k + 1]);
  }
  // t[0]: r0 (c0 c1) r1 (c0 c1) r2.. r3; t[1]: r4..r7 of c0 c1; t[2], t[3]: c2 c3; ...
  for (int h = 0; h < 2; ++h) {
    const __m128i a = _mm_unpacklo_epi32(t[h], t[2 + h]), b = _mm_unpackhi_epi32(t[h], t[2 + h]);
    const __m128i e = _mm_unpacklo_epi32(t[4 + h], t[6 + h]);
    const __m128i f = _mm_unpackhi_epi32(t[4 + h], t[6 + h]);
    // a: rows 4h, 4h+1 of c0..c3; e: the same rows of c4..c7.
    char* d = dst + 4 * h * row_bytes;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm_unpacklo_epi64(a, e));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + row_bytes), _mm_unpackhi_epi64(a, e));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * row_bytes), _mm_unpacklo_epi64(b, f));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 3 * row_bytes), _mm_unpackhi_epi64(b, f));
  }
}

inline void transpose4x4_32(const char* src, int64_t col_stride_bytes, char* dst,
                            int64_t row_bytes) {
  __m128 c0 = _mm_loadu_ps(reinterpret_cast<const float*>(src));
  __m128 c1 = _mm_loadu_ps(reinterpret_cast<const float*>(src + col_stride_bytes));
  __m128 c2 = _mm_loadu_ps(reinterpret_cast<const float*>(src + 2 * col_stride_bytes));
  __m128 c3 = _mm_loadu_ps(reinterpret_cast<const float*>(src + 3 * col_stride_bytes));
  _MM_TRANSPOSE4_PS(c0, c1, c2, c3);  // moves bits only: no float arithmetic
  _mm_storeu_ps(reinterpret_cast<float*>(dst), c0);
  _mm_storeu_ps(reinterpret_cast<float*>(dst + row_bytes), c1);
  _mm_storeu_ps(reinterpret_cast<float*>(dst + 2 * row_bytes), c2);
  _mm_storeu_ps(reinterpret_cast<float*>(dst + 3 * row_bytes), c3);
}

template <int64_t kSize>
int64_t gather_column_major(const char* base, int64_t s1, int64_t rows, int64_t cols, char* tile) {
  constexpr int64_t kBlock = 16 / kSize;  // rows (and columns) per transpose
  const int64_t col_bytes = s1 * kSize, row_bytes = kTileCols * kSize;
  const int64_t full_rows = rows / kBlock * kBlock, full_cols = cols / kBlock * kBlock;
  if (full_rows == 0) return 0;
  for (int64_t j = 0; j < full_cols; j += kBlock) {
    // The same columns' next row block (the next tile the caller gathers).
    const uintptr_t next = reinterpret_cast<uintptr_t>(base) + j * col_bytes + rows * kSize;
    for (int64_t k = 0; k < kBlock; ++k) {  // never dereferenced, so never out of range
      for (int64_t b = 0; b < rows * kSize; b += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(next + k * col_bytes + b), _MM_HINT_T0);
      }
    }
    for (int64_t i = 0; i < full_rows; i += kBlock) {
      const char* src = base + j * col_bytes + i * kSize;
      char* dst = tile + i * row_bytes + j * kSize;
      if constexpr (kSize == 2) {
        transpose8x8_16(src, col_bytes, dst, row_bytes);
      } else {
        transpose4x4_32(src, col_bytes, dst, row_bytes);
      }
    }
    for (int64_t c = j; c < j + kBlock; ++c) {  // the rows past the last whole block
      for (int64_t i = full_rows; i < rows; ++i) {
        std::memcpy(tile + i * row_bytes + c * kSize, base + c * col_bytes + i * kSize, kSize);
      }
    }
  }
  return full_cols;
}
#endif

// Copies a rows x cols block of a strided 2-D view (element [i, j] at base + (i * s0 + j *
// s1) elements) into a row-major tile with kTileCols elements per row. The inner loop
// runs along the smaller stride, so a column-major view is read a cache line at a time.
template <int64_t kSize>
void gather_tile(const char* base, int64_t s0, int64_t s1, int64_t rows, int64_t cols, char* tile) {
  if (s1 <= s0) {
    for (int64_t i = 0; i < rows; ++i) {
      const char* src = base + i * s0 * kSize;
      char* dst = tile + i * kTileCols * kSize;
      if (s1 == 1) {
        std::memcpy(dst, src, static_cast<size_t>(cols * kSize));
      } else {
        for (int64_t j = 0; j < cols; ++j)
          std::memcpy(dst + j * kSize, src + j * s1 * kSize, kSize);
      }
    }
    return;
  }
  int64_t done = 0;
#if defined(__SSE2__)
  if (s0 == 1) done = gather_column_major<kSize>(base, s1, rows, cols, tile);
#endif
  for (int64_t j = done; j < cols; ++j) {
    const char* src = base + j * s1 * kSize;
    char* dst = tile + j * kSize;
    for (int64_t i = 0; i < rows; ++i) {
      std::memcpy(dst + i * kTileCols * kSize, src + i * s0 * kSize, kSize);
    }
  }
}

void gather(gq_dtype dtype, const char* base, int64_t s0, int64_t s1, int64_t rows, int64_t cols,
            char* tile) {
  if (dtype_size(dtype) == 4) {
    gather_tile<4>(base, s0, s1, rows, cols, tile);
  } else {
    gather_tile<2>(base, s0, s1, rows, cols, tile);
  }
}

// Rows [row_begin, row_end) of a call with any strides: blocks of kTileRows rows x kTileCols
// columns. x's block is copied into a row-major tile (no copy of x's size), scale's row
// segment is copied only when it is strided and its group changes, and y's segment is
// written in place when its row is contiguous, else through a small tile.
void run_tiled_rows(const Job& job, int64_t row_begin, int64_t row_end) {
  const Problem& p = *job.p;
  const int64_t x_size = dtype_size(p.x_dtype), s_size = dtype_size(p.scale_dtype);
  const int64_t y_size = y_element_size(p);
  const int64_t per_y = output_traits(p.kind).cols_per_word;  // elements per y element
  const bool scale_contiguous = p.scale_stride[1] == 1 || p.N == 1;
  const bool y_contiguous = p.y_stride[1] == 1 || p.y_cols() <= 1;
  alignas(64) char x_tile[kTileRows * kTileCols * 4];
  alignas(64) char s_tile[kTileCols * 4], y_tile[kTileCols];
  int64_t groups[kTileRows];
  const int64_t first_group = group_of_row(p, row_begin);
  // Column blocks outside, row blocks inside: a column-major x is then read down each
  // column's pages in turn (TLB and prefetcher friendly) rather than across all of them.
  for (int64_t c0 = 0; c0 < p.N; c0 += kTileCols) {
    const int64_t cols = std::min(kTileCols, p.N - c0);
    int64_t g = first_group;
    int64_t g_end = group_end(p, g);
    for (int64_t r0 = row_begin; r0 < row_end; r0 += kTileRows) {
      const int64_t rows = std::min(kTileRows, row_end - r0);
      for (int64_t i = 0; i < rows; ++i) {
        while (r0 + i >= g_end) g_end = group_end(p, ++g);
        groups[i] = g;
      }
      gather(p.x_dtype, p.x + (r0 * p.x_stride[0] + c0 * p.x_stride[1]) * x_size, p.x_stride[0],
             p.x_stride[1], rows, cols, x_tile);
      int64_t staged_group = -1;
      for (int64_t i = 0; i < rows; ++i) {
        const char* s = p.scale + (groups[i] * p.scale_stride[0] + c0 * p.scale_stride[1]) * s_size;
        if (!scale_contiguous) {
          if (groups[i] != staged_group) {
            for (int64_t j = 0; j < cols; ++j) {
              std::memcpy(s_tile + j * s_size, s + j * p.scale_stride[1] * s_size,
                          static_cast<size_t>(s_size));
            }
            staged_group = groups[i];
          }
          s = s_tile;
        }
        char* y = p.y + ((r0 + i) * p.y_stride[0] + c0 / per_y * p.y_stride[1]) * y_size;
        const char* x_row = x_tile + i * kTileCols * x_size;
        if (y_contiguous) {
          job.kernel(x_row, s, job.offset, y, cols);
          continue;
        }
        job.kernel(x_row, s, job.offset, y_tile, cols);
        for (int64_t j = 0; j < cols / per_y; ++j) {
          std::memcpy(y + j * p.y_stride[1] * y_size, y_tile + j * y_size,
                      static_cast<size_t>(y_size));
        }
      }
    }
  }
}

// Chunks [chunk_begin, chunk_end); parallel_chunks has set the FP environment.
void run_chunks(void* ctx, int64_t chunk_begin, int64_t chunk_end) {
  const Job& job = *static_cast<const Job*>(ctx);
  if (job.column_major) {
    run_column_major_chunks(*job.p, job.kernel, job.offset, chunk_begin, chunk_end);
    return;
  }
  const int64_t row_begin = chunk_begin * job.rows_per_chunk;
  const int64_t row_end = std::min(job.p->M, chunk_end * job.rows_per_chunk);
  if (row_begin >= row_end) return;
  if (job.contiguous_rows) {
    run_contiguous_rows(job, row_begin, row_end);
  } else {
    run_tiled_rows(job, row_begin, row_end);
  }
}

std::atomic<int64_t> g_streaming_min_bytes{kDefaultStreamingMinBytes};

}  // namespace

int64_t streaming_min_bytes() { return g_streaming_min_bytes.load(std::memory_order_relaxed); }
void set_streaming_min_bytes(int64_t bytes) {
  g_streaming_min_bytes.store(bytes, std::memory_order_relaxed);
}

void run_cpu(const Problem& p, const gq_options& options) {
  if (p.empty()) return;
  Job job;
  job.p = &p;
  job.kernel = find_row_kernel(active_isa(), p.x_dtype, p.scale_dtype, p.kind);
  job.contiguous_kernel = job.kernel;
  const int64_t row_bytes = p.N * dtype_size(p.x_dtype) + p.y_cols() * y_element_size(p);
  const int64_t bytes = p.M * row_bytes;
  const bool stream = bytes >= streaming_min_bytes();
  if (stream) {
    if (RowKernel k = find_streaming_row_kernel(active_isa(), p.x_dtype, p.scale_dtype, p.kind)) {
      job.contiguous_kernel = k;
    }
  }
  // Offset widened once (exact); +0.0f when absent, see kernels.h.
  job.offset = p.offset != nullptr ? load_float(p.offset, p.scale_dtype, 0) : 0.0f;
  job.contiguous_rows = (p.x_stride[1] == 1 || p.N == 1) && (p.scale_stride[1] == 1 || p.N == 1) &&
                        (p.y_stride[1] == 1 || p.y_cols() <= 1);
  job.rows_per_chunk = std::max<int64_t>(1, kChunkBytes / row_bytes);
  // Strided views: chunks of whole tiles, at least four tiles tall, so that each column
  // block walks down a column-major x for a while before moving on.
  if (!job.contiguous_rows) {
    job.rows_per_chunk =
        std::max(4 * kTileRows, (job.rows_per_chunk + kTileRows - 1) / kTileRows * kTileRows);
  }
  job.column_major = !job.contiguous_rows && stream && column_major_path_applies(p);
  const int64_t num_chunks = job.column_major ? column_major_chunks(p)
                                              : (p.M + job.rows_per_chunk - 1) / job.rows_per_chunk;
  parallel_chunks(num_chunks, bytes, options, &run_chunks, &job);
}

}  // namespace groupquant::detail
