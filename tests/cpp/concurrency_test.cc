// Many threads calling the operator at once, on different inputs, get exactly the
// bytes of serial calls; the C ABI's last-error message is per thread.
//
// The CPU ISA is process-global (gq_set_cpu_isa), so it is never changed while threads
// run: the whole concurrent phase runs once per supported ISA, one after another.
#include <groupquant/groupquant.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <groupquant/groupquant.hpp>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/cpp/tester.h"

namespace {

using gqtest::Tensor;

constexpr int kThreads = 8;

struct Case {
  Tensor x, scale, gi, offset;
  bool with_offset = false;
  gq_output_kind kind = GQ_OUTPUT_INT8;
  std::vector<int64_t> y_shape, y_strides;
  std::vector<unsigned char> expected;  // y's storage after a serial call

  Tensor fresh_y() const {
    Tensor y(kind == GQ_OUTPUT_INT8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32, y_shape, y_strides);
    y.fill_bytes(0xA5);  // poison: padding must survive, every element must be written
    return y;
  }
};

// A random valid problem: any dtype pair, either kind, contiguous / transposed / padded
// views, empty groups, sometimes large enough to split into several chunks.
Case random_case(std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(0, 99);
  Case c;
  c.kind = gqtest::kKinds[pick(rng) % 2];
  const int64_t M = pick(rng) < 15 ? 300 + pick(rng) * 20 : 1 + pick(rng);
  const int64_t N = 8 * (1 + pick(rng) % 40);
  const int64_t G = 1 + pick(rng) % 6;
  const gq_dtype xd = gqtest::kFloatDtypes[pick(rng) % 3], sd = gqtest::kFloatDtypes[pick(rng) % 3];
  const int layout = pick(rng) % 3;  // 0 contiguous, 1 transposed x, 2 padded rows
  if (layout == 1) {
    c.x = Tensor(xd, {M, N}, {1, M});
  } else if (layout == 2) {
    c.x = Tensor(xd, {M, N}, {N + 5, 1}, 3);
  } else {
    c.x = Tensor(xd, {M, N});
  }
  for (int64_t i = 0; i < M * N; ++i) c.x.set_float(i, gqtest::interesting_value(rng));
  c.scale = layout == 2 ? Tensor(sd, {G, N}, {N + 1, 1}) : Tensor(sd, {G, N});
  std::uniform_real_distribution<float> s(-3.0f, 3.0f);
  for (int64_t i = 0; i < G * N; ++i) c.scale.set_float(i, s(rng));
  c.gi = Tensor::ints(pick(rng) % 2 ? GQ_DTYPE_INT32 : GQ_DTYPE_INT64, {G},
                      gqtest::random_group_ends(rng, M, G));
  c.with_offset = pick(rng) % 2;
  c.offset = Tensor::floats(sd, {}, {s(rng)});
  const int64_t cols = c.kind == GQ_OUTPUT_INT8 ? N : N / 8;
  c.y_shape = {M, cols};
  if (layout == 1) c.y_strides = {1, M};  // column-major y: the strided store path
  return c;
}

void call(const Case& c, const Tensor& y, const gq_options& options) {
  const gq_tensor off = c.offset.view();
  groupquant::group_quant(c.x.view(), c.scale.view(), c.gi.view(), c.with_offset ? &off : nullptr,
                          c.kind, y.view(), options);
}

// A caller-provided parallel_for (like the torch binding's at::parallel_for): splits the
// range in two halves on two threads.
void two_thread_parallel_for(void*, int64_t begin, int64_t end, int64_t, gq_task_fn fn, void* ctx) {
  const int64_t mid = begin + (end - begin) / 2;
  std::thread t([&] { fn(ctx, begin, mid); });
  fn(ctx, mid, end);
  t.join();
}

gq_options options_for(int variant) {
  switch (variant % 4) {
    case 0:
      return {1, nullptr, nullptr};
    case 1:
      return {2, nullptr, nullptr};
    case 2:
      return {0, nullptr, nullptr};
    default:
      return {1, &two_thread_parallel_for, nullptr};
  }
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> isas;
  for (const char* name : {"scalar", "avx2", "avx512", "neon"}) {
    if (gq_cpu_isa_supported(name)) isas.emplace_back(name);
  }
  return isas;
}

// Restores the ISA that was active when the test started.
struct IsaGuard {
  std::string saved = gq_cpu_isa();
  ~IsaGuard() { gq_set_cpu_isa(saved.c_str()); }
};

TEST(Concurrency, ThreadsMatchSerialCallsOnEveryIsa) {
  IsaGuard guard;
  std::mt19937 rng(20240611);
  std::vector<Case> cases;
  for (int i = 0; i < 48; ++i) cases.push_back(random_case(rng));

  for (const std::string& isa : supported_isas()) {
    ASSERT_EQ(gq_set_cpu_isa(isa.c_str()), GQ_STATUS_SUCCESS);
    for (Case& c : cases) {  // serial results, one thread, this ISA
      const Tensor y = c.fresh_y();
      call(c, y, {1, nullptr, nullptr});
      c.expected = y.storage();
      const Tensor ref = c.fresh_y();
      const gq_tensor off = c.offset.view();
      groupquant::group_quant_reference(c.x.view(), c.scale.view(), c.gi.view(),
                                        c.with_offset ? &off : nullptr, c.kind, ref.view());
      ASSERT_EQ(ref.storage(), c.expected) << isa << ": serial call differs from the reference";
    }

    std::atomic<bool> go{false};
    std::atomic<int> mismatches{0};
    std::mutex first_mutex;
    std::string first;
    auto worker = [&](int t) {
      while (!go.load()) std::this_thread::yield();
      for (int round = 0; round < 3; ++round) {
        for (size_t i = static_cast<size_t>(t + round) % kThreads; i < cases.size();
             i += kThreads / 2) {
          const Case& c = cases[i];
          const Tensor y = c.fresh_y();
          call(c, y, options_for(t + round + static_cast<int>(i)));
          if (y.storage() != c.expected) {
            ++mismatches;
            std::lock_guard<std::mutex> lock(first_mutex);
            if (first.empty()) first = "thread " + std::to_string(t) + " case " + std::to_string(i);
          }
        }
      }
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
    go = true;
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(mismatches.load(), 0) << isa << ": first mismatch at " << first;
  }
}

// Each thread alternates failing calls, whose messages carry a value unique to the
// thread and iteration, with succeeding calls; gq_last_error() must always show the
// calling thread's own last outcome.
TEST(Concurrency, LastErrorIsPerThread) {
  constexpr int kIterations = 300;
  std::atomic<bool> go{false};
  std::atomic<int> wrong{0};
  std::mutex first_mutex;
  std::string first;
  auto record = [&](const std::string& what) {
    ++wrong;
    std::lock_guard<std::mutex> lock(first_mutex);
    if (first.empty()) first = what;
  };
  auto worker = [&](int t) {
    const Tensor x = Tensor::floats(GQ_DTYPE_FLOAT32, {4, 8}, std::vector<float>(32, 1.5f));
    const Tensor scale = Tensor::floats(GQ_DTYPE_FLOAT32, {2, 8}, std::vector<float>(16, 2.0f));
    Tensor gi = Tensor::ints(GQ_DTYPE_INT64, {2}, {1, 4});
    const Tensor y(GQ_DTYPE_INT8, {4, 8});
    const gq_tensor xv = x.view(), sv = scale.view(), gv = gi.view(), yv = y.view();
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < kIterations; ++i) {
      const int64_t bad = -(int64_t{t} * 1000000 + i) - 1;
      gi.set_int(0, bad);
      const gq_options one{1, nullptr, nullptr};
      if (gq_group_quant(&xv, &sv, &gv, nullptr, GQ_OUTPUT_INT8, &one, &yv) !=
          GQ_STATUS_INVALID_ARGUMENT) {
        record("thread " + std::to_string(t) + ": bad call accepted");
      }
      const std::string want =
          "group_index values must be non-negative: group_index[0]=" + std::to_string(bad);
      std::this_thread::yield();  // let other threads fail and succeed in between
      if (gq_last_error() != want)
        record("thread " + std::to_string(t) + " read '" + gq_last_error() + "'");
      // A different rule, with the thread in the shape.
      const int64_t shape1d[] = {t * 1000 + i};
      gq_tensor x1 = xv;
      x1.ndim = 1;
      x1.shape = shape1d;
      gq_group_quant(&x1, &sv, &gv, nullptr, GQ_OUTPUT_INT8, &one, &yv);
      const std::string want1 =
          "x must be 2-D: got a 1-D tensor of shape [" + std::to_string(t * 1000 + i) + "]";
      if (gq_last_error() != want1)
        record("thread " + std::to_string(t) + " read '" + gq_last_error() + "'");
      gi.set_int(0, 1);
      if (gq_group_quant(&xv, &sv, &gv, nullptr, GQ_OUTPUT_INT8, &one, &yv) != GQ_STATUS_SUCCESS) {
        record("thread " + std::to_string(t) + ": good call failed: " + gq_last_error());
      }
      std::this_thread::yield();
      if (std::strcmp(gq_last_error(), "") != 0)
        record("thread " + std::to_string(t) + ": error after success");
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  go = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0) << first;
}

}  // namespace
