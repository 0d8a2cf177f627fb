// Every validation rule of npu_dynamic_quant(_asymmetric) (SPEC-dynamic-quant.md §4 with
// §10's decisions): the exact message, through the C++ fast path, the reference and the
// C ABI alike, and no byte of any output written.
#include <gtest/gtest.h>

#include <functional>
#include <groupquant/groupquant.hpp>
#include <string>
#include <vector>

#include "tests/cpp/tester.h"

namespace {

using gqtest::Tensor;

// A valid asymmetric MoE call: input fp16 [2, 3, 8] (6 rows), smooth fp16 [2, 8],
// group_index int32 [2] = {2, 6}, int8 y [2, 3, 8], float32 scale and offset [2, 3].
struct DynamicCall {
  Tensor x = Tensor(GQ_DTYPE_FLOAT16, {2, 3, 8});
  Tensor smooth = Tensor(GQ_DTYPE_FLOAT16, {2, 8});
  Tensor gi = Tensor::ints(GQ_DTYPE_INT32, {2}, {2, 6});
  Tensor y = Tensor(GQ_DTYPE_INT8, {2, 3, 8});
  Tensor scale = Tensor(GQ_DTYPE_FLOAT32, {2, 3});
  Tensor offset = Tensor(GQ_DTYPE_FLOAT32, {2, 3});
  gq_tensor xv = x.view(), sv = smooth.view(), gv = gi.view(), yv = y.view(), scv = scale.view(),
            ov = offset.view();
  gq_tensor *s = &sv, *g = &gv, *o = &ov;
  gq_dynamic_quant_config config{GQ_OUTPUT_INT8, GQ_CHIP_A2, 1};

