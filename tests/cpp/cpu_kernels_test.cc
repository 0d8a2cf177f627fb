// Every row kernel of every ISA compiled in (kernels.inc), XNNPACK-style: every length
// around the vector tiles, misaligned starts, special values, with and without offset,
// compared bit for bit with the scalar kernel and with the reference; guard bytes after
// y, and x and scale ending exactly at the end of their allocations (ASan catches any
// over-read). Then the driver with each ISA forced, on random multi-row problems
// (random_problem.h).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <groupquant/groupquant.hpp>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "src/cpu/isa.h"
#include "src/cpu/kernels.h"
#include "src/cpu/row_stream.h"
#include "tests/cpp/random_problem.h"
#include "tests/cpp/tester.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__unix__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace {

using gqtest::RandomProblem;
using gqtest::Tensor;
using groupquant::detail::Isa;
using groupquant::detail::RowKernel;

// Lengths up to two main-loop tiles + 1 of the widest kernel (AVX-512: 64 elements per
// iteration) cover every path of every ISA: unrolled body, single vectors, tail.
constexpr int64_t kMaxTile = 64;
constexpr int64_t kGuardBytes = 64;
constexpr unsigned char kPoison = 0xA5;

class RowKernelTester {
 public:
  RowKernelTester(Isa isa, gq_dtype x, gq_dtype scale, gq_output_kind kind, RowKernel kernel)
      : isa_(isa), x_dtype_(x), scale_dtype_(scale), kind_(kind), kernel_(kernel) {
    reference_kernel_ = groupquant::detail::find_row_kernel(Isa::kScalar, x, scale, kind);
  }

  bool skip() const { return !groupquant::detail::isa_supported(isa_); }

