#include "src/cpu/driver.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <system_error>
#include <thread>
#include <vector>

#include "src/cpu/kernels.h"
#include "src/cpu/row_stream.h"
#include "src/element.h"
#include "src/fp_env.h"
#include "src/groups.h"
#include "src/validate.h"

namespace groupquant::detail {
namespace {

// Work per chunk: large enough that the per-chunk group search and scheduling vanish,
// small enough that 2-64 threads still get several chunks each.
constexpr int64_t kChunkElements = 1 << 16;
// The built-in pool starts its threads per call (tens of microseconds each), so with
// num_threads = 0 (all) it adds a thread only per this much work (0.5-1 MiB, about as
// long to stream as a thread start): a decode-size call runs on the calling thread.
constexpr int64_t kMinElementsPerOwnThread = 1 << 18;
// Columns staged per step when a row is not contiguous (a multiple of 8 for int4).
constexpr int64_t kTileElements = 512;

struct Job {
  const Problem* p;
  RowKernel kernel;
  RowKernel contiguous_kernel;  // kernel, or its streaming-store variant for big calls
  float offset;
  int64_t rows_per_chunk;
};

// Copies one strided row through stack tiles so the same kernel runs on it; used for
// transposed or column-strided views instead of a whole-tensor .contiguous() copy.
void run_strided_row(const Job& job, int64_t r, int64_t g) {
  const Problem& p = *job.p;
  const int64_t x_size = dtype_size(p.x_dtype), s_size = dtype_size(p.scale_dtype);
  const int64_t y_size = p.kind == GQ_OUTPUT_INT8 ? 1 : 4;
  const int64_t per_y = p.kind == GQ_OUTPUT_INT8 ? 1 : 8;
  alignas(64) char x_tile[kTileElements * 4], s_tile[kTileElements * 4], y_tile[kTileElements];
  for (int64_t n0 = 0; n0 < p.N; n0 += kTileElements) {
    const int64_t len = std::min(kTileElements, p.N - n0);
    for (int64_t i = 0; i < len; ++i) {
      std::memcpy(x_tile + i * x_size,
                  p.x + (r * p.x_stride[0] + (n0 + i) * p.x_stride[1]) * x_size, x_size);
      std::memcpy(s_tile + i * s_size,
                  p.scale + (g * p.scale_stride[0] + (n0 + i) * p.scale_stride[1]) * s_size,
                  s_size);
    }
    job.kernel(x_tile, s_tile, job.offset, y_tile, len);
    for (int64_t j = 0; j < len / per_y; ++j) {
      std::memcpy(p.y + (r * p.y_stride[0] + (n0 / per_y + j) * p.y_stride[1]) * y_size,
                  y_tile + j * y_size, y_size);
    }
  }
}

void run_chunks(void* ctx, int64_t chunk_begin, int64_t chunk_end) {
  const Job& job = *static_cast<const Job*>(ctx);
  const Problem& p = *job.p;
  const int64_t row_begin = chunk_begin * job.rows_per_chunk;
  const int64_t row_end = std::min(p.M, chunk_end * job.rows_per_chunk);
  if (row_begin >= row_end) return;
  ScopedDefaultFpEnv fp_env;
  const int64_t x_size = dtype_size(p.x_dtype), s_size = dtype_size(p.scale_dtype);
  const int64_t y_size = p.kind == GQ_OUTPUT_INT8 ? 1 : 4;
  const bool contiguous_rows = (p.x_stride[1] == 1 || p.N == 1) &&
                               (p.scale_stride[1] == 1 || p.N == 1) &&
                               (p.y_stride[1] == 1 || p.y_cols() <= 1);
  int64_t g = group_of_row(p, row_begin);
  int64_t g_end = group_end(p, g);
  for (int64_t r = row_begin; r < row_end; ++r) {
    while (r >= g_end) g_end = group_end(p, ++g);  // rows are sorted by group
    if (contiguous_rows) {
      job.contiguous_kernel(p.x + r * p.x_stride[0] * x_size,
                            p.scale + g * p.scale_stride[0] * s_size, job.offset,
                            p.y + r * p.y_stride[0] * y_size, p.N);
    } else {
      run_strided_row(job, r, g);
    }
  }
}

// The built-in pool: threads take chunks from a shared counter, so the split stays
// balanced, and the calling thread works too (if no thread can be started, it does all).
void run_on_own_threads(int64_t num_chunks, int32_t num_threads, Job& job) {
  // Asked once: glibc answers hardware_concurrency() by reading sysfs (microseconds).
  static const unsigned hardware_threads = std::max(1u, std::thread::hardware_concurrency());
  unsigned threads = num_threads > 0 ? static_cast<unsigned>(num_threads) : hardware_threads;
  threads = static_cast<unsigned>(std::min<int64_t>(threads, num_chunks));
  if (num_threads == 0) {
    const int64_t by_work = std::max<int64_t>(1, job.p->M * job.p->N / kMinElementsPerOwnThread);
    threads = static_cast<unsigned>(std::min<int64_t>(threads, by_work));
  }
  if (threads <= 1) {
    run_chunks(&job, 0, num_chunks);
    return;
  }
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < num_chunks;) {
      run_chunks(&job, c, c + 1);
    }
  };
  std::vector<std::thread> pool;
  try {
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  } catch (const std::system_error&) {
    // Fewer threads than asked for: the rest of the work still gets done below.
  }
  worker();
  for (std::thread& t : pool) t.join();
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
  const int64_t bytes =
      p.M * p.N * dtype_size(p.x_dtype) + p.M * p.y_cols() * (p.kind == GQ_OUTPUT_INT8 ? 1 : 4);
  if (bytes >= streaming_min_bytes()) {
    if (RowKernel k = find_streaming_row_kernel(active_isa(), p.x_dtype, p.scale_dtype, p.kind)) {
      job.contiguous_kernel = k;
    }
  }
  // Offset widened once (exact); +0.0f when absent, see kernels.h.
  job.offset = p.offset != nullptr ? load_float(p.offset, p.scale_dtype, 0) : 0.0f;
  job.rows_per_chunk = std::max<int64_t>(1, kChunkElements / p.N);
  const int64_t num_chunks = (p.M + job.rows_per_chunk - 1) / job.rows_per_chunk;
  if (options.parallel_for != nullptr && num_chunks > 1) {
    options.parallel_for(options.parallel_ctx, 0, num_chunks, 1, &run_chunks, &job);
  } else {
    run_on_own_threads(num_chunks, options.num_threads, job);
  }
}

}  // namespace groupquant::detail
