// 64-bit indexing (SPEC.md: "any M, N, G that fits in memory, including M * N >= 2^31").
//
// The inputs are lean on purpose. x lives in a private anonymous mapping that is mostly
// never written: untouched pages read as zeros from the kernel's shared zero page, so an
// 8 GiB x costs almost no memory. Only a few "marker" rows hold real data. The output is
// real memory (2 GiB for int8, 1 GiB for packed int4), and every byte of it is checked:
//
// - on a zero row, x * scale is 0 * finite = 0 (y = round(offset)) or 0 * Inf = NaN
//   (y = 0), so each group's scale row, which has Inf in group-specific columns, gives
//   a group-specific pattern: a row quantized with the wrong scale row (a wrong group
//   lookup, an index wrapped at 2^31) cannot match;
// - marker rows (first, last, both sides of element 2^31 and 2^32) hold integers whose
//   expected result is computed directly.
//
// Covered: element offsets of x beyond 2^31 (byte offsets beyond 2^33) and of y beyond
// 2^31 on the contiguous-row path (int8 and packed int4), and, in StridedViewsFarApart,
// the strided-row path with x, scale and y element offsets beyond 2^31 from a handful of
// widely spaced rows and columns. The two big tests run once, on the default ISA (the
// 64-bit offsets live in the driver, which every ISA shares; kernels see one row at a
// time); they skip themselves in the per-ISA passes (GROUPQUANT_CPU_ISA set) and when
// GROUPQUANT_SKIP_LARGE_TESTS=1. Each skips if the machine cannot map the memory.
#include <groupquant/groupquant.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <groupquant/groupquant.hpp>
#include <string>
#include <vector>

#include "tests/cpp/tester.h"

