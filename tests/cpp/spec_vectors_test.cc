// SPEC.md's exact test vectors, ties, saturation and special values, on the reference
// and on the dispatched CPU path (whatever ISA is active).
#include <gtest/gtest.h>

#include <groupquant/groupquant.hpp>

#include "tests/cpp/tester.h"

namespace {

using gqtest::Tensor;

enum class Path { kReference, kCpu };

class SpecVectors : public ::testing::TestWithParam<Path> {
 protected:
  void run(const Tensor& x, const Tensor& scale, const Tensor& gi, const Tensor* offset,
           gq_output_kind kind, Tensor& y) {
    const gq_tensor off = offset != nullptr ? offset->view() : gq_tensor{};
    const gq_tensor* off_ptr = offset != nullptr ? &off : nullptr;
    if (GetParam() == Path::kReference) {
      groupquant::group_quant_reference(x.view(), scale.view(), gi.view(), off_ptr, kind, y.view());
    } else {
      groupquant::group_quant(x.view(), scale.view(), gi.view(), off_ptr, kind, y.view());
    }
  }

  // Quantizes one row of values with scale 1 (exact) and returns the int8 results.
  std::vector<int64_t> quantize_int8(const std::vector<float>& values, float offset_value,
                                     bool with_offset) {
    const int64_t n = static_cast<int64_t>(values.size());
    const Tensor x = Tensor::floats(GQ_DTYPE_FLOAT32, {1, n}, values);
    const Tensor scale = Tensor::floats(GQ_DTYPE_FLOAT32, {1, n}, std::vector<float>(n, 1.0f));
    const Tensor gi = Tensor::ints(GQ_DTYPE_INT32, {1}, {1});
    const Tensor off = Tensor::floats(GQ_DTYPE_FLOAT32, {}, {offset_value});
    Tensor y(GQ_DTYPE_INT8, {1, n});
    run(x, scale, gi, with_offset ? &off : nullptr, GQ_OUTPUT_INT8, y);
    std::vector<int64_t> out;
    for (int64_t i = 0; i < n; ++i) out.push_back(y.get_int(i));
    return out;
  }
};

TEST_P(SpecVectors, AclnnExample) {
  const Tensor x = Tensor::floats(GQ_DTYPE_FLOAT32, {4, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  const Tensor scale = Tensor::floats(GQ_DTYPE_FLOAT32, {3, 2}, {1, 2, 1, 2, 1, 2});
  const Tensor gi = Tensor::ints(GQ_DTYPE_INT64, {3}, {1, 2, 4});
  const Tensor offset = Tensor::floats(GQ_DTYPE_FLOAT32, {}, {2.0f});
  Tensor y(GQ_DTYPE_INT8, {4, 2});
  run(x, scale, gi, &offset, GQ_OUTPUT_INT8, y);
  const int64_t expected[] = {2, 4, 4, 8, 6, 12, 8, 16};
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(y.get_int(i), expected[i]) << "element " << i;
}

TEST_P(SpecVectors, PackingExample) {
  const Tensor x = Tensor::floats(GQ_DTYPE_FLOAT32, {1, 8}, {1, -1, 0, 7, -8, 3, -3, 2});
  const Tensor scale = Tensor::floats(GQ_DTYPE_FLOAT32, {1, 8}, std::vector<float>(8, 1.0f));
  const Tensor gi = Tensor::ints(GQ_DTYPE_INT32, {1}, {1});
  Tensor y(GQ_DTYPE_INT32, {1, 1});
  run(x, scale, gi, nullptr, GQ_OUTPUT_INT4_PACKED, y);
  EXPECT_EQ(static_cast<uint32_t>(y.get_int(0)), 0x2D3870F1u);
}

// The docs' group layout: group_index [1, 4, 6, 6] on 6 rows; scale row g = g + 1.
TEST_P(SpecVectors, DocsGroupLayout) {
  const Tensor x = Tensor::floats(GQ_DTYPE_FLOAT16, {6, 4}, std::vector<float>(24, 1.0f));
  std::vector<float> scale_values;
  for (int g = 0; g < 4; ++g) scale_values.insert(scale_values.end(), 4, static_cast<float>(g + 1));
  const Tensor scale = Tensor::floats(GQ_DTYPE_FLOAT32, {4, 4}, scale_values);
  const Tensor gi = Tensor::ints(GQ_DTYPE_INT32, {4}, {1, 4, 6, 6});
  Tensor y(GQ_DTYPE_INT8, {6, 4});
  run(x, scale, gi, nullptr, GQ_OUTPUT_INT8, y);
  const int64_t row_group[] = {0, 1, 1, 1, 2, 2};
  for (int64_t r = 0; r < 6; ++r) {
    for (int64_t n = 0; n < 4; ++n)
      EXPECT_EQ(y.get_int(r * 4 + n), row_group[r] + 1) << "row " << r;
  }
}

TEST_P(SpecVectors, TiesGoToEven) {
  EXPECT_EQ(quantize_int8({0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 127.5f, -128.5f, -1.5f, 3.5f}, 0, false),
            (std::vector<int64_t>{0, 2, 2, 0, -2, 127, -128, -2, 4}));
}

TEST_P(SpecVectors, SaturatesAndSpecials) {
  EXPECT_EQ(quantize_int8({INFINITY, -INFINITY, NAN, -NAN, 128.0f, -129.0f, 1e30f, -3.4e38f, 126.6f,
                           -127.4f, -0.0f, 1e-45f},
                          0, false),
            (std::vector<int64_t>{127, -128, 0, 0, 127, -128, 127, -128, 127, -127, 0, 0}));
}

TEST_P(SpecVectors, Int4TiesAndSaturation) {
  const std::vector<float> v = {7.5f, -8.5f, 6.5f, -7.5f, NAN, INFINITY, -INFINITY, 0.5f};
  const Tensor x = Tensor::floats(GQ_DTYPE_FLOAT32, {1, 8}, v);
  const Tensor scale = Tensor::floats(GQ_DTYPE_FLOAT32, {1, 8}, std::vector<float>(8, 1.0f));
  const Tensor gi = Tensor::ints(GQ_DTYPE_INT32, {1}, {1});
  Tensor y(GQ_DTYPE_INT32, {1, 1});
  run(x, scale, gi, nullptr, GQ_OUTPUT_INT4_PACKED, y);
  // 7, -8, 6, -8, 0, 7, -8, 0 as nibbles, lowest column lowest.
  EXPECT_EQ(static_cast<uint32_t>(y.get_int(0)), 0x08708687u);
}

// x * s is exactly 1.5 + 2^-24; fp32 rounds it to 1.5 (a tie, to even), so with
// offset -1 the spec gives round(0.5) = 0. A fused multiply-add keeps the 2^-24 and
// gives 1: this is the case -ffp-contract=off and __fmul_rn/__fadd_rn exist for.
TEST_P(SpecVectors, MultiplyAndAddRoundSeparately) {
  const float x_value = 0.78125f;                     // 25 * 2^-5
  const float s_value = std::ldexp(1006633.0f, -19);  // 25 * 1006633 = 3 * 2^23 + 1
  const Tensor x = Tensor::floats(GQ_DTYPE_FLOAT32, {1, 1}, {x_value});
  const Tensor scale = Tensor::floats(GQ_DTYPE_FLOAT32, {1, 1}, {s_value});
  const Tensor gi = Tensor::ints(GQ_DTYPE_INT32, {1}, {1});
  const Tensor offset = Tensor::floats(GQ_DTYPE_FLOAT32, {1}, {-1.0f});
  Tensor y(GQ_DTYPE_INT8, {1, 1});
  run(x, scale, gi, &offset, GQ_OUTPUT_INT8, y);
  EXPECT_EQ(y.get_int(0), 0);
  EXPECT_EQ(std::fma(x_value, s_value, -1.0f), 0.5f + std::ldexp(1.0f, -24));  // the trap is real
}

// With no offset there is no add: -0.5 * 1 stays -0.5 and rounds to 0 (and 1e-45,
// the smallest subnormal, is not flushed on the way).
TEST_P(SpecVectors, OffsetZeroAndAbsentAgree) {
  const std::vector<float> v = {-0.5f, 0.5f, -0.0f, 2.5f, -2.5f};
  EXPECT_EQ(quantize_int8(v, 0.0f, false), quantize_int8(v, 0.0f, true));
  EXPECT_EQ(quantize_int8(v, 0.0f, false), quantize_int8(v, -0.0f, true));
}

INSTANTIATE_TEST_SUITE_P(Paths, SpecVectors, ::testing::Values(Path::kReference, Path::kCpu),
                         [](const auto& info) {
                           return info.param == Path::kReference ? "reference" : "cpu";
                         });

}  // namespace
