// An inference engine's use of groupquant: MoE activations, sorted by expert, quantized
// per expert to int8 and to packed int4 from strided views, with errors handled and the
// work run on the engine's own thread pool. Exits non-zero on any mismatch.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <groupquant/groupquant.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// ---- The engine's thread pool, and the hook that lends it to groupquant ----------------

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  // Runs task(i) for every i in [0, n) on the workers and on the calling thread, and
  // returns when all have run. Any thread may call it, a worker of this pool included.
  void run(int64_t n, std::function<void(int64_t)> task) {
    auto batch = std::make_shared<Batch>();
    batch->task = std::move(task);
    batch->n = n;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < workers_.size(); ++i) queue_.push_back(batch);
    }
    wake_.notify_all();
    help(*batch);  // the caller works too, so run() finishes even if every worker is busy
    std::unique_lock<std::mutex> lock(batch->mu);
    batch->finished.wait(lock, [&] { return batch->done == batch->n; });
  }

 private:
  struct Batch {
    std::function<void(int64_t)> task;
    int64_t n = 0;
    std::atomic<int64_t> next{0};
    int64_t done = 0;  // guarded by mu
    std::mutex mu;
    std::condition_variable finished;
  };
  static void help(Batch& b) {
    int64_t ran = 0;
    for (int64_t i; (i = b.next.fetch_add(1)) < b.n; ++ran) b.task(i);
    if (ran == 0) return;
    std::lock_guard<std::mutex> lock(b.mu);
    b.done += ran;
    if (b.done == b.n) b.finished.notify_all();
  }
  void work() {
    for (;;) {
      std::shared_ptr<Batch> b;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping
        b = std::move(queue_.front());
        queue_.pop_front();
      }
      help(*b);
    }
  }
  std::vector<std::thread> workers_;
  std::deque<std::shared_ptr<Batch>> queue_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
};

std::atomic<int> hook_calls{0};  // only to check below that the pool did the work

// gq_parallel_for_fn: run fn over all of [begin, end), in pieces of at least `grain`,
// possibly in parallel, and return when every piece has run. fn never throws.
void pool_parallel_for(void* pool, int64_t begin, int64_t end, int64_t grain, gq_task_fn fn,
                       void* task_ctx) {
  ++hook_calls;
  grain = std::max<int64_t>(grain, 1);
  static_cast<Pool*>(pool)->run((end - begin + grain - 1) / grain, [=](int64_t i) {
    const int64_t piece = begin + i * grain;
    fn(task_ctx, piece, std::min(end, piece + grain));
  });
}

// ---- Quantizing ------------------------------------------------------------------------

