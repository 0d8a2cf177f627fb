// Chunked threading over rows, shared by every op's CPU driver: the caller's
// parallel_for hook (gq_options) when given, otherwise a built-in pool started per call.
// Work is measured in bytes moved (input read + output written): the cost of a call both
// when it streams from memory and when it is cache resident.
#ifndef GROUPQUANT_SRC_CPU_PARALLEL_H_
#define GROUPQUANT_SRC_CPU_PARALLEL_H_

#include <groupquant/groupquant.h>

#include <cstdint>

namespace groupquant::detail {

// A chunk: large enough that its group search and scheduling vanish, small enough that
// 2-64 threads still get several each. Drivers size their chunks of rows by it.
inline constexpr int64_t kChunkBytes = int64_t{192} << 10;
// Below this a call given the caller's pool (gq_options.parallel_for, torch's intra-op
// pool) runs on the calling thread: entering a warm pool costs a few microseconds, about
// what the kernels take for this many bytes on one core (8x2048 bf16 -> int8 moves
// 48 KiB; bench_op.py's decode rows).
inline constexpr int64_t kMinParallelBytes = int64_t{256} << 10;
// The built-in pool starts its threads per call (tens of microseconds each), so it adds
// a thread only per this much work (about as long to stream as a thread start).
inline constexpr int64_t kMinBytesPerOwnThread = int64_t{1} << 20;

// Runs fn(ctx, begin, end) over sub-ranges of [0, num_chunks) and returns when all have
// run, each task inside ScopedDefaultFpEnv (set once per task, not per chunk), so fn
// need not set it. `bytes` is what the whole call moves. fn must not throw.
void parallel_chunks(int64_t num_chunks, int64_t bytes, const gq_options& options, gq_task_fn fn,
                     void* ctx);

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_CPU_PARALLEL_H_
