// The column-major path: quantize down x's contiguous columns, then transpose the int8
// results into y's rows.
//
// In a column-major x the rows of one column are adjacent, and the rows of one group
// share one scale value per column. So each column's run of rows goes through the
// ordinary row kernel with, as its scale row, each row's group's value for that column
// (one value repeated over each group's rows): element for element the same multiply,
// add and rounding as the row-major call, hence the same bits. The int8 results fill a column-major
// tile (kTileCols columns x kBandRows rows, 32 KiB, in L1/L2), which is then transposed into y's
// rows, 1 byte per element, each row's segment one 64-byte line written with a non-temporal store.
// x is read once, in contiguous runs of kBandRows elements (1 KiB of bf16), one page per run;
// nothing of x's size is copied.
#include "src/cpu/column_major.h"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

#include "src/element.h"
#include "src/groups.h"
#include "src/validate.h"

namespace groupquant::detail {
namespace {

// Rows per band: each column's run of x is kBandRows elements long. Longer runs mean
// fewer pages (TLB misses) per byte of x, but more y rows (pages) written per tile.
constexpr int64_t kBandRows = 512;
// Columns per tile: each tile row is one 64-byte line of y.
constexpr int64_t kTileCols = 64;
// Columns per chunk (a few tiles): bands x strips give enough chunks to share between
// threads even when M is small.
constexpr int64_t kStripCols = 256;
// Columns ahead whose run of x is prefetched: the hardware prefetchers do not follow one
// short run per page, and without it the loads of each run wait for memory one by one.
constexpr int64_t kPrefetchColumns = 4;

#if defined(__SSE2__)
// dst row c (16 bytes) = byte c of src rows 0..15: four rounds of unpacks.
inline void transpose16x16_8(const char* src, int64_t src_stride, char* dst, int64_t dst_stride) {
  __m128i a[16], b[16];
  for (int k = 0; k < 16; ++k) {
    a[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k * src_stride));
  }
  // b[k], b[8 + k]: rows 2k, 2k+1 interleaved, of columns 0..7 and 8..15.
  for (int k = 0; k < 8; ++k) {
    b[k] = _mm_unpacklo_epi8(a[2 * k], a[2 * k + 1]);
    b[8 + k] = _mm_unpackhi_epi8(a[2 * k], a[2 * k + 1]);
  }
  // a[4q + k]: rows 4k..4k+3 of columns 4q..4q+3.
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {
      a[8 * h + k] = _mm_unpacklo_epi16(b[8 * h + 2 * k], b[8 * h + 2 * k + 1]);
      a[8 * h + 4 + k] = _mm_unpackhi_epi16(b[8 * h + 2 * k], b[8 * h + 2 * k + 1]);
    }
  }
  // b[2e + k]: rows 8k..8k+7 of columns 2e, 2e+1.
  for (int q = 0; q < 4; ++q) {
    for (int k = 0; k < 2; ++k) {
      b[4 * q + k] = _mm_unpacklo_epi32(a[4 * q + 2 * k], a[4 * q + 2 * k + 1]);
      b[4 * q + 2 + k] = _mm_unpackhi_epi32(a[4 * q + 2 * k], a[4 * q + 2 * k + 1]);
    }
  }
  for (int e = 0; e < 8; ++e) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * e * dst_stride),
                     _mm_unpacklo_epi64(b[2 * e], b[2 * e + 1]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (2 * e + 1) * dst_stride),
                     _mm_unpackhi_epi64(b[2 * e], b[2 * e + 1]));
  }
}
#endif

// y[i][j] = tile[j][i] for i < rows, j < cols (tile rows kBandRows apart). Each 16 rows
// are transposed into `stage`, then written out one y row segment at a time: whole
// aligned lines with non-temporal stores (y's rows are a page apart, and with ordinary
// stores each line costs a read for ownership that no prefetcher anticipates), others
// with ordinary ones.
void transpose_tile(const char* tile, int64_t rows, int64_t cols, char* y, int64_t y_row) {
  int64_t i = 0;
#if defined(__SSE2__)
  alignas(64) char stage[16 * kTileCols];
  const int64_t full_cols = cols / 16 * 16;
  for (; i + 16 <= rows; i += 16) {
    for (int64_t j = 0; j < full_cols; j += 16) {
      transpose16x16_8(tile + j * kBandRows + i, kBandRows, stage + j, kTileCols);
    }
    for (int64_t r = 0; r < 16; ++r) {
      char* d = y + (i + r) * y_row;
      const char* s = stage + r * kTileCols;
      if (cols == kTileCols && (reinterpret_cast<uintptr_t>(d) & 63) == 0) {
        for (int64_t j = 0; j < kTileCols; j += 16) {
          _mm_stream_si128(reinterpret_cast<__m128i*>(d + j),
                           _mm_load_si128(reinterpret_cast<const __m128i*>(s + j)));
        }
        continue;
      }
      std::memcpy(d, s, static_cast<size_t>(full_cols));
      for (int64_t j = full_cols; j < cols; ++j) d[j] = tile[j * kBandRows + i + r];
    }
  }
#endif
  for (; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) y[i * y_row + j] = tile[j * kBandRows + i];
  }
}

