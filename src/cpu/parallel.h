// Chunked threading over rows, shared by every op's CPU driver: the caller's
// parallel_for hook (gq_options) when given, otherwise a built-in pool started per call.
#ifndef GROUPQUANT_SRC_CPU_PARALLEL_H_
#define GROUPQUANT_SRC_CPU_PARALLEL_H_

#include <groupquant/groupquant.h>

#include <cstdint>

namespace groupquant::detail {

// Runs fn(ctx, begin, end) over sub-ranges of [0, num_chunks) and returns when all have
// run. The built-in pool (options.num_threads; 0 = all hardware threads) starts a thread
// only per kMinBytesPerOwnThread of `bytes` (what the call reads and writes), so a small
// call runs on the calling thread. fn must not throw.
void parallel_chunks(int64_t num_chunks, int64_t bytes, const gq_options& options, gq_task_fn fn,
                     void* ctx);

// Starting a thread costs about as long as streaming this much.
inline constexpr int64_t kMinBytesPerOwnThread = int64_t{1} << 20;

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_CPU_PARALLEL_H_
