#include "src/cpu/parallel.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

#include "src/fp_env.h"

namespace groupquant::detail {
namespace {

struct Task {
  gq_task_fn fn;
  void* ctx;
};

// The gq_task_fn given to the caller's pool: one environment switch per task, which a
// pool like at::parallel_for's OpenMP gives one contiguous range of chunks per thread.
void run_task(void* task, int64_t begin, int64_t end) {
  ScopedDefaultFpEnv fp_env;
  const Task& t = *static_cast<const Task*>(task);
  t.fn(t.ctx, begin, end);
}

// Threads of the built-in pool for this call: as asked (0 = all hardware threads), at
// most one per chunk, and with 0 (or less) at most one per kMinBytesPerOwnThread.
int64_t own_threads(int32_t num_threads, int64_t num_chunks, int64_t bytes) {
  // Asked once: glibc answers hardware_concurrency() by reading sysfs (microseconds).
  static const unsigned hardware_threads = std::max(1u, std::thread::hardware_concurrency());
  int64_t threads = num_threads > 0 ? num_threads : hardware_threads;
  threads = std::min(threads, num_chunks);
  if (num_threads <= 0) {  // negative: as 0
    threads = std::min(threads, std::max<int64_t>(1, bytes / kMinBytesPerOwnThread));
  }
  return threads;
}

}  // namespace

void parallel_chunks(int64_t num_chunks, int64_t bytes, const gq_options& options, gq_task_fn fn,
                     void* ctx) {
  if (num_chunks <= 0) return;
  Task task{fn, ctx};
  if (options.parallel_for != nullptr) {
    if (num_chunks > 1 && bytes >= kMinParallelBytes) {
      options.parallel_for(options.parallel_ctx, 0, num_chunks, 1, &run_task, &task);
    } else {
      run_task(&task, 0, num_chunks);
    }
    return;
  }
  const int64_t threads = own_threads(options.num_threads, num_chunks, bytes);
  if (threads <= 1) return run_task(&task, 0, num_chunks);
  // Threads take chunks from a shared counter, so the split stays balanced; the calling
  // thread works too (if no thread can be started, it does all).
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    ScopedDefaultFpEnv fp_env;
    for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < num_chunks;) {
      fn(ctx, c, c + 1);
    }
  };
  std::vector<std::thread> pool;
  try {
    for (int64_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  } catch (const std::system_error&) {
    // Fewer threads than asked for: the rest of the work still gets done below.
  }
  worker();
  for (std::thread& t : pool) t.join();
}

}  // namespace groupquant::detail
