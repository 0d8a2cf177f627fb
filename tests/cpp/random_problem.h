// Replicable random calls: every dtype pair, group layouts with empty groups, and
// views that are contiguous, transposed, row-padded or offset into their storage.
#ifndef GROUPQUANT_TESTS_CPP_RANDOM_PROBLEM_H_
#define GROUPQUANT_TESTS_CPP_RANDOM_PROBLEM_H_

#include <groupquant/groupquant.hpp>
#include <random>
#include <string>

#include "tests/cpp/tester.h"

namespace gqtest {

enum class Layout { kContiguous, kTransposed, kPaddedRows, kOffset };
inline constexpr Layout kLayouts[] = {Layout::kContiguous, Layout::kTransposed, Layout::kPaddedRows,
                                      Layout::kOffset};

// A 2-D tensor [rows, cols] of the given dtype laid out as `layout`.
inline Tensor make_2d(gq_dtype dtype, int64_t rows, int64_t cols, Layout layout,
                      std::mt19937& rng) {
  std::uniform_int_distribution<int64_t> small(1, 5);
  switch (layout) {
    case Layout::kContiguous:
      return Tensor(dtype, {rows, cols});
    case Layout::kTransposed:  // column-major storage
      return Tensor(dtype, {rows, cols}, {1, std::max<int64_t>(rows, 1)});
    case Layout::kPaddedRows:
      return Tensor(dtype, {rows, cols}, {cols + small(rng), 1});
    case Layout::kOffset:
      return Tensor(dtype, {rows, cols}, {cols, 1}, small(rng));
  }
  return Tensor();
}

struct RandomProblem {
  Tensor x, scale, group_index, offset, y;
  bool with_offset = false;
  gq_output_kind kind = GQ_OUTPUT_INT8;
  std::string description;

  gq_tensor offset_view() const { return offset.view(); }

  static RandomProblem make(std::mt19937& rng, gq_dtype x_dtype, gq_dtype scale_dtype,
                            gq_output_kind kind, int64_t max_m = 40, int64_t max_n = 40) {
    RandomProblem p;
    p.kind = kind;
    std::uniform_int_distribution<int64_t> m_dist(1, max_m), n_dist(1, max_n), g_dist(1, 9);
    std::uniform_int_distribution<int> pick4(0, 3), pick3(0, 2), pick2(0, 1);
    const int64_t M = m_dist(rng);
    int64_t N = n_dist(rng);
    if (kind == GQ_OUTPUT_INT4_PACKED) N = 8 * ((N + 7) / 8);
    const int64_t G = g_dist(rng);
    const Layout x_layout = kLayouts[pick4(rng)], s_layout = kLayouts[pick4(rng)];
    const Layout y_layout = kLayouts[pick4(rng)];
    p.x = make_2d(x_dtype, M, N, x_layout, rng);
    for (int64_t i = 0; i < M * N; ++i) p.x.set_float(i, interesting_value(rng));
    p.scale = make_2d(scale_dtype, G, N, s_layout, rng);
    std::uniform_real_distribution<float> scale_value(-3.0f, 3.0f);
    for (int64_t i = 0; i < G * N; ++i) {
      p.scale.set_float(i, pick4(rng) == 0 ? interesting_value(rng) : scale_value(rng));
    }
    const gq_dtype gi_dtype = pick2(rng) ? GQ_DTYPE_INT32 : GQ_DTYPE_INT64;
    const bool gi_strided = pick4(rng) == 0;
    p.group_index = gi_strided ? Tensor(gi_dtype, {G}, {2}, 1) : Tensor(gi_dtype, {G});
    const std::vector<int64_t> ends = random_group_ends(rng, M, G);
    for (int64_t g = 0; g < G; ++g) p.group_index.set_int(g, ends[g]);
    const int offset_kind = pick3(rng);  // none, [], [1]
    p.with_offset = offset_kind != 0;
    p.offset =
        Tensor(scale_dtype, offset_kind == 2 ? std::vector<int64_t>{1} : std::vector<int64_t>{});
    std::uniform_real_distribution<float> offset_value(-4.0f, 4.0f);
    p.offset.set_float(0, pick4(rng) == 0 ? 0.5f : offset_value(rng));
    const int64_t y_cols = kind == GQ_OUTPUT_INT4_PACKED ? N / 8 : N;
    p.y =
        make_2d(kind == GQ_OUTPUT_INT8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32, M, y_cols, y_layout, rng);
    p.description = "M=" + std::to_string(M) + " N=" + std::to_string(N) +
                    " G=" + std::to_string(G) +
                    " x_layout=" + std::to_string(static_cast<int>(x_layout)) +
                    " scale_layout=" + std::to_string(static_cast<int>(s_layout)) +
                    " y_layout=" + std::to_string(static_cast<int>(y_layout)) +
                    " offset_kind=" + std::to_string(offset_kind);
    return p;
  }

  void run_reference(Tensor& out) const {
    const gq_tensor off = offset.view();
    groupquant::group_quant_reference(x.view(), scale.view(), group_index.view(),
                                      with_offset ? &off : nullptr, kind, out.view());
  }
  void run_cpu(Tensor& out, const gq_options& options = gq_options{}) const {
    const gq_tensor off = offset.view();
    groupquant::group_quant(x.view(), scale.view(), group_index.view(),
                            with_offset ? &off : nullptr, kind, out.view(), options);
  }
};

}  // namespace gqtest

#endif  // GROUPQUANT_TESTS_CPP_RANDOM_PROBLEM_H_
