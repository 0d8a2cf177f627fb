// The reference against a second, independently written formula (double arithmetic and
// std::nearbyint, nothing from src/element.h), and its independence from the caller's
// floating-point environment.
#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "tests/cpp/random_problem.h"

namespace {

using gqtest::RandomProblem;
using gqtest::Tensor;

// fp32 x*s rounds once: the exact product of two floats fits a double, so casting it to
// float is the fp32 multiply. The double sum p + o is exact unless the exponents differ
// by more than 29 bits, and then the smaller cannot move the float result; so casting
// it to float is the fp32 add.
int32_t independent_quantize(float x, float s, bool with_offset, float offset, int lo, int hi) {
  float v = static_cast<float>(static_cast<double>(x) * static_cast<double>(s));
  if (with_offset) v = static_cast<float>(static_cast<double>(v) + static_cast<double>(offset));
  if (std::isnan(v)) return 0;
  const double r = std::nearbyint(static_cast<double>(v));  // default mode: ties to even
  return static_cast<int32_t>(std::fmin(std::fmax(r, lo), hi));
}

// The expected output of `p`, element by element, as int8 values or packed words.
std::vector<int64_t> independent_result(const RandomProblem& p) {
  const int64_t M = p.x.shape()[0], N = p.x.shape()[1], G = p.scale.shape()[0];
  const bool int4 = p.kind == GQ_OUTPUT_INT4_PACKED;
  std::vector<int64_t> out;
  for (int64_t r = 0; r < M; ++r) {
    int64_t g = 0;
    while (g < G && p.group_index.get_int(g) <= r) ++g;  // first group ending after r
    uint32_t word = 0;
    for (int64_t n = 0; n < N; ++n) {
      const int32_t q = independent_quantize(p.x.get_float(r * N + n), p.scale.get_float(g * N + n),
                                             p.with_offset, p.offset.get_float(0), int4 ? -8 : -128,
                                             int4 ? 7 : 127);
      if (!int4) {
        out.push_back(q);
        continue;
      }
      word |= (static_cast<uint32_t>(q) & 0xF) << (4 * (n % 8));
      if (n % 8 == 7) {
        out.push_back(static_cast<int32_t>(word));
        word = 0;
      }
    }
  }
  return out;
}

std::vector<int64_t> values_of(const Tensor& y) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < y.numel(); ++i) v.push_back(y.get_int(i));
  return v;
}

class ReferenceDifferential
    : public ::testing::TestWithParam<std::tuple<gq_dtype, gq_dtype, gq_output_kind>> {};

TEST_P(ReferenceDifferential, MatchesIndependentFormula) {
  const auto [x_dtype, scale_dtype, kind] = GetParam();
  std::mt19937 rng(1234 + 16 * x_dtype + 4 * scale_dtype + kind);
  for (int trial = 0; trial < 60; ++trial) {
    const RandomProblem p = RandomProblem::make(rng, x_dtype, scale_dtype, kind);
    Tensor y = p.y;
    p.run_reference(y);
    ASSERT_EQ(values_of(y), independent_result(p)) << p.description;
  }
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, ReferenceDifferential,
                         ::testing::Combine(::testing::ValuesIn(gqtest::kFloatDtypes),
                                            ::testing::ValuesIn(gqtest::kFloatDtypes),
                                            ::testing::ValuesIn(gqtest::kKinds)));

// Exhaustive over every fp16 x with scale 1 and a tie-heavy offset: all 65536 inputs.
TEST(ReferenceExhaustive, EveryHalfValue) {
  for (gq_output_kind kind : gqtest::kKinds) {
    Tensor x(GQ_DTYPE_FLOAT16, {8192, 8});
    Tensor scale = Tensor::floats(GQ_DTYPE_FLOAT16, {1, 8}, std::vector<float>(8, 1.0f));
    const Tensor gi = Tensor::ints(GQ_DTYPE_INT32, {1}, {8192});
    const Tensor offset = Tensor::floats(GQ_DTYPE_FLOAT16, {1}, {0.5f});
    for (int64_t i = 0; i < 65536; ++i) {
      const uint16_t bits = static_cast<uint16_t>(i);
      std::memcpy(x.at(i), &bits, 2);
    }
    RandomProblem p{x,
                    scale,
                    gi,
                    offset,
                    Tensor(kind == GQ_OUTPUT_INT8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32,
                           {8192, kind == GQ_OUTPUT_INT8 ? 8 : 1}),
                    true,
                    kind,
                    "every half"};
    Tensor y = p.y;
    p.run_reference(y);
    EXPECT_EQ(values_of(y), independent_result(p));
  }
}

#if defined(__x86_64__)
// A caller in round-up mode with flush-to-zero and denormals-are-zero (what
// torch.set_flush_denormal(True) sets) gets the same bits, and its state back.
TEST(ReferenceFpEnvironment, IgnoresCallerRoundingAndFlushModes) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    RandomProblem p = RandomProblem::make(rng, GQ_DTYPE_FLOAT32, GQ_DTYPE_FLOAT32, GQ_OUTPUT_INT8);
    // Subnormal x times a huge scale: DAZ would turn 2 into 0.
    const int64_t N = p.x.shape()[1];
    p.x.set_float(0, std::ldexp(1.0f, -127));
    for (int64_t g = 0; g < p.scale.shape()[0]; ++g)
      p.scale.set_float(g * N, std::ldexp(1.5f, 127));
    Tensor expected = p.y, ref = p.y, cpu = p.y;
    p.run_reference(expected);
    const unsigned saved = _mm_getcsr();
    _mm_setcsr((saved & ~0x6000u) | 0x4000u /* round up */ | 0x8000u /* FTZ */ | 0x0040u /* DAZ */);
    const unsigned changed = _mm_getcsr();
    p.run_reference(ref);
    p.run_cpu(cpu);
    const unsigned after = _mm_getcsr();
    _mm_setcsr(saved);
    EXPECT_EQ(after & ~0x3Fu, changed & ~0x3Fu) << "caller's MXCSR not restored";
    EXPECT_EQ(values_of(ref), values_of(expected)) << p.description;
    EXPECT_EQ(values_of(cpu), values_of(expected)) << p.description;
  }
}
#endif

TEST(ReferenceFpEnvironment, IgnoresFesetround) {
  std::mt19937 rng(8);
  for (int mode : {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
    const RandomProblem p =
        RandomProblem::make(rng, GQ_DTYPE_BFLOAT16, GQ_DTYPE_FLOAT32, GQ_OUTPUT_INT4_PACKED);
    Tensor expected = p.y, got = p.y;
    p.run_reference(expected);
    std::fesetround(mode);
    p.run_cpu(got);
    const int after = std::fegetround();
    std::fesetround(FE_TONEAREST);
    EXPECT_EQ(after, mode);
    EXPECT_EQ(values_of(got), values_of(expected)) << p.description;
  }
}

}  // namespace
