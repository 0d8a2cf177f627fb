// Every SPEC.md validation rule: the exact message (argument, rule, offending value),
// the C status, and an output left byte-for-byte untouched.
#include <gtest/gtest.h>

#include <functional>
#include <groupquant/groupquant.hpp>
#include <string>

#include "tests/cpp/tester.h"

namespace {

using gqtest::Tensor;

// A valid call (the NPU docs' shapes) that each case breaks in one way.
struct Call {
  Tensor x = Tensor::floats(GQ_DTYPE_FLOAT32, {6, 4}, std::vector<float>(24, 1.5f));
  Tensor scale = Tensor::floats(GQ_DTYPE_FLOAT32, {4, 4}, std::vector<float>(16, 2.0f));
  Tensor group_index = Tensor::ints(GQ_DTYPE_INT32, {4}, {1, 4, 6, 6});
  Tensor offset = Tensor::floats(GQ_DTYPE_FLOAT32, {}, {0.25f});
  bool with_offset = true;
  gq_output_kind kind = GQ_OUTPUT_INT8;
  Tensor y = Tensor(GQ_DTYPE_INT8, {6, 4});
  // Raw views, patchable for what Tensor cannot express (null data, bad codes).
  std::function<void(gq_tensor& x, gq_tensor& scale, gq_tensor& gi, gq_tensor& offset,
                     gq_tensor& y)>
      patch;

