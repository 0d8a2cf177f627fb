// The hostile-input table (docs/hostile-inputs.md), one test per row: each bad input
// gives exactly its documented error on every entry point (C++ fast path, C++
// reference, C ABI) and leaves y and every input untouched; each odd-but-legal input
// gives the same bytes as the plain contiguous call.
#include <groupquant/groupquant.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <groupquant/groupquant.hpp>
#include <limits>
#include <string>
#include <vector>

#include "tests/cpp/tester.h"

namespace {

using gqtest::Tensor;

constexpr int64_t kM = 6, kN = 8, kG = 3;

// A valid call (x fp32 [6, 8], scale fp32 [3, 8], group_index int64 [1, 4, 6], offset
// fp32 [], int8 y [6, 8]) whose views a test then breaks one at a time. The views
// point at the owned tensors; tests may repoint shape/strides at their own arrays.
struct Call {
  Tensor x_t, scale_t, gi_t, offset_t, y_t;
  gq_tensor x, scale, gi, offset, y;
  bool with_offset = true;
  gq_output_kind kind = GQ_OUTPUT_INT8;
  gq_options options{};

  explicit Call(gq_dtype gi_dtype = GQ_DTYPE_INT64) {
    std::vector<float> xv, sv;
    for (int64_t i = 0; i < kM * kN; ++i) xv.push_back(static_cast<float>(i % 17) - 8.0f);
    for (int64_t i = 0; i < kG * kN; ++i) sv.push_back(0.5f + static_cast<float>(i % 5));
    x_t = Tensor::floats(GQ_DTYPE_FLOAT32, {kM, kN}, xv);
    scale_t = Tensor::floats(GQ_DTYPE_FLOAT32, {kG, kN}, sv);
    gi_t = Tensor::ints(gi_dtype, {kG}, {1, 4, 6});
    offset_t = Tensor::floats(GQ_DTYPE_FLOAT32, {}, {1.0f});
    y_t = Tensor(GQ_DTYPE_INT8, {kM, kN});
    refresh();
  }
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
  const gq_tensor* offset_ptr() const { return with_offset ? &offset : nullptr; }
};

// Snapshot of every buffer a call may touch, to prove a rejected call changed nothing.
struct Snapshot {
  std::vector<std::vector<unsigned char>> bytes;
  explicit Snapshot(const Call& c)
      : bytes{c.x_t.storage(), c.scale_t.storage(), c.gi_t.storage(), c.offset_t.storage(),
              c.y_t.storage()} {}
  bool operator==(const Snapshot& o) const { return bytes == o.bytes; }
};

// Runs the call on every entry point and returns the error message, or "" on success.
// Every entry point must agree; a failing call must change no byte.
std::string outcome(Call& c) {
  const Snapshot before(c);
  std::string cpp_error, ref_error;
  try {
    groupquant::group_quant(c.x, c.scale, c.gi, c.offset_ptr(), c.kind, c.y, c.options);
  } catch (const groupquant::Error& e) {
    cpp_error = e.what();
    EXPECT_FALSE(cpp_error.empty());
  }
  const Snapshot after_cpp(c);
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
    EXPECT_TRUE(Snapshot(c) == before) << "a rejected call wrote memory: " << cpp_error;
  } else {
    EXPECT_TRUE(Snapshot(c) == after_cpp) << "fast path, reference and C ABI differ";
  }
  return cpp_error;
}

// The y bytes of the untouched valid call, to compare legal variants against.
std::vector<unsigned char> plain_result(gq_output_kind kind = GQ_OUTPUT_INT8) {
  Call c;
  if (kind == GQ_OUTPUT_INT4_PACKED) c.use_int4_output();
  EXPECT_EQ(outcome(c), "");
  return c.y_t.storage();
}

// ---- x -------------------------------------------------------------------------------

TEST(HostileInputs, X1D) {
  Call c;
  const int64_t shape[] = {48}, strides[] = {1};
  c.x.ndim = 1, c.x.shape = shape, c.x.strides = strides;
  EXPECT_EQ(outcome(c), "x must be 2-D: got a 1-D tensor of shape [48]");
}