  // One call of the kernel on a row of n elements, x/scale/y starting `misalign`
  // elements into their allocations; compared with the scalar kernel and the reference.
  void test(int64_t n, int64_t x_misalign, int64_t s_misalign, int64_t y_misalign, bool with_offset,
            uint32_t seed) const {
    std::mt19937 rng(seed);
    const int64_t xs = gqtest::element_size(x_dtype_), ss = gqtest::element_size(scale_dtype_);
    const int64_t y_bytes = kind_ == GQ_OUTPUT_INT8 ? n : n / 2;
    // x and scale end exactly at the end of their allocations.
    std::unique_ptr<unsigned char[]> x_buf(new unsigned char[(x_misalign + n) * xs]);
    std::unique_ptr<unsigned char[]> s_buf(new unsigned char[(s_misalign + n) * ss]);
    const Tensor x_values = random_row(x_dtype_, n, rng, /*is_scale=*/false);
    const Tensor s_values = random_row(scale_dtype_, n, rng, /*is_scale=*/true);
    std::memcpy(x_buf.get() + x_misalign * xs, x_values.storage().data(), n * xs);
    std::memcpy(s_buf.get() + s_misalign * ss, s_values.storage().data(), n * ss);
    const void* x = x_buf.get() + x_misalign * xs;
    const void* s = s_buf.get() + s_misalign * ss;

    float offset = 0.0f;
    Tensor offset_tensor(scale_dtype_, {});
    if (with_offset) {
      static const float kOffsets[] = {0.5f, -0.5f, 0.25f, 1.0f, -3.75f, 0.0f, -0.0f, 100.0f};
      std::uniform_int_distribution<int> pick(0, static_cast<int>(std::size(kOffsets)));
      const int k = pick(rng);
      offset_tensor.set_float(0, k < static_cast<int>(std::size(kOffsets))
                                     ? kOffsets[k]
                                     : gqtest::interesting_value(rng));
      offset = offset_tensor.get_float(0);
    }

    // Under test: y_misalign bytes past a 64-byte boundary, poisoned, guard bytes before
    // and after.
    std::vector<unsigned char> y(64 + y_misalign + y_bytes + kGuardBytes, kPoison);
    const int64_t y_start =
        static_cast<int64_t>((64 - (reinterpret_cast<uintptr_t>(y.data()) & 63)) & 63) + y_misalign;
    kernel_(x, s, offset, y.data() + y_start, n);
    for (int64_t i = 0; i < y_start; ++i) ASSERT_EQ(y[i], kPoison) << "write before y[0]";
    for (int64_t i = 0; i < kGuardBytes; ++i) {
      ASSERT_EQ(y[y_start + y_bytes + i], kPoison) << "write past the end of y, byte " << i;
    }
    const unsigned char* got = y.data() + y_start;

    // The scalar kernel.
    std::vector<unsigned char> expect_scalar(y_bytes + 1);
    reference_kernel_(x, s, offset, expect_scalar.data(), n);

    // The reference, on a 1 x n problem.
    const int64_t y_cols = kind_ == GQ_OUTPUT_INT8 ? n : n / 8;
    Tensor x_t(x_dtype_, {1, n}), s_t(scale_dtype_, {1, n});
    std::memcpy(x_t.at(0), x, n * xs);
    std::memcpy(s_t.at(0), s, n * ss);
    const Tensor gi = Tensor::ints(GQ_DTYPE_INT64, {1}, {1});
    Tensor y_ref(kind_ == GQ_OUTPUT_INT8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32, {1, y_cols});
    const gq_tensor off_view = offset_tensor.view();
    groupquant::group_quant_reference(x_t.view(), s_t.view(), gi.view(),
                                      with_offset ? &off_view : nullptr, kind_, y_ref.view());

    for (int64_t b = 0; b < y_bytes; ++b) {
      const int64_t col = kind_ == GQ_OUTPUT_INT8 ? b : 2 * b;
      const auto describe = [&] {
        return "n=" + std::to_string(n) + " byte " + std::to_string(b) + " (column " +
               std::to_string(col) + ") x=" + std::to_string(x_values.get_float(col)) +
               " scale=" + std::to_string(s_values.get_float(col)) +
               " offset=" + std::to_string(offset) + " misalign=" + std::to_string(x_misalign) +
               "," + std::to_string(s_misalign) + "," + std::to_string(y_misalign);
      };
      ASSERT_EQ(got[b], expect_scalar[b]) << "vs scalar kernel: " << describe();
      ASSERT_EQ(got[b], y_ref.storage()[b]) << "vs reference: " << describe();
    }
  }

  void test_lengths() const {
    const int64_t step = kind_ == GQ_OUTPUT_INT8 ? 1 : 8;
    const int64_t max_n = kind_ == GQ_OUTPUT_INT8 ? 2 * kMaxTile + 1 : 2 * kMaxTile + 8;
    uint32_t seed = 1;
    for (int64_t n = step; n <= max_n; n += step) {
      for (bool with_offset : {false, true}) {
        test(n, 0, 0, 0, with_offset, seed++);
        if (HasFatalFailure()) return;
      }
    }
  }

  void test_misaligned() const {
    const int64_t step = kind_ == GQ_OUTPUT_INT8 ? 1 : 8;
    const int64_t max_n = kind_ == GQ_OUTPUT_INT8 ? 2 * kMaxTile + 1 : 2 * kMaxTile + 8;
    uint32_t seed = 1000;
    for (int64_t n = step; n <= max_n; n += step) {
      for (int64_t mis = 1; mis <= 3; ++mis) {
        test(n, mis, (mis + 1) % 4, (mis + 2) % 4, /*with_offset=*/(n + mis) % 2 == 0, seed++);
        if (HasFatalFailure()) return;
      }
    }
  }