// n copies of the scale element at `value` (size bytes).
void fill_run(char* run, const char* value, int64_t size, int64_t n) {
  if (size == 4) {
    uint32_t v;
    std::memcpy(&v, value, 4);
    for (int64_t k = 0; k < n; ++k) std::memcpy(run + 4 * k, &v, 4);
  } else {
    uint16_t v;
    std::memcpy(&v, value, 2);
    for (int64_t k = 0; k < n; ++k) std::memcpy(run + 2 * k, &v, 2);
  }
}

int64_t strips_of(const Problem& p) { return (p.N + kStripCols - 1) / kStripCols; }

}  // namespace

bool column_major_path_applies(const Problem& p) {
  return p.kind == GQ_OUTPUT_INT8 && p.M > 1 && p.N > 1 && p.x_stride[0] == 1 &&
         p.x_stride[1] != 1 && p.y_stride[1] == 1;
}

int64_t column_major_chunks(const Problem& p) {
  return (p.M + kBandRows - 1) / kBandRows * strips_of(p);
}

void run_column_major_chunks(const Problem& p, RowKernel kernel, float offset, int64_t chunk_begin,
                             int64_t chunk_end) {
  const int64_t x_size = dtype_size(p.x_dtype), s_size = dtype_size(p.scale_dtype);
  const int64_t x_col = p.x_stride[1] * x_size, y_row = p.y_stride[0];
  const int64_t strips = strips_of(p);
  alignas(64) char tile[kTileCols * kBandRows];
  alignas(64) char run[kBandRows * 4];
  // The band's rows by group: rows [seg_begin[k], seg_begin[k + 1]) are in seg_group[k].
  int64_t seg_begin[kBandRows + 1], seg_group[kBandRows];
  int64_t segments = 0, band = -1;
  for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
    const int64_t r0 = chunk / strips * kBandRows, rows = std::min(kBandRows, p.M - r0);
    if (chunk / strips != band) {
      band = chunk / strips;
      GroupCursor groups(group_index_of(p), r0);
      segments = 0;
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t g = groups.group_of(r0 + i);
        if (segments == 0 || g != seg_group[segments - 1]) {
          seg_begin[segments] = i;
          seg_group[segments++] = g;
        }
      }
      seg_begin[segments] = rows;
    }
    const char* x_band = p.x + r0 * x_size;
    const int64_t strip_end = std::min(p.N, (chunk % strips + 1) * kStripCols);
    for (int64_t c0 = chunk % strips * kStripCols; c0 < strip_end; c0 += kTileCols) {
      const int64_t cols = std::min(kTileCols, strip_end - c0);
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t c = c0 + j;
#if defined(__SSE2__)
        if (c + kPrefetchColumns < p.N) {  // a hint: never dereferenced
          const char* ahead = x_band + (c + kPrefetchColumns) * x_col;
          for (int64_t b = 0; b < rows * x_size; b += 64) _mm_prefetch(ahead + b, _MM_HINT_T2);
        }
#endif
        // The column's scale row: its value of each group, over that group's rows; then
        // one kernel call for the whole run, however many groups it crosses.
        for (int64_t k = 0; k < segments; ++k) {
          fill_run(run + seg_begin[k] * s_size,
                   p.scale + (seg_group[k] * p.scale_stride[0] + c * p.scale_stride[1]) * s_size,
                   s_size, seg_begin[k + 1] - seg_begin[k]);
        }
        kernel(x_band + c * x_col, run, offset, tile + j * kBandRows, rows);
      }
      transpose_tile(tile, rows, cols, p.y + r0 * y_row + c0, y_row);
    }
  }
#if defined(__SSE2__)
  _mm_sfence();  // the non-temporal stores are visible when the chunk returns
#endif
}

}  // namespace groupquant::detail