TEST(HostileInputs, X3D) {
  Call c;
  const int64_t shape[] = {2, 3, 8}, strides[] = {24, 8, 1};
  c.x.ndim = 3, c.x.shape = shape, c.x.strides = strides;
  EXPECT_EQ(outcome(c), "x must be 2-D: got a 3-D tensor of shape [2, 3, 8]");
}

TEST(HostileInputs, X0D) {
  Call c;
  c.x.ndim = 0;
  EXPECT_EQ(outcome(c), "x must be 2-D: got a 0-D tensor");
}

TEST(HostileInputs, XNegativeRank) {
  Call c;
  c.x.ndim = -1;
  EXPECT_EQ(outcome(c), "x must be 2-D: got a -1-D tensor");
}

TEST(HostileInputs, XIntegerDtype) {
  for (gq_dtype d : {GQ_DTYPE_INT8, GQ_DTYPE_INT32, GQ_DTYPE_INT64}) {
    Call c;
    c.x.dtype = d;
    EXPECT_EQ(outcome(c), std::string("x must be float32, float16 or bfloat16: got ") +
                              (d == GQ_DTYPE_INT8    ? "int8"
                               : d == GQ_DTYPE_INT32 ? "int32"
                                                     : "int64"));
  }
}

TEST(HostileInputs, XUnknownDtypeCode) {
  // 6 and 7 fit gq_dtype's value range; larger codes are tested in the fuzzer (they are
  // undefined behaviour in C++ as an enum value, though a C caller can pass them).
  Call c;
  c.x.dtype = static_cast<gq_dtype>(7);
  EXPECT_EQ(outcome(c), "x must be float32, float16 or bfloat16: got dtype code 7");
}

TEST(HostileInputs, XNullPointerArgument) {
  Call c;
  EXPECT_EQ(gq_group_quant(nullptr, &c.scale, &c.gi, nullptr, c.kind, nullptr, &c.y),
            GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(), "x must not be null");
  EXPECT_EQ(gq_group_quant(&c.x, &c.scale, &c.gi, nullptr, c.kind, nullptr, nullptr),
            GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(), "y must not be null");
  EXPECT_EQ(gq_group_quant(&c.x, nullptr, &c.gi, nullptr, c.kind, nullptr, &c.y),
            GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(), "scale must not be null");
  EXPECT_EQ(gq_group_quant(&c.x, &c.scale, nullptr, nullptr, c.kind, nullptr, &c.y),
            GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(), "group_index must not be null");
}

TEST(HostileInputs, XNullData) {
  Call c;
  c.x.data = nullptr;
  EXPECT_EQ(outcome(c), "x data must not be null for a non-empty tensor: shape [6, 8]");
}

TEST(HostileInputs, XNullShape) {
  Call c;
  c.x.shape = nullptr;
  EXPECT_EQ(outcome(c), "x shape must not be null");
}

TEST(HostileInputs, XNegativeSize) {
  Call c;
  const int64_t shape[] = {-6, 8};
  c.x.shape = shape;
  EXPECT_EQ(outcome(c), "x sizes must be non-negative: got shape [-6, 8]");
}

TEST(HostileInputs, XNegativeStride) {
  Call c;
  const int64_t strides[] = {-8, 1};
  c.x.strides = strides;
  EXPECT_EQ(outcome(c), "x strides must be non-negative: got strides [-8, 1]");
}

TEST(HostileInputs, XShapeOverflow) {
  Call c;
  const int64_t shape[] = {int64_t{1} << 40, int64_t{1} << 40};
  c.x.shape = shape;
  c.x.strides = nullptr;
  EXPECT_EQ(outcome(c),
            "x is too large: its extent overflows 64-bit byte offsets (shape [1099511627776, "
            "1099511627776])");
}