  // Streaming-store variants: every output offset within a cache line (in bytes; for
  // int4 the off-word ones take the plain path), lengths up to two 64-byte lines + 1.
  void test_streaming_alignments() const {
    const int64_t step = kind_ == GQ_OUTPUT_INT8 ? 1 : 8;
    const int64_t max_n = kind_ == GQ_OUTPUT_INT8 ? 2 * 64 + 1 : 2 * 128 + 8;
    uint32_t seed = 9000;
    for (int64_t y_misalign : {0, 1, 4, 8, 28, 32, 60, 63}) {
      for (int64_t n = step; n <= max_n; n += step) {
        test(n, n % 4, (n / 4) % 4, y_misalign, n % 3 == 0, seed++);
        if (HasFatalFailure()) return;
      }
      // Long rows: many whole lines, with a head and a tail.
      for (int64_t n : {1000, 4096 + 8, 7168}) {
        test(n, 1, 2, y_misalign, true, seed++);
        if (HasFatalFailure()) return;
      }
    }
  }

  // Long rows, many seeds: the rare special values meet every lane position.
  void test_random_values() const {
    for (uint32_t seed = 5000; seed < 5040; ++seed) {
      const int64_t n = kind_ == GQ_OUTPUT_INT8 ? 1000 + seed % 77 : 1000 + 8 * (seed % 9);
      test(n, seed % 4, (seed / 4) % 4, (seed / 16) % 4, seed % 2 == 0, seed);
      if (HasFatalFailure()) return;
    }
  }

 private:
  static bool HasFatalFailure() { return ::testing::Test::HasFatalFailure(); }

  // Values: x mostly interesting_value(); scale exactly 1 half of the time (so x's ties
  // and bounds survive the multiply), else ordinary or interesting values.
  static Tensor random_row(gq_dtype dtype, int64_t n, std::mt19937& rng, bool is_scale) {
    Tensor t(dtype, {n});
    std::uniform_int_distribution<int> pick(0, 3);
    std::uniform_real_distribution<float> ordinary(-4.0f, 4.0f);
    for (int64_t i = 0; i < n; ++i) {
      float v = gqtest::interesting_value(rng);
      if (is_scale) {
        const int k = pick(rng);
        v = k <= 1 ? 1.0f : (k == 2 ? ordinary(rng) : v);
      }
      t.set_float(i, v);
    }
    return t;
  }

  Isa isa_;
  gq_dtype x_dtype_, scale_dtype_;
  gq_output_kind kind_;
  RowKernel kernel_, reference_kernel_;
};

