// The CPU driver (threads, chunks, group lookup, strided rows) against the reference,
// with the active ISA. tests/cpp/cpu_kernels_test.cc forces every ISA.
#include <gtest/gtest.h>

#include "src/cpu/isa.h"
#include "src/cpu/row_stream.h"
#include "tests/cpp/random_problem.h"

namespace {

using gqtest::RandomProblem;
using gqtest::Tensor;

class CpuDriver : public ::testing::TestWithParam<std::tuple<gq_dtype, gq_dtype, gq_output_kind>> {
};

TEST_P(CpuDriver, MatchesReferenceOnRandomViews) {
  const auto [x_dtype, scale_dtype, kind] = GetParam();
  std::mt19937 rng(99 + 16 * x_dtype + 4 * scale_dtype + kind);
  for (int trial = 0; trial < 40; ++trial) {
    const RandomProblem p = RandomProblem::make(rng, x_dtype, scale_dtype, kind, 70, 150);
    Tensor expected = p.y;
    p.run_reference(expected);
    for (int32_t threads : {1, 2, 3, 0}) {
      Tensor got = p.y;
      gq_options options{};
      options.num_threads = threads;
      p.run_cpu(got, options);
      ASSERT_EQ(got.storage(), expected.storage()) << p.description << " threads=" << threads;
    }
  }
}

// Larger views: strided ones run through tiles of 64 rows x 128 columns (a column-major x
// with int8 output: bands of 512 rows, tiles of 64 columns), so these cross tile edges in
// both directions, partial tiles, and chunk boundaries between threads.
TEST_P(CpuDriver, MatchesReferenceAcrossTiles) {
  const auto [x_dtype, scale_dtype, kind] = GetParam();
  std::mt19937 rng(7 + 16 * x_dtype + 4 * scale_dtype + kind);
  for (int trial = 0; trial < 4; ++trial) {
    const RandomProblem p = RandomProblem::make(rng, x_dtype, scale_dtype, kind, 300, 700);
    Tensor expected = p.y;
    p.run_reference(expected);
    for (int32_t threads : {1, 3}) {
      Tensor got = p.y;
      gq_options options{};
      options.num_threads = threads;
      p.run_cpu(got, options);
      ASSERT_EQ(got.storage(), expected.storage()) << p.description << " threads=" << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, CpuDriver,
                         ::testing::Combine(::testing::ValuesIn(gqtest::kFloatDtypes),
                                            ::testing::ValuesIn(gqtest::kFloatDtypes),
                                            ::testing::ValuesIn(gqtest::kKinds)));

// Many chunks and skewed groups: one group holds almost every row, many are empty,
// so chunk boundaries fall inside groups and between runs of empty groups.
TEST(CpuDriverChunks, SkewedGroupsAcrossChunks) {
  std::mt19937 rng(5);
  const int64_t M = 3001, N = 96, G = 12;
  for (gq_output_kind kind : gqtest::kKinds) {
    RandomProblem p;
    p.kind = kind;
    p.x = Tensor(GQ_DTYPE_BFLOAT16, {M, N});
    for (int64_t i = 0; i < M * N; ++i) p.x.set_float(i, gqtest::interesting_value(rng));
    p.scale = Tensor(GQ_DTYPE_FLOAT32, {G, N});
    for (int64_t i = 0; i < G * N; ++i)
      p.scale.set_float(i, static_cast<float>(i % 7) * 0.5f - 1.5f);
    p.group_index = Tensor::ints(GQ_DTYPE_INT32, {G},
                                 {0, 0, 1, 1, 1, 2999, 2999, 3000, 3001, 3001, 3001, 3001});
    p.with_offset = true;
    p.offset = Tensor::floats(GQ_DTYPE_FLOAT32, {1}, {0.5f});
    p.y = Tensor(kind == GQ_OUTPUT_INT8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32,
                 {M, kind == GQ_OUTPUT_INT8 ? N : N / 8});
    Tensor expected = p.y;
    p.run_reference(expected);
    for (int32_t threads : {1, 2, 7}) {
      Tensor got = p.y;
      gq_options options{};
      options.num_threads = threads;
      p.run_cpu(got, options);
      EXPECT_EQ(got.storage(), expected.storage()) << "threads=" << threads;
    }
  }
}

// A big call with a column-major x and int8 output goes through src/cpu/column_major.cc:
// bands of 512 rows, tiles of 64 columns, strips of 256, 16x16 transposes, non-temporal
// stores of whole aligned y lines. Sizes around each of those, every dtype pair and every
// ISA the machine runs; columns padded or not, y contiguous, row-padded (misaligned lines)
// or offset, groups ending inside bands. The streaming threshold is lowered to 0 to take
// that path, and raised for every other case, which then takes driver.cc's tiled path.
TEST(CpuDriverColumnMajor, MatchesReferenceAroundBandsAndTiles) {
  using groupquant::detail::Isa;
  struct Restore {  // the ISA and streaming threshold of the start, whatever happens
    Isa isa = groupquant::detail::active_isa();
    int64_t stream = groupquant::detail::streaming_min_bytes();
    ~Restore() {
      groupquant::detail::set_streaming_min_bytes(stream);
      groupquant::detail::set_active_isa(isa);
    }
  } restore;
  const int64_t ms[] = {2, 15, 16, 17, 511, 513, 1100};
  const int64_t ns[] = {2, 17, 63, 64, 65, 255, 257, 300};
  std::mt19937 rng(1414);
  int cases = 0;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon}) {
    if (!groupquant::detail::isa_supported(isa)) continue;
    groupquant::detail::set_active_isa(isa);
    for (gq_dtype xd : gqtest::kFloatDtypes) {
      for (gq_dtype sd : gqtest::kFloatDtypes) {
        for (int k = 0; k < 6; ++k, ++cases) {
          RandomProblem::Spec spec;
          spec.x_dtype = xd;
          spec.scale_dtype = sd;
          spec.m = ms[(cases * 3 + k) % 7];
          spec.n = ns[(cases * 5 + k) % 8];
          spec.max_g = 9;
          spec.x_layout = gqtest::Layout::kTransposed;
          const gqtest::Layout y_layouts[] = {gqtest::Layout::kContiguous,
                                              gqtest::Layout::kPaddedRows, gqtest::Layout::kOffset};
          spec.y_layout = y_layouts[cases % 3];
          RandomProblem p = RandomProblem::make(rng, spec);
          if (cases % 2 == 1) {  // columns padded: x_stride = {1, M + 3}
            const int64_t M = spec.m, N = spec.n;
            Tensor x(xd, {M, N}, {1, M + 3});
            for (int64_t i = 0; i < M * N; ++i) x.set_float(i, p.x.get_float(i));
            p.x = x;
            p.description += " x columns padded";
          }
          Tensor expected = p.y;
          p.run_reference(expected);
          groupquant::detail::set_streaming_min_bytes(cases % 4 < 2 ? 0 : INT64_MAX);
          gq_options options{};
          options.num_threads = cases % 3 == 0 ? 1 : 3;
          Tensor got = p.y;
          p.run_cpu(got, options);
          ASSERT_EQ(got.storage(), expected.storage())
              << p.description << " isa=" << groupquant::detail::isa_name(isa)
              << " streaming=" << (cases % 4 < 2) << " threads=" << options.num_threads;
        }
      }
    }
  }
}

// Inputs are read-only: the call leaves x, scale, group_index and offset as they were.
TEST(CpuDriverInputs, NeverWritten) {
  std::mt19937 rng(6);
  const RandomProblem p =
      RandomProblem::make(rng, GQ_DTYPE_FLOAT32, GQ_DTYPE_FLOAT16, GQ_OUTPUT_INT8);
  const auto x = p.x.storage(), s = p.scale.storage(), g = p.group_index.storage(),
             o = p.offset.storage();
  Tensor y = p.y;
  p.run_cpu(y);
  EXPECT_EQ(p.x.storage(), x);
  EXPECT_EQ(p.scale.storage(), s);
  EXPECT_EQ(p.group_index.storage(), g);
  EXPECT_EQ(p.offset.storage(), o);
}

}  // namespace
