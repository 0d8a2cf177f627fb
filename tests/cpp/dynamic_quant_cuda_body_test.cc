// The npu_dynamic_quant CUDA kernels' block code (src/cuda/dynamic_quant.cuh), compiled as
// plain host C++ and run over simulated grids: every thread of every block, phase by phase
// with the barriers in between, the same shared-memory staging, tree reduction, vector and
// element paths and group_index checks as the GPU (16-byte loads and stores become memcpy
// of the same bytes). Compared bit for bit with groupquant::dynamic_quant_reference on
// every dtype, output kind, chip, symmetry and smooth layout, strided and rank > 2 views,
// special values, several lane counts and grids, staged and unstaged rows. Needs no GPU
// and no nvcc; the device spellings of the leaf helpers (__ldcs/__ldg/__stcs, cvt.f32.f16,
// the __f*_rn intrinsics) are what tests/cuda/check_device_code.py inspects in the PTX.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <groupquant/groupquant.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "src/cuda/dynamic_quant.cuh"
#include "src/kernel_list.h"
#include "src/validate.h"
#include "tests/cpp/random_problem.h"
#include "tests/cpp/tester.h"

namespace {

namespace cu = groupquant::detail::cuda;
using cu::Failure;
using gqtest::Tensor;
using groupquant::detail::DynamicProblem;

// run_block's phases on the host: each() runs the phase for every live thread of the
// block in turn (the barrier is the end of the loop). A thread that reports a failure
// stops, as on the GPU; the others go on.
struct HostBlock {
  std::vector<char> exited = std::vector<char>(cu::kDynamicBlockThreads, 0);
  std::vector<Failure>* failures;
  template <typename Fn>
  bool each(Fn&& fn) {
    for (int t = 0; t < cu::kDynamicBlockThreads; ++t) {
      if (exited[t]) continue;
      const Failure f = fn(t);
      if (f.code != Failure::kNone) {
        failures->push_back(f);
        exited[t] = 1;
      }
    }
    return true;
  }
};

// Every block of a grid of num_blocks, in turn (they write disjoint rows). Returns the
// failures the threads reported, in the order they reported them.
std::vector<Failure> simulate(const cu::DynamicParams& dp, int64_t num_blocks) {
  std::vector<Failure> failures;
  bool ran = false;
#define GQ_SIMULATE(ctx, xt, out)                                                           \
  if (dp.p.x_dtype == GQ_DTYPE_OF_##xt && dp.p.op.kind == GQ_KIND_OF_##out) {               \
    for (int64_t b = 0; b < num_blocks; ++b) {                                              \
      HostBlock block;                                                                      \
      block.failures = &failures;                                                           \
      cu::BlockShared shared{};                                                             \
      std::vector<float> stage(static_cast<size_t>(cu::stage_bytes(dp) / 4), NAN);          \
      cu::run_block<GQ_DTYPE_OF_##xt, GQ_KIND_OF_##out>(dp, block, shared, stage.data(), b, \
                                                        num_blocks);                        \
    }                                                                                       \
    ran = true;                                                                             \
  }
  GQ_DYNAMIC_QUANT_TYPES(GQ_SIMULATE, _)
#undef GQ_SIMULATE
  EXPECT_TRUE(ran) << "no kernel for dtype " << dp.p.x_dtype << " kind " << dp.p.op.kind;
  return failures;
}

using gqtest::Layout;

Tensor make(gq_dtype dtype, const std::vector<int64_t>& shape, Layout layout, int64_t extra) {
  return gqtest::make_view(dtype, shape, layout, extra);
}

struct Case {
  Tensor x, smooth, gi, y, scale, offset;
  bool has_smooth = false, has_gi = false;
  gq_dynamic_quant_config config{};
  std::string what;