TEST(HostileInputs, XStrideOverflow) {
  Call c;
  const int64_t strides[] = {std::numeric_limits<int64_t>::max() / 4, 1};
  c.x.strides = strides;
  EXPECT_EQ(outcome(c), "x is too large: its extent overflows 64-bit byte offsets (shape [6, 8])");
}

TEST(HostileInputs, XByteOffsetOverflow) {
  // A byte_offset of 2^63 or more is rejected before any pointer arithmetic, never
  // turned into a wild pointer; a smaller one that overflows the extent is too.
  for (uint64_t off : {~uint64_t{0}, uint64_t{1} << 63}) {
    Call c;
    c.x.byte_offset = off;
    EXPECT_EQ(outcome(c), "x byte_offset must be below 2^63: got " + std::to_string(off));
  }
  Call c;
  c.x.byte_offset = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - 100;
  EXPECT_EQ(outcome(c), "x is too large: its extent overflows 64-bit byte offsets (shape [6, 8])");
}

// ---- scale ---------------------------------------------------------------------------

TEST(HostileInputs, Scale1D) {
  Call c;
  const int64_t shape[] = {8}, strides[] = {1};
  c.scale.ndim = 1, c.scale.shape = shape, c.scale.strides = strides;
  EXPECT_EQ(outcome(c), "scale must be 2-D: got a 1-D tensor of shape [8]");
}

TEST(HostileInputs, Scale3D) {
  Call c;
  const int64_t shape[] = {1, 3, 8}, strides[] = {24, 8, 1};
  c.scale.ndim = 3, c.scale.shape = shape, c.scale.strides = strides;
  EXPECT_EQ(outcome(c), "scale must be 2-D: got a 3-D tensor of shape [1, 3, 8]");
}

TEST(HostileInputs, ScaleIntegerDtype) {
  Call c;
  c.scale.dtype = GQ_DTYPE_INT32;
  EXPECT_EQ(outcome(c), "scale must be float32, float16 or bfloat16: got int32");
}

TEST(HostileInputs, ScaleColumnsMismatch) {
  Call c;
  const int64_t shape[] = {3, 4};
  c.scale.shape = shape;
  EXPECT_EQ(outcome(c), "scale.size(1) must equal x.size(1): got scale [3, 4] for x [6, 8]");
}

// ---- group_index ---------------------------------------------------------------------

TEST(HostileInputs, GroupIndex2D) {
  Call c;
  const int64_t shape[] = {3, 1}, strides[] = {1, 1};
  c.gi.ndim = 2, c.gi.shape = shape, c.gi.strides = strides;
  EXPECT_EQ(outcome(c), "group_index must be 1-D: got a 2-D tensor of shape [3, 1]");
}

TEST(HostileInputs, GroupIndexFloatDtype) {
  Call c;
  c.gi.dtype = GQ_DTYPE_FLOAT32;
  EXPECT_EQ(outcome(c), "group_index must be int32 or int64: got float32");
}

TEST(HostileInputs, GroupIndexInt8Dtype) {
  Call c;
  c.gi.dtype = GQ_DTYPE_INT8;
  EXPECT_EQ(outcome(c), "group_index must be int32 or int64: got int8");
}

TEST(HostileInputs, GroupIndexLengthMismatch) {
  Call c;
  const int64_t shape[] = {2};
  c.gi.shape = shape;
  EXPECT_EQ(outcome(c),
            "group_index.size(0) must equal scale.size(0): got group_index [2] for scale [3, 8]");
}

// Sets group_index to `values` (int64 or int32 storage) and returns the outcome.
std::string with_group_index(gq_dtype dtype, const std::vector<int64_t>& values) {
  Call c(dtype);
  for (size_t i = 0; i < values.size(); ++i) c.gi_t.set_int(static_cast<int64_t>(i), values[i]);
  return outcome(c);
}

TEST(HostileInputs, GroupIndexNegativeFirst) {
  for (gq_dtype d : {GQ_DTYPE_INT32, GQ_DTYPE_INT64}) {
    EXPECT_EQ(with_group_index(d, {-1, 4, 6}),
              "group_index values must be non-negative: group_index[0]=-1");
  }
}

