// The hostile inputs beyond SPEC.md's rules (docs/hostile-inputs.md; the rules
// themselves are validate_test.cc's): each bad input gives exactly its documented error
// on every entry point (C++ fast path, C++ reference, C ABI) and leaves y and every
// input untouched; each odd-but-legal input gives the same bytes as the plain
// contiguous call.
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

using gqtest::Call;
using gqtest::kG;
using gqtest::kM;
using gqtest::kN;
using gqtest::outcome;
using gqtest::restride;
using gqtest::set_dtype;
using gqtest::Tensor;

// The y bytes of the untouched valid call, to compare legal variants against.
std::vector<unsigned char> plain_result(gq_output_kind kind = GQ_OUTPUT_INT8) {
  Call c;
  if (kind == GQ_OUTPUT_INT4_PACKED) c.use_int4_output();
  EXPECT_EQ(outcome(c), "");
  return c.y_t.storage();
}

// ---- Rejected: one way to break the valid call, and its exact message ------------------

const gqtest::Rejection kRejected[] = {
    // x
    {"XNegativeRank", [](Call& c) { c.x.ndim = -1; }, "x must be 2-D: got a -1-D tensor"},
    {"XNullData", [](Call& c) { c.x.data = nullptr; },
     "x data must not be null for a non-empty tensor: shape [6, 8]"},
    {"XNullShape", [](Call& c) { c.x.shape = nullptr; }, "x shape must not be null"},
    {"XNegativeSize",
     [](Call& c) {
       static const int64_t shape[] = {-6, 8};
       c.x.shape = shape;
     },
     "x sizes must be non-negative: got shape [-6, 8]"},
    {"XNegativeStride", restride<&Call::x, -8, 1>,
     "x strides must be non-negative: got strides [-8, 1]"},
    {"XNegativeInnerStride", restride<&Call::x, 8, -1>,
     "x strides must be non-negative: got strides [8, -1]"},
    {"XShapeOverflow",
     [](Call& c) {
       static const int64_t shape[] = {int64_t{1} << 40, int64_t{1} << 40};
       c.x.shape = shape;
       c.x.strides = nullptr;
     },
     "x is too large: its extent overflows 64-bit byte offsets (shape [1099511627776, "
     "1099511627776])"},
    {"XStrideOverflow", restride<&Call::x, std::numeric_limits<int64_t>::max() / 4, 1>,
     "x is too large: its extent overflows 64-bit byte offsets (shape [6, 8])"},
    // offset
    {"OffsetNullData", [](Call& c) { c.offset.data = nullptr; },
     "offset data must not be null for a non-empty tensor: shape []"},
    // y: dtype, shape, null data, strides
    {"YWrongDtype", set_dtype<&Call::y, GQ_DTYPE_INT32>,
     "y must be int8 (output kind int8): got int32"},
    {"YWrongDtypeInt4",
     [](Call& c) {
       c.use_int4_output();
       c.y.dtype = GQ_DTYPE_INT8;
     },
     "y must be int32 (output kind packed int4): got int8"},
    {"YWrongShape",
     [](Call& c) {
       static const int64_t shape[] = {kM, kN / 8};
       c.y.shape = shape;
       c.y.strides = nullptr;
     },
     "y must have shape [6, 8] for x [6, 8]: got [6, 1]"},
    {"YNullData", [](Call& c) { c.y.data = nullptr; },
     "y data must not be null for a non-empty tensor: shape [6, 8]"},
    {"YNegativeStride", restride<&Call::y, 8, -1>,
     "y strides must be non-negative: got strides [8, -1]"},
    // y aliasing an input: an int8 y laid over the input's own bytes.
    {"YAliasesX",
     [](Call& c) {
       c.y.data = c.x.data;  // x is 192 bytes, y needs 48
     },
     "y must not overlap an input: it shares memory with x"},
    {"YAliasesScale",
     [](Call& c) {
       c.y.data = c.scale.data;  // scale is 96 bytes, y 48
     },
     "y must not overlap an input: it shares memory with scale"},
    {"YAliasesGroupIndex",
     [](Call& c) {
       static const int64_t shape[] = {2, 8};  // 16 bytes inside the 24 bytes of group_index
       c.x.shape = shape;
       c.y.shape = shape;
       c.set_group_index(GQ_DTYPE_INT64, {1, 2, 2});
       c.y.data = c.gi.data;
     },
     "y must not overlap an input: it shares memory with group_index"},
    {"YAliasesOffset",
     [](Call& c) {
       static const int64_t shape[] = {1, 1}, s_shape[] = {3, 1};
       c.x.shape = shape;
       c.scale.shape = s_shape;
       c.scale.strides = nullptr;
       c.set_group_index(GQ_DTYPE_INT64, {1, 1, 1});
       c.y.shape = shape;
       c.y.data = c.offset.data;
     },
     "y must not overlap an input: it shares memory with offset"},
};

