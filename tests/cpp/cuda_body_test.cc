// The CUDA kernel's per-thread body (src/cuda/group_quant.cuh), compiled here as plain
// host C++ and run over simulated grids: every thread index of every block, the same
// indexing, vector/scalar split, tails, packing and group_index checks the GPU runs
// (16-byte loads and stores become memcpy of the same bytes). Compared bit for bit with
// the reference on every dtype pair, both kinds, both group_index dtypes, with and
// without offset, odd N, misaligned and strided views and empty groups. Needs no GPU
// and no nvcc. What it cannot cover: the device spellings of the leaf helpers
// (__float2int_rn, cvt.f32.f16, __ldg/__ldcs/__stcs) -- tests/python/test_cuda.py does,
// on a GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "src/cuda/group_quant.cuh"
#include "src/validate.h"
#include "tests/cpp/random_problem.h"
#include "tests/cpp/tester.h"

namespace {

namespace cu = groupquant::detail::cuda;
using cu::Failure;
using gqtest::Tensor;

struct SimResult {
  std::set<int32_t> codes;  // the Failure codes any thread reported
  Failure first{Failure::kNone, 0, 0, 0};
};

// Runs every thread of a grid of num_threads threads (a multiple of p.lanes), as the
// kernel does; a thread that fails stops, the others go on (on the GPU the assertion
// stops them all, and what they wrote no longer matters).
SimResult simulate(const cu::Params& p, gq_dtype xd, gq_dtype sd, gq_output_kind kind,
                   int64_t num_threads) {
  SimResult r;
  cu::dispatch(xd, sd, kind, [&](auto x, auto s, auto k) {
    for (int64_t t = 0; t < num_threads; ++t) {
      const Failure f = cu::run_thread<decltype(x)::value, decltype(s)::value, decltype(k)::value>(
          p, t, num_threads);
      if (f.code == Failure::kNone) continue;
      if (r.codes.empty()) r.first = f;
      r.codes.insert(f.code);
    }
  });
  return r;
}

// A call's tensors; y starts poisoned (0x5A) in the gaps of strided views too.
struct Call {
  Tensor x, scale, group_index, offset, y;
  bool with_offset = false;
  gq_output_kind kind = GQ_OUTPUT_INT8;
  std::string description;

