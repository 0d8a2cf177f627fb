// npu_dynamic_quant(_asymmetric) on the CPU: the fp8 encoder against a brute-force
// nearest search, SPEC-dynamic-quant.md §7's worked vectors on the reference and the
// dispatched path, the fast path against the reference on random problems (every
// dtype, output kind, chip, symmetry, smooth/group layout, view, thread count), and the
// validation rules' exact messages with nothing written.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <groupquant/groupquant.hpp>
#include <random>
#include <string>
#include <vector>

#include "src/cpu/isa.h"
#include "src/cpu/row_stream.h"
#include "src/element.h"
#include "tests/cpp/random_problem.h"
#include "tests/cpp/tester.h"

namespace {

using gqtest::Tensor;

// ---- fp8 encoding -------------------------------------------------------------------

double fp8_value(uint32_t code, const groupquant::detail::Fp8Format& f) {
  const uint32_t e = (code & 0x7F) >> f.mantissa_bits;
  const uint32_t m = code & ((1u << f.mantissa_bits) - 1);
  const double v = e == 0 ? std::ldexp(m, 1 - f.bias - f.mantissa_bits)
                          : std::ldexp((1u << f.mantissa_bits) + m,
                                       static_cast<int>(e) - f.bias - f.mantissa_bits);
  return (code & 0x80) ? -v : v;
}

// The nearest fp8 value by search (ties to the even code), saturated, NaN -> 0.
uint32_t fp8_by_search(float v, const groupquant::detail::Fp8Format& f) {
  if (std::isnan(v)) return 0;
  const uint32_t sign = std::signbit(v) ? 0x80u : 0u;
  const double a = std::fabs(static_cast<double>(v));
  if (a >= fp8_value(f.max_code, f)) return sign | f.max_code;
  uint32_t best = 0;
  double best_distance = INFINITY;
  for (uint32_t c = 0; c <= f.max_code; ++c) {
    const double d = std::fabs(fp8_value(c, f) - a);
    if (d < best_distance || (d == best_distance && (c & 1) == 0)) best = c, best_distance = d;
  }
  return sign | best;
}

TEST(Fp8Encoding, MatchesNearestSearch) {
  using groupquant::detail::encode_fp8;
  for (const auto& f : {groupquant::detail::kFp8E4M3Fn, groupquant::detail::kFp8E5M2}) {
    // Every code's value and every midpoint between neighbours (the ties), then a sweep
    // over float32 bit patterns.
    std::vector<float> values = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e30f, -1e-30f};
    for (uint32_t c = 0; c < f.max_code; ++c) {
      const double lo = fp8_value(c, f), hi = fp8_value(c + 1, f);
      for (double v : {lo, (lo + hi) / 2, std::nextafter((lo + hi) / 2, 0.0),
                       std::nextafter((lo + hi) / 2, 1e9)}) {
        values.push_back(static_cast<float>(v));
        values.push_back(-static_cast<float>(v));
      }
    }
    for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 65537) {
      const uint32_t bits = static_cast<uint32_t>(b);
      float v;
      std::memcpy(&v, &bits, 4);
      values.push_back(v);
    }
    for (float v : values) {
      ASSERT_EQ(encode_fp8(v, f), fp8_by_search(v, f))
          << "v=" << v << " mantissa_bits=" << f.mantissa_bits;
    }
  }
}

// ---- §7 worked vectors ---------------------------------------------------------------

enum class Path { kReference, kCpu };

struct Result {
  Tensor y, scale, offset;
};

Result run(Path path, const Tensor& x, const Tensor* smooth, const Tensor* gi, gq_output_kind kind,
           gq_chip chip, bool asymmetric, int32_t threads = 0) {
  const groupquant::DynamicOutputSpec spec =
      groupquant::dynamic_quant_output_spec(x.view(), {kind, chip, asymmetric});
  Result r{
      Tensor(spec.dtype, std::vector<int64_t>(spec.shape.begin(), spec.shape.begin() + spec.ndim)),
      Tensor(GQ_DTYPE_FLOAT32,
             std::vector<int64_t>(spec.shape.begin(), spec.shape.begin() + spec.ndim - 1)),
      Tensor(GQ_DTYPE_FLOAT32,
             std::vector<int64_t>(spec.shape.begin(), spec.shape.begin() + spec.ndim - 1))};
  const gq_tensor s = smooth ? smooth->view() : gq_tensor{}, g = gi ? gi->view() : gq_tensor{};
  const gq_tensor off = r.offset.view();
  const gq_dynamic_quant_config config{kind, chip, asymmetric};
  if (path == Path::kReference) {
    groupquant::dynamic_quant_reference(x.view(), smooth ? &s : nullptr, gi ? &g : nullptr, config,
                                        r.y.view(), r.scale.view(), asymmetric ? &off : nullptr);
  } else {
    gq_options options{};
    options.num_threads = threads;
    groupquant::dynamic_quant(x.view(), smooth ? &s : nullptr, gi ? &g : nullptr, config,
                              r.y.view(), r.scale.view(), asymmetric ? &off : nullptr, options);
  }
  return r;
}