namespace {

constexpr int64_t kTwo31 = int64_t{1} << 31;

// Lazily backed, zero-filled memory; pages cost nothing until written.
class Mapping {
 public:
  explicit Mapping(int64_t bytes) : bytes_(static_cast<size_t>(bytes)) {
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    data_ = p == MAP_FAILED ? nullptr : static_cast<unsigned char*>(p);
    // Huge pages where the kernel allows them: 512x fewer page faults (a read of an
    // untouched range maps the huge zero page). Only a hint; failure is fine.
    if (data_ != nullptr) madvise(data_, bytes_, MADV_HUGEPAGE);
  }
  ~Mapping() {
    if (data_ != nullptr) munmap(data_, bytes_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  unsigned char* data() const { return data_; }

 private:
  size_t bytes_;
  unsigned char* data_ = nullptr;
};

bool skip_big_tests(std::string* why) {
  const char* forced = std::getenv("GROUPQUANT_CPU_ISA");
  const char* skip = std::getenv("GROUPQUANT_SKIP_LARGE_TESTS");
  if (skip != nullptr && std::string(skip) == "1") {
    *why = "GROUPQUANT_SKIP_LARGE_TESTS=1";
    return true;
  }
  if (forced != nullptr && *forced != '\0') {
    *why = "runs once, in the default-ISA pass (GROUPQUANT_CPU_ISA is set)";
    return true;
  }
  return false;
}

constexpr int64_t kGroups = 5;
constexpr float kOffset = 3.0f;

// Scale of group g, column n: +Inf in columns where (n + g) % 7 == 0, else (g + 1) / 2.
float scale_value(int64_t g, int64_t n) {
  return (n + g) % 7 == 0 ? INFINITY : 0.5f * static_cast<float>(g + 1);
}

// Marker row values: small integers, zero included.
float marker_value(int64_t r, int64_t n) { return static_cast<float>((n * 7 + r) % 41) - 20.0f; }

int32_t expected_value(float x, float s, int32_t lo, int32_t hi) {
  const float v = x * s + kOffset;  // exact: multiples of 0.5 well inside float's range
  if (std::isnan(v) || (std::isinf(s) && x == 0.0f)) return 0;
  return static_cast<int32_t>(std::clamp<double>(std::nearbyint(v), lo, hi));
}

struct BigProblem {
  int64_t M, N;
  std::vector<int64_t> ends;     // group_index
  std::vector<int64_t> markers;  // rows of x that hold data
  int64_t group_of(int64_t r) const {
    return std::upper_bound(ends.begin(), ends.end(), r) - ends.begin();
  }
};

// Builds the problem, runs it, and checks every output row.
void run_big(gq_dtype x_dtype, gq_output_kind kind, int64_t N, int64_t min_elements) {
  BigProblem p;
  p.N = N;
  p.M = (min_elements + N - 1) / N + 3;
  const int64_t r31 = kTwo31 / N, r32 = (2 * kTwo31) / N;
  p.ends = {1000, r31, r31, r31 + 1, p.M};
  p.markers = {0, 1, r31 - 1, r31, r31 + 1, p.M - 1};
  if (r32 + 1 < p.M) p.markers.insert(p.markers.end() - 1, {r32, r32 + 1});
  ASSERT_GE(p.M * p.N, kTwo31);

  const int64_t x_size = gqtest::element_size(x_dtype);
  Mapping x_map(p.M * p.N * x_size);
  const bool int8 = kind == GQ_OUTPUT_INT8;
  const int64_t y_cols = int8 ? N : N / 8, y_size = int8 ? 1 : 4;
  Mapping y_map(p.M * y_cols * y_size);
  if (x_map.data() == nullptr || y_map.data() == nullptr) GTEST_SKIP() << "cannot map the tensors";

  // Markers written through a 1-row Tensor helper, which knows the dtype encodings.
  for (int64_t r : p.markers) {
    gqtest::Tensor row(x_dtype, {N});
    for (int64_t n = 0; n < N; ++n) row.set_float(n, marker_value(r, n));
    std::memcpy(x_map.data() + r * N * x_size, row.storage().data(),
                static_cast<size_t>(N * x_size));
  }
  std::vector<float> sv;
  for (int64_t g = 0; g < kGroups; ++g) {
    for (int64_t n = 0; n < N; ++n) sv.push_back(scale_value(g, n));
  }
  const gqtest::Tensor scale = gqtest::Tensor::floats(GQ_DTYPE_FLOAT32, {kGroups, N}, sv);
  const gqtest::Tensor gi = gqtest::Tensor::ints(GQ_DTYPE_INT64, {kGroups}, p.ends);
  const gqtest::Tensor offset = gqtest::Tensor::floats(GQ_DTYPE_FLOAT32, {}, {kOffset});

  const int64_t x_shape[] = {p.M, N}, y_shape[] = {p.M, y_cols};
  const gq_tensor x{x_map.data(), 2, x_dtype, x_shape, nullptr, 0};
  const gq_tensor y{y_map.data(), 2, int8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32, y_shape, nullptr, 0};
  const gq_tensor off = offset.view();
  groupquant::group_quant(x, scale.view(), gi.view(), &off, kind, y,
                          gq_options{0, nullptr, nullptr});

  const int32_t lo = int8 ? -128 : -8, hi = int8 ? 127 : 7;
  // The output row of a given x row under group g, encoded like y.
  auto encode_row = [&](int64_t g, auto x_of) {
    std::vector<unsigned char> out(static_cast<size_t>(y_cols * y_size));
    for (int64_t n = 0; n < N; ++n) {
      const int32_t q = expected_value(x_of(n), scale_value(g, n), lo, hi);
      if (int8) {
        out[static_cast<size_t>(n)] = static_cast<unsigned char>(static_cast<int8_t>(q));
      } else {
        uint32_t word;
        std::memcpy(&word, &out[static_cast<size_t>(n / 8 * 4)], 4);
        word |= (static_cast<uint32_t>(q) & 0xFu) << (4 * (n % 8));
        std::memcpy(&out[static_cast<size_t>(n / 8 * 4)], &word, 4);
      }
    }
    return out;
  };
  std::vector<std::vector<unsigned char>> zero_rows;
  for (int64_t g = 0; g < kGroups; ++g)
    zero_rows.push_back(encode_row(g, [](int64_t) { return 0.0f; }));
  for (int64_t g = 1; g < kGroups; ++g) ASSERT_NE(zero_rows[g], zero_rows[g - 1]);

  const size_t row_bytes = static_cast<size_t>(y_cols * y_size);
  int64_t bad_rows = 0;
  for (int64_t r = 0; r < p.M; ++r) {
    const int64_t g = p.group_of(r);
    const unsigned char* got = y_map.data() + r * y_cols * y_size;
    const bool marker = std::find(p.markers.begin(), p.markers.end(), r) != p.markers.end();
    const std::vector<unsigned char> want =
        marker ? encode_row(g, [&](int64_t n) { return marker_value(r, n); })
               : std::vector<unsigned char>{};
    const unsigned char* expected = marker ? want.data() : zero_rows[static_cast<size_t>(g)].data();
    if (std::memcmp(got, expected, row_bytes) != 0 && ++bad_rows <= 5) {
      ADD_FAILURE() << "row " << r << " (group " << g << (marker ? ", marker" : "") << ") differs";
    }
  }
  EXPECT_EQ(bad_rows, 0);
}

TEST(LargeIndex, Int8OutputBeyond2To31Elements) {
  std::string why;
  if (skip_big_tests(&why)) GTEST_SKIP() << why;
  // fp32 x of 2^31 + 12000 elements (8 GiB virtual), int8 y of 2 GiB: element 2^31 of
  // both sits mid-row, in its own group.
  run_big(GQ_DTYPE_FLOAT32, GQ_OUTPUT_INT8, 1000, kTwo31);
}

TEST(LargeIndex, PackedInt4OutputBeyond2To32Elements) {
  std::string why;
  if (skip_big_tests(&why)) GTEST_SKIP() << why;
  // bf16 x of 2^32 + ... elements (8 GiB virtual): byte offsets beyond 2^33; int32 y of
  // 2 GiB: word offsets beyond 2^29, byte offsets beyond 2^31.
  run_big(GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT4_PACKED, 2048, 2 * kTwo31);
}

// The strided-row path (columns not contiguous) with element offsets beyond 2^31 in
// every tensor, from a few rows and columns spread over 16+ GiB of address space.
TEST(LargeIndex, StridedViewsFarApart) {
  constexpr int64_t M = 6, N = 16, G = 2;
  const int64_t big = (int64_t{1} << 28) + 3;  // elements between neighbours
  // x fp16 [M, N] strides [1, big]: column n at element n * big (up to 15 * 2^28).
  Mapping x_map((M + (N - 1) * big) * 2);
  // scale fp32 [G, N] strides [big, 1]: row 1 at element big.
  Mapping s_map((big + N) * 4);
  // y int8 [M, N] strides [1, big]; y int32 (packed) [M, 2] strides [1, 9 * big].
  Mapping y8_map((M + (N - 1) * big) * 1);
  const int64_t y4_strides[] = {1, 9 * big};
  Mapping y4_map((M + y4_strides[1]) * 4);
  if (!x_map.data() || !s_map.data() || !y8_map.data() || !y4_map.data())
    GTEST_SKIP() << "cannot map";

  const int64_t x_strides[] = {1, big}, s_strides[] = {big, 1}, y8_strides[] = {1, big};
  const int64_t x_shape[] = {M, N}, s_shape[] = {G, N}, y8_shape[] = {M, N},
                y4_shape[] = {M, N / 8};
  const gq_tensor x{x_map.data(), 2, GQ_DTYPE_FLOAT16, x_shape, x_strides, 0};
  const gq_tensor s{s_map.data(), 2, GQ_DTYPE_FLOAT32, s_shape, s_strides, 0};
  const gq_tensor y8{y8_map.data(), 2, GQ_DTYPE_INT8, y8_shape, y8_strides, 0};
  const gq_tensor y4{y4_map.data(), 2, GQ_DTYPE_INT32, y4_shape, y4_strides, 0};

  // The same problem as compact tensors, for the expected result.
  gqtest::Tensor xc(GQ_DTYPE_FLOAT16, {M, N}), sc(GQ_DTYPE_FLOAT32, {G, N});
  for (int64_t r = 0; r < M; ++r) {
    for (int64_t n = 0; n < N; ++n) {
      const float v = marker_value(r, n) * 0.75f;
      xc.set_float(r * N + n, v);
      std::memcpy(x_map.data() + (r + n * big) * 2, xc.at(r * N + n), 2);
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t n = 0; n < N; ++n) {
      const float v = 0.25f + static_cast<float>(g * N + n) * 0.5f;
      sc.set_float(g * N + n, v);
      std::memcpy(s_map.data() + (g * big + n) * 4, &v, 4);
    }
  }
  const gqtest::Tensor gi = gqtest::Tensor::ints(GQ_DTYPE_INT32, {G}, {2, M});
  for (gq_output_kind kind : gqtest::kKinds) {
    const bool int8 = kind == GQ_OUTPUT_INT8;
    gqtest::Tensor want(int8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32, {M, int8 ? N : N / 8});
    groupquant::group_quant_reference(xc.view(), sc.view(), gi.view(), nullptr, kind, want.view());
    const gq_tensor& y = int8 ? y8 : y4;
    for (int32_t threads : {1, 2}) {
      groupquant::group_quant(x, s, gi.view(), nullptr, kind, y,
                              gq_options{threads, nullptr, nullptr});
      for (int64_t r = 0; r < M; ++r) {
        for (int64_t c = 0; c < y.shape[1]; ++c) {
          const int64_t off = r * y.strides[0] + c * y.strides[1];
          int64_t got;
          if (int8) {
            got = static_cast<int8_t>(y8_map.data()[off]);
          } else {
            int32_t w;
            std::memcpy(&w, y4_map.data() + off * 4, 4);
            got = w;
          }
          EXPECT_EQ(got, want.get_int(r * y.shape[1] + c))
              << "kind " << kind << " [" << r << ", " << c << "]";
        }
      }
    }
  }
}

}  // namespace
