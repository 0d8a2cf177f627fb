// The one builder of replicable random test problems for both ops: RandomProblem for
// npu_group_quant (every dtype pair and kind, group layouts with empty groups, int32 or
// int64 and strided group_index, offset none/[]/[1]) and DynamicRandomProblem for
// npu_dynamic_quant (every dtype, kind, chip, symmetry, smooth none/[H]/[E, H], rank 2
// to 4); views contiguous, transposed, row-padded or offset into their storage; values
// from interesting_value() (ties, bounds, specials). Every choice a test leaves open is
// drawn from its rng; one it pins (a Spec field) is not, so a test can sweep one
// dimension exhaustively and let the builder vary the rest.
#ifndef GROUPQUANT_TESTS_CPP_RANDOM_PROBLEM_H_
#define GROUPQUANT_TESTS_CPP_RANDOM_PROBLEM_H_

#include <algorithm>
#include <groupquant/groupquant.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/cpp/tester.h"

namespace gqtest {

// kTransposed is column-major storage (for rank > 2 every dimension reversed);
// kPaddedRows pads each row by `extra` elements (rows drift in alignment); kOffset is
// contiguous from `extra` elements into the storage (a misaligned start).
enum class Layout { kContiguous, kTransposed, kPaddedRows, kOffset };
inline constexpr Layout kLayouts[] = {Layout::kContiguous, Layout::kTransposed, Layout::kPaddedRows,
                                      Layout::kOffset};

// A tensor of any rank laid out as `layout`.
inline Tensor make_view(gq_dtype dtype, const std::vector<int64_t>& shape, Layout layout,
                        int64_t extra) {
  const size_t n = shape.size();
  std::vector<int64_t> strides(n, 1);
  switch (layout) {
    case Layout::kTransposed:
      for (size_t i = 1; i < n; ++i)
        strides[i] = strides[i - 1] * std::max<int64_t>(shape[i - 1], 1);
      return Tensor(dtype, shape, strides);
    case Layout::kPaddedRows:
      if (n < 2) return Tensor(dtype, shape);
      strides[n - 2] = shape[n - 1] + extra;
      for (size_t i = n - 2; i-- > 0;)
        strides[i] = strides[i + 1] * std::max<int64_t>(shape[i + 1], 1);
      return Tensor(dtype, shape, strides);
    case Layout::kOffset:
      return Tensor(dtype, shape, {}, extra);
    case Layout::kContiguous:
      break;
  }
  return Tensor(dtype, shape);
}

inline Layout pick_layout(std::mt19937& rng) {
  return kLayouts[std::uniform_int_distribution<int>(0, 3)(rng)];
}

// ---- npu_group_quant --------------------------------------------------------------------

struct RandomProblem {
  // What a test pins; everything else is drawn. Defaults: M in [1, 40], N in [1, 40]
  // (rounded up to a multiple of 8 for int4), G in [1, 9], every layout, pad/offset in
  // [1, 5], group_index int32 or int64 and a quarter of the time strided, offset
  // none/[]/[1], scale a quarter interesting values and the rest uniform in [-3, 3].
  struct Spec {
    gq_dtype x_dtype = GQ_DTYPE_FLOAT32, scale_dtype = GQ_DTYPE_FLOAT32;
    gq_output_kind kind = GQ_OUTPUT_INT8;
    int64_t max_m = 40, max_n = 40, max_g = 9, max_extra = 5;
    int64_t m = 0, n = 0, g = 0;  // > 0: fixed
    int64_t n_multiple = 1;       // N rounded up to a multiple of this (and of 8 for int4)
    std::optional<Layout> x_layout, scale_layout, y_layout;
    std::optional<int> offset_kind;  // 0 none, 1 shape [], 2 shape [1]
    std::optional<gq_dtype> group_index_dtype;
    bool strided_group_index = true;  // allowed (a quarter of the time)
    int interesting_scale_one_in = 4;
  };

  Tensor x, scale, group_index, offset, y;
  bool with_offset = false;
  gq_output_kind kind = GQ_OUTPUT_INT8;
  std::string description;

  gq_tensor offset_view() const { return offset.view(); }