int main() {
  // 4 tokens x 8 channels, sorted by expert: expert 0 has 1 token, expert 1 none, expert
  // 2 three. group_index holds each expert's END row (the cumulative sum of the counts
  // 1, 0, 3), as torch_npu.npu_group_quant does.
  constexpr int64_t M = 4, N = 8, E = 3;
  // x lives in the engine's activation buffer, whose rows are 12 floats apart: a view
  // with strides {12, 1} (in elements), no copy.
  constexpr int64_t kPitch = 12;
  float activations[M * kPitch] = {};
  for (int64_t r = 0; r < M; ++r) {
    for (int64_t n = 0; n < N; ++n) activations[r * kPitch + n] = float(r * N + n) - 12.5f;
  }
  float scales[E * N];
  for (int64_t i = 0; i < E * N; ++i) scales[i] = 0.5f * float(1 + i / N);
  int64_t ends[E] = {1, 1, 4};
  float offset_value = 1.0f;  // offset: same dtype as scale

  const int64_t x_shape[2] = {M, N}, x_strides[2] = {kPitch, 1};
  const int64_t scale_shape[2] = {E, N}, gi_shape[1] = {E};
  //                      data         ndim dtype             shape        strides    byte_offset
  const gq_tensor x{activations, 2, GQ_DTYPE_FLOAT32, x_shape, x_strides, 0};
  const gq_tensor scale{scales, 2, GQ_DTYPE_FLOAT32, scale_shape, nullptr, 0};  // compact
  const gq_tensor group_index{ends, 1, GQ_DTYPE_INT64, gi_shape, nullptr, 0};
  const gq_tensor offset{&offset_value, 0, GQ_DTYPE_FLOAT32, nullptr, nullptr, 0};  // 0-d

  // int8 output into the right half of a wider [M, 2N] buffer: byte_offset N (bytes)
  // skips the left half, strides {2N, 1} step over it on each row.
  int8_t packed_rows[M * 2 * N];
  std::memset(packed_rows, 0, sizeof packed_rows);
  const int64_t y_strides[2] = {2 * N, 1};
  const gq_tensor y8{packed_rows, 2, GQ_DTYPE_INT8, x_shape, y_strides, N};
  groupquant::group_quant(x, scale, group_index, &offset, GQ_OUTPUT_INT8, y8);

  // Packed int4: output_spec gives the output's dtype and shape (int32 [M, N / 8]).
  const groupquant::OutputSpec spec4 = groupquant::output_spec(x, GQ_OUTPUT_INT4_PACKED);
  std::vector<int32_t> words(spec4.shape[0] * spec4.shape[1]);
  const gq_tensor y4{words.data(), 2, spec4.dtype, spec4.shape.data(), nullptr, 0};
  groupquant::group_quant(x, scale, group_index, &offset, GQ_OUTPUT_INT4_PACKED, y4);

  // Check against the formula: round half to even (nearbyint in the default rounding
  // mode) of x * scale + offset, saturated; int4 column 8w+k in bits [4k, 4k+3] of word w.
  for (int64_t r = 0; r < M; ++r) {
    const int64_t g = std::upper_bound(ends, ends + E, r) - ends;  // the expert owning row r
    for (int64_t n = 0; n < N; ++n) {
      const float v =
          std::nearbyint(activations[r * kPitch + n] * scales[g * N + n] + offset_value);
      const int want8 = int(std::clamp(v, -128.0f, 127.0f));
      const int want4 = int(std::clamp(v, -8.0f, 7.0f));
      const int nibble = int(uint32_t(words[r * (N / 8) + n / 8]) >> (4 * (n % 8)) & 0xF);
      const int got4 = nibble >= 8 ? nibble - 16 : nibble;  // two's complement nibble
      // The left half of each row of packed_rows is not part of the view: still zero.
      if (packed_rows[r * 2 * N + N + n] != want8 || packed_rows[r * 2 * N + n] != 0 ||
          got4 != want4) {
        std::printf("mismatch at row %lld column %lld\n", (long long)r, (long long)n);
        return 1;
      }
    }
  }

  // ---- Errors ----------------------------------------------------------------------------
  // C++: groupquant::Error (a std::invalid_argument) names the argument, the rule and the
  // value; nothing has been written. Here the classic porting mistake, counts for end rows.
  int64_t counts[E] = {1, 0, 3};
  const gq_tensor bad_index{counts, 1, GQ_DTYPE_INT64, gi_shape, nullptr, 0};
  const std::vector<int8_t> before(packed_rows, packed_rows + M * 2 * N);
  std::string message;
  try {
    groupquant::group_quant(x, scale, bad_index, &offset, GQ_OUTPUT_INT8, y8);
    return 1;
  } catch (const groupquant::Error& e) {
    message = e.what();  // "group_index must be non-decreasing: ... end rows, not counts: ..."
  }
  // C: a gq_status, and the calling thread's message from gq_last_error().
  if (gq_group_quant(&x, &scale, &bad_index, &offset, GQ_OUTPUT_INT8, nullptr, &y8) !=
          GQ_STATUS_INVALID_ARGUMENT ||
      message != gq_last_error() || message.find("end rows, not counts") == std::string::npos ||
      !std::equal(before.begin(), before.end(), packed_rows)) {
    return 1;
  }

  // ---- Threads ---------------------------------------------------------------------------
  // A bigger problem: 512 tokens x 1024 channels, 4 experts.
  constexpr int64_t BM = 512, BN = 1024, BE = 4;
  std::vector<float> bx(BM * BN), bscale(BE * BN);
  for (size_t i = 0; i < bx.size(); ++i) bx[i] = float(int64_t(i * 7919 % 2001) - 1000) / 8.0f;
  for (size_t i = 0; i < bscale.size(); ++i) bscale[i] = 0.25f + float(i % 13) / 16.0f;
  int64_t bends[BE] = {100, 100, 300, BM};
  const int64_t bx_shape[2] = {BM, BN}, bscale_shape[2] = {BE, BN}, bgi_shape[1] = {BE};
  const gq_tensor big_x{bx.data(), 2, GQ_DTYPE_FLOAT32, bx_shape, nullptr, 0};
  const gq_tensor big_scale{bscale.data(), 2, GQ_DTYPE_FLOAT32, bscale_shape, nullptr, 0};
  const gq_tensor big_gi{bends, 1, GQ_DTYPE_INT64, bgi_shape, nullptr, 0};
  auto quantize = [&](std::vector<int8_t>& out, const gq_options& options) {
    out.assign(BM * BN, 0);
    const gq_tensor y{out.data(), 2, GQ_DTYPE_INT8, bx_shape, nullptr, 0};
    groupquant::group_quant(big_x, big_scale, big_gi, nullptr, GQ_OUTPUT_INT8, y, options);
  };

  // Default options: the library's own threads (up to all hardware threads, started for
  // this call). num_threads = 1: only the calling thread.
  std::vector<int8_t> y_default, y_serial, y_pool;
  quantize(y_default, gq_options{});
  quantize(y_serial, gq_options{1, nullptr, nullptr});

  // The engine's pool instead: num_threads is ignored when parallel_for is set.
  Pool pool(3);
  quantize(y_pool, gq_options{0, &pool_parallel_for, &pool});

  // Several calls at once from the pool's threads, each staying on its own thread
  // (num_threads = 1: no oversubscription). Every entry point is thread-safe.
  std::vector<std::vector<int8_t>> per_layer(4);
  pool.run(4, [&](int64_t i) { quantize(per_layer[i], gq_options{1, nullptr, nullptr}); });

  bool same = y_default == y_serial && y_pool == y_serial && hook_calls > 0;
  for (const auto& y : per_layer) same = same && y == y_serial;
  if (!same) return 1;

  std::printf(
      "engine example OK (cpu isa %s): int8 and int4 from strided views; errors caught; "
      "library threads, one thread and the engine's pool agree\n",
      gq_cpu_isa());
  return 0;
}
