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

#include "tests/cpp/random_problem.h"
#include "tests/cpp/tester.h"

namespace {

using gqtest::Tensor;

constexpr int kThreads = 8;

struct Case {
  gqtest::RandomProblem p;
  std::vector<unsigned char> expected;  // y's storage after a serial call

  Tensor fresh_y() const {
    Tensor y = p.fresh_y();
    y.fill_bytes(0xA5);  // poison: padding must survive, every element must be written
    return y;
  }
};

// A random valid problem (random_problem.h): any dtype pair, either kind, every layout,
// empty groups, sometimes large enough to split into several chunks.
Case random_case(std::mt19937& rng) {
  std::uniform_int_distribution<int> pick(0, 99);
  gqtest::RandomProblem::Spec spec;
  spec.kind = gqtest::kKinds[pick(rng) % 2];
  spec.x_dtype = gqtest::kFloatDtypes[pick(rng) % 3];
  spec.scale_dtype = gqtest::kFloatDtypes[pick(rng) % 3];
  spec.m = pick(rng) < 15 ? 300 + pick(rng) * 20 : 1 + pick(rng);
  spec.max_n = 320;
  spec.n_multiple = 8;
  spec.max_g = 6;
  return Case{gqtest::RandomProblem::make(rng, spec), {}};
}

void call(const Case& c, const Tensor& y, const gq_options& options) { c.p.run_cpu(y, options); }

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
      c.p.run_reference(ref);
      ASSERT_EQ(ref.storage(), c.expected)
          << isa << ": serial call differs from the reference: " << c.p.description;
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
