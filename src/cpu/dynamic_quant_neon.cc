// NEON (Advanced SIMD) npu_dynamic_quant row kernels, bit for bit the scalar kernel
// (dynamic_quant_scalar.cc); the same two passes as dynamic_quant_avx2.cc with two
// 4-lane vectors per 8 elements. The last n % 8 elements go through small stack copies
// (NEON has no masked load, and a full-width load would read past n) padded with NaN,
// which the reduction ignores like any NaN element. All loads and stores are
// byte-typed, so any alignment is fine. Built with -ffp-contract=off (CMakeLists.txt):
// the compiler would otherwise fuse vmulq_f32 and vaddq_f32 into fmla. Assumes the
// driver's default floating-point environment (FPCR 0: no flush-to-zero, AHP off);
// fcvtns and the fp8 encoder do not depend on FPCR's rounding mode.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "src/cpu/dynamic_quant_row.h"
#include "src/cpu/kernels.h"
#include "src/dynamic_quant_math.h"
#include "src/element.h"
#include "src/output_kind.h"

namespace groupquant::detail {
namespace {

constexpr int64_t kLanes = 8;  // elements per load: 16 bytes of fp16/bf16

struct Floats8 {
  float32x4_t lo, hi;
};

// Elements i..i+7 widened to float32 exactly: fp16 with fcvtl (exact for every half,
// given FPCR.AHP = 0); bf16 is the top half of a float32, so a widening shift by 16.
template <gq_dtype kX>
Floats8 load8(const char* p, int64_t i) {
  const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(reinterpret_cast<const uint8_t*>(p + 2 * i)));
  if constexpr (kX == GQ_DTYPE_FLOAT16) {
    const float16x8_t f = vreinterpretq_f16_u16(h);
    return {vcvt_f32_f16(vget_low_f16(f)), vcvt_high_f32_f16(f)};
  } else {
    return {vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)),
            vreinterpretq_f32_u32(vshll_high_n_u16(h, 16))};
  }
}
// xs = x * s (x alone without smooth): one rounded multiply.
template <gq_dtype kX, bool kSmooth>
Floats8 smoothed8(const char* x, const char* s, int64_t i) {
  const Floats8 xv = load8<kX>(x, i);
  if constexpr (!kSmooth) return xv;
  const Floats8 sv = load8<kX>(s, i);
  return {vmulq_f32(xv.lo, sv.lo), vmulq_f32(xv.hi, sv.hi)};
}

// The last rem < 8 elements at i, copied into 8-element buffers padded with 0xFFFF, a
// NaN in both fp16 and bf16: the padding lanes' xs is NaN (NaN * s is NaN), which
// the reduction skips and the encoders turn into 0, never stored.
struct Tail {
  alignas(16) char x[16];
  alignas(16) char s[16];
  Tail(const char* x_row, const char* s_row, int64_t i, int64_t rem) {
    std::memset(x, 0xFF, sizeof x);
    std::memset(s, 0xFF, sizeof s);
    std::memcpy(x, x_row + 2 * i, static_cast<size_t>(2 * rem));
    if (s_row != nullptr) std::memcpy(s, s_row + 2 * i, static_cast<size_t>(2 * rem));
  }
};

// accumulate() on 4 lanes. fmax/fmin propagate NaN and fmaxnm/fminnm only quiet NaN
// (a bf16 signalling NaN widens to a signalling float NaN by the shift), so NaN lanes
// are first replaced with the reduction's identity (vbslq on the ordered mask
// vceqq(x, x)); what is left holds no NaN. Symmetric: max |xs| from +0. Asymmetric: max
// and min. accumulate() keeps the first of equal values, so where the max (or min) is
// zero the scalar kernel keeps the row's first zero, +0 or -0, which a lane-wise
// reduction does not know; it cannot change a bit of the output (see
// dynamic_quant_avx2.cc: row_quant() uses max and min only as max - min and max / scale).
template <bool kAsym>
struct Acc {
  float32x4_t hi = vdupq_n_f32(kAsym ? -__builtin_huge_valf() : 0.0f);
  float32x4_t lo = vdupq_n_f32(__builtin_huge_valf());
  void add(float32x4_t xs) {
    const uint32x4_t ordered = vceqq_f32(xs, xs);
    if constexpr (kAsym) {
      hi = vmaxq_f32(hi, vbslq_f32(ordered, xs, vdupq_n_f32(-__builtin_huge_valf())));
      lo = vminq_f32(lo, vbslq_f32(ordered, xs, vdupq_n_f32(__builtin_huge_valf())));
    } else {
      hi = vmaxq_f32(hi, vbslq_f32(ordered, vabsq_f32(xs), vdupq_n_f32(0.0f)));
    }
  }
  void merge(const Acc& o) {  // no NaN in either
    hi = vmaxq_f32(hi, o.hi);
    lo = vminq_f32(lo, o.lo);
  }
};