  // Runs through the C ABI; returns the message ("" on success).
  std::string run() {
    gq_tensor xv = x.view(), sv = scale.view(), gv = group_index.view(), ov = offset.view(),
              yv = y.view();
    if (patch) patch(xv, sv, gv, ov, yv);
    const gq_status status =
        gq_group_quant(&xv, &sv, &gv, with_offset ? &ov : nullptr, kind, nullptr, &yv);
    if (status == GQ_STATUS_SUCCESS) return "";
    EXPECT_EQ(status, GQ_STATUS_INVALID_ARGUMENT);
    return gq_last_error();
  }
};

struct Case {
  const char* name;
  std::function<void(Call&)> breaks;
  const char* message;
};

class Validation : public ::testing::TestWithParam<Case> {};

TEST_P(Validation, RejectsWithMessageAndWritesNothing) {
  const Case& c = GetParam();
  Call call;
  c.breaks(call);
  const std::vector<unsigned char> y_before = call.y.storage();
  EXPECT_EQ(call.run(), c.message);
  EXPECT_EQ(call.y.storage(), y_before) << "output was written";
}

std::vector<Case> cases() {
  using T = gq_tensor;
  return {
      {"x_3d",
       [](Call& c) {
         c.x = Tensor(GQ_DTYPE_FLOAT32, {2, 3, 4});
       },
       "x must be 2-D: got a 3-D tensor of shape [2, 3, 4]"},
      {"x_1d", [](Call& c) { c.x = Tensor(GQ_DTYPE_FLOAT32, {24}); },
       "x must be 2-D: got a 1-D tensor of shape [24]"},
      {"x_0d", [](Call& c) { c.x = Tensor(GQ_DTYPE_FLOAT32, {}); },
       "x must be 2-D: got a 0-D tensor"},
      {"x_int32",
       [](Call& c) {
         c.x = Tensor(GQ_DTYPE_INT32, {6, 4});
       },
       "x must be float32, float16 or bfloat16: got int32"},
      {"x_unknown_dtype",
       [](Call& c) { c.patch = [](T& x, T&, T&, T&, T&) { x.dtype = static_cast<gq_dtype>(99); }; },
       "x must be float32, float16 or bfloat16: got dtype code 99"},
      {"x_null_shape", [](Call& c) { c.patch = [](T& x, T&, T&, T&, T&) { x.shape = nullptr; }; },
       "x shape must not be null"},
      {"x_negative_size",
       [](Call& c) {
         c.patch = [](T& x, T&, T&, T&, T&) {
           static const int64_t s[2] = {-1, 4};
           x.shape = s;
         };
       },
       "x sizes must be non-negative: got shape [-1, 4]"},
      {"x_negative_stride",
       [](Call& c) {
         c.patch = [](T& x, T&, T&, T&, T&) {
           static const int64_t s[2] = {4, -1};
           x.strides = s;
         };
       },
       "x strides must be non-negative: got strides [4, -1]"},
      {"x_null_data",
       [](Call& c) {
         c.patch = [](T& x, T&, T&, T&, T&) {
           x.data = nullptr;
           x.byte_offset = 0;
         };
       },
       "x data must not be null for a non-empty tensor: shape [6, 4]"},
      {"x_extent_overflow",
       [](Call& c) {
         c.patch = [](T& x, T&, T&, T&, T&) {
           static const int64_t s[2] = {int64_t{1} << 40, int64_t{1} << 40};
           x.shape = s;
           x.strides = nullptr;
         };
       },
       "x is too large: its extent overflows 64-bit byte offsets (shape [1099511627776, "
       "1099511627776])"},
      {"scale_1d", [](Call& c) { c.scale = Tensor(GQ_DTYPE_FLOAT32, {4}); },
       "scale must be 2-D: got a 1-D tensor of shape [4]"},
      {"scale_int8",
       [](Call& c) {
         c.scale = Tensor(GQ_DTYPE_INT8, {4, 4});
       },
       "scale must be float32, float16 or bfloat16: got int8"},
      {"scale_columns",
       [](Call& c) {
         c.scale = Tensor(GQ_DTYPE_FLOAT32, {4, 5});
       },
       "scale.size(1) must equal x.size(1): got scale [4, 5] for x [6, 4]"},
      {"group_index_2d",
       [](Call& c) {
         c.group_index = Tensor::ints(GQ_DTYPE_INT32, {2, 2}, {1, 4, 6, 6});
       },
       "group_index must be 1-D: got a 2-D tensor of shape [2, 2]"},
      {"group_index_float", [](Call& c) { c.group_index = Tensor(GQ_DTYPE_FLOAT32, {4}); },
       "group_index must be int32 or int64: got float32"},
      {"group_index_length",
       [](Call& c) {
         c.group_index = Tensor::ints(GQ_DTYPE_INT32, {3}, {1, 4, 6});
       },
       "group_index.size(0) must equal scale.size(0): got group_index [3] for scale [4, 4]"},
      {"group_index_negative",
       [](Call& c) {
         c.group_index = Tensor::ints(GQ_DTYPE_INT64, {4}, {-1, 4, 6, 6});
       },
       "group_index values must be non-negative: group_index[0]=-1"},
      {"group_index_int64_min",
       [](Call& c) {
         c.group_index = Tensor::ints(GQ_DTYPE_INT64, {4}, {1, 4, INT64_MIN, 6});
       },
       "group_index values must be non-negative: group_index[2]=-9223372036854775808"},
      {"group_index_decreasing",
       [](Call& c) {
         c.group_index = Tensor::ints(GQ_DTYPE_INT32, {4}, {1, 5, 3, 6});
       },
       "group_index must be non-decreasing: group_index[2]=3 < group_index[1]=5"},
      {"group_index_above_m",
       [](Call& c) {
         c.group_index = Tensor::ints(GQ_DTYPE_INT32, {4}, {1, 7, 7, 7});
       },
       "group_index values must not exceed M=6 (x.size(0)): group_index[1]=7"},
      {"group_index_int64_max",
       [](Call& c) {
         c.group_index = Tensor::ints(GQ_DTYPE_INT64, {4}, {1, 4, 6, INT64_MAX});
       },
       "group_index values must not exceed M=6 (x.size(0)): group_index[3]=9223372036854775807"},
      {"group_index_last_short",
       [](Call& c) {
         c.group_index = Tensor::ints(GQ_DTYPE_INT32, {4}, {1, 4, 5, 5});
       },
       "group_index last value must equal M=6 (x.size(0)): group_index[3]=5"},
      {"no_groups",
       [](Call& c) {
         c.scale = Tensor(GQ_DTYPE_FLOAT32, {0, 4});
         c.group_index = Tensor(GQ_DTYPE_INT32, {0});
       },
       "scale.size(0) (the number of groups G) must be at least 1 when x is non-empty: got G=0 for "
       "x [6, 4]"},
      {"offset_dtype", [](Call& c) { c.offset = Tensor::floats(GQ_DTYPE_FLOAT16, {}, {1.0f}); },
       "offset dtype must equal scale dtype: got offset float16 with scale float32"},
      {"offset_int", [](Call& c) { c.offset = Tensor(GQ_DTYPE_INT32, {}); },
       "offset must be float32, float16 or bfloat16: got int32"},
      {"offset_two_values", [](Call& c) { c.offset = Tensor(GQ_DTYPE_FLOAT32, {2}); },
       "offset must have shape [] or [1]: got [2]"},
      {"offset_no_values", [](Call& c) { c.offset = Tensor(GQ_DTYPE_FLOAT32, {0}); },
       "offset must have shape [] or [1]: got [0]"},
      {"offset_2d",
       [](Call& c) {
         c.offset = Tensor(GQ_DTYPE_FLOAT32, {1, 1});
       },
       "offset must be a scalar of shape [] or [1]: got a 2-D tensor of shape [1, 1]"},
      {"kind_unknown", [](Call& c) { c.kind = static_cast<gq_output_kind>(5); },
       "dst_dtype must be int8, qint8 or quint4x2: got output kind code 5"},
      {"int4_columns",
       [](Call& c) {
         c.kind = GQ_OUTPUT_INT4_PACKED;
         c.y = Tensor(GQ_DTYPE_INT32, {6, 0});
       },
       "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got 4"},
      {"y_dtype",
       [](Call& c) {
         c.y = Tensor(GQ_DTYPE_INT32, {6, 4});
       },
       "y must be int8 (output kind int8): got int32"},
      {"y_int4_dtype",
       [](Call& c) {
         c.x = Tensor(GQ_DTYPE_FLOAT32, {6, 8});
         c.scale = Tensor(GQ_DTYPE_FLOAT32, {4, 8});
         c.kind = GQ_OUTPUT_INT4_PACKED;
         c.y = Tensor(GQ_DTYPE_INT8, {6, 1});
       },
       "y must be int32 (output kind packed int4): got int8"},
      {"y_shape",
       [](Call& c) {
         c.y = Tensor(GQ_DTYPE_INT8, {6, 5});
       },
       "y must have shape [6, 4] for x [6, 4]: got [6, 5]"},
      {"y_self_overlap",
       [](Call& c) {
         c.y = Tensor(GQ_DTYPE_INT8, {6, 4}, {1, 1});
       },
       "y strides must not make elements overlap: got strides [1, 1] for shape [6, 4]"},
      {"y_broadcast",
       [](Call& c) {
         c.y = Tensor(GQ_DTYPE_INT8, {6, 4}, {0, 1});
       },
       "y strides must not make elements overlap: got strides [0, 1] for shape [6, 4]"},
      {"y_aliases_x",
       [](Call& c) {
         c.patch = [](T& x, T&, T&, T&, T& y) {
           y.data = x.data;
           y.byte_offset = x.byte_offset + 8;
         };
       },
       "y must not overlap an input: it shares memory with x"},
      {"y_aliases_group_index",
       [](Call& c) {
         c.patch = [](T&, T&, T& gi, T&, T& y) {
           y.data = gi.data;
           y.byte_offset = 0;
         };
       },
       "y must not overlap an input: it shares memory with group_index"},
  };
}

INSTANTIATE_TEST_SUITE_P(Rules, Validation, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// The C++ API throws groupquant::Error with the same text.
TEST(ValidationCpp, ThrowsError) {
  Call c;
  c.group_index = Tensor::ints(GQ_DTYPE_INT32, {4}, {1, 5, 3, 6});
  try {
    groupquant::group_quant(c.x.view(), c.scale.view(), c.group_index.view(), nullptr,
                            GQ_OUTPUT_INT8, c.y.view());
    FAIL() << "no error";
  } catch (const groupquant::Error& e) {
    EXPECT_STREQ(e.what(),
                 "group_index must be non-decreasing: group_index[2]=3 < group_index[1]=5");
  }
}

// Empty x: shapes and dtypes still checked, group_index values never read, G == 0 allowed.
TEST(ValidationEmpty, AcceptsEmptyWithoutReadingGroupIndex) {
  for (const auto& [m, n] : {std::pair<int64_t, int64_t>{0, 4}, {6, 0}, {0, 0}}) {
    Call c;
    c.x = Tensor(GQ_DTYPE_FLOAT32, {m, n});
    c.scale = Tensor(GQ_DTYPE_FLOAT32, {2, n});
    c.group_index = Tensor::ints(GQ_DTYPE_INT64, {2}, {9, -3});  // would be invalid if read
    c.y = Tensor(GQ_DTYPE_INT8, {m, n});
    EXPECT_EQ(c.run(), "") << m << "x" << n;
    c.scale = Tensor(GQ_DTYPE_FLOAT32, {0, n});
    c.group_index = Tensor(GQ_DTYPE_INT32, {0});
    EXPECT_EQ(c.run(), "") << "G=0, " << m << "x" << n;
    c.x = Tensor(GQ_DTYPE_INT8, {m, n});
    EXPECT_EQ(c.run(), "x must be float32, float16 or bfloat16: got int8");
  }
  Call c;  // packed int4 still needs N % 8 == 0 when M == 0
  c.x = Tensor(GQ_DTYPE_FLOAT32, {0, 4});
  c.kind = GQ_OUTPUT_INT4_PACKED;
  c.y = Tensor(GQ_DTYPE_INT32, {0, 0});
  EXPECT_EQ(c.run(),
            "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got 4");
}

}  // namespace