  static RandomProblem make(std::mt19937& rng, const Spec& spec) {
    RandomProblem p;
    p.kind = spec.kind;
    const auto draw = [&](int64_t fixed, int64_t lo, int64_t hi) {
      return fixed > 0 ? fixed : std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    std::uniform_int_distribution<int> pick4(0, 3);
    const int64_t M = draw(spec.m, 1, spec.max_m);
    int64_t N = draw(spec.n, 1, spec.max_n);
    const int64_t multiple = spec.kind == GQ_OUTPUT_INT4_PACKED
                                 ? std::max<int64_t>(8, spec.n_multiple)
                                 : spec.n_multiple;
    N = (N + multiple - 1) / multiple * multiple;
    const int64_t G = draw(spec.g, 1, spec.max_g);
    const Layout xl = spec.x_layout.value_or(pick_layout(rng));
    const Layout sl = spec.scale_layout.value_or(pick_layout(rng));
    const Layout yl = spec.y_layout.value_or(pick_layout(rng));
    std::uniform_int_distribution<int64_t> extra(1, spec.max_extra);
    const int64_t ex = extra(rng), es = extra(rng), ey = extra(rng);
    p.x = make_view(spec.x_dtype, {M, N}, xl, ex);
    for (int64_t i = 0; i < M * N; ++i) p.x.set_float(i, interesting_value(rng));
    p.scale = make_view(spec.scale_dtype, {G, N}, sl, es);
    std::uniform_real_distribution<float> scale_value(-3.0f, 3.0f);
    std::uniform_int_distribution<int> one_in(1, spec.interesting_scale_one_in);
    for (int64_t i = 0; i < G * N; ++i) {
      p.scale.set_float(i, one_in(rng) == 1 ? interesting_value(rng) : scale_value(rng));
    }
    const gq_dtype gd =
        spec.group_index_dtype.value_or(pick4(rng) < 2 ? GQ_DTYPE_INT32 : GQ_DTYPE_INT64);
    const bool gi_strided = spec.strided_group_index && pick4(rng) == 0;
    p.group_index =
        gi_strided ? Tensor(gd, {G}, {1 + pick4(rng) % 3}, pick4(rng)) : Tensor(gd, {G});
    const std::vector<int64_t> ends = random_group_ends(rng, M, G);
    for (int64_t g = 0; g < G; ++g) p.group_index.set_int(g, ends[g]);
    const int offset_kind = spec.offset_kind.value_or(pick4(rng) % 3);
    p.with_offset = offset_kind != 0;
    p.offset = Tensor(spec.scale_dtype,
                      offset_kind == 2 ? std::vector<int64_t>{1} : std::vector<int64_t>{});
    std::uniform_real_distribution<float> offset_value(-4.0f, 4.0f);
    p.offset.set_float(0, pick4(rng) == 0 ? 0.5f : offset_value(rng));
    const int64_t y_cols = spec.kind == GQ_OUTPUT_INT4_PACKED ? N / 8 : N;
    p.y = make_view(spec.kind == GQ_OUTPUT_INT8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32, {M, y_cols}, yl,
                    ey);
    p.description =
        "x=" + std::to_string(spec.x_dtype) + " scale=" + std::to_string(spec.scale_dtype) +
        " kind=" + std::to_string(spec.kind) + " M=" + std::to_string(M) +
        " N=" + std::to_string(N) + " G=" + std::to_string(G) +
        " layouts x/scale/y=" + std::to_string(static_cast<int>(xl)) + "/" +
        std::to_string(static_cast<int>(sl)) + "/" + std::to_string(static_cast<int>(yl)) +
        " extra=" + std::to_string(ex) + "/" + std::to_string(es) + "/" + std::to_string(ey) +
        " group_index=" + std::to_string(gd) + (gi_strided ? " strided" : "") +
        " offset_kind=" + std::to_string(offset_kind);
    return p;
  }

  // The short form: a dtype pair and kind, M and N up to max_m and max_n.
  static RandomProblem make(std::mt19937& rng, gq_dtype x_dtype, gq_dtype scale_dtype,
                            gq_output_kind kind, int64_t max_m = 40, int64_t max_n = 40) {
    Spec spec;
    spec.x_dtype = x_dtype;
    spec.scale_dtype = scale_dtype;
    spec.kind = kind;
    spec.max_m = max_m;
    spec.max_n = max_n;
    return make(rng, spec);
  }

  const gq_tensor* offset_ptr(gq_tensor& storage) const {
    storage = offset.view();
    return with_offset ? &storage : nullptr;
  }
  // A fresh y of the same layout and contents (poison included) as this problem's.
  Tensor fresh_y() const { return y; }

  void run_reference(const Tensor& out) const {
    gq_tensor off;
    groupquant::group_quant_reference(x.view(), scale.view(), group_index.view(), offset_ptr(off),
                                      kind, out.view());
  }
  void run_cpu(const Tensor& out, const gq_options& options = gq_options{}) const {
    gq_tensor off;
    groupquant::group_quant(x.view(), scale.view(), group_index.view(), offset_ptr(off), kind,
                            out.view(), options);
  }
};

// ---- npu_dynamic_quant ------------------------------------------------------------------

// Per-row value styles: whole rows of zeros, NaN, +-inf, signed zeros, a constant with
// NaN holes, and the rest normal noise with interesting values mixed in.
inline float dynamic_row_value(std::mt19937& rng, int64_t row) {
  switch (row % 9) {
    case 1:
      return 0.0f;
    case 2:
      return NAN;
    case 3:
      return rng() % 5 == 0 ? INFINITY : std::normal_distribution<float>(0, 2)(rng);
    case 4:
      return rng() % 5 == 0 ? -INFINITY : std::normal_distribution<float>(0, 2)(rng);
    case 5:
      return rng() % 2 ? 0.0f : -0.0f;
    case 6:
      return rng() % 3 == 0 ? NAN : 1.5f;
    default:
      return rng() % 6 == 0 ? interesting_value(rng) : std::normal_distribution<float>(0, 3)(rng);
  }
}

inline constexpr gq_output_kind kDynamicKinds[] = {GQ_OUTPUT_INT8, GQ_OUTPUT_INT4_PACKED,
                                                   GQ_OUTPUT_FLOAT8_E4M3FN, GQ_OUTPUT_FLOAT8_E5M2};

struct DynamicRandomProblem {
  // What a test pins; everything else is drawn. x's shape is always given (rank >= 1,
  // its last dimension H; int4 needs H % 8 == 0). Defaults: x and y layouts drawn (scale
  // and offset follow y's: column-major with a column-major y, offset storage with a
  // padded y), E in [1, max_e], the [E, H] smooth a quarter of the time column-major,
  // group_index int32 or int64, smooth values mostly in [0.25, 4] (1 in 16 interesting).
  struct Spec {
    gq_dtype x_dtype = GQ_DTYPE_FLOAT16;
    gq_output_kind kind = GQ_OUTPUT_INT8;
    gq_chip chip = GQ_CHIP_A2;
    bool asymmetric = false;
    int smooth_mode = 0;  // 0 none, 1 smooth [H], 2 smooth [E, H] with group_index [E]
    std::vector<int64_t> shape = {4, 16};
    std::optional<Layout> x_layout, y_layout;
    std::optional<gq_dtype> group_index_dtype;
    int64_t max_e = 5, max_extra = 9;
  };