  groupquant::detail::Problem problem(Tensor& out) const {
    const gq_tensor xv = x.view(), sv = scale.view(), gv = group_index.view(), ov = offset.view(),
                    yv = out.view();
    return groupquant::detail::validate_arguments(
        {&xv, &sv, &gv, with_offset ? &ov : nullptr, kind, &yv},
        groupquant::detail::GroupIndexCheck::kOnDevice);
  }
  Tensor reference() const {
    Tensor out = y;
    const gq_tensor ov = offset.view();
    groupquant::group_quant_reference(x.view(), scale.view(), group_index.view(),
                                      with_offset ? &ov : nullptr, kind, out.view());
    return out;
  }
  // The launcher's Params, optionally with another lane count; then a grid of `blocks`.
  SimResult run(Tensor& out, int64_t blocks, int32_t lanes = 0) const {
    cu::Params p = cu::make_params(problem(out));
    if (lanes > 0) p.lanes = lanes;
    return simulate(p, x.dtype(), scale.dtype(), kind, blocks * cu::kBlockThreads);
  }
};

using gqtest::kLayouts;
using gqtest::Layout;

// A random call from random_problem.h with N and the layouts pinned: M up to 37, pads
// and offsets up to 9 elements.
Call random_call(std::mt19937& rng, gq_dtype xd, gq_dtype sd, gq_output_kind kind, int64_t N,
                 Layout x_layout, Layout s_layout, Layout y_layout) {
  gqtest::RandomProblem::Spec spec;
  spec.x_dtype = xd;
  spec.scale_dtype = sd;
  spec.kind = kind;
  spec.max_m = 37;
  spec.n = N;
  spec.max_extra = 9;
  spec.x_layout = x_layout;
  spec.scale_layout = s_layout;
  spec.y_layout = y_layout;
  gqtest::RandomProblem p = gqtest::RandomProblem::make(rng, spec);
  Call c;
  c.x = std::move(p.x);
  c.scale = std::move(p.scale);
  c.group_index = std::move(p.group_index);
  c.offset = std::move(p.offset);
  c.y = std::move(p.y);
  c.with_offset = p.with_offset;
  c.kind = p.kind;
  c.description = std::move(p.description);
  return c;
}

class CudaBody : public ::testing::TestWithParam<std::tuple<gq_dtype, gq_dtype, gq_output_kind>> {};

// Every layout combination, N around the chunk sizes (8 and 16 columns) and odd, and
// several grids: one block (grid-stride over rows), a few blocks, and forced lane counts
// from 1 (a thread per row) to 128 (a row spread thinly, most lanes idle).
TEST_P(CudaBody, MatchesReferenceOverSimulatedGrids) {
  const auto [xd, sd, kind] = GetParam();
  std::mt19937 rng(1234 + 16 * xd + 4 * sd + kind);
  const std::vector<int64_t> widths =
      kind == GQ_OUTPUT_INT8 ? std::vector<int64_t>{1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 257}
                             : std::vector<int64_t>{8, 16, 24, 32, 40, 64, 136, 264};
  int checked = 0;
  for (const int64_t N : widths) {
    for (const Layout xl : kLayouts) {
      for (const Layout sl : kLayouts) {
        for (const Layout yl : kLayouts) {
          const Call c = random_call(rng, xd, sd, kind, N, xl, sl, yl);
          const Tensor expected = c.reference();
          const std::pair<int64_t, int32_t> grids[] = {{1, 0}, {3, 0},  {1, 1},
                                                       {2, 4}, {1, 32}, {1, 128}};
          for (const auto& [blocks, lanes] : grids) {
            Tensor got = c.y;
            const SimResult r = c.run(got, blocks, lanes);
            ASSERT_TRUE(r.codes.empty()) << c.description << " failure code " << *r.codes.begin();
            ASSERT_EQ(got.storage(), expected.storage())
                << c.description << " blocks=" << blocks << " lanes=" << lanes;
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// The unrolled chunk loop (kUnroll chunks a step, then the lane's leftover chunk), with
// and without a scalar head, with every tail: rows of 0..11 chunks after the head, spread
// over 1, 2 and 4 lanes, so each lane's chunk count is even, odd or zero. Rows padded to
// 16 bytes keep every row on the vector path (checked); rows of stride N + 1 drift in and
// out of it.
TEST_P(CudaBody, UnrolledChunksWithLeftoversHeadsAndTails) {
  const auto [xd, sd, kind] = GetParam();
  using groupquant::detail::dtype_size;
  const int64_t xs = dtype_size(xd), ss = dtype_size(sd), cols = 32 / xs;
  const bool int8 = kind == GQ_OUTPUT_INT8;
  const int64_t store_bytes = int8 ? cols : cols / 2;
  std::mt19937 rng(99 + 16 * xd + 4 * sd + kind);
  int vector_rows = 0, checked = 0;
  for (const int64_t ex : int8 ? std::vector<int64_t>{0, 1, 3} : std::vector<int64_t>{0}) {
    const int64_t head = (16 - ex * xs % 16) % 16 / xs;
    const int64_t es = (16 / ss - head % (16 / ss)) % (16 / ss);
    const int64_t ey = int8 ? (store_bytes - head % store_bytes) % store_bytes : 0;
    const std::vector<int64_t> tails = int8         ? std::vector<int64_t>{0, 1, cols - 1}
                                       : cols == 16 ? std::vector<int64_t>{0, 8}
                                                    : std::vector<int64_t>{0};
    for (int64_t chunks = 0; chunks <= 11; ++chunks) {
      for (const int64_t tail : tails) {
        const int64_t N = head + chunks * cols + tail;
        if (N == 0 || (!int8 && N % 8 != 0)) continue;
        for (const bool padded : {true, false}) {
          const auto round16 = [](int64_t n, int64_t size) {
            const int64_t per = 16 / size;
            return (n + per - 1) / per * per;
          };
          const int64_t M = 5, G = 2, y_cols = int8 ? N : N / 8;
          Call c;
          c.kind = kind;
          c.x = Tensor(xd, {M, N}, {padded ? round16(N, xs) : N + 1, 1}, ex);
          for (int64_t i = 0; i < M * N; ++i) c.x.set_float(i, gqtest::interesting_value(rng));
          c.scale = Tensor(sd, {G, N}, {round16(N, ss), 1}, es);
          std::uniform_real_distribution<float> sv(-3.0f, 3.0f);
          for (int64_t i = 0; i < G * N; ++i) c.scale.set_float(i, sv(rng));
          c.group_index = Tensor::ints(GQ_DTYPE_INT64, {G}, {2, M});
          c.with_offset = chunks % 2 == 1;
          c.offset = Tensor(sd, {});
          c.offset.set_float(0, 0.5f);
          const gq_dtype yd = int8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32;
          c.y = Tensor(yd, {M, y_cols}, {round16(y_cols, dtype_size(yd)), 1}, ey);
          Tensor probe = c.y;
          const cu::Params params = cu::make_params(c.problem(probe));
          cu::dispatch(xd, sd, kind, [&](auto x, auto s, auto k) {
            constexpr gq_dtype XD = decltype(x)::value, SD = decltype(s)::value;
            constexpr gq_output_kind K = decltype(k)::value;
            const int64_t start =  // row 0, group 0
                cu::vector_start<XD, SD, K>(params, params.x, params.scale, params.y);
            if (padded && chunks > 0) {
              EXPECT_EQ(start, head) << "N=" << N << " ex=" << ex;
            }
            vector_rows += start >= 0;
          });
          const Tensor expected = c.reference();
          for (const int32_t lanes : {1, 2, 4}) {
            Tensor got = c.y;
            const SimResult r = c.run(got, 1, lanes);
            ASSERT_TRUE(r.codes.empty()) << "failure code " << *r.codes.begin();
            ASSERT_EQ(got.storage(), expected.storage())
                << "N=" << N << " chunks=" << chunks << " tail=" << tail << " ex=" << ex
                << " padded=" << padded << " lanes=" << lanes;
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(vector_rows, 10);
  EXPECT_GT(checked, 0);
}

// Many rows per thread (one block, few row slots), so each thread carries its group over
// dozens of rows: past empty groups, one group per row, and far jumps (the gallop).
TEST_P(CudaBody, GroupCarriedAcrossGridStrideRows) {
  const auto [xd, sd, kind] = GetParam();
  std::mt19937 rng(7 + 16 * xd + 4 * sd + kind);
  const int64_t M = 700, N = 16;
  for (const int64_t G : {int64_t{1}, int64_t{5}, int64_t{300}, M, int64_t{2000}}) {
    Call c;
    c.kind = kind;
    c.x = Tensor(xd, {M, N});
    for (int64_t i = 0; i < M * N; ++i) c.x.set_float(i, gqtest::interesting_value(rng));
    c.scale = Tensor(sd, {G, N});
    std::uniform_int_distribution<int> q(-12, 12);
    for (int64_t i = 0; i < G * N; ++i) c.scale.set_float(i, 0.25f * static_cast<float>(q(rng)));
    std::vector<int64_t> ends = gqtest::random_group_ends(rng, M, G);
    if (G == M) {
      for (int64_t g = 0; g < G; ++g) ends[g] = g + 1;  // one row a group
    }
    c.group_index = Tensor::ints(GQ_DTYPE_INT32, {G}, ends);
    c.y = Tensor(kind == GQ_OUTPUT_INT8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32,
                 {M, kind == GQ_OUTPUT_INT8 ? N : N / 8});
    const Tensor expected = c.reference();
    for (const int32_t lanes : {1, 32, 128}) {  // 256, 8 and 2 row slots
      Tensor got = c.y;
      const SimResult r = c.run(got, 1, lanes);
      ASSERT_TRUE(r.codes.empty()) << "G=" << G << " failure code " << *r.codes.begin();
      ASSERT_EQ(got.storage(), expected.storage()) << "G=" << G << " lanes=" << lanes;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllDtypes, CudaBody,
                         ::testing::Combine(::testing::ValuesIn(gqtest::kFloatDtypes),
                                            ::testing::ValuesIn(gqtest::kFloatDtypes),
                                            ::testing::ValuesIn(gqtest::kKinds)));

// The vector path really runs where it should, and with a scalar head where x starts
// mid-16-byte but scale and y line up at the same column.
TEST(CudaBodyVectorPath, ChosenForAlignedRowsAndWithAHead) {
  using namespace groupquant::detail;
  const auto start = [](const Call& c, int64_t row, int64_t g) {
    Tensor out = c.y;
    const cu::Params p = cu::make_params(c.problem(out));
    const char* xr = p.x + row * p.x_stride0 * 4;
    const char* sr = p.scale + g * p.scale_stride0 * 4;
    const char* yr = p.y + row * p.y_stride0;
    return cu::vector_start<GQ_DTYPE_FLOAT32, GQ_DTYPE_FLOAT32, GQ_OUTPUT_INT8>(p, xr, sr, yr);
  };
  Call c;
  c.x = Tensor(GQ_DTYPE_FLOAT32, {2, 40});
  c.scale = Tensor(GQ_DTYPE_FLOAT32, {1, 40});
  c.group_index = Tensor::ints(GQ_DTYPE_INT64, {1}, {2});
  c.y = Tensor(GQ_DTYPE_INT8, {2, 40});
  EXPECT_EQ(start(c, 1, 0), 0);
  // x and scale one float in, y five bytes in: at column 3 all three are aligned.
  c.x = Tensor(GQ_DTYPE_FLOAT32, {2, 40}, {40, 1}, 1);
  c.scale = Tensor(GQ_DTYPE_FLOAT32, {1, 40}, {40, 1}, 1);
  c.y = Tensor(GQ_DTYPE_INT8, {2, 40}, {40, 1}, 5);
  EXPECT_EQ(start(c, 0, 0), 3);
  // y one byte in: cannot line up with x, so the row goes scalar.
  c.y = Tensor(GQ_DTYPE_INT8, {2, 40}, {40, 1}, 1);
  EXPECT_EQ(start(c, 0, 0), -1);
  // And the results of the headed layout still match the reference.
  std::mt19937 rng(3);
  c.y = Tensor(GQ_DTYPE_INT8, {2, 40}, {40, 1}, 5);
  for (int64_t i = 0; i < 80; ++i) c.x.set_float(i, gqtest::interesting_value(rng));
  for (int64_t i = 0; i < 40; ++i) c.scale.set_float(i, 0.25f * static_cast<float>(i % 9) - 1.0f);
  Tensor got = c.y;
  EXPECT_TRUE(c.run(got, 1).codes.empty());
  EXPECT_EQ(got.storage(), c.reference().storage());
}

TEST(CudaBodyLanes, PowersOfTwoThatDivideTheBlock) {
  for (int64_t n : std::vector<int64_t>{1, 8, 9, 16, 17, 100, 4096, 7168, int64_t{1} << 40}) {
    for (int cols : {8, 16}) {
      const int32_t lanes = cu::choose_lanes(n, cols);
      EXPECT_GE(lanes, 1);
      EXPECT_LE(lanes, cu::kMaxLanesPerRow);
      EXPECT_EQ(lanes & (lanes - 1), 0) << lanes;
      EXPECT_EQ(cu::kBlockThreads % lanes, 0);
    }
  }
}

// The host spelling of cvt.rni.s32.f32 + clamp agrees with element.h on the values the
// spec lists and on random ones.
TEST(CudaBodyArithmetic, ToIntSaturateMatchesRoundSaturate) {
  const float specials[] = {0.5f,          1.5f,           2.5f,  -0.5f, -2.5f,    127.5f,
                            -128.5f,       7.5f,           -8.5f, 6.5f,  -7.5f,    2147483520.0f,
                            2147483648.0f, -2147483648.0f, 3e9f,  -3e9f, INFINITY, -INFINITY,
                            NAN,           -0.0f,          1e-40f};
  std::mt19937 rng(9);
  std::vector<float> values(std::begin(specials), std::end(specials));
  for (int i = 0; i < 20000; ++i) values.push_back(gqtest::interesting_value(rng));
  for (float v : values) {
    EXPECT_EQ(cu::to_int_saturate(v, -128, 127), groupquant::detail::round_saturate(v, -128, 127))
        << v;
    EXPECT_EQ(cu::to_int_saturate(v, -8, 7), groupquant::detail::round_saturate(v, -8, 7)) << v;
  }
}

// ---- Invalid group_index: every rule is caught on the "device", nothing is read out of
// bounds (the tensors end exactly at their last element; ASan builds would see it).

Call small_call(gq_dtype gd, std::vector<int64_t> ends, int64_t M = 6) {
  Call c;
  const auto G = static_cast<int64_t>(ends.size());
  c.x = Tensor(GQ_DTYPE_FLOAT32, {M, 16});
  for (int64_t i = 0; i < M * 16; ++i) c.x.set_float(i, static_cast<float>(i % 11) - 5.0f);
  c.scale = Tensor(GQ_DTYPE_BFLOAT16, {G, 16});
  for (int64_t i = 0; i < G * 16; ++i) c.scale.set_float(i, 1.0f);
  c.group_index = Tensor::ints(gd, {G}, ends);
  c.y = Tensor(GQ_DTYPE_INT8, {M, 16});
  return c;
}

TEST(CudaBodyGroupIndex, EveryBrokenRuleFails) {
  struct Case {
    std::vector<int64_t> ends;
    int32_t code;
    int64_t index, value;
  };
  const int64_t big = int64_t{1} << 40;
  const Case cases[] = {
      {{-1, 3, 6}, Failure::kNegative, 0, -1},    {{1, 4, 2, 6}, Failure::kDecreasing, 2, 2},
      {{1, 7, 6}, Failure::kAboveM, 1, 7},        {{1, 4, 5}, Failure::kLastNotM, 2, 5},
      {{1, 4, 6, big}, Failure::kAboveM, 3, big}, {{0, 0, 0}, Failure::kLastNotM, 2, 0},
  };
  for (const gq_dtype gd : {GQ_DTYPE_INT32, GQ_DTYPE_INT64}) {
    for (const Case& k : cases) {
      if (gd == GQ_DTYPE_INT32 && k.value == big) continue;
      for (int64_t blocks : {1, 2}) {
        const Call c = small_call(gd, k.ends);
        Tensor got = c.y;
        const SimResult r = c.run(got, blocks);
        EXPECT_EQ(r.codes.count(k.code), 1u) << "case value " << k.value;
        // The entry check itself names the right entry and value.
        const cu::Params p = cu::make_params(c.problem(got));
        const Failure f = cu::check_group_entry(p, k.index);
        EXPECT_EQ(f.code, k.code);
        EXPECT_EQ(f.value, k.value);
      }
    }
  }
}

// A row past every entry the search compares never reads scale: it reports the row.
TEST(CudaBodyGroupIndex, UnownedRowReportsInsteadOfReading) {
  const Call c = small_call(GQ_DTYPE_INT64, {0, 0});
  Tensor got = c.y;
  cu::Params p = cu::make_params(c.problem(got));
  Failure f{Failure::kNone, 0, 0, 0};
  const int64_t g = cu::find_group(p, 3, &f);
  EXPECT_EQ(f.code, Failure::kRowUnowned);
  EXPECT_EQ(f.other, 3);
  EXPECT_EQ(g, 2);  // == G: would have been out of bounds
  // Non-monotone: group_index[0] = 6 covers row 4, but the search never looks there.
  const Call d = small_call(GQ_DTYPE_INT32, {6, 2, 3});
  p = cu::make_params(d.problem(got));
  f = {Failure::kNone, 0, 0, 0};
  EXPECT_EQ(cu::find_group(p, 4, &f), 3);
  EXPECT_EQ(f.code, Failure::kRowUnowned);
  const SimResult r = d.run(got, 1);
  EXPECT_EQ(r.codes.count(Failure::kDecreasing), 1u);
  EXPECT_EQ(r.codes.count(Failure::kLastNotM), 1u);
  EXPECT_EQ(r.codes.count(Failure::kRowUnowned), 1u);
}

// Where the search lands on a group the array's order contradicts, the entry check
// still fails the launch (it runs in the same kernel, on every entry).
TEST(CudaBodyGroupIndex, NonMonotoneButSearchableStillFails) {
  const Call c = small_call(GQ_DTYPE_INT64, {5, 2, 6});
  Tensor got = c.y;
  const SimResult r = c.run(got, 2);
  EXPECT_EQ(r.codes, std::set<int32_t>{Failure::kDecreasing});
  EXPECT_EQ(r.first.index, 1);
  EXPECT_EQ(r.first.value, 2);
  EXPECT_EQ(r.first.other, 5);
}

// next_group, from every earlier row's group, lands on find_group's answer for a valid
// group_index (empty groups included) and carries group_index[g] along.
TEST(CudaBodyGroups, CarriedGroupEqualsTheSearch) {
  std::mt19937 rng(21);
  const int64_t M = 90;
  for (const int64_t G : {1, 2, 3, 8, 33, 90, 200}) {
    std::vector<int64_t> ends = gqtest::random_group_ends(rng, M, G);
    cu::Params p{};
    p.M = M, p.G = G;
    p.group_index = reinterpret_cast<const char*>(ends.data());
    p.group_index_stride = 1, p.group_index_is_int64 = 1;
    for (int64_t prev = 0; prev < M; ++prev) {
      Failure f{Failure::kNone, 0, 0, 0};
      const int64_t g0 = cu::find_group(p, prev, &f);
      ASSERT_EQ(f.code, Failure::kNone);
      for (int64_t row = prev + 1; row < M; ++row) {
        int64_t end = ends[g0];
        const int64_t g = cu::next_group(p, row, g0, &end, &f);
        Failure fs{Failure::kNone, 0, 0, 0};
        ASSERT_EQ(g, cu::find_group(p, row, &fs))
            << "G=" << G << " prev=" << prev << " row=" << row;
        ASSERT_EQ(f.code, Failure::kNone);
        ASSERT_EQ(end, ends[g]);
      }
    }
  }
}

// Whatever group_index holds, a carried search keeps find_group's guarantee: g in [0, G],
// group_index[g - 1] <= row < group_index[g] when g < G (so the row is consistently
// owned), and kRowUnowned exactly when g == G; it reads only entries in [0, G) (the
// vector ends there; ASan builds would see more).
TEST(CudaBodyGroups, CarriedGroupOnGarbageStaysInBounds) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t M = 40;
    std::uniform_int_distribution<int64_t> gd(1, 30), value(-3, M + 3), skip(1, 9);
    const int64_t G = gd(rng);
    std::vector<int64_t> ends(G);
    for (auto& e : ends) e = value(rng);
    if (trial % 3 == 0) std::sort(ends.begin(), ends.end());  // sorted but not ending at M
    cu::Params p{};
    p.M = M, p.G = G;
    p.group_index = reinterpret_cast<const char*>(ends.data());
    p.group_index_stride = 1, p.group_index_is_int64 = 1;
    Failure f{Failure::kNone, 0, 0, 0};
    int64_t row = skip(rng) - 1;
    int64_t g = cu::find_group(p, row, &f);
    int64_t end = g < G ? ends[g] : 0;
    while (f.code == Failure::kNone) {
      row += skip(rng);
      if (row >= M) break;
      g = cu::next_group(p, row, g, &end, &f);
      ASSERT_GE(g, 0);
      ASSERT_LE(g, G);
      if (g == G) {
        EXPECT_EQ(f.code, Failure::kRowUnowned);
        EXPECT_EQ(f.other, row);
      } else {
        ASSERT_EQ(f.code, Failure::kNone);
        EXPECT_GT(ends[g], row);
        EXPECT_EQ(end, ends[g]);
        if (g > 0) {
          EXPECT_LE(ends[g - 1], row);
        }
      }
    }
  }
}

// ---- 64-bit indexing: a row past 2^32, whose element and byte offsets overflow 32 bits,
// reached by a thread index past 2^32. Only the touched row exists: the base pointers are
// placed so that this row lands on real buffers (the kernel's own address arithmetic, on
// a problem far too large to allocate).
TEST(CudaBodyIndexing, RowsAndOffsetsBeyond32Bits) {
  const int64_t M = (int64_t{1} << 32) + 7, N = 40;
  const int64_t row = M - 2;  // group 1
  const int64_t x_stride0 = N + 3, y_stride0 = N + 5;
  std::vector<float> xbuf(N), sbuf(2 * N);
  std::vector<int64_t> ends = {int64_t{1} << 31, M};
  std::vector<int8_t> ybuf(N, 0x5A), expected(N);
  std::mt19937 rng(77);
  for (int64_t n = 0; n < N; ++n) {
    xbuf[n] = gqtest::interesting_value(rng);
    sbuf[n] = 100.0f;  // group 0: would saturate nearly everything
    sbuf[N + n] = 0.5f * static_cast<float>(n % 5) - 1.0f;
    const float v =
        groupquant::detail::add_rn(groupquant::detail::mul_rn(xbuf[n], sbuf[N + n]), 0.25f);
    expected[n] = static_cast<int8_t>(groupquant::detail::round_saturate(v, -128, 127));
  }
  const float offset = 0.25f;
  cu::Params p{};
  p.M = M, p.N = N, p.G = 2;
  p.x = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(xbuf.data()) -
                                      static_cast<uintptr_t>(row * x_stride0 * 4));
  p.x_stride0 = x_stride0, p.x_stride1 = 1;
  p.scale = reinterpret_cast<const char*>(sbuf.data());
  p.scale_stride0 = N, p.scale_stride1 = 1;
  p.group_index = reinterpret_cast<const char*>(ends.data());
  p.group_index_stride = 1, p.group_index_is_int64 = 1;
  p.offset = reinterpret_cast<const char*>(&offset);
  p.y = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(ybuf.data()) -
                                static_cast<uintptr_t>(row * y_stride0));
  p.y_stride0 = y_stride0, p.y_stride1 = 1;
  p.unit_cols = 1;
  p.lanes = 4;
  // A grid of 2^35 threads: thread tid handles row tid / lanes only (the next is past M),
  // and tid > G, so it checks no group_index entries.
  const int64_t num_threads = int64_t{1} << 35;
  for (int64_t lane = 0; lane < p.lanes; ++lane) {
    const Failure f = cu::run_thread<GQ_DTYPE_FLOAT32, GQ_DTYPE_FLOAT32, GQ_OUTPUT_INT8>(
        p, row * p.lanes + lane, num_threads);
    EXPECT_EQ(f.code, Failure::kNone);
  }
  EXPECT_EQ(ybuf, expected);
}

}  // namespace
