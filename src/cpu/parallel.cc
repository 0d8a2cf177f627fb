#include "src/cpu/parallel.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

namespace groupquant::detail {

void parallel_chunks(int64_t num_chunks, int64_t bytes, const gq_options& options, gq_task_fn fn,
                     void* ctx) {
  if (num_chunks <= 0) return;
  if (options.parallel_for != nullptr) {
    if (num_chunks == 1) return fn(ctx, 0, 1);
    return options.parallel_for(options.parallel_ctx, 0, num_chunks, 1, fn, ctx);
  }
  // Asked once: glibc answers hardware_concurrency() by reading sysfs (microseconds).
  static const unsigned hardware_threads = std::max(1u, std::thread::hardware_concurrency());
  int64_t threads = options.num_threads > 0 ? options.num_threads : hardware_threads;
  threads = std::min(threads, num_chunks);
  if (options.num_threads == 0) {
    threads = std::min(threads, std::max<int64_t>(1, bytes / kMinBytesPerOwnThread));
  }
  if (threads <= 1) return fn(ctx, 0, num_chunks);
  // Threads take chunks from a shared counter, so the split stays balanced; the calling
  // thread works too (if no thread can be started, it does all).
  std::atomic<int64_t> next{0};
  auto worker = [&] {
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