TEST(HostileInputs, GroupIndexInt64Min) {
  EXPECT_EQ(with_group_index(GQ_DTYPE_INT64, {1, std::numeric_limits<int64_t>::min(), 6}),
            "group_index values must be non-negative: group_index[1]=-9223372036854775808");
}

TEST(HostileInputs, GroupIndexInt64Max) {
  EXPECT_EQ(
      with_group_index(GQ_DTYPE_INT64, {1, 4, std::numeric_limits<int64_t>::max()}),
      "group_index values must not exceed M=6 (x.size(0)): group_index[2]=9223372036854775807");
  EXPECT_EQ(
      with_group_index(GQ_DTYPE_INT64, {std::numeric_limits<int64_t>::max(), 4, 6}),
      "group_index values must not exceed M=6 (x.size(0)): group_index[0]=9223372036854775807");
}

TEST(HostileInputs, GroupIndexInt32Extremes) {
  EXPECT_EQ(with_group_index(GQ_DTYPE_INT32, {1, std::numeric_limits<int32_t>::max(), 6}),
            "group_index values must not exceed M=6 (x.size(0)): group_index[1]=2147483647");
  EXPECT_EQ(with_group_index(GQ_DTYPE_INT32, {1, 4, std::numeric_limits<int32_t>::min()}),
            "group_index values must be non-negative: group_index[2]=-2147483648");
}

TEST(HostileInputs, GroupIndexDecreasing) {
  EXPECT_EQ(with_group_index(GQ_DTYPE_INT64, {4, 1, 6}),
            "group_index must be non-decreasing: group_index[1]=1 < group_index[0]=4");
}

TEST(HostileInputs, GroupIndexAboveM) {
  EXPECT_EQ(with_group_index(GQ_DTYPE_INT32, {1, 7, 6}),
            "group_index values must not exceed M=6 (x.size(0)): group_index[1]=7");
}

TEST(HostileInputs, GroupIndexLastNotM) {
  EXPECT_EQ(with_group_index(GQ_DTYPE_INT64, {1, 4, 5}),
            "group_index last value must equal M=6 (x.size(0)): group_index[2]=5");
  EXPECT_EQ(with_group_index(GQ_DTYPE_INT64, {0, 0, 0}),
            "group_index last value must equal M=6 (x.size(0)): group_index[2]=0");
}

TEST(HostileInputs, GroupIndexEmptyGroupsAreLegal) {
  // Equal neighbours own no rows; the unused scale rows are never read for output.
  EXPECT_EQ(with_group_index(GQ_DTYPE_INT64, {0, 6, 6}), "");
  EXPECT_EQ(with_group_index(GQ_DTYPE_INT32, {6, 6, 6}), "");
}

TEST(HostileInputs, GroupIndexStrideZero) {
  // A broadcast group_index (all entries the same element) is legal when valid: here
  // every entry reads 6, so group 0 owns all rows.
  Call c;
  const int64_t strides[] = {0};
  c.gi_t.set_int(0, 6);
  c.gi.strides = strides;
  EXPECT_EQ(outcome(c), "");
}

TEST(HostileInputs, ZeroGroupsWithNonEmptyX) {
  Call c;
  const int64_t s_shape[] = {0, kN}, gi_shape[] = {0};
  c.scale.shape = s_shape;
  c.gi.shape = gi_shape;
  EXPECT_EQ(
      outcome(c),
      "scale.size(0) (the number of groups G) must be at least 1 when x is non-empty: got G=0 "
      "for x [6, 8]");
}

TEST(HostileInputs, ZeroGroupsWithEmptyXIsLegal) {
  for (const auto& shape : {std::vector<int64_t>{0, kN}, std::vector<int64_t>{kM, 0}}) {
    Call c;
    const int64_t s_shape[] = {0, shape[1]}, gi_shape[] = {0};
    c.x.shape = shape.data();
    c.x.strides = nullptr;
    c.scale.shape = s_shape;
    c.scale.strides = nullptr;
    c.gi.shape = gi_shape;
    c.y.shape = shape.data();
    c.y.strides = nullptr;
    EXPECT_EQ(outcome(c), "");
  }
}