  DynamicProblem problem(Tensor& y_out, Tensor& scale_out, Tensor& offset_out) const {
    const gq_tensor xv = x.view(), sv = smooth.view(), gv = gi.view(), yv = y_out.view(),
                    scv = scale_out.view(), ov = offset_out.view();
    return groupquant::detail::validate_dynamic_arguments(
        {&xv, has_smooth ? &sv : nullptr, has_gi ? &gv : nullptr, &config, &yv, &scv,
         config.asymmetric ? &ov : nullptr},
        groupquant::detail::GroupIndexCheck::kOnDevice);
  }
};

struct Outputs {
  Tensor y, scale, offset;
};

Outputs reference(const Case& c) {
  Outputs o{c.y, c.scale, c.offset};
  const gq_tensor sv = c.smooth.view(), gv = c.gi.view(), ov = o.offset.view();
  groupquant::dynamic_quant_reference(c.x.view(), c.has_smooth ? &sv : nullptr,
                                      c.has_gi ? &gv : nullptr, c.config, o.y.view(),
                                      o.scale.view(), c.config.asymmetric ? &ov : nullptr);
  return o;
}

// The simulated kernel with the launcher's parameters, or forced lanes / no staging.
Outputs run_simulated(const Case& c, int64_t blocks, int32_t lanes, bool staged,
                      std::vector<Failure>* failures) {
  Outputs o{c.y, c.scale, c.offset};
  const DynamicProblem p = c.problem(o.y, o.scale, o.offset);
  cu::DynamicParams dp = cu::make_dynamic_params(p, staged ? int64_t{1} << 40 : 0);
  if (lanes > 0) {
    dp.lanes = lanes;
    dp.staged = staged;  // stage_bytes depends on lanes
  }
  *failures = simulate(dp, blocks);
  return o;
}

void expect_same_bytes(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.storage(), want.storage()) << what;
}

// A random call from random_problem.h (rows of special values: all zero, all NaN,
// +-inf, signed zeros, NaN holes), x's and y's layouts drawn unless pinned.
Case random_case(std::mt19937& rng, gq_dtype xd, gq_output_kind kind, gq_chip chip, bool asym,
                 int smooth_mode, const std::vector<int64_t>& shape,
                 std::optional<Layout> x_layout = std::nullopt,
                 std::optional<Layout> y_layout = std::nullopt) {
  gqtest::DynamicRandomProblem::Spec spec;
  spec.x_dtype = xd;
  spec.kind = kind;
  spec.chip = chip;
  spec.asymmetric = asym;
  spec.smooth_mode = smooth_mode;
  spec.shape = shape;
  spec.x_layout = x_layout;
  spec.y_layout = y_layout;
  gqtest::DynamicRandomProblem p = gqtest::DynamicRandomProblem::make(rng, spec);
  Case c;
  c.x = std::move(p.x);
  c.smooth = std::move(p.smooth);
  c.gi = std::move(p.group_index);
  c.y = std::move(p.y);
  c.scale = std::move(p.scale);
  c.offset = std::move(p.offset);
  c.has_smooth = p.has_smooth;
  c.has_gi = p.has_group_index;
  c.config = p.config;
  c.what = std::move(p.description);
  return c;
}

constexpr gq_output_kind kKinds[] = {GQ_OUTPUT_INT8, GQ_OUTPUT_INT4_PACKED, GQ_OUTPUT_FLOAT8_E4M3FN,
                                     GQ_OUTPUT_FLOAT8_E5M2};

class DynamicCudaBody : public ::testing::TestWithParam<std::tuple<gq_dtype, gq_output_kind>> {};