  DynamicCall() {
    for (int64_t i = 0; i < x.numel(); ++i) x.set_float(i, static_cast<float>(i % 7) - 3.0f);
    for (int64_t i = 0; i < smooth.numel(); ++i) smooth.set_float(i, 1.0f);
  }
};

std::vector<unsigned char> outputs_bytes(const DynamicCall& c) {
  std::vector<unsigned char> b = c.y.storage();
  b.insert(b.end(), c.scale.storage().begin(), c.scale.storage().end());
  b.insert(b.end(), c.offset.storage().begin(), c.offset.storage().end());
  return b;
}

// The message of every entry point (they must agree), or "" on success.
std::string outcome(DynamicCall& c) {
  const std::vector<unsigned char> before = outputs_bytes(c);
  std::string messages[3];
  try {
    groupquant::dynamic_quant(c.xv, c.s, c.g, c.config, c.yv, c.scv, c.o);
  } catch (const groupquant::Error& e) {
    messages[0] = e.what();
  }
  try {
    groupquant::dynamic_quant_reference(c.xv, c.s, c.g, c.config, c.yv, c.scv, c.o);
  } catch (const groupquant::Error& e) {
    messages[1] = e.what();
  }
  if (gq_dynamic_quant(&c.xv, c.s, c.g, &c.config, nullptr, &c.yv, &c.scv, c.o) !=
      GQ_STATUS_SUCCESS) {
    messages[2] = gq_last_error();
  }
  EXPECT_EQ(messages[0], messages[1]);
  EXPECT_EQ(messages[0], messages[2]);
  if (!messages[0].empty()) {
    EXPECT_EQ(before, outputs_bytes(c)) << "a rejected call wrote";
  }
  return messages[0];
}

struct Rule {
  const char* name;
  std::function<void(DynamicCall&)> breaks;
  std::string message;
};
void PrintTo(const Rule& r, std::ostream* os) { *os << r.name; }

const int64_t k1d[] = {8};
const int64_t k2x8[] = {2, 8};
const int64_t k3x8[] = {3, 8};
const int64_t k6x8[] = {6, 8};
const int64_t k2x3x4[] = {2, 3, 4};
const int64_t k1[] = {1};
const int64_t k2x3[] = {2, 3};

const Rule kRules[] = {
    {"UnknownKind", [](DynamicCall& c) { c.config.kind = static_cast<gq_output_kind>(9); },
     "dst_type must be int8, quint4x2, float8_e4m3fn or float8_e5m2: got output kind code 9"},
    {"UnknownChip", [](DynamicCall& c) { c.config.chip = static_cast<gq_chip>(3); },
     "chip must be \"a2\" (Atlas A2/A3) or \"950\" (Ascend 950): got chip code 3"},
    {"AsymmetricNotBool", [](DynamicCall& c) { c.config.asymmetric = 2; },
     "asymmetric must be 0 or 1: got 2"},
    {"Fp8OnA2", [](DynamicCall& c) { c.config.kind = GQ_OUTPUT_FLOAT8_E4M3FN; },
     "dst_type float8_e4m3fn is only produced by Ascend 950: pass chip=\"950\" (got chip=\"a2\")"},
    {"InputFloat32", [](DynamicCall& c) { c.xv.dtype = GQ_DTYPE_FLOAT32; },
     "input must be float16 or bfloat16 (the NPU kernels take no float32): got float32"},
    {"Input1D", [](DynamicCall& c) { c.xv.ndim = 1, c.xv.shape = k1d, c.xv.strides = nullptr; },
     "input must be 2-D to 8-D: got a 1-D tensor of shape [8]"},
    {"Int4NeedsMultipleOf8",
     [](DynamicCall& c) {
       c.config.kind = GQ_OUTPUT_INT4_PACKED;
       c.xv.shape = k2x3x4, c.xv.strides = nullptr;
     },
     "dst_type quint4x2 (packed int4) requires input.size(-1) to be a multiple of 8: got 4"},
    {"SmoothDtype", [](DynamicCall& c) { c.sv.dtype = GQ_DTYPE_BFLOAT16; },
     "smooth_scales dtype must equal input dtype: got smooth_scales bfloat16 with input float16"},
    {"SmoothLastDim", [](DynamicCall& c) { c.sv.shape = k2x3, c.sv.strides = nullptr; },
     "smooth_scales.size(-1) must equal input.size(-1): got smooth_scales [2, 3] for input [2, 3, "
     "8]"},
    {"Smooth2DWithoutGroupIndex", [](DynamicCall& c) { c.g = nullptr; },
     "smooth_scales of shape [E, H] needs group_index to route rows to experts: got [2, 8] "
     "without group_index"},
    {"Smooth1DWithGroupIndex",
     [](DynamicCall& c) { c.sv.ndim = 1, c.sv.shape = k1d, c.sv.strides = nullptr; },
     "smooth_scales must be 2-D [E, H] when group_index is given: got [8]"},
    {"GroupIndexDtype", [](DynamicCall& c) { c.gv.dtype = GQ_DTYPE_INT8; },
     "group_index must be int32 or int64: got int8"},
    {"GroupIndexSize", [](DynamicCall& c) { c.gv.shape = k1; },
     "group_index.size(0) must equal smooth_scales.size(0): got group_index [1] for smooth_scales "
     "[2, 8]"},
    {"GroupIndexDecreasing", [](DynamicCall& c) { c.gi.set_int(0, 5), c.gi.set_int(1, 4); },
     "group_index must be non-decreasing: group_index[1]=4 < group_index[0]=5"},
    {"GroupIndexAboveRows", [](DynamicCall& c) { c.gi.set_int(0, 7); },
     "group_index values must not exceed the number of rows 6 (the product of input's leading "
     "sizes): group_index[0]=7"},
    {"GroupIndexLastNotRows", [](DynamicCall& c) { c.gi.set_int(1, 5); },
     "group_index last value must equal the number of rows 6 (the product of input's leading "
     "sizes): group_index[1]=5"},
    {"GroupIndexNegative", [](DynamicCall& c) { c.gi.set_int(0, -1); },
     "group_index values must be non-negative: group_index[0]=-1"},
    {"YDtype", [](DynamicCall& c) { c.yv.dtype = GQ_DTYPE_INT32; },
     "y must be int8 (output kind int8): got int32"},
    {"YShape", [](DynamicCall& c) { c.yv.shape = k2x3x4, c.yv.strides = nullptr; },
     "y must have shape [2, 3, 8] for input [2, 3, 8]: got [2, 3, 4]"},
    {"ScaleShape",
     [](DynamicCall& c) { c.scv.ndim = 1, c.scv.shape = k1, c.scv.strides = nullptr; },
     "scale must be of rank input.dim() - 1: got a 1-D tensor of shape [1]"},
    {"ScaleDtype", [](DynamicCall& c) { c.scv.dtype = GQ_DTYPE_FLOAT16; },
     "scale must be float32: got float16"},
    {"OffsetMissing", [](DynamicCall& c) { c.o = nullptr; },
     "offset must not be null for the asymmetric op"},
    {"OffsetForSymmetric", [](DynamicCall& c) { c.config.asymmetric = 0; },
     "offset must be null for the symmetric op (npu_dynamic_quant returns no offset)"},
    {"OffsetOverlapsScale", [](DynamicCall& c) { c.ov = c.scv; },
     "offset must not overlap another output: it shares memory with scale"},
    {"YOverlapsInput", [](DynamicCall& c) { c.yv.data = c.xv.data; },
     "y must not overlap an input: it shares memory with input"},
    {"YSelfOverlap",
     [](DynamicCall& c) {
       static const int64_t strides[] = {8, 8, 1};
       c.yv.strides = strides;
     },
     "y strides must not make elements overlap: got strides [8, 8, 1] for shape [2, 3, 8]"},
};

class DynamicQuantValidation : public ::testing::TestWithParam<Rule> {};

TEST_P(DynamicQuantValidation, Rejects) {
  DynamicCall c;
  ASSERT_EQ(outcome(c), "");  // the unbroken call is valid
  DynamicCall broken;
  GetParam().breaks(broken);
  EXPECT_EQ(outcome(broken), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Rules, DynamicQuantValidation, ::testing::ValuesIn(kRules),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(DynamicQuantValidation, GroupIndexIgnoredWithoutSmooth) {
  DynamicCall c;
  c.s = nullptr;
  c.gi.set_int(0, -5);  // would be rejected if it were read (SPEC §4: ignored)
  EXPECT_EQ(outcome(c), "");
}

TEST(DynamicQuantValidation, EmptyRowsAndZeroWidth) {
  DynamicCall c;
  static const int64_t rows0[] = {0, 8}, y0[] = {0, 8}, s0[] = {0};
  c.xv.ndim = 2, c.xv.shape = rows0, c.xv.strides = nullptr;
  c.yv.ndim = 2, c.yv.shape = y0, c.yv.strides = nullptr;
  c.scv.ndim = 1, c.scv.shape = s0, c.scv.strides = nullptr;
  c.ov.ndim = 1, c.ov.shape = s0, c.ov.strides = nullptr;
  c.gi.set_int(1, 0);
  c.gi.set_int(0, 0);
  EXPECT_EQ(outcome(c), "");
  // H == 0 with rows: scale and offset are 0 (§10.7).
  DynamicCall z;
  static const int64_t x0[] = {2, 3, 0}, sm0[] = {2, 0};
  z.xv.shape = x0, z.xv.strides = nullptr;
  z.yv.shape = x0, z.yv.strides = nullptr;
  z.sv.shape = sm0, z.sv.strides = nullptr;
  z.scale.fill_bytes(0x7F);
  z.offset.fill_bytes(0x7F);
  EXPECT_EQ(outcome(z), "");
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(z.scale.get_float(i), 0.0f);
    EXPECT_EQ(z.offset.get_float(i), 0.0f);
  }
}

}  // namespace
