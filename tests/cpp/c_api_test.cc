// The C ABI: status codes, the thread-local message, output specs, options and the
// ISA controls.
#include <groupquant/groupquant.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "tests/cpp/random_problem.h"

namespace {

using gqtest::RandomProblem;
using gqtest::Tensor;

TEST(CApiOutputSpec, Int8AndPackedInt4) {
  const Tensor x(GQ_DTYPE_BFLOAT16, {5, 24});
  const gq_tensor xv = x.view();
  gq_dtype dtype;
  int64_t shape[2];
  ASSERT_EQ(gq_output_spec(&xv, GQ_OUTPUT_INT8, &dtype, shape), GQ_STATUS_SUCCESS);
  EXPECT_EQ(dtype, GQ_DTYPE_INT8);
  EXPECT_EQ(shape[0], 5);
  EXPECT_EQ(shape[1], 24);
  ASSERT_EQ(gq_output_spec(&xv, GQ_OUTPUT_INT4_PACKED, &dtype, shape), GQ_STATUS_SUCCESS);
  EXPECT_EQ(dtype, GQ_DTYPE_INT32);
  EXPECT_EQ(shape[1], 3);
}

TEST(CApiOutputSpec, Errors) {
  const Tensor x(GQ_DTYPE_FLOAT32, {5, 12});
  const gq_tensor xv = x.view();
  gq_dtype dtype;
  int64_t shape[2];
  EXPECT_EQ(gq_output_spec(&xv, GQ_OUTPUT_INT4_PACKED, &dtype, shape), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(),
               "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got 12");
  EXPECT_EQ(gq_output_spec(nullptr, GQ_OUTPUT_INT8, &dtype, shape), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(), "x must not be null");
  EXPECT_EQ(gq_output_spec(&xv, GQ_OUTPUT_INT8, nullptr, shape), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(), "out_dtype and out_shape must not be null");
}

struct Example {
  Tensor x = Tensor::floats(GQ_DTYPE_FLOAT32, {4, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  Tensor scale = Tensor::floats(GQ_DTYPE_FLOAT32, {3, 2}, {1, 2, 1, 2, 1, 2});
  Tensor gi = Tensor::ints(GQ_DTYPE_INT32, {3}, {1, 2, 4});
  Tensor y = Tensor(GQ_DTYPE_INT8, {4, 2});
  gq_status run(const gq_options* options = nullptr) {
    const gq_tensor xv = x.view(), sv = scale.view(), gv = gi.view(), yv = y.view();
    return gq_group_quant(&xv, &sv, &gv, nullptr, GQ_OUTPUT_INT8, options, &yv);
  }
};

TEST(CApiGroupQuant, SuccessClearsLastError) {
  Example bad;
  bad.gi.set_int(2, 3);
  EXPECT_EQ(bad.run(), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STRNE(gq_last_error(), "");
  Example good;
  EXPECT_EQ(good.run(), GQ_STATUS_SUCCESS);
  EXPECT_STREQ(gq_last_error(), "");
  EXPECT_EQ(good.y.get_int(7), 14);
}

TEST(CApiGroupQuant, LastErrorIsPerThread) {
  Example bad;
  bad.gi.set_int(0, -1);
  ASSERT_EQ(bad.run(), GQ_STATUS_INVALID_ARGUMENT);
  std::string other_thread_message = "unset";
  std::thread([&] { other_thread_message = gq_last_error(); }).join();
  EXPECT_EQ(other_thread_message, "");
  EXPECT_STREQ(gq_last_error(), "group_index values must be non-negative: group_index[0]=-1");
}

// A caller-supplied runner receives the work and may split it however it likes.
TEST(CApiGroupQuant, CallerParallelForRunsEveryChunk) {
  std::mt19937 rng(3);
  RandomProblem p =
      RandomProblem::make(rng, GQ_DTYPE_FLOAT16, GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT8, 1, 1);
  p.x = Tensor(GQ_DTYPE_FLOAT16, {3000, 72});
  for (int64_t i = 0; i < p.x.numel(); ++i) p.x.set_float(i, gqtest::interesting_value(rng));
  p.scale = Tensor::floats(GQ_DTYPE_BFLOAT16, {2, 72}, std::vector<float>(144, 0.75f));
  p.group_index = Tensor::ints(GQ_DTYPE_INT64, {2}, {1000, 3000});
  p.y = Tensor(GQ_DTYPE_INT8, {3000, 72});
  Tensor expected = p.y;
  p.run_reference(expected);

  struct Runner {
    int calls = 0;
    static void run(void* ctx, int64_t begin, int64_t end, int64_t, gq_task_fn fn, void* task) {
      auto* self = static_cast<Runner*>(ctx);
      for (int64_t i = end - 1; i >= begin; --i) {  // one at a time, backwards
        fn(task, i, i + 1);
        ++self->calls;
      }
    }
  } runner;
  gq_options options{};
  options.parallel_for = &Runner::run;
  options.parallel_ctx = &runner;
  Tensor got = p.y;
  p.run_cpu(got, options);
  EXPECT_GT(runner.calls, 1);
  EXPECT_EQ(got.storage(), expected.storage());
}

TEST(CApiCpuIsa, ForceAndRestore) {
  EXPECT_EQ(gq_cpu_isa_supported("scalar"), 1);
  EXPECT_EQ(gq_cpu_isa_supported("sse9"), 0);
  EXPECT_EQ(gq_cpu_isa_supported(nullptr), 0);
  const std::string initial = gq_cpu_isa();
  ASSERT_EQ(gq_set_cpu_isa("scalar"), GQ_STATUS_SUCCESS);
  EXPECT_STREQ(gq_cpu_isa(), "scalar");
  Example e;
  EXPECT_EQ(e.run(), GQ_STATUS_SUCCESS);
  EXPECT_EQ(e.y.get_int(7), 14);
  EXPECT_EQ(gq_set_cpu_isa("sse9"), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(),
               "CPU ISA name must be one of auto, scalar, avx2, avx512, neon: got 'sse9'");
  for (const char* isa : {"avx2", "avx512", "neon"}) {
    if (!gq_cpu_isa_supported(isa)) {
      EXPECT_EQ(gq_set_cpu_isa(isa), GQ_STATUS_UNSUPPORTED);
      EXPECT_EQ(std::string(gq_last_error()),
                std::string("CPU ISA ") + isa + " is not supported by this CPU or build");
    }
  }
  ASSERT_EQ(gq_set_cpu_isa("auto"), GQ_STATUS_SUCCESS);
  ASSERT_EQ(gq_set_cpu_isa(initial.c_str()), GQ_STATUS_SUCCESS);
}

}  // namespace