// ---- offset --------------------------------------------------------------------------

TEST(HostileInputs, OffsetWrongDtype) {
  Call c;
  c.offset_t = Tensor::floats(GQ_DTYPE_FLOAT16, {}, {1.0f});
  c.refresh();
  EXPECT_EQ(outcome(c),
            "offset dtype must equal scale dtype: got offset float16 with scale float32");
}

TEST(HostileInputs, OffsetIntegerDtype) {
  Call c;
  c.offset.dtype = GQ_DTYPE_INT32;
  EXPECT_EQ(outcome(c), "offset must be float32, float16 or bfloat16: got int32");
}

TEST(HostileInputs, OffsetShapeTwo) {
  Call c;
  c.offset_t = Tensor::floats(GQ_DTYPE_FLOAT32, {2}, {1.0f, 2.0f});
  c.refresh();
  EXPECT_EQ(outcome(c), "offset must have shape [] or [1]: got [2]");
}

TEST(HostileInputs, OffsetShapeOneByOne) {
  Call c;
  c.offset_t = Tensor::floats(GQ_DTYPE_FLOAT32, {1, 1}, {1.0f});
  c.refresh();
  EXPECT_EQ(outcome(c),
            "offset must be a scalar of shape [] or [1]: got a 2-D tensor of shape [1, 1]");
}

TEST(HostileInputs, OffsetShapeZero) {
  Call c;
  c.offset_t = Tensor(GQ_DTYPE_FLOAT32, {0});
  c.refresh();
  EXPECT_EQ(outcome(c), "offset must have shape [] or [1]: got [0]");
}

TEST(HostileInputs, OffsetShapeOneIsLegal) {
  Call c;
  c.offset_t = Tensor::floats(GQ_DTYPE_FLOAT32, {1}, {1.0f});
  c.refresh();
  EXPECT_EQ(outcome(c), "");
  EXPECT_EQ(c.y_t.storage(), plain_result());
}

TEST(HostileInputs, OffsetNullData) {
  Call c;
  c.offset.data = nullptr;
  EXPECT_EQ(outcome(c), "offset data must not be null for a non-empty tensor: shape []");
}

// ---- output kind (dst_dtype) and y ---------------------------------------------------

TEST(HostileInputs, UnknownOutputKind) {
  // Any int32 is a valid gq_output_kind (the enum spans the range); only 0 and 1 are kinds.
  Call c;
  int32_t code = 2;
  std::memcpy(&c.kind, &code, sizeof code);
  EXPECT_EQ(outcome(c), "dst_dtype must be int8, qint8 or quint4x2: got output kind code 2");
}

TEST(HostileInputs, PackedInt4NeedsMultipleOf8Columns) {
  Call c;
  c.use_int4_output();
  c.x_t = Tensor(GQ_DTYPE_FLOAT32, {kM, 12});
  c.scale_t = Tensor(GQ_DTYPE_FLOAT32, {kG, 12});
  c.x = c.x_t.view();
  c.scale = c.scale_t.view();
  EXPECT_EQ(outcome(c),
            "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got 12");
  gq_dtype dtype;
  int64_t shape[2];
  EXPECT_EQ(gq_output_spec(&c.x, GQ_OUTPUT_INT4_PACKED, &dtype, shape), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(),
               "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got 12");
}

TEST(HostileInputs, YWrongDtype) {
  Call c;
  c.y.dtype = GQ_DTYPE_INT32;
  EXPECT_EQ(outcome(c), "y must be int8 (output kind int8): got int32");
  Call d;
  d.use_int4_output();
  d.y.dtype = GQ_DTYPE_INT8;
  EXPECT_EQ(outcome(d), "y must be int32 (output kind packed int4): got int8");
}

TEST(HostileInputs, YWrongShape) {
  Call c;
  const int64_t shape[] = {kM, kN / 8};
  c.y.shape = shape;
  c.y.strides = nullptr;
  EXPECT_EQ(outcome(c), "y must have shape [6, 8] for x [6, 8]: got [6, 1]");
}