#define GQ_CPU_GROUP_QUANT_KERNEL(isa, xt, st, out)                                                \
  class group_quant_##xt##_##st##_##out##__##isa : public ::testing::Test {                        \
   protected:                                                                                      \
    RowKernelTester tester_{GQ_ISA_OF_##isa, GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out, \
                            &groupquant::detail::group_quant_##xt##_##st##_##out##__##isa};        \
    void SetUp() override {                                                                        \
      if (tester_.skip()) GTEST_SKIP() << "this CPU lacks " #isa;                                  \
    }                                                                                              \
  };                                                                                               \
  TEST_F(group_quant_##xt##_##st##_##out##__##isa, lengths) { tester_.test_lengths(); }            \
  TEST_F(group_quant_##xt##_##st##_##out##__##isa, misaligned) { tester_.test_misaligned(); }      \
  TEST_F(group_quant_##xt##_##st##_##out##__##isa, random_values) { tester_.test_random_values(); }
#include "src/cpu/kernels.inc"

// The streaming-store variant of each kernel that has one (row_stream.h).
#define GQ_CPU_GROUP_QUANT_KERNEL(isa, xt, st, out)                                           \
  TEST_F(group_quant_##xt##_##st##_##out##__##isa, streaming_variant) {                       \
    const RowKernel k = groupquant::detail::find_streaming_row_kernel(                        \
        GQ_ISA_OF_##isa, GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out);               \
    if (k == nullptr) GTEST_SKIP() << #isa " has no streaming variant";                       \
    RowKernelTester(GQ_ISA_OF_##isa, GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out, k) \
        .test_streaming_alignments();                                                         \
  }
#include "src/cpu/kernels.inc"

#if defined(__unix__)
// The streaming variants prefetch x several KiB ahead of the element they are at (row_*.cc),
// so at the end of a row past the end of x. A prefetch never faults: a row of x that ends
// right before an unmapped page must run, and match the scalar kernel.
void test_x_before_unmapped_page(gq_dtype xd, gq_dtype sd, gq_output_kind kind, RowKernel k) {
  const int64_t page = sysconf(_SC_PAGESIZE);
  const int64_t n = 4096, xs = gqtest::element_size(xd), ss = gqtest::element_size(sd);
  const int64_t x_bytes = n * xs, x_pages = (x_bytes + page - 1) / page;
  void* map = mmap(nullptr, static_cast<size_t>((x_pages + 1) * page), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(map, MAP_FAILED);
  char* guard = static_cast<char*>(map) + x_pages * page;
  ASSERT_EQ(mprotect(guard, static_cast<size_t>(page), PROT_NONE), 0);
  unsigned char* x = reinterpret_cast<unsigned char*>(guard - x_bytes);
  std::mt19937 rng(77);
  for (int64_t i = 0; i < x_bytes; ++i) x[i] = static_cast<unsigned char>(rng());  // any bits
  std::vector<unsigned char> s(static_cast<size_t>(n * ss));
  for (int64_t i = 0; i < n; ++i) {
    const float v = 0.25f * static_cast<float>(1 + i % 9);
    if (ss == 4) {
      std::memcpy(&s[i * 4], &v, 4);
    } else {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);  // exact in bf16 and in fp16 (few mantissa bits)
      const uint16_t h = sd == GQ_DTYPE_BFLOAT16
                             ? static_cast<uint16_t>(bits >> 16)
                             : static_cast<uint16_t>(((bits >> 16) & 0x8000u) |
                                                     ((((bits >> 23) & 0xFFu) - 112u) << 10) |
                                                     ((bits >> 13) & 0x3FFu));
      std::memcpy(&s[i * 2], &h, 2);
    }
  }
  const int64_t y_bytes = kind == GQ_OUTPUT_INT8 ? n : n / 2;
  std::vector<unsigned char> y(static_cast<size_t>(y_bytes + 64)), expect(y_bytes);
  unsigned char* y64 = y.data() + ((64 - (reinterpret_cast<uintptr_t>(y.data()) & 63)) & 63);
  k(x, s.data(), 0.5f, y64, n);
  groupquant::detail::find_row_kernel(Isa::kScalar, xd, sd, kind)(x, s.data(), 0.5f, expect.data(),
                                                                  n);
  EXPECT_EQ(std::memcmp(y64, expect.data(), static_cast<size_t>(y_bytes)), 0);
  munmap(map, static_cast<size_t>((x_pages + 1) * page));
}

#define GQ_CPU_GROUP_QUANT_KERNEL(isa, xt, st, out)                                       \
  TEST_F(group_quant_##xt##_##st##_##out##__##isa, streaming_x_before_unmapped_page) {    \
    const RowKernel k = groupquant::detail::find_streaming_row_kernel(                    \
        GQ_ISA_OF_##isa, GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out);           \
    if (k == nullptr) GTEST_SKIP() << #isa " has no streaming variant";                   \
    test_x_before_unmapped_page(GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out, k); \
  }
#include "src/cpu/kernels.inc"
#endif

// ---- The dispatched driver with each ISA forced -------------------------------------

// Restores the ISA chosen at start-up after a test forces another.
class ForcedIsa : public ::testing::TestWithParam<Isa> {
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

// The driver's random problems: M up to 70 and N up to 300 (several vector tiles per
// row), G up to 12, scale values half interesting.
RandomProblem random_case(std::mt19937& rng, gq_dtype xd, gq_dtype sd, gq_output_kind kind) {
  RandomProblem::Spec spec;
  spec.x_dtype = xd;
  spec.scale_dtype = sd;
  spec.kind = kind;
  spec.max_m = 70;
  spec.max_n = 300;
  spec.max_g = 12;
  spec.interesting_scale_one_in = 2;
  return RandomProblem::make(rng, spec);
}

void expect_matches_reference(const RandomProblem& c, const gq_options& options) {
  const Tensor expected = c.fresh_y();
  c.run_reference(expected);
  const Tensor got = c.fresh_y();
  c.run_cpu(got, options);
  // Whole storage: every element and every untouched padding byte.
  ASSERT_EQ(got.storage(), expected.storage())
      << c.description << " threads=" << options.num_threads;
}

TEST_P(ForcedIsa, DriverMatchesReferenceOnRandomProblems) {
  std::mt19937 rng(42 + static_cast<int>(GetParam()));
  for (gq_dtype xd : gqtest::kFloatDtypes) {
    for (gq_dtype sd : gqtest::kFloatDtypes) {
      for (gq_output_kind kind : gqtest::kKinds) {
        for (int32_t threads : {1, 2, 3}) {
          for (int rep = 0; rep < 4; ++rep) {
            const RandomProblem c = random_case(rng, xd, sd, kind);
            gq_options options{};
            options.num_threads = threads;
            expect_matches_reference(c, options);
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// The same with the streaming-store kernels, which the driver otherwise keeps for calls
// over 32 MiB: the threshold is lowered to 0 for the test.
TEST_P(ForcedIsa, DriverWithStreamingStores) {
  const int64_t saved = groupquant::detail::streaming_min_bytes();
  groupquant::detail::set_streaming_min_bytes(0);
  std::mt19937 rng(4242 + static_cast<int>(GetParam()));
  for (gq_dtype xd : gqtest::kFloatDtypes) {
    for (gq_output_kind kind : gqtest::kKinds) {
      for (int32_t threads : {1, 2}) {
        for (int rep = 0; rep < 4; ++rep) {
          const RandomProblem c = random_case(rng, xd, GQ_DTYPE_FLOAT32, kind);
          gq_options options{};
          options.num_threads = threads;
          expect_matches_reference(c, options);
          if (HasFatalFailure()) break;
        }
      }
    }
  }
  groupquant::detail::set_streaming_min_bytes(saved);
}

// Many rows, few columns: many chunks and many threads, groups crossing chunk borders.
TEST_P(ForcedIsa, DriverManyChunks) {
  std::mt19937 rng(7);
  for (gq_output_kind kind : gqtest::kKinds) {
    RandomProblem::Spec spec;
    spec.x_dtype = GQ_DTYPE_BFLOAT16;
    spec.kind = kind;
    spec.m = 40000;
    spec.n = 24;
    spec.g = 37;
    spec.x_layout = spec.scale_layout = spec.y_layout = gqtest::Layout::kContiguous;
    spec.offset_kind = 2;
    const RandomProblem c = RandomProblem::make(rng, spec);
    for (int32_t threads : {1, 3, 8}) {
      gq_options options{};
      options.num_threads = threads;
      expect_matches_reference(c, options);
      if (HasFatalFailure()) return;
    }
  }
}

#if defined(__x86_64__) || defined(__i386__)
// The caller's MXCSR (round up, flush-to-zero, denormals-are-zero: what
// torch.set_flush_denormal(True) and fesetround leave behind) never changes the result.
TEST_P(ForcedIsa, IgnoresCallersFloatingPointEnvironment) {
  std::mt19937 rng(99);
  RandomProblem c = random_case(rng, GQ_DTYPE_FLOAT32, GQ_DTYPE_FLOAT32, GQ_OUTPUT_INT8);
  // Subnormal products and exact ties, which FTZ/DAZ or another rounding mode would change.
  for (int64_t i = 0; i < c.x.numel(); i += 3) c.x.set_float(i, 1e-40f);
  const Tensor expected = c.fresh_y(), got = c.fresh_y();
  c.run_reference(expected);
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(0x1F80u | 0x8000u | 0x0040u | 0x4000u);  // FTZ, DAZ, round up
  c.run_cpu(got);
  const unsigned after = _mm_getcsr();
  _mm_setcsr(saved);
  EXPECT_EQ(after, 0x1F80u | 0x8000u | 0x0040u | 0x4000u) << "caller's MXCSR not restored";
  ASSERT_EQ(got.storage(), expected.storage()) << c.description;
}
#elif defined(__aarch64__)
// The same for the caller's FPCR: round toward +inf, flush-to-zero and alternative
// half precision (AHP, which changes how fcvtl widens fp16 Inf and NaN).
TEST_P(ForcedIsa, IgnoresCallersFloatingPointEnvironment) {
  constexpr uint64_t kHostileFpcr = (uint64_t{1} << 26) | (uint64_t{1} << 24) | (uint64_t{1} << 22);
  std::mt19937 rng(99);
  for (gq_dtype xd : {GQ_DTYPE_FLOAT32, GQ_DTYPE_FLOAT16}) {
    RandomProblem c = random_case(rng, xd, GQ_DTYPE_FLOAT32, GQ_OUTPUT_INT8);
    // Subnormal products, exact ties and fp16 Inf, which FZ, the rounding mode or AHP change.
    for (int64_t i = 0; i < c.x.numel(); i += 3) c.x.set_float(i, 1e-40f);
    for (int64_t i = 1; i < c.x.numel(); i += 7) c.x.set_float(i, INFINITY);
    const Tensor expected = c.fresh_y(), got = c.fresh_y();
    c.run_reference(expected);
    uint64_t saved, after;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(saved));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(kHostileFpcr));
    c.run_cpu(got);
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(after));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(saved));
    EXPECT_EQ(after, kHostileFpcr) << "caller's FPCR not restored";
    ASSERT_EQ(got.storage(), expected.storage()) << c.description;
  }
}
#endif

std::string isa_param_name(const ::testing::TestParamInfo<Isa>& info) {
  return groupquant::detail::isa_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, ForcedIsa,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon),
                         isa_param_name);

// ---- Selection: the C ABI override and the environment variable ---------------------

TEST(CpuIsaSelection, CApiForcesEveryPathTheMachineHas) {
  const std::string saved = gq_cpu_isa();
  for (const char* name : {"scalar", "avx2", "avx512", "neon"}) {
    if (gq_cpu_isa_supported(name)) {
      EXPECT_EQ(gq_set_cpu_isa(name), GQ_STATUS_SUCCESS) << name;
      EXPECT_STREQ(gq_cpu_isa(), name);
    } else {
      EXPECT_EQ(gq_set_cpu_isa(name), GQ_STATUS_UNSUPPORTED) << name;
    }
  }
  EXPECT_NE(gq_set_cpu_isa("sse9"), GQ_STATUS_SUCCESS);
  ASSERT_EQ(gq_set_cpu_isa(saved.c_str()), GQ_STATUS_SUCCESS);
}

#if defined(__aarch64__)
// NEON is the aarch64 baseline: always compiled in, always supported, the default.
TEST(CpuIsaSelection, NeonOnEveryArm64Cpu) {
  EXPECT_EQ(gq_cpu_isa_supported("neon"), 1);
  EXPECT_EQ(groupquant::detail::best_isa(), Isa::kNeon);
  EXPECT_EQ(gq_cpu_isa_supported("avx2"), 0);
}
#endif

// ctest runs this whole binary once per ISA with GROUPQUANT_CPU_ISA set (see
// cmake/tests.cmake); then the process must start on exactly that path.
TEST(CpuIsaSelection, EnvironmentVariableChoosesTheStartupPath) {
  const char* env = std::getenv("GROUPQUANT_CPU_ISA");
  if (env == nullptr || std::string(env).empty() || std::string(env) == "auto") {
    EXPECT_EQ(groupquant::detail::active_isa(), groupquant::detail::best_isa());
  } else {
    EXPECT_STREQ(groupquant::detail::isa_name(groupquant::detail::active_isa()), env);
  }
}

}  // namespace
