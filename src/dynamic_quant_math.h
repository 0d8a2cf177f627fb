// The per-row arithmetic of npu_dynamic_quant(_asymmetric), SPEC-dynamic-quant.md §2,
// shared by the reference, the CPU kernels and the CUDA kernels (host and device code).
// A row is smoothed (xs = x * s, one fp32 multiply), reduced (max |xs|, or max and min),
// turned into a RowQuant (scale, offset and the per-element factor), then every element
// is scaled and encoded. Every step is one IEEE fp32 operation rounded to nearest even;
// nothing is fused.
#ifndef GROUPQUANT_SRC_DYNAMIC_QUANT_MATH_H_
#define GROUPQUANT_SRC_DYNAMIC_QUANT_MATH_H_

#include <groupquant/groupquant.h>

#include <cstdint>

#include "src/element.h"
#include "src/output_kind.h"

namespace groupquant::detail {

GQ_HOST_DEVICE float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
GQ_HOST_DEVICE float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

// What a call fixes for all of its rows.
struct DynamicOp {
  gq_output_kind kind = GQ_OUTPUT_INT8;
  bool chip_950 = false;    // SPEC §2.4/§2.5; otherwise Atlas A2/A3, §2.2/§2.3
  bool asymmetric = false;  // npu_dynamic_quant_asymmetric
  // A2 symmetric only: the returned scale is fl(1/q) (kernels 0/1/6/7/8) rather than
  // fl(m * c) (kernels 2/3/10/100); chosen from the shape by a2_scale_is_reciprocal().
  bool scale_is_reciprocal = false;
  // CPU only, a storage hint that changes no result: the SIMD kernels that have a
  // streaming-store variant write y's whole 64-byte lines with non-temporal stores. The
  // CPU driver sets it for calls far larger than cache (src/cpu/row_stream.h).
  bool stream_output = false;
};

// §2.2's kernel-selection table, as far as it decides the returned scale of the A2
// symmetric op (192 KiB unified buffer: max_use = 195584 bytes; a = align16(H)).
inline bool a2_scale_is_reciprocal(bool smooth, bool group_index, gq_output_kind kind, int64_t rows,
                                   int64_t h) {
  constexpr int64_t kMaxUse = 195584;
  const int64_t a = (h + 15) / 16 * 16;
  // group_index is read only with smooth_scales (§4); without, it still skips 100 and 10.
  if (smooth && group_index) return true;  // keys 7 and 8: MoE
  if (!group_index && kind == GQ_OUTPUT_INT8 && (h == 4096 || h == 5120 || h == 10240) &&
      rows >= 4 && rows <= 384) {
    return false;  // key 100
  }
  if (!group_index && h % 8 == 0 && h >= 128 && h <= (smooth ? 12800 : 16320)) {
    return false;  // key 10
  }
  if ((smooth ? 17 : 11) * a > kMaxUse) return true;   // key 6
  if ((smooth ? 19 : 13) * a < kMaxUse) return false;  // keys 2/3
  return true;                                         // keys 0/1
}

// Reductions over a smoothed row. NaN elements take no part (§10.6): every compare
// below is false for NaN. A row with no non-NaN element reduces like an all-zero row.
struct RowStats {
  float absmax = 0.0f;
  float max = -__builtin_huge_valf();
  float min = __builtin_huge_valf();
};

GQ_HOST_DEVICE void accumulate(RowStats& s, float xs) {
  const float a = xs < 0.0f ? -xs : xs;
  if (a > s.absmax) s.absmax = a;
  if (xs > s.max) s.max = xs;
  if (xs < s.min) s.min = xs;
}

GQ_HOST_DEVICE RowStats merge(RowStats a, const RowStats& b) {
  if (b.absmax > a.absmax) a.absmax = b.absmax;
  if (b.max > a.max) a.max = b.max;
  if (b.min < a.min) a.min = b.min;
  return a;
}

// How a row's elements are scaled: v = xs * factor (A2) or xs / factor (950), then
// + offset for the asymmetric op (a second rounding, never fused).
struct RowQuant {
  float scale = 0.0f;   // returned
  float offset = 0.0f;  // returned by the asymmetric op; added to every element
  float factor = 0.0f;
};

GQ_HOST_DEVICE RowQuant row_quant(const DynamicOp& op, RowStats s) {
  const OutputTraits t = output_traits(op.kind);
  const float dmax = t.max;
  RowQuant q;
  if (!op.asymmetric) {
    const float m = s.absmax;
    const float c = div_rn(1.0f, dmax);  // the kernels' compile-time fl(1/DMAX)
    if (op.chip_950) {                   // C1, C2
      q.scale = mul_rn(m, c);
      q.factor = q.scale;
    } else {  // A1, A2, A3
      q.factor = div_rn(dmax, m);
      q.scale = op.scale_is_reciprocal ? div_rn(1.0f, q.factor) : mul_rn(m, c);
    }
    return q;
  }
  if (s.min > s.max) s.max = s.min = 0.0f;  // no element took part (all NaN)
  const float range = 2.0f * dmax;          // R: 255 for int8 ([-128, 127]), 15 for int4
  const float r = t.encoding == Encoding::kFloat8 ? range : range + 1.0f;
  if (op.chip_950) {  // D1, D2
    q.scale = mul_rn(sub_rn(s.max, s.min), div_rn(1.0f, r));
    q.offset = add_rn(dmax, -div_rn(s.max, q.scale));
    q.factor = q.scale;
  } else {  // B1, B2, B3
    const float scale = div_rn(sub_rn(s.max, s.min), r);
    const float kEpsilon = float_from_bits(0x2b8cbcccu);  // 1e-12f
    q.scale = scale > kEpsilon ? scale : kEpsilon;        // NaN -> 1e-12f too
    q.offset = sub_rn(dmax, div_rn(s.max, q.scale));
    q.factor = div_rn(1.0f, q.scale);
  }
  return q;
}

// One element: A3/B4 (multiply) or C2/D3 (divide), then B4/D3's add for the asymmetric op.
GQ_HOST_DEVICE float scaled_value(const DynamicOp& op, const RowQuant& q, float xs) {
  const float v = op.chip_950 ? div_rn(xs, q.factor) : mul_rn(xs, q.factor);
  return op.asymmetric ? add_rn(v, q.offset) : v;
}

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_DYNAMIC_QUANT_MATH_H_
