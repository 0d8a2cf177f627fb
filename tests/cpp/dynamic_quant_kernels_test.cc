// Every npu_dynamic_quant row kernel of every SIMD ISA compiled in (kernels.inc),
// compared byte for byte (y, scale, offset) with the scalar kernel: every length up to
// two main-loop tiles + 1 (packed int4: two 128-element lines + 8), misaligned x, smooth and y,
// every op variant (A2/950 x symmetric/asymmetric x with/without smooth, A2's two scale forms),
// rows built to hit the special cases (NaN, +-inf, +-0, subnormals, huge values, raw bit patterns,
// all-NaN and all-zero rows); guard bytes around y, x and smooth ending exactly at the end of their
// allocations (ASan catches any over-read). Then the dispatched op with each ISA forced under a
// hostile MXCSR (x86) or FPCR (aarch64).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <groupquant/groupquant.hpp>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "src/cpu/isa.h"
#include "src/cpu/kernels.h"
#include "tests/cpp/tester.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace {

using gqtest::Tensor;
using groupquant::detail::DynamicOp;
using groupquant::detail::DynamicRowKernel;
using groupquant::detail::Isa;

// AVX-512: 4 vectors of 16 per main-loop iteration; packed int4 from bf16: 128 (one line).
constexpr int64_t kMaxTile = 64;
constexpr int64_t kMaxInt4Tile = 128;
constexpr int64_t kGuardBytes = 64;
constexpr unsigned char kPoison = 0xA5;

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The op variants: chip x symmetry, and for A2 symmetric both returned-scale forms;
// each with and without the streaming-store hint (the scalar oracle ignores it).
std::vector<DynamicOp> op_variants(gq_output_kind kind) {
  std::vector<DynamicOp> ops;
  for (bool chip_950 : {false, true}) {
    for (bool asymmetric : {false, true}) {
      for (bool reciprocal : {false, true}) {
        if (reciprocal && (chip_950 || asymmetric)) continue;
        for (bool stream : {false, true}) {
          DynamicOp op;
          op.kind = kind;
          op.chip_950 = chip_950;
          op.asymmetric = asymmetric;
          op.scale_is_reciprocal = reciprocal;
          op.stream_output = stream;
          ops.push_back(op);
        }
      }
    }
  }
  return ops;
}

std::string describe(const DynamicOp& op, bool smooth) {
  return std::string(op.chip_950 ? "950" : "A2") + (op.asymmetric ? " asymmetric" : " symmetric") +
         (op.scale_is_reciprocal ? " reciprocal-scale" : "") +
         (op.stream_output ? " streaming" : "") + (smooth ? " with smooth" : " without smooth");
}

// Row contents, chosen per call.
enum class Style {
  kInteresting,   // gqtest::interesting_value: ties, bounds, specials, normals
  kRawBits,       // any 16-bit pattern: NaNs, infs, subnormals, huge
  kNegativeZero,  // <= 0 with +-0 (the max is a zero), a few NaN
  kPositiveZero,  // >= 0 with +-0 (the min is a zero), a few NaN
  kZerosAndNan,   // +-0 and NaN only
  kAllNan,
  kWideRange,  // one large value, the rest over many binades (fp8 subnormals)
  // Magnitudes near FLT_MIN (zero in fp16): A2's factor DMAX / max |xs| overflows to inf,
  // so the scaled values are +-inf and the top clamp matters.
  kTiny,
  kNumStyles,
  // Element i is 16-bit pattern first_pattern + i, magnitudes beyond the output's max
  // (infs too) set to +-max: in the 65536-element row, without smooth, the A2 symmetric
  // factor is max / max = 1, so the encoders see every value of x's dtype, ties and
  // subnormals included. Not in the rotation.
  kEveryPattern,
};