uint32_t float_bits(const Tensor& t, int64_t i) { return gqtest::bits_of(t.get_float(i)); }

class DynamicSpecVectors : public ::testing::TestWithParam<Path> {};

const std::vector<float> kV1X = {1.6875, -1.0,   0.5,  0.25,  0,     0,    0,   0.75,
                                 3.0,    0.5,    1.0,  -1.0,  0.125, 0,    0,   -0.5,
                                 5.0,    0.1875, 0.25, -1.25, -0.25, 63.5, 0.5, -2.5};

TEST_P(DynamicSpecVectors, V1MoeInt8) {
  const Tensor x = Tensor::floats(GQ_DTYPE_FLOAT16, {3, 8}, kV1X);
  const Tensor smooth = Tensor::floats(GQ_DTYPE_FLOAT16, {2, 8},
                                       {1, 1, 1, 1, 1, 1, 1, 1, 0.25, 4.0, 1, 1, 1, 1, 1, 1});
  const Tensor gi = Tensor::ints(GQ_DTYPE_INT32, {2}, {1, 3});
  const int64_t y_expected[] = {127, -75, 38, 19,  0, 0, 0, 56, 48, 127, 64, -64,
                                8,   0,   0,  -32, 2, 2, 0, -2, 0,  127, 1,  -5};
  for (gq_chip chip : {GQ_CHIP_A2, GQ_CHIP_950}) {
    const Result r = run(GetParam(), x, &smooth, &gi, GQ_OUTPUT_INT8, chip, false);
    for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(r.y.get_int(i), y_expected[i]) << i;
    const uint32_t scale_a2[] = {0x3c59b366, 0x3c810204, 0x3f000000};
    const uint32_t scale_950[] = {0x3c59b367, 0x3c810204, 0x3f000000};
    for (int64_t i = 0; i < 3; ++i) {
      EXPECT_EQ(float_bits(r.scale, i), chip == GQ_CHIP_A2 ? scale_a2[i] : scale_950[i]) << i;
    }
  }
}

TEST_P(DynamicSpecVectors, V2NoSmoothA2ScaleIsMaxTimesC) {
  const Tensor x =
      Tensor::floats(GQ_DTYPE_FLOAT16, {1, 8}, std::vector<float>(kV1X.begin(), kV1X.begin() + 8));
  const Result r = run(GetParam(), x, nullptr, nullptr, GQ_OUTPUT_INT8, GQ_CHIP_A2, false);
  const int64_t y_expected[] = {127, -75, 38, 19, 0, 0, 0, 56};
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(r.y.get_int(i), y_expected[i]) << i;
  EXPECT_EQ(float_bits(r.scale, 0), 0x3c59b367u);
}

TEST_P(DynamicSpecVectors, V3ZeroRowAndInt4Packing) {
  const Tensor x = Tensor::floats(GQ_DTYPE_FLOAT16, {2, 8},
                                  {0, 0, 0, 0, 0, 0, 0, 0, 7, -7, 2.5, -0.5, 1.5, 3, -3.5, 0});
  const Tensor smooth = Tensor::floats(GQ_DTYPE_FLOAT16, {1, 8}, std::vector<float>(8, 1.0f));
  const Tensor gi = Tensor::ints(GQ_DTYPE_INT32, {1}, {2});
  for (gq_chip chip : {GQ_CHIP_A2, GQ_CHIP_950}) {
    const Result r = run(GetParam(), x, &smooth, &gi, GQ_OUTPUT_INT4_PACKED, chip, false);
    EXPECT_EQ(static_cast<uint32_t>(r.y.get_int(0)), 0u);
    EXPECT_EQ(static_cast<uint32_t>(r.y.get_int(1)), 0x0C320297u);
    EXPECT_EQ(float_bits(r.scale, 0), 0u);
    EXPECT_EQ(float_bits(r.scale, 1), 0x3f800000u);
  }
}