template <gq_dtype kX, bool kSmooth, bool kAsym>
RowStats reduce_row(const char* x, const char* s, int64_t n) {
  Acc<kAsym> a0, a1, a2, a3;  // four chains: fmax's latency, not its throughput, bounds one
  auto add8 = [](Acc<kAsym>& a, Acc<kAsym>& b, Floats8 v) {
    a.add(v.lo);
    b.add(v.hi);
  };
  int64_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    add8(a0, a1, smoothed8<kX, kSmooth>(x, s, i));
    add8(a2, a3, smoothed8<kX, kSmooth>(x, s, i + kLanes));
  }
  for (; i + kLanes <= n; i += kLanes) add8(a0, a1, smoothed8<kX, kSmooth>(x, s, i));
  if (i < n) {
    const Tail t(x, kSmooth ? s : nullptr, i, n - i);
    add8(a0, a1, smoothed8<kX, kSmooth>(t.x, t.s, 0));
  }
  a0.merge(a1);
  a2.merge(a3);
  a0.merge(a2);
  RowStats stats;
  if constexpr (kAsym) {
    stats.max = vmaxvq_f32(a0.hi);
    stats.min = vminvq_f32(a0.lo);
  } else {
    stats.absmax = vmaxvq_f32(a0.hi);  // +0 when zero, as accumulate() leaves it
  }
  return stats;
}

// scaled_value() on 4 lanes: a multiply (A2) or an IEEE division (950; fdiv is
// correctly rounded), then the asymmetric op's add, each rounded on its own.
template <bool k950, bool kAsym>
struct Scaler {
  float32x4_t factor, offset;
  explicit Scaler(const RowQuant& q)
      : factor(vdupq_n_f32(q.factor)), offset(vdupq_n_f32(q.offset)) {}
  float32x4_t operator()(float32x4_t xs) const {
    const float32x4_t v = k950 ? vdivq_f32(xs, factor) : vmulq_f32(xs, factor);
    return kAsym ? vaddq_f32(v, offset) : v;
  }
};

// encode_fp8() on 4 lanes in integer arithmetic; see fp8_codes16 in
// dynamic_quant_avx512.cc for the derivation. Right shifts are vshlq by a negative count.
template <gq_output_kind kKind>
int32x4_t fp8_codes4(float32x4_t v) {
  constexpr Fp8Format kF = output_traits(kKind).fp8;
  constexpr int kMantissaBits = kF.mantissa_bits, kBias = kF.bias;
  constexpr int kMaxCode = static_cast<int>(kF.max_code);
  const int32x4_t bits = vreinterpretq_s32_f32(v);
  const int32x4_t mag = vandq_s32(bits, vdupq_n_s32(0x7FFFFFFF));
  const int32x4_t e = vshrq_n_s32(mag, 23);
  const int32x4_t sig = vorrq_s32(vandq_s32(mag, vdupq_n_s32(0x7FFFFF)), vdupq_n_s32(0x800000));
  const int32x4_t below = vmaxq_s32(vsubq_s32(vdupq_n_s32(128 - kBias), e), vdupq_n_s32(0));
  const int32x4_t shift =
      vminq_s32(vaddq_s32(below, vdupq_n_s32(23 - kMantissaBits)), vdupq_n_s32(31));
  const int32x4_t neg_shift = vnegq_s32(shift);
  const int32x4_t one = vdupq_n_s32(1);
  const int32x4_t lsb = vandq_s32(vshlq_s32(sig, neg_shift), one);
  const int32x4_t half_m1 = vsubq_s32(vshlq_s32(one, vsubq_s32(shift, one)), one);
  const int32x4_t rounded = vshlq_s32(vaddq_s32(vaddq_s32(sig, half_m1), lsb), neg_shift);
  const int32x4_t field = vmaxq_s32(vsubq_s32(e, vdupq_n_s32(128 - kBias)), vdupq_n_s32(0));
  const int32x4_t code =
      vminq_s32(vaddq_s32(vshlq_n_s32(field, kMantissaBits), rounded), vdupq_n_s32(kMaxCode));
  const int32x4_t sign = vandq_s32(vshrq_n_s32(bits, 24), vdupq_n_s32(0x80));
  const uint32x4_t nan = vcgtq_s32(mag, vdupq_n_s32(0x7F800000));
  return vbicq_s32(vorrq_s32(code, sign), vreinterpretq_s32_u32(nan));
}