  Tensor x, smooth, group_index;
  Tensor y, scale, offset;  // the outputs as laid out, poisoned (0x5A)
  bool has_smooth = false, has_group_index = false;
  gq_dynamic_quant_config config{};
  std::string description;

  struct Outputs {
    Tensor y, scale, offset;
  };
  // Fresh copies of the outputs (same layouts, same poison).
  Outputs outputs() const { return {y, scale, offset}; }

  static DynamicRandomProblem make(std::mt19937& rng, const Spec& spec) {
    DynamicRandomProblem p;
    p.config = {spec.kind, spec.chip, spec.asymmetric ? 1 : 0};
    const std::vector<int64_t>& shape = spec.shape;
    const int64_t h = shape.back();
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
    const Layout xl = spec.x_layout.value_or(pick_layout(rng));
    const Layout yl = spec.y_layout.value_or(pick_layout(rng));
    const int64_t ex = 1 + static_cast<int64_t>(rng() % spec.max_extra);
    const int64_t ey = 1 + static_cast<int64_t>(rng() % spec.max_extra);
    p.x = make_view(spec.x_dtype, shape, xl, ex);
    for (int64_t i = 0; i < p.x.numel(); ++i)
      p.x.set_float(i, dynamic_row_value(rng, h ? i / h : 0));
    const int64_t E = 1 + static_cast<int64_t>(rng() % spec.max_e);
    p.has_smooth = spec.smooth_mode != 0;
    p.has_group_index = spec.smooth_mode == 2;
    const bool smooth_transposed = rng() % 4 == 0;
    p.smooth = spec.smooth_mode == 2
                   ? make_view(spec.x_dtype, {E, h},
                               smooth_transposed ? Layout::kTransposed : Layout::kContiguous, 0)
                   : Tensor(spec.x_dtype, {h});
    for (int64_t i = 0; i < p.smooth.numel(); ++i) {
      p.smooth.set_float(i, rng() % 16 == 0
                                ? interesting_value(rng)
                                : std::uniform_real_distribution<float>(0.25f, 4.0f)(rng));
    }
    const gq_dtype gd =
        spec.group_index_dtype.value_or(rng() % 2 ? GQ_DTYPE_INT32 : GQ_DTYPE_INT64);
    p.group_index = Tensor::ints(gd, {E}, random_group_ends(rng, rows, E));
    const groupquant::DynamicOutputSpec out =
        groupquant::dynamic_quant_output_spec(p.x.view(), p.config);
    const std::vector<int64_t> y_shape(out.shape.begin(), out.shape.begin() + out.ndim);
    const std::vector<int64_t> s_shape(out.shape.begin(), out.shape.begin() + out.ndim - 1);
    p.y = make_view(out.dtype, y_shape, yl, ey);
    p.scale = make_view(GQ_DTYPE_FLOAT32, s_shape,
                        yl == Layout::kTransposed ? Layout::kTransposed : Layout::kContiguous, 0);
    p.offset = make_view(GQ_DTYPE_FLOAT32, s_shape,
                         yl == Layout::kPaddedRows ? Layout::kOffset : Layout::kContiguous, 3);
    std::string shape_text;
    for (int64_t d : shape) shape_text += (shape_text.empty() ? "" : ",") + std::to_string(d);
    p.description = "x=" + std::to_string(spec.x_dtype) + " kind=" + std::to_string(spec.kind) +
                    " chip=" + std::to_string(spec.chip) +
                    " asym=" + std::to_string(spec.asymmetric) +
                    " smooth=" + std::to_string(spec.smooth_mode) + (smooth_transposed ? "T" : "") +
                    " E=" + std::to_string(E) + " group_index=" + std::to_string(gd) + " shape=[" +
                    shape_text + "] layouts x/y=" + std::to_string(static_cast<int>(xl)) + "/" +
                    std::to_string(static_cast<int>(yl)) + " extra=" + std::to_string(ex) + "/" +
                    std::to_string(ey);
    return p;
  }

  const gq_tensor* smooth_ptr(gq_tensor& storage) const {
    storage = smooth.view();
    return has_smooth ? &storage : nullptr;
  }
  const gq_tensor* group_index_ptr(gq_tensor& storage) const {
    storage = group_index.view();
    return has_group_index ? &storage : nullptr;
  }

  void run_reference(const Outputs& o) const {
    gq_tensor s, g, off = o.offset.view();
    groupquant::dynamic_quant_reference(x.view(), smooth_ptr(s), group_index_ptr(g), config,
                                        o.y.view(), o.scale.view(),
                                        config.asymmetric ? &off : nullptr);
  }
  void run_cpu(const Outputs& o, const gq_options& options = gq_options{}) const {
    gq_tensor s, g, off = o.offset.view();
    groupquant::dynamic_quant(x.view(), smooth_ptr(s), group_index_ptr(g), config, o.y.view(),
                              o.scale.view(), config.asymmetric ? &off : nullptr, options);
  }
};

}  // namespace gqtest

#endif  // GROUPQUANT_TESTS_CPP_RANDOM_PROBLEM_H_
