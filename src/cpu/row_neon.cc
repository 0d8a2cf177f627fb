// NEON (Advanced SIMD, the aarch64 baseline) row kernels: 4 floats per vector, 16
// elements per main-loop iteration for int8 (one 16-byte store) and 32 for packed int4
// (16 bytes), then 8 at a time, then the last n % 8 elements through a small stack copy
// (NEON has no masked loads, and a full-width load would read past n). All loads and
// stores are byte-typed (vld1q_u8 / vst1q_u8), so any alignment is fine. No streaming
// variant: aarch64 has no non-temporal store that skips the read-for-ownership the way
// vmovntdq does (stnp is only a hint), so find_streaming_row_kernel() returns null here.
// Built with -ffp-contract=off (CMakeLists.txt): vmulq_f32 and vaddq_f32 are plain
// vector * and + in arm_neon.h, which the compiler would otherwise fuse into fmla.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "src/cpu/kernels.h"
#include "src/cpu/row_stream.h"

namespace groupquant::detail {
namespace {

template <gq_dtype kD>
constexpr int64_t elem_size() {
  return kD == GQ_DTYPE_FLOAT32 ? 4 : 2;
}

struct Floats8 {
  float32x4_t lo, hi;
};

// Loads elements i..i+7 and widens them to float32, exactly: fp16 with fcvtl (exact for
// every half, subnormals included, given FPCR.AHP = 0, which the driver's default
// floating-point environment guarantees); bf16 is the top half of a float32, so a
// widening shift by 16.
template <gq_dtype kD>
Floats8 load8(const void* base, int64_t i) {
  const uint8_t* p = static_cast<const uint8_t*>(base) + i * elem_size<kD>();
  if constexpr (kD == GQ_DTYPE_FLOAT32) {
    return {vreinterpretq_f32_u8(vld1q_u8(p)), vreinterpretq_f32_u8(vld1q_u8(p + 16))};
  } else {
    const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(p));
    if constexpr (kD == GQ_DTYPE_FLOAT16) {
      const float16x8_t f = vreinterpretq_f16_u16(h);
      return {vcvt_f32_f16(vget_low_f16(f)), vcvt_high_f32_f16(f)};
    } else {
      return {vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)),
              vreinterpretq_f32_u32(vshll_high_n_u16(h, 16))};
    }
  }
}

// x * s + offset for 4 lanes, rounded half to even to int32: one multiply and one add,
// each rounded (never an FMA). fcvtns rounds to nearest, ties to even, whatever FPCR's
// rounding mode, saturates what is out of int32 range (+-inf included) and turns NaN
// into 0 (Arm ARM, FPToFixed), so no float clamp or NaN mask is needed: the int8/int4
// bounds are integers, so rounding first and saturating after gives the same result.
inline int32x4_t quantize4(float32x4_t x, float32x4_t s, float32x4_t offset) {
  return vcvtnq_s32_f32(vaddq_f32(vmulq_f32(x, s), offset));
}

// Elements i..i+7 -> 8 saturated int8 (saturating narrows: int32 -> int16 -> int8).
template <gq_dtype kX, gq_dtype kS>
int8x8_t bytes8(const void* x, const void* s, int64_t i, float32x4_t offset) {
  const Floats8 xv = load8<kX>(x, i), sv = load8<kS>(s, i);
  const int16x8_t words =
      vqmovn_high_s32(vqmovn_s32(quantize4(xv.lo, sv.lo, offset)), quantize4(xv.hi, sv.hi, offset));
  return vqmovn_s16(words);
}

template <gq_dtype kX, gq_dtype kS>
int8x16_t bytes16(const void* x, const void* s, int64_t i, float32x4_t offset) {
  return vcombine_s8(bytes8<kX, kS>(x, s, i, offset), bytes8<kX, kS>(x, s, i + 8, offset));
}