// 8 scaled values -> 8 output bytes. Integer kinds: fcvtns rounds half to even whatever
// FPCR's rounding mode, saturates out-of-range values (+-inf included) to the int32
// limits and turns NaN into 0, and the saturating narrows finish round_saturate() to
// int8 (rounding first and saturating after is the same: the bounds are integers).
// fp8: the codes are 0..255, so plain narrows are exact.
template <gq_output_kind kKind>
uint8x8_t encode8(Floats8 v) {
  if constexpr (output_traits(kKind).encoding == Encoding::kFloat8) {
    const uint16x8_t w = vmovn_high_u32(vmovn_u32(vreinterpretq_u32_s32(fp8_codes4<kKind>(v.lo))),
                                        vreinterpretq_u32_s32(fp8_codes4<kKind>(v.hi)));
    return vmovn_u16(w);
  } else {
    const int16x8_t w = vqmovn_high_s32(vqmovn_s32(vcvtnq_s32_f32(v.lo)), vcvtnq_s32_f32(v.hi));
    return vreinterpret_u8_s8(vqmovn_s16(w));
  }
}

// int8 -> nibbles, packed (see row_neon.cc): clamp to [-8, 7] (the narrows already
// saturated to int8, so this equals clamping the rounded value), then uzp1/uzp2 split
// even and odd columns and sli puts the odd ones in the high nibble.
inline uint8x16_t pack_int4(uint8x16_t b0, uint8x16_t b1) {
  auto clamp = [](uint8x16_t b) {
    return vreinterpretq_u8_s8(
        vmaxq_s8(vminq_s8(vreinterpretq_s8_u8(b), vdupq_n_s8(7)), vdupq_n_s8(-8)));
  };
  const uint8x16_t c0 = clamp(b0), c1 = clamp(b1);
  return vsliq_n_u8(vuzp1q_u8(c0, c1), vuzp2q_u8(c0, c1), 4);
}
inline uint32_t pack_int4(uint8x8_t b) {
  const uint8x8_t c =
      vreinterpret_u8_s8(vmax_s8(vmin_s8(vreinterpret_s8_u8(b), vdup_n_s8(7)), vdup_n_s8(-8)));
  return vget_lane_u32(vreinterpret_u32_u8(vsli_n_u8(vuzp1_u8(c, c), vuzp2_u8(c, c), 4)), 0);
}

// The second pass: xs again, scaled, encoded, stored.
template <gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool k950, bool kAsym>
void quantize_row(const char* x, const char* s, int64_t n, const RowQuant& q, char* y_chars) {
  const Scaler<k950, kAsym> scaled(q);
  uint8_t* y = reinterpret_cast<uint8_t*>(y_chars);
  // Elements i..i+7 of the row at (xp, sp) -> 8 bytes: integers or fp8 codes.
  auto bytes8 = [&](const char* xp, const char* sp, int64_t i) {
    const Floats8 xs = smoothed8<kX, kSmooth>(xp, sp, i);
    return encode8<kKind>({scaled(xs.lo), scaled(xs.hi)});
  };
  auto bytes16 = [&](int64_t i) { return vcombine_u8(bytes8(x, s, i), bytes8(x, s, i + kLanes)); };
  int64_t i = 0;
  if constexpr (output_traits(kKind).encoding == Encoding::kPackedInt4) {
    for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
      vst1q_u8(y + i / 2, pack_int4(bytes16(i), bytes16(i + 2 * kLanes)));
    }
    for (; i < n; i += kLanes) {  // n % 8 == 0: one int32 word each
      const uint32_t word = pack_int4(bytes8(x, s, i));
      std::memcpy(y + i / 2, &word, 4);
    }
  } else {
    for (; i + 2 * kLanes <= n; i += 2 * kLanes) vst1q_u8(y + i, bytes16(i));
    for (; i + kLanes <= n; i += kLanes) vst1_u8(y + i, bytes8(x, s, i));
    if (i < n) {
      const Tail t(x, kSmooth ? s : nullptr, i, n - i);
      alignas(8) uint8_t y_tail[8];
      vst1_u8(y_tail, bytes8(t.x, t.s, 0));
      std::memcpy(y + i, y_tail, static_cast<size_t>(n - i));
    }
  }
}

// The two passes, for dynamic_quant_row.h.
struct DynamicQuantPolicy {
  template <gq_dtype kX, bool kSmooth, bool kAsym>
  static RowStats reduce(const char* x, const char* s, int64_t n) {
    return reduce_row<kX, kSmooth, kAsym>(x, s, n);
  }
  template <gq_dtype kX, gq_output_kind kKind, bool kSmooth, bool k950, bool kAsym>
  static void quantize(const char* x, const char* s, int64_t n, const RowQuant& q,
                       const DynamicOp& op, char* y) {
    quantize_row<kX, kKind, kSmooth, k950, kAsym>(x, s, n, q, y);
    (void)op;  // NEON has no streaming-store variant
  }
};

}  // namespace

GQ_DEFINE_SIMD_DYNAMIC_QUANT_KERNELS(neon)

}  // namespace groupquant::detail
