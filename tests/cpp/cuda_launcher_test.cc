// The CUDA launchers' host side (gq_group_quant_cuda, gq_dynamic_quant_cuda), runnable without a
// GPU: argument validation happens before any CUDA call and reads no device memory, so host
// pointers stand in for device ones; an empty problem launches nothing; on a machine without a GPU
// a real launch reports the CUDA error instead of crashing. Built and run by `make cuda` (needs
// nvcc); the GPU itself is tested by tests/python/test_cuda.py.
#include <cuda_runtime.h>
#include <groupquant/groupquant_cuda.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/cpp/tester.h"

namespace {

using gqtest::Tensor;

struct Args {
  Tensor x = Tensor(GQ_DTYPE_FLOAT32, {4, 16});
  Tensor scale = Tensor(GQ_DTYPE_FLOAT32, {2, 16});
  Tensor group_index = Tensor::ints(GQ_DTYPE_INT64, {2}, {1, 4});
  Tensor y = Tensor(GQ_DTYPE_INT8, {4, 16});

  gq_status run(gq_output_kind kind = GQ_OUTPUT_INT8) const {
    const gq_tensor xv = x.view(), sv = scale.view(), gv = group_index.view(), yv = y.view();
    return gq_group_quant_cuda(&xv, &sv, &gv, nullptr, kind, nullptr, &yv);
  }
};

bool have_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

TEST(CudaLauncher, ValidationErrorsComeBackBeforeAnyLaunch) {
  Args a;
  a.scale = Tensor(GQ_DTYPE_FLOAT32, {2, 15});
  EXPECT_EQ(a.run(), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(gq_last_error()).find("scale.size(1) must equal x.size(1)"),
            std::string::npos)
      << gq_last_error();

  Args b;
  b.y = Tensor(GQ_DTYPE_INT32, {4, 2});
  EXPECT_EQ(b.run(GQ_OUTPUT_INT8), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(gq_last_error()).find("y must be int8"), std::string::npos)
      << gq_last_error();

  EXPECT_EQ(
      gq_group_quant_cuda(nullptr, nullptr, nullptr, nullptr, GQ_OUTPUT_INT8, nullptr, nullptr),
      GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(gq_last_error()).find("x must not be null"), std::string::npos)
      << gq_last_error();
}

// group_index values are the kernel's business: the host never reads them (this one is
// invalid, and the host-side validation still passes; only the launch, here without a
// GPU, can fail).
TEST(CudaLauncher, GroupIndexValuesAreNotReadOnTheHost) {
  if (have_gpu()) GTEST_SKIP() << "host pointers cannot be launched on a real GPU";
  Args a;
  a.group_index = Tensor::ints(GQ_DTYPE_INT64, {2}, {3, 1});
  EXPECT_EQ(a.run(), GQ_STATUS_DEVICE_ERROR);
  EXPECT_NE(std::string(gq_last_error()).find("groupquant CUDA:"), std::string::npos)
      << gq_last_error();
}

TEST(CudaLauncher, EmptyProblemsLaunchNothing) {
  Args a;
  a.x = Tensor(GQ_DTYPE_BFLOAT16, {0, 16});
  a.scale = Tensor(GQ_DTYPE_BFLOAT16, {0, 16});
  a.group_index = Tensor(GQ_DTYPE_INT32, {0});
  a.y = Tensor(GQ_DTYPE_INT8, {0, 16});
  EXPECT_EQ(a.run(), GQ_STATUS_SUCCESS) << gq_last_error();
  Args b;
  b.x = Tensor(GQ_DTYPE_FLOAT16, {5, 0});
  b.scale = Tensor(GQ_DTYPE_FLOAT16, {1, 0});
  b.group_index = Tensor::ints(GQ_DTYPE_INT32, {1}, {99});  // not inspected (SPEC)
  b.y = Tensor(GQ_DTYPE_INT32, {5, 0});
  EXPECT_EQ(b.run(GQ_OUTPUT_INT4_PACKED), GQ_STATUS_SUCCESS) << gq_last_error();
}

TEST(CudaLauncher, MisalignedElementsAreRejected) {
  Args a;
  gq_tensor xv = a.x.view();
  const gq_tensor sv = a.scale.view(), gv = a.group_index.view(), yv = a.y.view();
  xv.byte_offset = 2;  // a float32 tensor starting mid-element
  EXPECT_EQ(gq_group_quant_cuda(&xv, &sv, &gv, nullptr, GQ_OUTPUT_INT8, nullptr, &yv),
            GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(gq_last_error())
                .find("x data + byte_offset must be a multiple of its element size"),
            std::string::npos)
      << gq_last_error();
}

TEST(CudaLauncher, CppOverloadThrows) {
  Args a;
  a.scale = Tensor(GQ_DTYPE_FLOAT32, {3, 16});
  EXPECT_THROW(groupquant::group_quant_cuda(a.x.view(), a.scale.view(), a.group_index.view(),
                                            nullptr, GQ_OUTPUT_INT8, nullptr, a.y.view()),
               groupquant::Error);
  if (have_gpu()) return;
  Args b;
  EXPECT_THROW(groupquant::group_quant_cuda(b.x.view(), b.scale.view(), b.group_index.view(),
                                            nullptr, GQ_OUTPUT_INT8, nullptr, b.y.view()),
               groupquant::DeviceError);
}

// ---- gq_dynamic_quant_cuda: the same host-side promises ----------------------------------

struct DynamicArgs {
  Tensor x = Tensor(GQ_DTYPE_FLOAT16, {2, 3, 16});
  Tensor smooth = Tensor(GQ_DTYPE_FLOAT16, {2, 16});
  Tensor group_index = Tensor::ints(GQ_DTYPE_INT32, {2}, {1, 6});
  Tensor y = Tensor(GQ_DTYPE_INT8, {2, 3, 16});
  Tensor scale = Tensor(GQ_DTYPE_FLOAT32, {2, 3});
  Tensor offset = Tensor(GQ_DTYPE_FLOAT32, {2, 3});
  gq_dynamic_quant_config config{GQ_OUTPUT_INT8, GQ_CHIP_A2, 1};