TEST(HostileInputs, YNullData) {
  Call c;
  c.y.data = nullptr;
  EXPECT_EQ(outcome(c), "y data must not be null for a non-empty tensor: shape [6, 8]");
}

TEST(HostileInputs, YSelfOverlapping) {
  const int64_t cases[][2] = {{0, 1}, {8, 0}, {4, 1}, {1, 1}, {0, 0}};
  for (const auto& s : cases) {
    Call c;
    c.y.strides = s;
    EXPECT_EQ(outcome(c), "y strides must not make elements overlap: got strides [" +
                              std::to_string(s[0]) + ", " + std::to_string(s[1]) +
                              "] for shape [6, 8]");
  }
}

TEST(HostileInputs, YNegativeStride) {
  Call c;
  const int64_t strides[] = {8, -1};
  c.y.strides = strides;
  EXPECT_EQ(outcome(c), "y strides must be non-negative: got strides [8, -1]");
}

// y aliasing an input: an int8 y is laid over the input's own bytes.
TEST(HostileInputs, YAliasesX) {
  Call c;
  c.y.data = c.x.data;  // x is 192 bytes, y needs 48
  EXPECT_EQ(outcome(c), "y must not overlap an input: it shares memory with x");
}

TEST(HostileInputs, YAliasesScale) {
  Call c;
  c.y.data = c.scale.data;  // scale is 96 bytes, y 48
  EXPECT_EQ(outcome(c), "y must not overlap an input: it shares memory with scale");
}

TEST(HostileInputs, YAliasesGroupIndex) {
  Call c;
  const int64_t shape[] = {2, 8};  // 16 bytes inside the 24 bytes of group_index
  const int64_t x_shape[] = {2, 8};
  c.x.shape = x_shape;
  c.y.shape = shape;
  c.gi_t = Tensor::ints(GQ_DTYPE_INT64, {kG}, {1, 2, 2});
  c.gi = c.gi_t.view();
  c.y.data = c.gi.data;
  EXPECT_EQ(outcome(c), "y must not overlap an input: it shares memory with group_index");
}

TEST(HostileInputs, YAliasesOffset) {
  Call c;
  const int64_t shape[] = {1, 1}, x_shape[] = {1, 1}, s_shape[] = {3, 1};
  c.x.shape = x_shape;
  c.scale.shape = s_shape;
  c.scale.strides = nullptr;
  c.gi_t = Tensor::ints(GQ_DTYPE_INT64, {3}, {1, 1, 1});
  c.gi = c.gi_t.view();
  c.y.shape = shape;
  c.y.data = c.offset.data;
  EXPECT_EQ(outcome(c), "y must not overlap an input: it shares memory with offset");
}

TEST(HostileInputs, YPartiallyOverlapsX) {
  // One buffer: x is its first 192 bytes, y (48 bytes) starts on x's last byte.
  Tensor buffer(GQ_DTYPE_FLOAT32, {kM * kN + 12});
  Call c;
  c.x.data = const_cast<unsigned char*>(buffer.storage().data());
  c.y.data = c.x.data;
  c.y.byte_offset = kM * kN * 4 - 1;
  EXPECT_EQ(outcome(c), "y must not overlap an input: it shares memory with x");
}

TEST(HostileInputs, YInterleavedWithXIsRejected) {
  // Disjoint elements but overlapping byte ranges (y in the gaps of a strided x): the
  // check is on byte ranges, so this conservative case is rejected too.
  Tensor storage(GQ_DTYPE_FLOAT32, {kM, 2 * kN});
  Call c;
  const int64_t x_strides[] = {2 * kN, 1}, y_strides[] = {8 * kN, 1};
  c.x.data = const_cast<unsigned char*>(storage.storage().data());
  c.x.strides = x_strides;
  c.y.data = c.x.data;
  c.y.byte_offset = kN * 4;
  c.y.strides = y_strides;
  EXPECT_EQ(outcome(c), "y must not overlap an input: it shares memory with x");
}