TEST_P(DynamicCudaBody, MatchesReferenceOverSimulatedGrids) {
  const auto [xd, kind] = GetParam();
  std::mt19937 rng(77 + 8 * xd + kind);
  const std::vector<std::vector<int64_t>> shapes = {
      {1, 8},   {5, 16},   {7, 40},       {3, 1000}, {2, 3, 24}, {2, 1, 3, 8}, {33, 72},
      {9, 264}, {2, 4104}, {3, 5, 2, 48}, {4, 0},    {6, 17},    {5, 1}};
  int checked = 0;
  for (const gq_chip chip : {GQ_CHIP_A2, GQ_CHIP_950}) {
    if (kind >= GQ_OUTPUT_FLOAT8_E4M3FN && chip == GQ_CHIP_A2) continue;
    for (const bool asym : {false, true}) {
      for (int smooth_mode = 0; smooth_mode < 3; ++smooth_mode) {
        for (const auto& shape : shapes) {
          if (kind == GQ_OUTPUT_INT4_PACKED && shape.back() % 8 != 0) continue;
          for (int k = 0; k < 3; ++k) {
            const Case c = random_case(rng, xd, kind, chip, asym, smooth_mode, shape);
            const Outputs want = reference(c);
            // The launcher's shape on one and on three blocks, a warp per row without
            // staging, a whole block per row staged.
            const struct {
              int64_t blocks;
              int32_t lanes;
              bool staged;
            } grids[] = {{1, 0, true}, {3, 0, true}, {2, 32, false}, {1, 256, true}};
            for (const auto& g : grids) {
              std::vector<Failure> failures;
              const Outputs got = run_simulated(c, g.blocks, g.lanes, g.staged, &failures);
              const std::string what = c.what + " blocks=" + std::to_string(g.blocks) +
                                       " lanes=" + std::to_string(g.lanes) +
                                       " staged=" + std::to_string(g.staged);
              ASSERT_TRUE(failures.empty()) << what << " failure " << failures[0].code;
              expect_same_bytes(got.y, want.y, "y " + what);
              expect_same_bytes(got.scale, want.scale, "scale " + what);
              expect_same_bytes(got.offset, want.offset, "offset " + what);
              ++checked;
            }
          }
        }
      }
    }
  }
  // Every combination ran (13 shapes, 11 of them int4-compatible; fp8 on 950 only).
  const int shapes_run = kind == GQ_OUTPUT_INT4_PACKED ? 11 : 13;
  const int chips = kind >= GQ_OUTPUT_FLOAT8_E4M3FN ? 1 : 2;
  EXPECT_EQ(checked, chips * 2 * 3 * shapes_run * 3 * 4);
}

INSTANTIATE_TEST_SUITE_P(AllKernels, DynamicCudaBody,
                         ::testing::Combine(::testing::Values(GQ_DTYPE_FLOAT16, GQ_DTYPE_BFLOAT16),
                                            ::testing::ValuesIn(kKinds)));

// The vector path is taken where rows are contiguous and aligned, and not otherwise.
TEST(DynamicCudaBodyPaths, VectorOnlyForAlignedContiguousRows) {
  std::mt19937 rng(5);
  const auto vector_of = [](const Case& c) {
    Outputs o{c.y, c.scale, c.offset};
    const cu::DynamicParams dp = cu::make_dynamic_params(c.problem(o.y, o.scale, o.offset), 0);
    return cu::row_pointers<GQ_OUTPUT_INT8>(dp, 1, 0).vector;
  };
  Case c = random_case(rng, GQ_DTYPE_FLOAT16, GQ_OUTPUT_INT8, GQ_CHIP_A2, false, 1, {3, 64},
                       Layout::kContiguous, Layout::kContiguous);
  EXPECT_TRUE(vector_of(c));
  c.x = make(GQ_DTYPE_FLOAT16, {3, 64}, Layout::kOffset, 1);  // x 2 bytes past 16-byte alignment
  EXPECT_FALSE(vector_of(c));
  c.x = make(GQ_DTYPE_FLOAT16, {3, 64}, Layout::kTransposed, 0);
  EXPECT_FALSE(vector_of(c));
  c.x = Tensor(GQ_DTYPE_FLOAT16, {3, 64});
  c.y = make(GQ_DTYPE_INT8, {3, 64}, Layout::kPaddedRows, 8);  // row 1 starts 72 bytes in: not 16
  EXPECT_FALSE(vector_of(c));
}