float row_value(Style style, std::mt19937& rng) {
  std::uniform_int_distribution<int> pct(0, 99);
  std::normal_distribution<float> normal(0.0f, 8.0f);
  const int p = pct(rng);
  switch (style) {
    case Style::kInteresting:
      return gqtest::interesting_value(rng);
    case Style::kNegativeZero:
      return p < 30 ? (p % 2 ? 0.0f : -0.0f) : (p < 35 ? NAN : -std::fabs(normal(rng)));
    case Style::kPositiveZero:
      return p < 30 ? (p % 2 ? 0.0f : -0.0f) : (p < 35 ? NAN : std::fabs(normal(rng)));
    case Style::kZerosAndNan:
      return p < 80 ? (p % 2 ? 0.0f : -0.0f) : NAN;
    case Style::kAllNan:
      return NAN;
    case Style::kTiny:
      return p < 10 ? 0.0f
                    : std::ldexp(1.0f + static_cast<float>(p) / 100.0f, -126 - p % 8) *
                          (p % 2 ? 1.0f : -1.0f);
    case Style::kWideRange: {
      std::uniform_int_distribution<int> e(-30, 12);
      return std::ldexp(1.0f + static_cast<float>(p) / 100.0f, e(rng)) * (p % 2 ? 1.0f : -1.0f);
    }
    default:
      return 0.0f;
  }
}

class DynamicKernelTester {
 public:
  DynamicKernelTester(Isa isa, gq_dtype x, gq_output_kind kind, DynamicRowKernel kernel)
      : isa_(isa), x_dtype_(x), kind_(kind), kernel_(kernel) {
    scalar_ = groupquant::detail::find_dynamic_quant_kernel(Isa::kScalar, x, kind);
  }

  bool isa_missing() const { return !groupquant::detail::isa_supported(isa_); }