// ---- legal but unusual: same bytes as the plain call -----------------------------------

TEST(HostileInputs, MisalignedViewsAreLegal) {
  // Every tensor starts at an odd byte: the kernels must load and store unaligned.
  for (gq_output_kind kind : gqtest::kKinds) {
    Call c;
    if (kind == GQ_OUTPUT_INT4_PACKED) c.use_int4_output();
    auto shifted = [](const Tensor& t, std::vector<unsigned char>& buf, gq_tensor& v, int shift) {
      buf.assign(t.storage().size() + shift, 0xEE);
      std::copy(t.storage().begin(), t.storage().end(), buf.begin() + shift);
      v.data = buf.data();
      v.byte_offset = static_cast<uint64_t>(shift);
    };
    std::vector<unsigned char> xb, sb, gb, ob, yb;
    shifted(c.x_t, xb, c.x, 1);
    shifted(c.scale_t, sb, c.scale, 3);
    shifted(c.gi_t, gb, c.gi, 5);
    shifted(c.offset_t, ob, c.offset, 1);
    shifted(c.y_t, yb, c.y, 1);
    for (int isa = 0; isa < 3; ++isa) {
      const char* name[] = {"scalar", "avx2", "avx512"};
      if (!gq_cpu_isa_supported(name[isa])) continue;
      const std::string saved = gq_cpu_isa();
      ASSERT_EQ(gq_set_cpu_isa(name[isa]), GQ_STATUS_SUCCESS);
      std::fill(yb.begin(), yb.end(), 0xEE);
      groupquant::group_quant(c.x, c.scale, c.gi, &c.offset, c.kind, c.y, {1, nullptr, nullptr});
      ASSERT_EQ(gq_set_cpu_isa(saved.c_str()), GQ_STATUS_SUCCESS);
      EXPECT_EQ(std::vector<unsigned char>(yb.begin() + 1, yb.end()), plain_result(kind))
          << name[isa];
      EXPECT_EQ(yb[0], 0xEE);
    }
  }
}

TEST(HostileInputs, TransposedAndPaddedViewsAreLegal) {
  Call c;
  // x stored column-major (a transposed view), scale with padded rows, y with padded rows.
  Tensor xt(GQ_DTYPE_FLOAT32, {kM, kN}, {1, kM});
  for (int64_t i = 0; i < kM * kN; ++i) xt.set_float(i, c.x_t.get_float(i));
  Tensor st(GQ_DTYPE_FLOAT32, {kG, kN}, {kN + 3, 1});
  for (int64_t i = 0; i < kG * kN; ++i) st.set_float(i, c.scale_t.get_float(i));
  Tensor yt(GQ_DTYPE_INT8, {kM, kN}, {1, kM});  // column-major output
  c.x = xt.view();
  c.scale = st.view();
  c.y = yt.view();
  groupquant::group_quant(c.x, c.scale, c.gi, &c.offset, c.kind, c.y);
  const std::vector<unsigned char> expected = plain_result();
  for (int64_t i = 0; i < kM * kN; ++i) EXPECT_EQ(*yt.at(i), expected[i]) << i;
}

TEST(HostileInputs, BroadcastInputsAreLegal) {
  // Stride-0 inputs overlap themselves; that is fine for read-only arguments.
  Call c;
  Tensor xrow(GQ_DTYPE_FLOAT32, {kM, kN}, {0, 1});
  for (int64_t n = 0; n < kN; ++n) xrow.set_float(n, static_cast<float>(n) - 3.5f);
  c.x = xrow.view();
  EXPECT_EQ(outcome(c), "");
  for (int64_t r = 1; r < kM; ++r) {
    if (r == 1 || r == 4) continue;  // first row of a new group: compare within groups
    EXPECT_EQ(0, std::memcmp(c.y_t.at(r * kN), c.y_t.at((r - 1) * kN), kN)) << "row " << r;
  }
}

