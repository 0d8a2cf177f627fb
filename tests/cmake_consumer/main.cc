// The packing example through the C++ API; exits non-zero on any mismatch.
#include <cstdio>
#include <groupquant/groupquant.hpp>

int main() {
  float x[8] = {1, -1, 0, 7, -8, 3, -3, 2};
  float scale[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  int64_t group_index[1] = {1};
  int32_t y[1] = {0};
  const int64_t x_shape[2] = {1, 8}, gi_shape[1] = {1};
  const gq_tensor xt{x, 2, GQ_DTYPE_FLOAT32, x_shape, nullptr, 0};
  const gq_tensor st{scale, 2, GQ_DTYPE_FLOAT32, x_shape, nullptr, 0};
  const gq_tensor gt{group_index, 1, GQ_DTYPE_INT64, gi_shape, nullptr, 0};
  const groupquant::OutputSpec spec = groupquant::output_spec(xt, GQ_OUTPUT_INT4_PACKED);
  const gq_tensor yt{y, 2, spec.dtype, spec.shape.data(), nullptr, 0};
  groupquant::group_quant(xt, st, gt, nullptr, GQ_OUTPUT_INT4_PACKED, yt);
  if (static_cast<uint32_t>(y[0]) != 0x2D3870F1u) return 1;
  try {
    groupquant::output_spec(xt, static_cast<gq_output_kind>(7));
    return 1;
  } catch (const groupquant::Error& e) {
    std::printf("C++ consumer OK; bad kind said: %s\n", e.what());
  }
  return 0;
}