  // One row of n elements, x/smooth starting `x_mis`/`s_mis` elements into allocations
  // that end at the row's end, y `y_mis` bytes past a 64-byte boundary; every op variant
  // with and without smooth, compared with the scalar kernel.
  void test(int64_t n, int64_t x_mis, int64_t s_mis, int64_t y_mis, Style style, uint32_t seed,
            uint32_t first_pattern = 0) const {
    std::mt19937 rng(seed);
    std::unique_ptr<uint16_t[]> x_buf(new uint16_t[x_mis + n]);
    std::unique_ptr<uint16_t[]> s_buf(new uint16_t[s_mis + n]);
    uint16_t* x = x_buf.get() + x_mis;
    uint16_t* s = s_buf.get() + s_mis;
    Tensor one(x_dtype_, {1});
    std::uniform_int_distribution<int> pct(0, 99);
    std::uniform_int_distribution<uint32_t> raw(0, 0xFFFF);
    std::uniform_real_distribution<float> ordinary(0.25f, 4.0f);
    auto to_bits = [&](float v) {
      one.set_float(0, v);
      uint16_t h;
      std::memcpy(&h, one.at(0), 2);
      return h;
    };
    for (int64_t i = 0; i < n; ++i) {
      x[i] = style == Style::kRawBits ? static_cast<uint16_t>(raw(rng))
                                      : to_bits(row_value(style, rng));
      // Smooth: mostly ordinary, sometimes special or any bit pattern.
      const int p = pct(rng);
      s[i] = p < 40   ? to_bits(1.0f)
             : p < 80 ? to_bits(ordinary(rng) * (p % 7 == 0 ? -1.0f : 1.0f))
             : p < 90 ? to_bits(gqtest::interesting_value(rng))
                      : static_cast<uint16_t>(raw(rng));
    }
    if (style == Style::kWideRange && n > 0) x[pct(rng) % n] = to_bits(3000.0f);
    const groupquant::detail::OutputTraits out = groupquant::detail::output_traits(kind_);
    if (style == Style::kEveryPattern) {
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t pattern = static_cast<uint16_t>(first_pattern + i);
        std::memcpy(one.at(0), &pattern, 2);
        const float v = one.get_float(0);
        x[i] = std::fabs(v) > out.max ? to_bits(std::copysign(out.max, v)) : pattern;
      }
    }
    const int64_t y_bytes = n / out.cols_per_word * out.word_bytes;
    for (const DynamicOp& op : op_variants(kind_)) {
      for (bool smooth : {false, true}) {
        const uint16_t* sp = smooth ? s : nullptr;
        std::vector<unsigned char> y(64 + y_mis + y_bytes + kGuardBytes, kPoison);
        const int64_t y_start =
            static_cast<int64_t>((64 - (reinterpret_cast<uintptr_t>(y.data()) & 63)) & 63) + y_mis;
        float scale = -1.0f, offset = -1.0f;
        kernel_(x, sp, n, op, y.data() + y_start, &scale, op.asymmetric ? &offset : nullptr);
        std::vector<unsigned char> expect(y_bytes + 1, kPoison);
        float expect_scale = -2.0f, expect_offset = -2.0f;
        scalar_(x, sp, n, op, expect.data(), &expect_scale,
                op.asymmetric ? &expect_offset : nullptr);

        const std::string what = "n=" + std::to_string(n) + " " + describe(op, smooth) +
                                 " style=" + std::to_string(static_cast<int>(style)) +
                                 " seed=" + std::to_string(seed) +
                                 " misalign x/s/y=" + std::to_string(x_mis) + "/" +
                                 std::to_string(s_mis) + "/" + std::to_string(y_mis);
        for (int64_t i = 0; i < y_start; ++i)
          ASSERT_EQ(y[i], kPoison) << "write before y: " << what;
        for (int64_t i = 0; i < kGuardBytes; ++i) {
          ASSERT_EQ(y[y_start + y_bytes + i], kPoison)
              << "write past y, byte " << i << ": " << what;
        }
        ASSERT_EQ(bits_of(scale), bits_of(expect_scale)) << "scale: " << what;
        if (op.asymmetric) {
          ASSERT_EQ(bits_of(offset), bits_of(expect_offset)) << "offset: " << what;
        }
        for (int64_t b = 0; b < y_bytes; ++b) {
          const int64_t col = b * out.cols_per_word / out.word_bytes;
          float xv, sv;
          one.set_float(0, 0.0f);
          std::memcpy(one.at(0), &x[col], 2);
          xv = one.get_float(0);
          std::memcpy(one.at(0), &s[col], 2);
          sv = one.get_float(0);
          ASSERT_EQ(y[y_start + b], expect[b])
              << "y byte " << b << " (column " << col << ", x=" << xv << " smooth=" << sv
              << " scale=" << expect_scale << " offset=" << expect_offset << "): " << what;
        }
      }
    }
  }

  int64_t step() const { return kind_ == GQ_OUTPUT_INT4_PACKED ? 8 : 1; }
  int64_t max_n() const {
    return kind_ == GQ_OUTPUT_INT4_PACKED ? 2 * kMaxInt4Tile + 8 : 2 * kMaxTile + 1;
  }

  void test_lengths() const {
    uint32_t seed = 1;
    for (int64_t n = 0; n <= max_n(); n += step()) {
      for (int st = 0; st < static_cast<int>(Style::kNumStyles); ++st) {
        test(n, 0, 0, 0, static_cast<Style>(st), seed++);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }

  void test_misaligned() const {
    uint32_t seed = 1000;
    for (int64_t n = 0; n <= max_n(); n += step()) {
      for (int64_t mis = 1; mis <= 3; ++mis) {
        const Style st = static_cast<Style>((n + mis) % static_cast<int>(Style::kNumStyles));
        test(n, mis, (mis + 1) % 4, (mis + 2) % 4, st, seed++);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }

  // Long rows, many seeds: rare values meet every lane position; 7168 is DeepSeek's H.
  void test_long_rows() const {
    for (uint32_t seed = 5000; seed < 5030; ++seed) {
      const int64_t n = kind_ == GQ_OUTPUT_INT4_PACKED ? 1000 + 8 * (seed % 9) : 1000 + seed % 77;
      const Style st = static_cast<Style>(seed % static_cast<int>(Style::kNumStyles));
      test(n, seed % 4, (seed / 4) % 4, (seed / 16) % 4, st, seed);
      if (::testing::Test::HasFatalFailure()) return;
    }
    test(7168, 1, 2, 3, Style::kInteresting, 77);
    // Around the AVX-512 kernels' kept fp16 row (8192 floats): kept, then recomputed.
    for (int64_t n : {int64_t{8192}, 8192 + step(), int64_t{8192 + 72}}) {
      test(n, 0, 1, 0, Style::kInteresting, static_cast<uint32_t>(n));
      if (::testing::Test::HasFatalFailure()) return;
      test(n, 3, 0, 2, Style::kRawBits, static_cast<uint32_t>(n) + 1);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }

  // Every 16-bit pattern: in one row (longer than any kept row), then in rows of 8192.
  void test_every_pattern() const {
    test(65536, 1, 0, 1, Style::kEveryPattern, 88);
    for (uint32_t first = 0; first < 65536 && !::testing::Test::HasFatalFailure(); first += 8192) {
      test(8192, 0, 1, 0, Style::kEveryPattern, 89, first);
    }
  }

 private:
  Isa isa_;
  gq_dtype x_dtype_;
  gq_output_kind kind_;
  DynamicRowKernel kernel_, scalar_;
};

// The scalar kernel is the oracle: tests for the SIMD ISAs only.
#define GQ_DYNAMIC_KERNEL_TESTS_scalar(isa, xt, out)
#define GQ_DYNAMIC_KERNEL_TESTS_avx2(isa, xt, out) GQ_DYNAMIC_KERNEL_TESTS(isa, xt, out)
#define GQ_DYNAMIC_KERNEL_TESTS_avx512(isa, xt, out) GQ_DYNAMIC_KERNEL_TESTS(isa, xt, out)
#define GQ_DYNAMIC_KERNEL_TESTS_neon(isa, xt, out) GQ_DYNAMIC_KERNEL_TESTS(isa, xt, out)
#define GQ_DYNAMIC_KERNEL_TESTS(isa, xt, out)                                              \
  class dynamic_quant_##xt##_##out##__##isa : public ::testing::Test {                     \
   protected:                                                                              \
    DynamicKernelTester tester_{GQ_ISA_OF_##isa, GQ_DTYPE_OF_##xt, GQ_KIND_OF_##out,       \
                                &groupquant::detail::dynamic_quant_##xt##_##out##__##isa}; \
    void SetUp() override {                                                                \
      if (tester_.isa_missing()) GTEST_SKIP() << "this CPU lacks " #isa;                   \
    }                                                                                      \
  };                                                                                       \
  TEST_F(dynamic_quant_##xt##_##out##__##isa, lengths) { tester_.test_lengths(); }         \
  TEST_F(dynamic_quant_##xt##_##out##__##isa, misaligned) { tester_.test_misaligned(); }   \
  TEST_F(dynamic_quant_##xt##_##out##__##isa, long_rows) { tester_.test_long_rows(); }     \
  TEST_F(dynamic_quant_##xt##_##out##__##isa, every_pattern) { tester_.test_every_pattern(); }
#define GQ_CPU_DYNAMIC_QUANT_KERNEL(isa, xt, out) GQ_DYNAMIC_KERNEL_TESTS_##isa(isa, xt, out)
#include "src/cpu/kernels.inc"

// ---- The dispatched op with each ISA forced ------------------------------------------

class DynamicForcedIsa : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    saved_ = groupquant::detail::active_isa();
    if (!groupquant::detail::isa_supported(GetParam())) {
      GTEST_SKIP() << "this CPU or build lacks " << groupquant::detail::isa_name(GetParam());
    }
    groupquant::detail::set_active_isa(GetParam());
  }
  void TearDown() override { groupquant::detail::set_active_isa(saved_); }

 private:
  Isa saved_ = Isa::kScalar;
};

#if defined(__x86_64__) || defined(__i386__)
// A hostile caller environment: MXCSR with round up, FTZ and DAZ.
using FpEnv = unsigned;
constexpr FpEnv kHostileFpEnv = 0x1F80u | 0x8000u | 0x0040u | 0x4000u;
FpEnv swap_fp_env(FpEnv env) {
  const FpEnv saved = _mm_getcsr();
  _mm_setcsr(env);
  return saved;
}
#elif defined(__aarch64__)
// FPCR with round toward +inf, flush-to-zero and alternative half precision (AHP, which
// changes how fcvtl widens fp16 Inf and NaN).
using FpEnv = uint64_t;
constexpr FpEnv kHostileFpEnv = (uint64_t{1} << 26) | (uint64_t{1} << 24) | (uint64_t{1} << 22);
FpEnv swap_fp_env(FpEnv env) {
  FpEnv saved;
  __asm__ __volatile__("mrs %0, fpcr" : "=r"(saved));
  __asm__ __volatile__("msr fpcr, %0" : : "r"(env));
  return saved;
}
#endif

#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
// The caller's floating-point environment never changes the result: subnormal inputs and
// products, exact ties; compared with the reference run under the default environment.
TEST_P(DynamicForcedIsa, IgnoresCallersFloatingPointEnvironment) {
  std::mt19937 rng(11);
  const int64_t M = 5, H = 136;
  for (gq_dtype xd : {GQ_DTYPE_FLOAT16, GQ_DTYPE_BFLOAT16}) {
    for (gq_output_kind kind :
         {GQ_OUTPUT_INT8, GQ_OUTPUT_INT4_PACKED, GQ_OUTPUT_FLOAT8_E4M3FN, GQ_OUTPUT_FLOAT8_E5M2}) {
      for (gq_chip chip : {GQ_CHIP_A2, GQ_CHIP_950}) {
        if (chip == GQ_CHIP_A2 && groupquant::detail::output_traits(kind).encoding ==
                                      groupquant::detail::Encoding::kFloat8) {
          continue;  // fp8 is 950-only
        }
        for (bool asymmetric : {false, true}) {
          Tensor x(xd, {M, H}), smooth(xd, {H});
          for (int64_t i = 0; i < M * H; ++i) {
            x.set_float(
                i, i % 5 == 0 ? 1e-7f * static_cast<float>(i % 3) : gqtest::interesting_value(rng));
          }
          for (int64_t i = 0; i < H; ++i) smooth.set_float(i, i % 4 == 0 ? 1e-3f : 1.0f);
          gq_dynamic_quant_config config{};
          config.kind = kind;
          config.chip = chip;
          config.asymmetric = asymmetric ? 1 : 0;
          const int64_t y_cols = kind == GQ_OUTPUT_INT4_PACKED ? H / 8 : H;
          const gq_dtype yd = groupquant::detail::output_traits(kind).storage;
          Tensor y(yd, {M, y_cols}), y_ref(yd, {M, y_cols});
          Tensor scale(GQ_DTYPE_FLOAT32, {M}), scale_ref(GQ_DTYPE_FLOAT32, {M});
          Tensor offset(GQ_DTYPE_FLOAT32, {M}), offset_ref(GQ_DTYPE_FLOAT32, {M});
          const gq_tensor sv = smooth.view();
          const gq_tensor ov = offset.view(), ov_ref = offset_ref.view();
          groupquant::dynamic_quant_reference(x.view(), &sv, nullptr, config, y_ref.view(),
                                              scale_ref.view(), asymmetric ? &ov_ref : nullptr);
          const FpEnv saved = swap_fp_env(kHostileFpEnv);
          groupquant::dynamic_quant(x.view(), &sv, nullptr, config, y.view(), scale.view(),
                                    asymmetric ? &ov : nullptr);
          EXPECT_EQ(swap_fp_env(saved), kHostileFpEnv) << "caller's environment not restored";
          EXPECT_EQ(y.storage(), y_ref.storage()) << "y, kind " << kind << " chip " << chip;
          EXPECT_EQ(scale.storage(), scale_ref.storage()) << "scale";
          if (asymmetric) {
            EXPECT_EQ(offset.storage(), offset_ref.storage()) << "offset";
          }
        }
      }
    }
  }
}
#endif

INSTANTIATE_TEST_SUITE_P(AllIsas, DynamicForcedIsa,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return std::string(groupquant::detail::isa_name(info.param));
                         });

}  // namespace