class Rejected : public ::testing::TestWithParam<gqtest::Rejection> {};

TEST_P(Rejected, GivesItsMessageAndWritesNothing) {
  Call c;
  GetParam().breaks(c);
  EXPECT_EQ(outcome(c), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(HostileInputs, Rejected, ::testing::ValuesIn(kRejected),
                         gqtest::rejection_name);

// ---- Rejected, several values each -----------------------------------------------------

TEST(HostileInputs, XUnknownDtypeCode) {
  // gq_dtype spans int32, so any code is a valid enum value in C++ as from C.
  for (int32_t code : {8, 99, -1, std::numeric_limits<int32_t>::max()}) {
    Call c;
    std::memcpy(&c.x.dtype, &code, sizeof code);
    EXPECT_EQ(outcome(c),
              "x must be float32, float16 or bfloat16: got dtype code " + std::to_string(code));
  }
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

// ---- Accepted: group_index and offset forms ----------------------------------------------

TEST(HostileInputs, GroupIndexEmptyGroupsAreLegal) {
  // Equal neighbours own no rows; the unused scale rows are never read for output.
  Call c;
  c.set_group_index(GQ_DTYPE_INT64, {0, 6, 6});
  EXPECT_EQ(outcome(c), "");
  Call d;
  d.set_group_index(GQ_DTYPE_INT32, {6, 6, 6});
  EXPECT_EQ(outcome(d), "");
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

TEST(HostileInputs, EmptyXIsLegalWithGarbageOrZeroGroups) {
  // x [0, 8], [6, 0] or [0, 0]: group_index values are not inspected (garbage here),
  // G == 0 is allowed, and nothing is written.
  const int64_t shapes[][2] = {{0, kN}, {kM, 0}, {0, 0}};
  for (const auto& shape : shapes) {
    for (int64_t groups : {kG, int64_t{0}}) {
      Call c;
      const int64_t s_shape[] = {groups, shape[1]}, gi_shape[] = {groups};
      c.x.shape = shape;
      c.y.shape = shape;
      c.scale.shape = s_shape;
      c.gi.shape = gi_shape;
      c.gi_t.set_int(0, std::numeric_limits<int64_t>::min());
      c.gi_t.set_int(1, -5);
      if (groups == 0) c.x.strides = c.scale.strides = c.y.strides = nullptr;
      EXPECT_EQ(outcome(c), "") << shape[0] << "x" << shape[1] << ", G=" << groups;
      EXPECT_EQ(c.y_t.storage(), Tensor(GQ_DTYPE_INT8, {kM, kN}).storage());
    }
  }
}

TEST(HostileInputs, OffsetShapeOneIsLegal) {
  Call c;
  c.offset_t = Tensor::floats(GQ_DTYPE_FLOAT32, {1}, {1.0f});
  c.refresh();
  EXPECT_EQ(outcome(c), "");
  EXPECT_EQ(c.y_t.storage(), plain_result());
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
    for (int isa = 0; isa < 4; ++isa) {
      const char* name[] = {"scalar", "avx2", "avx512", "neon"};
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
  EXPECT_STREQ(gq_last_error(),
               "CPU ISA name must be one of auto, scalar, avx2, avx512, neon: got ''");
  EXPECT_EQ(gq_set_cpu_isa("sse9"), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_STREQ(gq_last_error(),
               "CPU ISA name must be one of auto, scalar, avx2, avx512, neon: got 'sse9'");
  EXPECT_EQ(gq_cpu_isa_supported(nullptr), 0);
  EXPECT_EQ(gq_cpu_isa_supported("sse9"), 0);
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
