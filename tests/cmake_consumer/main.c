/* The aclnn example through the C ABI; exits non-zero on any mismatch. */
#include <groupquant/groupquant.h>
#include <stdio.h>

int main(void) {
  float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  float scale[6] = {1, 2, 1, 2, 1, 2};
  int32_t group_index[3] = {1, 2, 4};
  float offset = 2.0f;
  int8_t y[8];
  const int64_t x_shape[2] = {4, 2}, scale_shape[2] = {3, 2}, gi_shape[1] = {3};
  gq_tensor xt = {x, 2, GQ_DTYPE_FLOAT32, x_shape, NULL, 0};
  gq_tensor st = {scale, 2, GQ_DTYPE_FLOAT32, scale_shape, NULL, 0};
  gq_tensor gt = {group_index, 1, GQ_DTYPE_INT32, gi_shape, NULL, 0};
  gq_tensor ot = {&offset, 0, GQ_DTYPE_FLOAT32, NULL, NULL, 0};
  gq_tensor yt = {y, 2, GQ_DTYPE_INT8, x_shape, NULL, 0};
  if (gq_group_quant(&xt, &st, &gt, &ot, GQ_OUTPUT_INT8, NULL, &yt) != GQ_STATUS_SUCCESS) {
    fprintf(stderr, "failed: %s\n", gq_last_error());
    return 1;
  }
  const int8_t expected[8] = {2, 4, 4, 8, 6, 12, 8, 16};
  for (int i = 0; i < 8; ++i) {
    if (y[i] != expected[i]) return 1;
  }
  group_index[2] = 3; /* last value != M */
  if (gq_group_quant(&xt, &st, &gt, &ot, GQ_OUTPUT_INT8, NULL, &yt) != GQ_STATUS_INVALID_ARGUMENT) return 1;
  printf("C consumer OK (cpu isa %s); bad input said: %s\n", gq_cpu_isa(), gq_last_error());
  return 0;
}