TEST(HostileInputs, NanInfAndSubnormalsSaturate) {
  Call c;
  c.with_offset = false;
  const float values[] = {NAN, INFINITY, -INFINITY, 3.4e38f, -3.4e38f, 1e-45f, -1e-45f, -NAN};
  const int64_t expected[] = {0, 127, -128, 127, -128, 0, 0, 0};
  for (int64_t n = 0; n < kN; ++n) {
    c.x_t.set_float(n, values[n]);
    c.scale_t.set_float(n, 1.0f);
  }
  EXPECT_EQ(outcome(c), "");
  for (int64_t n = 0; n < kN; ++n) EXPECT_EQ(c.y_t.get_int(n), expected[n]) << values[n];
  // NaN and Inf in scale and offset too.
  Call d;
  d.scale_t.set_float(0, NAN);
  d.scale_t.set_float(1, INFINITY);
  d.offset_t.set_float(0, -INFINITY);
  EXPECT_EQ(outcome(d), "");
  for (int64_t n = 0; n < kN; ++n) EXPECT_EQ(d.y_t.get_int(n), n == 0 ? 0 : -128) << n;
}

TEST(HostileInputs, EmptyXWithGarbageGroupIndexIsLegal) {
  // M == 0: group_index values are not inspected; nothing is written.
  Call c;
  const int64_t shape[] = {0, kN};
  c.x.shape = shape;
  c.y.shape = shape;
  c.gi_t.set_int(0, std::numeric_limits<int64_t>::min());
  c.gi_t.set_int(1, -5);
  EXPECT_EQ(outcome(c), "");
  EXPECT_EQ(c.y_t.storage(), Tensor(GQ_DTYPE_INT8, {kM, kN}).storage());
}

TEST(HostileInputs, EmptyTensorsMayHaveNullData) {
  // Even with a byte_offset: an empty tensor's address is never formed or read.
  Call c;
  const int64_t shape[] = {kM, 0}, s_shape[] = {kG, 0};
  c.x.shape = shape;
  c.x.data = nullptr;
  c.x.byte_offset = 64;
  c.scale.shape = s_shape;
  c.scale.data = nullptr;
  c.y.shape = shape;
  c.y.data = nullptr;
  c.y.byte_offset = 3;
  EXPECT_EQ(outcome(c), "");
}

TEST(HostileInputs, HostileThreadCounts) {
  // Negative counts mean "all hardware threads" (like 0); huge counts are capped by the
  // work available.
  for (int32_t threads :
       {std::numeric_limits<int32_t>::min(), -1, 0, 1, 1000, std::numeric_limits<int32_t>::max()}) {
    Call c;
    c.options.num_threads = threads;
    EXPECT_EQ(outcome(c), "") << threads;
    EXPECT_EQ(c.y_t.storage(), plain_result()) << threads;
  }
}

TEST(HostileInputs, BadIsaNames) {
  const std::string saved = gq_cpu_isa();
  EXPECT_EQ(gq_set_cpu_isa(nullptr), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(), "CPU ISA name must be one of auto, scalar, avx2, avx512: got ''");
  EXPECT_EQ(gq_set_cpu_isa("sse9"), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(),
               "CPU ISA name must be one of auto, scalar, avx2, avx512: got 'sse9'");
  EXPECT_EQ(gq_cpu_isa_supported(nullptr), 0);
  EXPECT_EQ(gq_cpu_isa_supported("neon"), 0);
  EXPECT_STREQ(gq_cpu_isa(), saved.c_str());
}

TEST(HostileInputs, OutputSpecNullOutputs) {
  Call c;
  int64_t shape[2];
  gq_dtype dtype;
  EXPECT_EQ(gq_output_spec(&c.x, GQ_OUTPUT_INT8, nullptr, shape), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(), "out_dtype and out_shape must not be null");
  EXPECT_EQ(gq_output_spec(&c.x, GQ_OUTPUT_INT8, &dtype, nullptr), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(gq_output_spec(nullptr, GQ_OUTPUT_INT8, &dtype, shape), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(), "x must not be null");
}

}  // namespace