template <gq_dtype kX, gq_dtype kS>
void row_qs8(const void* x, const void* s, float32x4_t offset, int8_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) vst1q_s8(y + i, bytes16<kX, kS>(x, s, i, offset));
  for (; i + 8 <= n; i += 8) vst1_s8(y + i, bytes8<kX, kS>(x, s, i, offset));
  if (i < n) {
    const int64_t rem = n - i;
    alignas(16) uint8_t x_tail[8 * 4] = {}, s_tail[8 * 4] = {};
    std::memcpy(x_tail, static_cast<const uint8_t*>(x) + i * elem_size<kX>(),
                rem * elem_size<kX>());
    std::memcpy(s_tail, static_cast<const uint8_t*>(s) + i * elem_size<kS>(),
                rem * elem_size<kS>());
    alignas(8) int8_t y_tail[8];
    vst1_s8(y_tail, bytes8<kX, kS>(x_tail, s_tail, 0, offset));
    std::memcpy(y + i, y_tail, rem);
  }
}

// int8 -> int4 range: the top and bottom clamps in bytes (the narrows already saturated
// to int8, so this equals clamping the rounded value to [-8, 7]).
inline int8x16_t clamp_int4(int8x16_t b) {
  return vmaxq_s8(vminq_s8(b, vdupq_n_s8(7)), vdupq_n_s8(-8));
}
inline int8x8_t clamp_int4(int8x8_t b) { return vmax_s8(vmin_s8(b, vdup_n_s8(7)), vdup_n_s8(-8)); }

// Packing (SPEC.md): column 8w+k in bits [4k, 4k+3] of little-endian word w, so byte j
// holds column 2j in its low nibble and column 2j+1 in its high nibble. uzp1/uzp2 split
// even and odd columns; sli shifts the odd ones left by 4 and inserts them above the low
// nibble of the even ones.
template <gq_dtype kX, gq_dtype kS>
void row_qs4(const void* x, const void* s, float32x4_t offset, char* y_chars, int64_t n) {
  uint8_t* y = reinterpret_cast<uint8_t*>(y_chars);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const uint8x16_t b0 = vreinterpretq_u8_s8(clamp_int4(bytes16<kX, kS>(x, s, i, offset)));
    const uint8x16_t b1 = vreinterpretq_u8_s8(clamp_int4(bytes16<kX, kS>(x, s, i + 16, offset)));
    vst1q_u8(y + i / 2, vsliq_n_u8(vuzp1q_u8(b0, b1), vuzp2q_u8(b0, b1), 4));
  }
  // n % 8 == 0: whole groups of 8 only, one int32 word each.
  for (; i < n; i += 8) {
    const uint8x8_t b = vreinterpret_u8_s8(clamp_int4(bytes8<kX, kS>(x, s, i, offset)));
    const uint8x8_t packed = vsli_n_u8(vuzp1_u8(b, b), vuzp2_u8(b, b), 4);
    const uint32_t word = vget_lane_u32(vreinterpret_u32_u8(packed), 0);
    std::memcpy(y + i / 2, &word, 4);
  }
}

// The template GQ_DEFINE_SIMD_ROW_KERNEL_ (row_stream.h) instantiates; there is no
// streaming variant, so kStream is always false.
template <gq_dtype kX, gq_dtype kS, gq_output_kind kKind, bool kStream>
void row_neon(const void* x, const void* s, float offset, void* y, int64_t n) {
  static_assert(!kStream, "NEON has no streaming-store variant");
  static_assert(kKind == GQ_OUTPUT_INT8 || kKind == GQ_OUTPUT_INT4_PACKED,
                "npu_group_quant's output kinds");
  const float32x4_t off = vdupq_n_f32(offset);
  if constexpr (kKind == GQ_OUTPUT_INT8) {
    row_qs8<kX, kS>(x, s, off, static_cast<int8_t*>(y), n);
  } else {
    row_qs4<kX, kS>(x, s, off, static_cast<char*>(y), n);
  }
}

}  // namespace

// The 18 kernels group_quant_<x>_<scale>_<out>__neon, defined the way GQ_DEFINE_SIMD_ROW_KERNELS
// defines the x86 ones, minus find_streaming_row_kernel_neon.
GQ_GROUP_QUANT_TYPES(GQ_DEFINE_SIMD_ROW_KERNEL_, neon)

}  // namespace groupquant::detail
