// Per-element arithmetic of SPEC.md, shared by the reference, the CPU kernels' scalar
// tails and the CUDA kernels (it compiles as host and as device code).
#ifndef GROUPQUANT_SRC_ELEMENT_H_
#define GROUPQUANT_SRC_ELEMENT_H_

#include <groupquant/groupquant.h>

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define GQ_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define GQ_HOST_DEVICE inline
#endif

namespace groupquant::detail {

inline constexpr int32_t kInt8Min = -128, kInt8Max = 127;
inline constexpr int32_t kInt4Min = -8, kInt4Max = 7;

GQ_HOST_DEVICE float float_from_bits(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

// bfloat16 is the top half of a float32: widening is a shift, exact by construction.
GQ_HOST_DEVICE float bf16_to_float(uint16_t bits) {
  return float_from_bits(static_cast<uint32_t>(bits) << 16);
}

// IEEE binary16 -> binary32 in integer arithmetic: exact, and the same on every host
// whether or not it has F16C.
GQ_HOST_DEVICE float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1Fu) return float_from_bits(sign | 0x7F800000u | (mantissa << 13));
  if (exponent == 0) {
    if (mantissa == 0) return float_from_bits(sign);
    // Subnormal half: normalise; every one is a normal float.
    exponent = 127 - 15 + 1;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    mantissa &= 0x3FFu;
    return float_from_bits(sign | (exponent << 23) | (mantissa << 13));
  }
  return float_from_bits(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// Widens element i of a float tensor of the given dtype to float32 (exact).
GQ_HOST_DEVICE float load_float(const char* base, gq_dtype dtype, int64_t i) {
  if (dtype == GQ_DTYPE_FLOAT32) {
    float f;
    memcpy(&f, base + i * 4, 4);
    return f;
  }
  uint16_t bits;
  memcpy(&bits, base + i * 2, 2);
  return dtype == GQ_DTYPE_FLOAT16 ? f16_to_float(bits) : bf16_to_float(bits);
}

GQ_HOST_DEVICE int64_t load_index(const char* base, gq_dtype dtype, int64_t i) {
  if (dtype == GQ_DTYPE_INT32) {
    int32_t v;
    memcpy(&v, base + i * 4, 4);
    return v;
  }
  int64_t v;
  memcpy(&v, base + i * 8, 8);
  return v;
}

// One fp32 multiply and one fp32 add, each rounded to nearest even. Never an FMA: the
// NPU rounds twice (kernel code builds with -ffp-contract=off; CUDA uses the _rn
// intrinsics, which nvcc never contracts).
GQ_HOST_DEVICE float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
GQ_HOST_DEVICE float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

// round_half_to_even(v) clamped to [lo, hi], NaN -> 0. Independent of the rounding
// mode: the clamp happens in float first (so the truncating cast never overflows) and
// the tie is decided from the exact fraction v - trunc(v).
GQ_HOST_DEVICE int32_t round_saturate(float v, int32_t lo, int32_t hi) {
  if (v != v) return 0;
  if (v >= static_cast<float>(hi)) return hi;
  if (v <= static_cast<float>(lo)) return lo;
  int32_t t = static_cast<int32_t>(v);           // truncates toward zero
  const float frac = v - static_cast<float>(t);  // exact: |v| < 2^8
  if (frac > 0.5f || (frac == 0.5f && (t & 1))) ++t;
  if (frac < -0.5f || (frac == -0.5f && (t & 1))) --t;
  return t;
}

// Column 8w+k of a packed int4 row sits in bits [4k, 4k+3] of word w, two's complement.
GQ_HOST_DEVICE uint32_t pack_nibble(int32_t q, int k) {
  return (static_cast<uint32_t>(q) & 0xFu) << (4 * k);
}

// An OCP fp8 format: sign, exponent with `bias`, `mantissa_bits`; max_code is the
// largest finite magnitude's bit pattern (e4m3fn: 448 = 0x7E; e5m2: 57344 = 0x7B).
struct Fp8Format {
  int32_t mantissa_bits = 0;
  int32_t bias = 0;
  uint32_t max_code = 0;
};
inline constexpr Fp8Format kFp8E4M3Fn{3, 7, 0x7Eu};
inline constexpr Fp8Format kFp8E5M2{2, 15, 0x7Bu};

// float32 -> fp8 bits: round to nearest even on the fp8 grid (subnormals included),
// saturating (|v| beyond max, and +-inf, give +-max), NaN -> 0x00. Integer arithmetic
// on the bits, so independent of the rounding mode and of FTZ/DAZ.
GQ_HOST_DEVICE uint32_t encode_fp8(float v, Fp8Format f) {
  if (v != v) return 0;
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  const uint32_t sign = (bits >> 24) & 0x80u;
  const uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude >= 0x7F800000u) return sign | f.max_code;  // +-inf
  const int32_t exponent = static_cast<int32_t>(magnitude >> 23) - 127;
  if (magnitude < 0x00800000u) return sign;  // float subnormal: far below fp8's least
  const uint32_t significand = (magnitude & 0x7FFFFFu) | 0x800000u;  // 1.m * 2^23
  const int32_t min_exponent = 1 - f.bias;                           // of a normal fp8
  // Keep mantissa_bits bits below the leading one; below min_exponent, fewer (subnormal).
  int32_t shift = 23 - f.mantissa_bits + (exponent < min_exponent ? min_exponent - exponent : 0);
  if (shift > 25) return sign;  // below half the least subnormal: rounds to 0
  const uint32_t kept = significand >> shift;
  const uint32_t rest = significand & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  const uint32_t rounded = kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
  uint32_t code;
  if (exponent < min_exponent) {
    code = rounded;  // subnormal; rounding up to 1 << mantissa_bits is the least normal
  } else {
    // rounded is in [2^m, 2^(m+1)]; 2^(m+1) carries into the exponent field.
    code = (static_cast<uint32_t>(exponent + f.bias) << f.mantissa_bits) +
           (rounded - (1u << f.mantissa_bits));
  }
  return sign | (code > f.max_code ? f.max_code : code);
}

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_ELEMENT_H_