TEST_P(DynamicSpecVectors, V4AsymmetricInt8) {
  const Tensor x = Tensor::floats(
      GQ_DTYPE_FLOAT16, {3, 8},
      {-1, 0, 0.5, 2, 1, -0.5, 1.25, 0.25, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0});
  {
    const Result r = run(GetParam(), x, nullptr, nullptr, GQ_OUTPUT_INT8, GQ_CHIP_A2, true);
    const int64_t row0[] = {-128, -43, 0, 127, 42, -86, 63, -22};
    for (int64_t i = 0; i < 8; ++i) {
      EXPECT_EQ(r.y.get_int(i), row0[i]) << i;
      EXPECT_EQ(r.y.get_int(8 + i), 0) << i;
      EXPECT_EQ(r.y.get_int(16 + i), 127) << i;
    }
    const uint32_t scale[] = {0x3c40c0c1, 0x2b8cbccc, 0x2b8cbccc};
    const uint32_t offset[] = {0xc22c0000, 0xd368d4a5, 0x42fe0000};
    for (int64_t i = 0; i < 3; ++i) {
      EXPECT_EQ(float_bits(r.scale, i), scale[i]) << i;
      EXPECT_EQ(float_bits(r.offset, i), offset[i]) << i;
    }
  }
  {
    const Result r = run(GetParam(), x, nullptr, nullptr, GQ_OUTPUT_INT8, GQ_CHIP_950, true);
    const int64_t row0[] = {-128, -43, 0, 127, 42, -85, 63, -22};
    for (int64_t i = 0; i < 8; ++i) {
      EXPECT_EQ(r.y.get_int(i), row0[i]) << i;
      EXPECT_EQ(r.y.get_int(8 + i), 0) << i;
      EXPECT_EQ(r.y.get_int(16 + i), 0) << i;
    }
    EXPECT_EQ(float_bits(r.scale, 0), 0x3c40c0c2u);
    EXPECT_EQ(float_bits(r.scale, 1), 0u);
    EXPECT_EQ(float_bits(r.scale, 2), 0u);
    EXPECT_EQ(float_bits(r.offset, 0), 0xc22bfffcu);
    EXPECT_EQ(float_bits(r.offset, 1), 0xff800000u);
    EXPECT_TRUE(std::isnan(r.offset.get_float(2)));
  }
}

TEST_P(DynamicSpecVectors, V5Fp8E4m3) {
  const Tensor x = Tensor::floats(GQ_DTYPE_FLOAT16, {1, 8}, {3, 1, -0.5, 0.1, 2, -3, 0, 1.5});
  const Result r =
      run(GetParam(), x, nullptr, nullptr, GQ_OUTPUT_FLOAT8_E4M3FN, GQ_CHIP_950, false);
  EXPECT_EQ(float_bits(r.scale, 0), 0x3bdb6db8u);
  const uint32_t bytes[] = {0x7e, 0x71, 0xe9, 0x57, 0x79, 0xfe, 0x00, 0x76};
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(static_cast<uint8_t>(r.y.get_int(i)), bytes[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(Paths, DynamicSpecVectors, ::testing::Values(Path::kReference, Path::kCpu),
                         [](const auto& info) {
                           return info.param == Path::kReference ? "reference" : "cpu";
                         });

// ---- the fast path against the reference ----------------------------------------------

// Problems from random_problem.h: x, y, scale and offset contiguous, transposed, padded
// or offset (layouts drawn), rows of special values, int32 and int64 group_index.
TEST(DynamicQuantCpu, MatchesReferenceOnRandomProblems) {
  std::mt19937 rng(20261130);
  const std::vector<std::vector<int64_t>> shapes = {{1, 8},     {5, 16},      {7, 40},  {3, 1000},
                                                    {2, 3, 24}, {2, 1, 3, 8}, {33, 72}, {9, 24}};
  int checked = 0;
  for (gq_dtype xd : {GQ_DTYPE_FLOAT16, GQ_DTYPE_BFLOAT16}) {
    for (gq_output_kind kind : gqtest::kDynamicKinds) {
      for (gq_chip chip : {GQ_CHIP_A2, GQ_CHIP_950}) {
        if (kind >= GQ_OUTPUT_FLOAT8_E4M3FN && chip == GQ_CHIP_A2) continue;
        for (bool asym : {false, true}) {
          for (const auto& shape : shapes) {
            for (int smooth_mode = 0; smooth_mode < 3; ++smooth_mode) {  // none, [H], [E, H]
              gqtest::DynamicRandomProblem::Spec spec;
              spec.x_dtype = xd;
              spec.kind = kind;
              spec.chip = chip;
              spec.asymmetric = asym;
              spec.smooth_mode = smooth_mode;
              spec.shape = shape;
              // The last shape always column-major (strided rows and columns).
              if (&shape == &shapes.back()) spec.x_layout = gqtest::Layout::kTransposed;
              const auto p = gqtest::DynamicRandomProblem::make(rng, spec);
              const auto want = p.outputs();
              p.run_reference(want);
              // Threads, and the streaming-store path (for calls far larger than cache)
              // forced on or off.
              for (int32_t threads : {1, 3})
                for (bool stream : {false, true}) {
                  const auto got = p.outputs();
                  gq_options options{};
                  options.num_threads = threads;
                  const int64_t saved = groupquant::detail::streaming_min_bytes();
                  groupquant::detail::set_streaming_min_bytes(stream ? 0 : INT64_MAX);
                  p.run_cpu(got, options);
                  groupquant::detail::set_streaming_min_bytes(saved);
                  const std::string what = p.description + " threads=" + std::to_string(threads) +
                                           (stream ? " streaming" : "");
                  // Whole storage: every element and every padding byte left alone.
                  ASSERT_EQ(got.y.storage(), want.y.storage()) << "y " << what;
                  ASSERT_EQ(got.scale.storage(), want.scale.storage()) << "scale " << what;
                  ASSERT_EQ(got.offset.storage(), want.offset.storage()) << "offset " << what;
                  ++checked;
                }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 6 * 2 * 8 * 3 * 2 * 2);  // every combination ran: none skipped by mistake
}

}  // namespace
