// The CUDA launcher's grid (src/cuda/launch_shape.h), on the host: sized from M, N and G,
// and every grid it gives, run thread by thread through the kernel's per-thread code
// (group_quant.cuh's run_thread, as tests/cpp/cuda_body_test.cc does), matches the
// reference. Built and run by `make cuda` (cmake/cuda.cmake); needs no GPU.
#include "src/cuda/launch_shape.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "src/cuda/group_quant.cuh"
#include "src/validate.h"
#include "tests/cpp/tester.h"

namespace {

namespace cu = groupquant::detail::cuda;
using gqtest::Tensor;

constexpr int64_t kResidentH200 = 132 * 8;  // SMs x blocks per SM of a large GPU

int64_t chunks_of(int64_t n, int cols) { return (n + cols - 1) / cols; }

// What every grid must satisfy, whatever the problem.
void expect_valid(const cu::LaunchShape& s, int64_t M, int64_t N, int64_t G, int cols, int32_t base,
                  int64_t resident) {
  const std::string at = "M=" + std::to_string(M) + " N=" + std::to_string(N) +
                         " G=" + std::to_string(G) + " resident=" + std::to_string(resident);
  EXPECT_GE(s.blocks, 1) << at;
  EXPECT_LE(s.blocks, std::max<int64_t>(resident, 1)) << at;
  EXPECT_EQ(s.lanes & (s.lanes - 1), 0) << at << " lanes=" << s.lanes;
  EXPECT_GE(s.lanes, base) << at;
  // run_thread's mapping needs whole rows: the thread count a multiple of lanes.
  EXPECT_EQ(s.blocks * cu::kBlockThreads % s.lanes, 0) << at << " lanes=" << s.lanes;
  // Spread further only while every lane keeps two chunks or more.
  if (s.lanes > base) {
    EXPECT_GE(chunks_of(N, cols), 2 * static_cast<int64_t>(s.lanes)) << at;
  }
  // The group_index checks are shared: at most kGroupChecksPerThread each, unless the
  // grid is already as large as the wave allows (rows of blocks past a block).
  if (s.blocks + std::max(1, s.lanes / cu::kBlockThreads) <= resident) {
    EXPECT_LE(G, s.blocks * cu::kBlockThreads * cu::kGroupChecksPerThread) << at;
  }
}

TEST(CudaLaunchShape, TypicalShapesKeepTheirLanesAndFillOneWave) {
  // 8192 x 7168 bf16: 448 chunks a row, 128 lanes; 4096 blocks wanted, one wave given.
  cu::LaunchShape s = cu::plan_launch(8192, 7168, 32, 16, cu::choose_lanes(7168, 16), 1056);
  EXPECT_EQ(s.lanes, 128);
  EXPECT_EQ(s.blocks, 1056);
  // Decode: 8 x 2048 bf16, 64 lanes, 2 blocks.
  s = cu::plan_launch(8, 2048, 8, 16, cu::choose_lanes(2048, 16), 1056);
  EXPECT_EQ(s.lanes, 64);
  EXPECT_EQ(s.blocks, 2);
}

TEST(CudaLaunchShape, FewVeryWideRowsSpreadOverBlocks) {
  // One row of 2^20 bf16 columns (65536 chunks): not 128 lanes of 512 chunks in one block,
  // but 32768 lanes of two chunks, over 128 blocks.
  const cu::LaunchShape s = cu::plan_launch(1, 1 << 20, 1, 16, 128, kResidentH200);
  EXPECT_EQ(s.lanes, 32768);
  EXPECT_EQ(s.blocks, 128);
  // Four such rows: the same lanes, four times the blocks.
  const cu::LaunchShape four = cu::plan_launch(4, 1 << 20, 1, 16, 128, kResidentH200);
  EXPECT_EQ(four.lanes, 32768);
  EXPECT_EQ(four.blocks, 512);
}

TEST(CudaLaunchShape, ManyGroupsGetEnoughThreadsToShareTheirChecks) {
  // 8 rows, 100000 groups: one block would check 390 entries a thread.
  const cu::LaunchShape s = cu::plan_launch(8, 64, 100000, 8, cu::choose_lanes(64, 8), 1056);
  EXPECT_EQ(s.blocks, (100000 + 1023) / 1024);
  // A small GPU: a full wave, grid-stride beyond.
  EXPECT_EQ(cu::plan_launch(8, 64, 100000, 8, 4, 10).blocks, 10);
}

TEST(CudaLaunchShape, EveryGridIsValid) {
  for (const int64_t resident : {1, 3, 8, 132, 1056}) {
    for (const int64_t M : std::vector<int64_t>{1, 2, 3, 7, 100, 4096, int64_t{1} << 40}) {
      for (const int64_t N : std::vector<int64_t>{1, 8, 17, 1000, 8192, 100000, int64_t{1} << 24}) {
        for (const int64_t G : {1, 5, 1000, 100000}) {
          for (const int cols : {8, 16}) {
            const int32_t base = cu::choose_lanes(N, cols);
            expect_valid(cu::plan_launch(M, N, G, cols, base, resident), M, N, G, cols, base,
                         resident);
          }
        }
      }
    }
  }
}

// ---- The grids, run: every thread of the planned grid, through run_thread -------------

struct Inputs {
  Tensor x, scale, group_index, y;
};

Inputs make_problem(gq_dtype xd, gq_output_kind kind, int64_t M, int64_t N,
                    const std::vector<int64_t>& ends, uint32_t seed) {
  std::mt19937 rng(seed);
  const auto G = static_cast<int64_t>(ends.size());
  Inputs p{
      Tensor(xd, {M, N}), Tensor(GQ_DTYPE_FLOAT32, {G, N}), Tensor::ints(GQ_DTYPE_INT64, {G}, ends),
      kind == GQ_OUTPUT_INT8 ? Tensor(GQ_DTYPE_INT8, {M, N}) : Tensor(GQ_DTYPE_INT32, {M, N / 8})};
  for (int64_t i = 0; i < M * N; ++i) p.x.set_float(i, gqtest::interesting_value(rng));
  std::uniform_real_distribution<float> scale(-3.0f, 3.0f);
  for (int64_t i = 0; i < G * N; ++i) p.scale.set_float(i, scale(rng));
  return p;
}

// Runs the launcher's plan for `resident` blocks; returns the Failure codes seen.
std::vector<int32_t> run_planned(const Inputs& in, gq_output_kind kind, Tensor& y, int64_t resident,
                                 cu::LaunchShape* shape) {
  const gq_tensor xv = in.x.view(), sv = in.scale.view(), gv = in.group_index.view(), yv = y.view();
  const groupquant::detail::Problem pr = groupquant::detail::validate_arguments(
      {&xv, &sv, &gv, nullptr, kind, &yv}, groupquant::detail::GroupIndexCheck::kOnDevice);
  cu::Params p = cu::make_params(pr);
  std::vector<int32_t> codes;
  cu::dispatch(pr.x_dtype, pr.scale_dtype, kind, [&](auto xd, auto sd, auto k) {
    constexpr gq_dtype XD = decltype(xd)::value;
    *shape = cu::plan_launch(p.M, p.N, p.G, cu::kCols<XD>, p.lanes, resident);
    p.lanes = shape->lanes;
    const int64_t threads = shape->blocks * cu::kBlockThreads;
    for (int64_t t = 0; t < threads; ++t) {
      const cu::Failure f =
          cu::run_thread<XD, decltype(sd)::value, decltype(k)::value>(p, t, threads);
      if (f.code != cu::Failure::kNone) codes.push_back(f.code);
    }
  });
  return codes;
}

Tensor reference(const Inputs& in, gq_output_kind kind) {
  Tensor out = in.y;
  groupquant::group_quant_reference(in.x.view(), in.scale.view(), in.group_index.view(), nullptr,
                                    kind, out.view());
  return out;
}

TEST(CudaLaunchShapeRun, WideRowsOverSeveralBlocksMatchTheReference) {
  // resident = 8 blocks (2048 threads): a row of 8200 fp32 columns (1025 chunks) gets 512
  // lanes, two blocks; 8 rows of 4104 bf16 fill the wave with their 128 lanes each.
  struct Case {
    gq_dtype xd;
    gq_output_kind kind;
    int64_t M, N;
    std::vector<int64_t> ends;
    int32_t lanes;
  };
  const Case cases[] = {
      {GQ_DTYPE_FLOAT32, GQ_OUTPUT_INT8, 1, 8200, {1}, 512},
      {GQ_DTYPE_FLOAT32, GQ_OUTPUT_INT4_PACKED, 2, 8192, {0, 1, 2}, 512},
      {GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT8, 1, 16391, {1}, 512},
      {GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT8, 8, 4104, {3, 3, 8}, 128},
  };
  for (const Case& c : cases) {
    const Inputs in = make_problem(c.xd, c.kind, c.M, c.N, c.ends, 11);
    Tensor got = in.y;
    cu::LaunchShape shape{};
    EXPECT_TRUE(run_planned(in, c.kind, got, 8, &shape).empty());
    EXPECT_EQ(shape.lanes, c.lanes) << "M=" << c.M << " N=" << c.N;
    EXPECT_EQ(got.storage(), reference(in, c.kind).storage()) << "M=" << c.M << " N=" << c.N;
  }
}

TEST(CudaLaunchShapeRun, ManyGroupsAreCheckedAcrossTheGrid) {
  // 5 rows, 3000 groups (most empty): valid, then one entry broken far from the start.
  std::vector<int64_t> ends(3000, 0);
  for (int64_t g = 0; g < 3000; ++g) ends[g] = g < 2990 ? 0 : std::min<int64_t>(g - 2989, 5);
  ends.back() = 5;
  const Inputs in = make_problem(GQ_DTYPE_FLOAT16, GQ_OUTPUT_INT8, 5, 24, ends, 5);
  Tensor got = in.y;
  cu::LaunchShape shape{};
  EXPECT_TRUE(run_planned(in, GQ_OUTPUT_INT8, got, 64, &shape).empty());
  EXPECT_EQ(shape.blocks, 3);  // 3000 checks, 1024 a block
  EXPECT_EQ(got.storage(), reference(in, GQ_OUTPUT_INT8).storage());

  Inputs bad = make_problem(GQ_DTYPE_FLOAT16, GQ_OUTPUT_INT8, 5, 24, ends, 5);
  bad.group_index.set_int(2500, 4);  // > group_index[2501] = 0: decreasing
  Tensor out = bad.y;
  const std::vector<int32_t> codes = run_planned(bad, GQ_OUTPUT_INT8, out, 64, &shape);
  EXPECT_EQ(codes, std::vector<int32_t>{cu::Failure::kDecreasing});
}

}  // namespace
