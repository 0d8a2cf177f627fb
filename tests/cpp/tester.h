// Test-side tensors: owned storage plus a gq_tensor view, with helpers for the spec's
// dtypes, strided/offset views, poisoned outputs and replicable random data; and the
// valid call that the bad-input tests (validate_test.cc, hostile_inputs_test.cc) break.
#ifndef GROUPQUANT_TESTS_CPP_TESTER_H_
#define GROUPQUANT_TESTS_CPP_TESTER_H_

#include <groupquant/groupquant.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <groupquant/groupquant.hpp>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace gqtest {

inline int64_t element_size(gq_dtype d) {
  switch (d) {
    case GQ_DTYPE_INT8:
    case GQ_DTYPE_FLOAT8_E4M3FN:
    case GQ_DTYPE_FLOAT8_E5M2:
      return 1;
    case GQ_DTYPE_FLOAT16:
    case GQ_DTYPE_BFLOAT16:
      return 2;
    case GQ_DTYPE_INT64:
      return 8;
    default:
      return 4;
  }
}

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// float -> bfloat16, round to nearest even (NaN kept quiet).
inline uint16_t to_bf16(float f) {
  const uint32_t u = bits_of(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

// float -> IEEE half, round to nearest even, written from the definition with frexp so
// it shares nothing with the library's bit-level conversions.
inline uint16_t to_f16(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (std::isnan(f)) return 0x7E00;
  double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return sign | 0x7C00;  // rounds to inf
  if (a < std::ldexp(1.0, -14)) {          // subnormal: units of 2^-24
    const double units = std::nearbyint(a * std::ldexp(1.0, 24));
    return sign | static_cast<uint16_t>(units);  // 1024 units carries into the exponent
  }
  int e;
  const double m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  double mant = std::nearbyint((m * 2.0 - 1.0) * 1024.0);
  int biased = e - 1 + 15;
  if (mant == 1024.0) {
    mant = 0;
    ++biased;
  }
  if (biased >= 31) return sign | 0x7C00;
  return sign | static_cast<uint16_t>(biased << 10) | static_cast<uint16_t>(mant);
}

// Independent decoders (ldexp arithmetic, not bit shuffling).
inline float from_f16(uint16_t h) {
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 31)
    return m ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(s * INFINITY);
  if (e == 0) return static_cast<float>(s * std::ldexp(m, -24));
  return static_cast<float>(s * std::ldexp(1024 + m, e - 25));
}
inline float from_bf16(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Owns its storage; view() describes shape/strides over it, starting storage_offset
// elements in (an "offset view").
class Tensor {
 public:
  Tensor() = default;
  Tensor(gq_dtype dtype, std::vector<int64_t> shape, std::vector<int64_t> strides = {},
         int64_t storage_offset = 0)
      : dtype_(dtype),
        shape_(std::move(shape)),
        strides_(std::move(strides)),
        offset_(storage_offset) {
    if (strides_.empty()) {
      strides_.assign(shape_.size(), 1);
      for (int i = static_cast<int>(shape_.size()) - 2; i >= 0; --i)
        strides_[i] = strides_[i + 1] * shape_[i + 1];
    }
    int64_t extent = 0;
    bool empty = false;
    for (size_t i = 0; i < shape_.size(); ++i) {
      empty |= shape_[i] == 0;
      extent += (shape_[i] - 1) * strides_[i];
    }
    const int64_t elems = empty ? offset_ : offset_ + extent + 1;
    // The storage ends exactly at the view's last element (ASan catches any over-read).
    storage_.resize(static_cast<size_t>(elems * element_size(dtype_)));
    fill_bytes(0x5A);
  }

  gq_tensor view() const {
    gq_tensor t;
    t.data = const_cast<unsigned char*>(storage_.data());
    t.ndim = static_cast<int32_t>(shape_.size());
    t.dtype = dtype_;
    t.shape = shape_.data();
    t.strides = strides_.data();
    t.byte_offset = static_cast<uint64_t>(offset_ * element_size(dtype_));
    return t;
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape_) n *= s;
    return n;
  }
  const std::vector<int64_t>& shape() const { return shape_; }
  gq_dtype dtype() const { return dtype_; }
  const std::vector<unsigned char>& storage() const { return storage_; }
  void fill_bytes(unsigned char b) { std::fill(storage_.begin(), storage_.end(), b); }

  // Element at a logical index (row-major over shape()).
  unsigned char* at(int64_t linear) {
    int64_t off = offset_;
    for (int i = static_cast<int>(shape_.size()) - 1; i >= 0; --i) {
      off += (linear % shape_[i]) * strides_[i];
      linear /= shape_[i];
    }
    return storage_.data() + off * element_size(dtype_);
  }
  const unsigned char* at(int64_t linear) const { return const_cast<Tensor*>(this)->at(linear); }

  void set_float(int64_t i, float v) {
    uint16_t h;
    switch (dtype_) {
      case GQ_DTYPE_FLOAT32:
        std::memcpy(at(i), &v, 4);
        return;
      case GQ_DTYPE_FLOAT16:
        h = to_f16(v);
        std::memcpy(at(i), &h, 2);
        return;
      default:
        h = to_bf16(v);
        std::memcpy(at(i), &h, 2);
        return;
    }
  }
  float get_float(int64_t i) const {
    uint16_t h;
    switch (dtype_) {
      case GQ_DTYPE_FLOAT32: {
        float f;
        std::memcpy(&f, at(i), 4);
        return f;
      }
      case GQ_DTYPE_FLOAT16:
        std::memcpy(&h, at(i), 2);
        return from_f16(h);
      default:
        std::memcpy(&h, at(i), 2);
        return from_bf16(h);
    }
  }
  void set_int(int64_t i, int64_t v) {
    if (dtype_ == GQ_DTYPE_INT64) {
      std::memcpy(at(i), &v, 8);
      return;
    }
    if (dtype_ == GQ_DTYPE_INT8) {
      const int8_t b = static_cast<int8_t>(v);
      std::memcpy(at(i), &b, 1);
      return;
    }
    const int32_t w = static_cast<int32_t>(v);
    std::memcpy(at(i), &w, 4);
  }
  int64_t get_int(int64_t i) const {
    if (dtype_ == GQ_DTYPE_INT64) {
      int64_t v;
      std::memcpy(&v, at(i), 8);
      return v;
    }
    if (element_size(dtype_) == 1) {
      int8_t v;
      std::memcpy(&v, at(i), 1);
      return v;
    }
    int32_t v;
    std::memcpy(&v, at(i), 4);
    return v;
  }

  static Tensor floats(gq_dtype dtype, std::vector<int64_t> shape,
                       const std::vector<float>& values) {
    Tensor t(dtype, std::move(shape));
    for (size_t i = 0; i < values.size(); ++i) t.set_float(static_cast<int64_t>(i), values[i]);
    return t;
  }
  static Tensor ints(gq_dtype dtype, std::vector<int64_t> shape,
                     const std::vector<int64_t>& values) {
    Tensor t(dtype, std::move(shape));
    for (size_t i = 0; i < values.size(); ++i) t.set_int(static_cast<int64_t>(i), values[i]);
    return t;
  }

 private:
  gq_dtype dtype_ = GQ_DTYPE_FLOAT32;
  std::vector<int64_t> shape_, strides_;
  int64_t offset_ = 0;
  std::vector<unsigned char> storage_;
};

inline constexpr gq_dtype kFloatDtypes[] = {GQ_DTYPE_FLOAT32, GQ_DTYPE_FLOAT16, GQ_DTYPE_BFLOAT16};
inline constexpr gq_output_kind kKinds[] = {GQ_OUTPUT_INT8, GQ_OUTPUT_INT4_PACKED};

// Values that exercise rounding and saturation: ties at every half, the int8/int4
// boundaries, huge values, signed zeros, infinities and NaN, plus ordinary noise.
inline float interesting_value(std::mt19937& rng) {
  static const float kSpecial[] = {0.5f,    1.5f,    2.5f,   -0.5f,  -2.5f, 127.5f,   -128.5f,
                                   126.5f,  -127.5f, 7.5f,   -8.5f,  6.5f,  -7.5f,    128.0f,
                                   -129.0f, 1e30f,   -1e30f, 0.0f,   -0.0f, INFINITY, -INFINITY,
                                   NAN,     3.4e38f, 1e-40f, -1e-45f};
  std::uniform_int_distribution<int> pick(0, 9);
  const int kind = pick(rng);
  if (kind == 0) {
    std::uniform_int_distribution<size_t> i(0, std::size(kSpecial) - 1);
    return kSpecial[i(rng)];
  }
  if (kind <= 2) {
    std::uniform_int_distribution<int> k(-140, 140);
    return static_cast<float>(k(rng)) + 0.5f;
  }
  std::normal_distribution<float> normal(0.0f, kind <= 5 ? 4.0f : 60.0f);
  return normal(rng);
}

// group_index with G groups summing to M, empty groups likely.
inline std::vector<int64_t> random_group_ends(std::mt19937& rng, int64_t M, int64_t G) {
  std::vector<int64_t> ends(static_cast<size_t>(G));
  std::uniform_int_distribution<int64_t> row(0, M);
  for (auto& e : ends) e = row(rng);
  std::sort(ends.begin(), ends.end());
  if (G > 0) ends.back() = M;
  return ends;
}

// ---- A valid call for the bad-input tests to break -------------------------------------

inline constexpr int64_t kM = 6, kN = 8, kG = 3;

// A valid call (x fp32 [6, 8], scale fp32 [3, 8], group_index int64 [1, 4, 6], offset
// fp32 [] = 1, int8 y [6, 8]; docs/hostile-inputs.md's messages are for it) whose views
// a test then breaks one at a time. The views point at the owned tensors; tests may
// repoint shape/strides/data at arrays of their own that outlive the call.
struct Call {
  Tensor x_t, scale_t, gi_t, offset_t, y_t;
  gq_tensor x, scale, gi, offset, y;
  bool with_offset = true;
  gq_output_kind kind = GQ_OUTPUT_INT8;
  gq_options options{};

  Call() {
    std::vector<float> xv, sv;
    for (int64_t i = 0; i < kM * kN; ++i) xv.push_back(static_cast<float>(i % 17) - 8.0f);
    for (int64_t i = 0; i < kG * kN; ++i) sv.push_back(0.5f + static_cast<float>(i % 5));
    x_t = Tensor::floats(GQ_DTYPE_FLOAT32, {kM, kN}, xv);
    scale_t = Tensor::floats(GQ_DTYPE_FLOAT32, {kG, kN}, sv);
    gi_t = Tensor::ints(GQ_DTYPE_INT64, {kG}, {1, 4, 6});
    offset_t = Tensor::floats(GQ_DTYPE_FLOAT32, {}, {1.0f});
    y_t = Tensor(GQ_DTYPE_INT8, {kM, kN});
    refresh();
  }
  Call(const Call&) = delete;  // the views point into this object's tensors
  Call& operator=(const Call&) = delete;

  // Views of the owned tensors again (after a test replaced one of them).
  void refresh() {
    x = x_t.view();
    scale = scale_t.view();
    gi = gi_t.view();
    offset = offset_t.view();
    y = y_t.view();
  }
  void use_int4_output() {
    kind = GQ_OUTPUT_INT4_PACKED;
    y_t = Tensor(GQ_DTYPE_INT32, {kM, kN / 8});
    y = y_t.view();
  }
  void set_group_index(gq_dtype dtype, const std::vector<int64_t>& values) {
    gi_t = Tensor::ints(dtype, {static_cast<int64_t>(values.size())}, values);
    gi = gi_t.view();
  }
  const gq_tensor* offset_ptr() const { return with_offset ? &offset : nullptr; }
};

// Every byte of the owned tensors, to prove a rejected call changed nothing.
inline std::vector<std::vector<unsigned char>> snapshot(const Call& c) {
  return {c.x_t.storage(), c.scale_t.storage(), c.gi_t.storage(), c.offset_t.storage(),
          c.y_t.storage()};
}

// Runs the call on every entry point (C++ fast path, C++ reference, C ABI) and returns
// the error message, or "" on success. The three must agree; a failing call must
// change no byte.
inline std::string outcome(Call& c) {
  const auto before = snapshot(c);
  std::string cpp_error, ref_error;
  try {
    groupquant::group_quant(c.x, c.scale, c.gi, c.offset_ptr(), c.kind, c.y, c.options);
  } catch (const groupquant::Error& e) {
    cpp_error = e.what();
    EXPECT_FALSE(cpp_error.empty());
  }
  const auto after_cpp = snapshot(c);
  try {
    groupquant::group_quant_reference(c.x, c.scale, c.gi, c.offset_ptr(), c.kind, c.y);
  } catch (const groupquant::Error& e) {
    ref_error = e.what();
  }
  EXPECT_EQ(ref_error, cpp_error) << "reference and fast path disagree";
  const gq_status status =
      gq_group_quant(&c.x, &c.scale, &c.gi, c.offset_ptr(), c.kind, &c.options, &c.y);
  EXPECT_EQ(status, cpp_error.empty() ? GQ_STATUS_SUCCESS : GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(std::string(gq_last_error()), cpp_error);
  if (!cpp_error.empty()) {
    EXPECT_TRUE(snapshot(c) == before) << "a rejected call wrote memory: " << cpp_error;
  } else {
    EXPECT_TRUE(snapshot(c) == after_cpp) << "fast path, reference and C ABI differ";
  }
  return cpp_error;
}

// One way to break the valid Call, and the exact message it must give: a row of a
// table of rejected calls (TEST_P: Call c; breaks(c); EXPECT_EQ(outcome(c), message)).
struct Rejection {
  const char* name;
  void (*breaks)(Call&);
  const char* message;
};
inline void PrintTo(const Rejection& r, std::ostream* os) { *os << r.name; }
inline std::string rejection_name(const ::testing::TestParamInfo<Rejection>& info) {
  return info.param.name;
}

// Building blocks for Rejection::breaks, e.g. set_dtype<&Call::x, GQ_DTYPE_INT8>.
template <gq_tensor Call::*T, gq_dtype D>
void set_dtype(Call& c) {
  (c.*T).dtype = D;
}

// T's view becomes a contiguous one of shape {S...} (rank sizeof...(S)).
template <gq_tensor Call::*T, int64_t... S>
void reshape(Call& c) {
  static const int64_t shape[] = {S...};
  static const std::array<int64_t, sizeof...(S)> strides = [] {
    std::array<int64_t, sizeof...(S)> s{};
    int64_t step = 1;
    for (size_t i = s.size(); i-- > 0;) {
      s[i] = step;
      step *= shape[i];
    }
    return s;
  }();
  (c.*T).ndim = static_cast<int32_t>(sizeof...(S));
  (c.*T).shape = shape;
  (c.*T).strides = strides.data();
}

template <gq_tensor Call::*T, int64_t... S>
void restride(Call& c) {
  static const int64_t strides[] = {S...};
  (c.*T).strides = strides;
}

template <gq_dtype D, int64_t... V>
void group_index(Call& c) {
  c.set_group_index(D, {V...});
}

// Several breaks in one row: all_of<reshape<...>, set_dtype<...>>.
template <void (*... F)(Call&)>
void all_of(Call& c) {
  (F(c), ...);
}

}  // namespace gqtest

#endif  // GROUPQUANT_TESTS_CPP_TESTER_H_
