// Every SPEC.md validation rule as the C/C++ core sees it: the exact message (argument,
// rule, offending value) from every entry point (C++ fast path, reference, C ABI), and
// no byte of y or of any input changed. The hostile inputs beyond these rules (nulls,
// negative or overflowing sizes, strides and offsets, unknown dtype codes, bad outputs)
// are hostile_inputs_test.cc's; docs/hostile-inputs.md lists both.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>

#include "tests/cpp/tester.h"

namespace {

using gqtest::all_of;
using gqtest::Call;
using gqtest::group_index;
using gqtest::kM;
using gqtest::kN;
using gqtest::reshape;
using gqtest::set_dtype;
using gqtest::Tensor;

constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
constexpr gq_dtype kI32 = GQ_DTYPE_INT32, kI64 = GQ_DTYPE_INT64;

template <int32_t Code>
void kind_code(Call& c) {
  // Any int32 is a valid gq_output_kind (the enum spans the range); only 0 and 1 are kinds.
  const int32_t code = Code;
  std::memcpy(&c.kind, &code, sizeof code);
}

template <gq_dtype D>
void offset_of_dtype(Call& c) {
  c.offset_t = Tensor::floats(D, {}, {1.0f});
  c.refresh();
}

template <int64_t... S>
void offset_of_shape(Call& c) {
  c.offset_t = Tensor(GQ_DTYPE_FLOAT32, {S...});
  c.refresh();
}

// x and scale 12 columns wide, and a packed int4 y: N % 8 != 0.
void twelve_columns_int4(Call& c) {
  c.use_int4_output();
  c.x_t = Tensor(GQ_DTYPE_FLOAT32, {kM, 12});
  c.scale_t = Tensor(GQ_DTYPE_FLOAT32, {gqtest::kG, 12});
  c.refresh();
}

// An empty x (and y) of shape [M, N].
template <int64_t M, int64_t N>
void empty_x(Call& c) {
  all_of<reshape<&Call::x, M, N>, reshape<&Call::y, M, N>>(c);
}

// In SPEC.md's order; the messages are for the valid Call (x [6, 8], scale [3, 8],
// group_index int64 [1, 4, 6], offset fp32 []).
const gqtest::Rejection kRules[] = {
    // x not 2-D, or not float32/float16/bfloat16.
    {"x_1d", reshape<&Call::x, 48>, "x must be 2-D: got a 1-D tensor of shape [48]"},
    {"x_3d", reshape<&Call::x, 2, 3, 8>, "x must be 2-D: got a 3-D tensor of shape [2, 3, 8]"},
    {"x_0d", [](Call& c) { c.x.ndim = 0; }, "x must be 2-D: got a 0-D tensor"},
    {"x_int8", set_dtype<&Call::x, GQ_DTYPE_INT8>,
     "x must be float32, float16 or bfloat16: got int8"},
    {"x_int32", set_dtype<&Call::x, GQ_DTYPE_INT32>,
     "x must be float32, float16 or bfloat16: got int32"},
    {"x_int64", set_dtype<&Call::x, GQ_DTYPE_INT64>,
     "x must be float32, float16 or bfloat16: got int64"},

    // scale not 2-D, not a float dtype, or scale.size(1) != x.size(1).
    {"scale_1d", reshape<&Call::scale, 8>, "scale must be 2-D: got a 1-D tensor of shape [8]"},
    {"scale_3d", reshape<&Call::scale, 1, 3, 8>,
     "scale must be 2-D: got a 3-D tensor of shape [1, 3, 8]"},
    {"scale_int8", set_dtype<&Call::scale, GQ_DTYPE_INT8>,
     "scale must be float32, float16 or bfloat16: got int8"},
    {"scale_int32", set_dtype<&Call::scale, GQ_DTYPE_INT32>,
     "scale must be float32, float16 or bfloat16: got int32"},
    {"scale_columns", reshape<&Call::scale, 3, 4>,
     "scale.size(1) must equal x.size(1): got scale [3, 4] for x [6, 8]"},

    // group_index not 1-D, not int32/int64, or group_index.size(0) != scale.size(0).
    {"group_index_2d", reshape<&Call::gi, 3, 1>,
     "group_index must be 1-D: got a 2-D tensor of shape [3, 1]"},
    // [E, 2]: torch_npu's group_list_type=2 (expert, count) pairs; the message says how to
    // convert them.
    {"group_index_expert_count_pairs", reshape<&Call::gi, 3, 2>,
     "group_index must be 1-D: got a 2-D tensor of shape [3, 2]; [E, 2] looks like (expert, "
     "count) pairs (group_list_type=2): convert them with groupquant.to_group_index(group_list, "
     "2)"},
    {"group_index_float32", set_dtype<&Call::gi, GQ_DTYPE_FLOAT32>,
     "group_index must be int32 or int64: got float32"},
    {"group_index_int8", set_dtype<&Call::gi, GQ_DTYPE_INT8>,
     "group_index must be int32 or int64: got int8"},
    {"group_index_length", reshape<&Call::gi, 2>,
     "group_index.size(0) must equal scale.size(0): got group_index [2] for scale [3, 8]"},

    // group_index values: negative, decreasing, greater than M, last value != M; int32
    // and int64 storage, extremes included.
    {"group_index_negative_int32", group_index<kI32, -1, 4, 6>,
     "group_index values must be non-negative: group_index[0]=-1"},
    {"group_index_negative_int64", group_index<kI64, -1, 4, 6>,
     "group_index values must be non-negative: group_index[0]=-1"},
    {"group_index_int64_min", group_index<kI64, 1, kI64Min, 6>,
     "group_index values must be non-negative: group_index[1]=-9223372036854775808"},
    {"group_index_int64_max", group_index<kI64, 1, 4, kI64Max>,
     "group_index values must not exceed M=6 (x.size(0)): group_index[2]=9223372036854775807"},
    {"group_index_int64_max_first", group_index<kI64, kI64Max, 4, 6>,
     "group_index values must not exceed M=6 (x.size(0)): group_index[0]=9223372036854775807"},
    {"group_index_int32_max", group_index<kI32, 1, kI32Max, 6>,
     "group_index values must not exceed M=6 (x.size(0)): group_index[1]=2147483647"},
    {"group_index_int32_min", group_index<kI32, 1, 4, kI32Min>,
     "group_index values must be non-negative: group_index[2]=-2147483648"},
    {"group_index_decreasing", group_index<kI64, 4, 1, 6>,
     "group_index must be non-decreasing: group_index[1]=1 < group_index[0]=4"},
    {"group_index_above_m", group_index<kI32, 1, 7, 6>,
     "group_index values must not exceed M=6 (x.size(0)): group_index[1]=7"},
    {"group_index_last_not_m", group_index<kI64, 1, 4, 5>,
     "group_index last value must equal M=6 (x.size(0)): group_index[2]=5"},
    {"group_index_all_zero", group_index<kI64, 0, 0, 0>,
     "group_index last value must equal M=6 (x.size(0)): group_index[2]=0"},
    // Per-group counts (torch_npu's group_list_type=1) where end rows are wanted: the values
    // sum to M, and the message says so and how to convert them.
    {"group_index_counts_decreasing", group_index<kI64, 1, 3, 2>,
     "group_index must be non-decreasing: group_index[2]=2 < group_index[1]=3; the values sum to "
     "M=6, like per-group counts; end rows, not counts: use torch.cumsum (or "
     "groupquant.to_group_index)"},
    {"group_index_counts_last_not_m", group_index<kI32, 2, 2, 2>,
     "group_index last value must equal M=6 (x.size(0)): group_index[2]=2; the values sum to "
     "M=6, like per-group counts; end rows, not counts: use torch.cumsum (or "
     "groupquant.to_group_index)"},
    // Summing to M is not enough when a value is negative (counts never are), or when the sum
    // gets there only by wrapping around (INT64_MAX + INT64_MAX + 8 wraps to 6).
    {"group_index_sums_to_m_with_negative", group_index<kI64, 4, -1, 3>,
     "group_index values must be non-negative: group_index[1]=-1"},
    {"group_index_sum_wraps_to_m", group_index<kI64, kI64Max, kI64Max, 8>,
     "group_index values must not exceed M=6 (x.size(0)): group_index[0]=9223372036854775807"},

    // G == 0 while x is not empty.
    {"no_groups", all_of<reshape<&Call::scale, 0, kN>, reshape<&Call::gi, 0>>,
     "scale.size(0) (the number of groups G) must be at least 1 when x is non-empty: got G=0 "
     "for x [6, 8]"},

    // offset: a dtype other than scale's (or not a float), a shape other than [] / [1].
    {"offset_float16", offset_of_dtype<GQ_DTYPE_FLOAT16>,
     "offset dtype must equal scale dtype: got offset float16 with scale float32"},
    {"offset_int32", set_dtype<&Call::offset, GQ_DTYPE_INT32>,
     "offset must be float32, float16 or bfloat16: got int32"},
    {"offset_shape_2", offset_of_shape<2>, "offset must have shape [] or [1]: got [2]"},
    {"offset_shape_0", offset_of_shape<0>, "offset must have shape [] or [1]: got [0]"},
    {"offset_shape_1x1", offset_of_shape<1, 1>,
     "offset must be a scalar of shape [] or [1]: got a 2-D tensor of shape [1, 1]"},

    // dst_dtype (the C output kind) other than int8 / packed int4; int4 with N % 8 != 0.
    {"kind_code_2", kind_code<2>,
     "dst_dtype must be int8, qint8 or quint4x2: got output kind code 2"},
    {"kind_code_5", kind_code<5>,
     "dst_dtype must be int8, qint8 or quint4x2: got output kind code 5"},
    {"int4_columns", twelve_columns_int4,
     "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got 12"},

    // Empty x: the rank, dtype and shape rules still apply (its group_index values are
    // not inspected: hostile_inputs_test.cc's EmptyXIsLegalWithGarbageOrZeroGroups).
    {"empty_rows_x_int8", all_of<empty_x<0, kN>, set_dtype<&Call::x, GQ_DTYPE_INT8>>,
     "x must be float32, float16 or bfloat16: got int8"},
    {"empty_columns_x_int8", all_of<empty_x<kM, 0>, set_dtype<&Call::x, GQ_DTYPE_INT8>>,
     "x must be float32, float16 or bfloat16: got int8"},
    {"empty_0x0_x_int8", all_of<empty_x<0, 0>, set_dtype<&Call::x, GQ_DTYPE_INT8>>,
     "x must be float32, float16 or bfloat16: got int8"},
    {"empty_x_scale_columns", all_of<empty_x<0, kN>, reshape<&Call::scale, 3, 3>>,
     "scale.size(1) must equal x.size(1): got scale [3, 3] for x [0, 8]"},
    {"empty_x_group_index_length", all_of<empty_x<0, kN>, reshape<&Call::gi, 1>>,
     "group_index.size(0) must equal scale.size(0): got group_index [1] for scale [3, 8]"},
    {"empty_x_int4_columns",
     all_of<twelve_columns_int4, reshape<&Call::x, 0, 12>, reshape<&Call::y, 0, 1>>,
     "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got 12"},
};

class Validation : public ::testing::TestWithParam<gqtest::Rejection> {};

TEST_P(Validation, RejectsWithMessageAndWritesNothing) {
  Call c;
  GetParam().breaks(c);
  EXPECT_EQ(gqtest::outcome(c), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Rules, Validation, ::testing::ValuesIn(kRules), gqtest::rejection_name);

// gq_output_spec (what a binding asks before it allocates y) applies the N % 8 rule too.
TEST(ValidationOutputSpec, Int4NeedsMultipleOf8Columns) {
  Call c;
  twelve_columns_int4(c);
  gq_dtype dtype;
  int64_t shape[2];
  EXPECT_EQ(gq_output_spec(&c.x, GQ_OUTPUT_INT4_PACKED, &dtype, shape), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(),
               "dst_dtype quint4x2 (packed int4) requires x.size(1) to be a multiple of 8: got 12");
}

}  // namespace