TEST(DynamicCudaBodyPaths, LanesArePowersOfTwoFromAWarpToTheBlock) {
  for (const int64_t h : {int64_t{0}, int64_t{1}, int64_t{16}, int64_t{1024}, int64_t{4096},
                          int64_t{7168}, int64_t{1} << 40}) {
    const int32_t lanes = cu::choose_dynamic_lanes(h);
    EXPECT_GE(lanes, 32);
    EXPECT_LE(lanes, cu::kDynamicBlockThreads);
    EXPECT_EQ(lanes & (lanes - 1), 0) << lanes;
  }
  EXPECT_EQ(cu::choose_dynamic_lanes(64), 32);     // short rows: a warp per row
  EXPECT_EQ(cu::choose_dynamic_lanes(7168), 256);  // long rows: a block per row
}

// ---- Invalid group_index: every broken rule fails, every thread that notices reports the
// same (first bad) entry whatever the grid, and it is the entry the CPU's host check names.

TEST(DynamicCudaBodyGroupIndex, FirstBadEntryOnEveryGrid) {
  const std::vector<std::vector<int64_t>> bad = {
      {-1, 3, 6}, {1, 4, 2, 6}, {1, 7, 6}, {1, 4, 5},     {0, 0, 0},
      {6, 2, 3},  {2, 1, 9, 6}, {6, 6, 5}, {3, -2, 1, 6}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7}};
  const int64_t rows = 6, h = 40;
  for (const gq_dtype gd : {GQ_DTYPE_INT32, GQ_DTYPE_INT64}) {
    for (const auto& ends : bad) {
      const auto E = static_cast<int64_t>(ends.size());
      Case c;
      c.config = {GQ_OUTPUT_INT8, GQ_CHIP_950, 0};
      c.x = Tensor(GQ_DTYPE_BFLOAT16, {rows, h});
      for (int64_t i = 0; i < rows * h; ++i) c.x.set_float(i, static_cast<float>(i % 11) - 5.0f);
      c.smooth = Tensor(GQ_DTYPE_BFLOAT16, {E, h});
      for (int64_t i = 0; i < E * h; ++i) c.smooth.set_float(i, 1.0f);
      c.has_smooth = c.has_gi = true;
      c.gi = Tensor::ints(gd, {E}, ends);
      c.y = Tensor(GQ_DTYPE_INT8, {rows, h});
      c.scale = Tensor(GQ_DTYPE_FLOAT32, {rows});
      // The CPU's host-side check of the same values names the entry the device must.
      std::string host_message;
      {
        Outputs o{c.y, c.scale, c.offset};
        const gq_tensor sv = c.smooth.view(), gv = c.gi.view();
        try {
          groupquant::dynamic_quant(c.x.view(), &sv, &gv, c.config, o.y.view(), o.scale.view(),
                                    nullptr);
        } catch (const groupquant::Error& e) {
          host_message = e.what();
        }
      }
      ASSERT_FALSE(host_message.empty());
      const struct {
        int64_t blocks;
        int32_t lanes;
      } grids[] = {{1, 0}, {2, 32}, {3, 256}, {5, 64}};
      for (const auto& g : grids) {
        std::vector<Failure> failures;
        run_simulated(c, g.blocks, g.lanes, true, &failures);
        ASSERT_FALSE(failures.empty()) << host_message;
        for (const Failure& f : failures) {
          EXPECT_EQ(f.code, failures[0].code);
          EXPECT_EQ(f.index, failures[0].index);
          EXPECT_EQ(f.value, failures[0].value);
        }
        const std::string entry = "group_index[" + std::to_string(failures[0].index) +
                                  "]=" + std::to_string(failures[0].value);
        EXPECT_NE(host_message.find(entry), std::string::npos)
            << "device names " << entry << "; host: " << host_message;
      }
    }
  }
}