  gq_status run() const {
    const gq_tensor xv = x.view(), sv = smooth.view(), gv = group_index.view(), yv = y.view(),
                    scv = scale.view(), ov = offset.view();
    return gq_dynamic_quant_cuda(&xv, &sv, &gv, &config, nullptr, &yv, &scv,
                                 config.asymmetric ? &ov : nullptr);
  }
};

TEST(DynamicCudaLauncher, ValidationErrorsComeBackBeforeAnyLaunch) {
  DynamicArgs a;
  a.smooth = Tensor(GQ_DTYPE_BFLOAT16, {2, 16});
  EXPECT_EQ(a.run(), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(gq_last_error()).find("smooth_scales dtype must equal input dtype"),
            std::string::npos)
      << gq_last_error();
  DynamicArgs b;
  b.config.kind = GQ_OUTPUT_FLOAT8_E4M3FN;  // fp8 needs chip 950
  EXPECT_EQ(b.run(), GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(gq_last_error()), "");
}

TEST(DynamicCudaLauncher, GroupIndexValuesAreNotReadOnTheHost) {
  if (have_gpu()) GTEST_SKIP() << "host pointers cannot be launched on a real GPU";
  DynamicArgs a;
  a.group_index = Tensor::ints(GQ_DTYPE_INT32, {2}, {9, 1});  // invalid: the kernel's to find
  EXPECT_EQ(a.run(), GQ_STATUS_DEVICE_ERROR);
  EXPECT_NE(std::string(gq_last_error()).find("groupquant CUDA:"), std::string::npos)
      << gq_last_error();
}

TEST(DynamicCudaLauncher, EmptyAndMisaligned) {
  DynamicArgs a;
  a.x = Tensor(GQ_DTYPE_FLOAT16, {0, 3, 16});
  a.y = Tensor(GQ_DTYPE_INT8, {0, 3, 16});
  a.scale = a.offset = Tensor(GQ_DTYPE_FLOAT32, {0, 3});
  a.group_index = Tensor::ints(GQ_DTYPE_INT32, {2}, {5, 99});  // not inspected
  EXPECT_EQ(a.run(), GQ_STATUS_SUCCESS) << gq_last_error();
  DynamicArgs b;
  gq_tensor xv = b.x.view();
  const gq_tensor sv = b.smooth.view(), gv = b.group_index.view(), yv = b.y.view(),
                  scv = b.scale.view(), ov = b.offset.view();
  xv.byte_offset = 1;  // a float16 tensor starting mid-element
  EXPECT_EQ(gq_dynamic_quant_cuda(&xv, &sv, &gv, &b.config, nullptr, &yv, &scv, &ov),
            GQ_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(gq_last_error())
                .find("input data + byte_offset must be a multiple of its element size"),
            std::string::npos)
      << gq_last_error();
}

TEST(DynamicCudaLauncher, CppOverloadThrows) {
  DynamicArgs a;
  const gq_tensor ov = a.offset.view();
  EXPECT_THROW(groupquant::dynamic_quant_cuda(a.x.view(), nullptr, nullptr, a.config, nullptr,
                                              a.y.view(), a.scale.view(), nullptr),
               groupquant::Error);  // asymmetric without offset
  if (have_gpu()) return;
  EXPECT_THROW(groupquant::dynamic_quant_cuda(a.x.view(), nullptr, nullptr, a.config, nullptr,
                                              a.y.view(), a.scale.view(), &ov),
               groupquant::DeviceError);
}

}  // namespace