// A row whose search ends past the last expert is never read: the search reports it (as
// the first bad entry) and returns -1 instead of an out-of-bounds expert.
TEST(DynamicCudaBodyGroupIndex, UnownedRowIsReportedNotRead) {
  Case c;
  c.config = {GQ_OUTPUT_INT8, GQ_CHIP_A2, 0};
  c.x = Tensor(GQ_DTYPE_FLOAT16, {6, 16});
  c.smooth = Tensor(GQ_DTYPE_FLOAT16, {2, 16});
  c.has_smooth = c.has_gi = true;
  c.gi = Tensor::ints(GQ_DTYPE_INT64, {2}, {1, 2});
  c.y = Tensor(GQ_DTYPE_INT8, {6, 16});
  c.scale = Tensor(GQ_DTYPE_FLOAT32, {6});
  Outputs o{c.y, c.scale, c.offset};
  const DynamicProblem p = c.problem(o.y, o.scale, o.offset);
  Failure f{Failure::kNone, 0, 0, 0};
  EXPECT_EQ(cu::find_expert(p, 4, &f), -1);
  EXPECT_EQ(f.code, Failure::kLastNotM);
  EXPECT_EQ(f.index, 1);
  EXPECT_EQ(f.value, 2);
  f = {Failure::kNone, 0, 0, 0};
  EXPECT_EQ(cu::find_expert(p, 1, &f), 1);
  EXPECT_EQ(f.code, Failure::kNone);
}

// ---- 64-bit indexing: a row past 2^32 whose element and byte offsets overflow 32 bits,
// reached as block 2^32 + 5 of a larger grid. Only that row exists: the base pointers are
// placed so that it lands on real buffers.
TEST(DynamicCudaBodyIndexing, RowsBeyond32Bits) {
  const int64_t rows = (int64_t{1} << 32) + 7, h = 40, row = rows - 2;
  const int64_t x_stride = h + 3, y_stride = h + 5;
  std::vector<uint16_t> xbuf(h);
  std::vector<int8_t> ybuf(h, 0x5A), want(h);
  float scale = -1.0f;
  groupquant::detail::DynamicOp op;
  op.kind = GQ_OUTPUT_INT8;
  op.chip_950 = true;
  groupquant::detail::RowStats stats;
  std::vector<float> xs(h);
  for (int64_t j = 0; j < h; ++j) {
    xbuf[j] = gqtest::to_f16(static_cast<float>(j % 13) - 6.5f);
    xs[j] = groupquant::detail::f16_to_float(xbuf[j]);
    groupquant::detail::accumulate(stats, xs[j]);
  }
  const groupquant::detail::RowQuant q = groupquant::detail::row_quant(op, stats);
  for (int64_t j = 0; j < h; ++j) {
    want[j] = static_cast<int8_t>(
        groupquant::detail::encode_output(groupquant::detail::output_traits(op.kind),
                                          groupquant::detail::scaled_value(op, q, xs[j])));
  }
  DynamicProblem p;
  p.op = op;
  p.rows = rows;
  p.H = h;
  p.row_dims.size[0] = rows;
  p.x_dtype = GQ_DTYPE_FLOAT16;
  p.x = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(xbuf.data()) -
                                      static_cast<uintptr_t>(row * x_stride * 2));
  p.x_rows.stride[0] = x_stride;
  p.y = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(ybuf.data()) -
                                static_cast<uintptr_t>(row * y_stride));
  p.y_rows.stride[0] = y_stride;
  p.scale = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(&scale) -
                                    static_cast<uintptr_t>(row * 4));
  p.scale_rows.stride[0] = 1;
  cu::DynamicParams dp = cu::make_dynamic_params(p, int64_t{1} << 20);
  dp.lanes = 256;  // one row per block, so block `row` touches only that row
  std::vector<Failure> failures;
  HostBlock block;
  block.failures = &failures;
  cu::BlockShared shared{};
  std::vector<float> stage(static_cast<size_t>(cu::stage_bytes(dp) / 4));
  cu::run_block<GQ_DTYPE_FLOAT16, GQ_OUTPUT_INT8>(dp, block, shared, stage.data(), row, rows);
  EXPECT_TRUE(failures.empty());
  EXPECT_EQ(ybuf, want);
  EXPECT_EQ(gqtest::bits_of(scale), gqtest::bits_of(q.scale));
}

}  // namespace
