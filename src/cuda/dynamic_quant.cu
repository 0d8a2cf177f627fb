// npu_dynamic_quant(_asymmetric) on CUDA: the kernels (one per entry of
// GQ_DYNAMIC_QUANT_TYPES; chip and symmetry are run-time), the device-side assertion, the
// launch shape and the C and C++ entry points. Validation runs on the host and never
// reads device memory; what a block does is src/cuda/dynamic_quant.cuh.
#include <cuda_runtime.h>
#include <groupquant/groupquant_cuda.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <string>

#include "src/cuda/dynamic_quant.cuh"
#include "src/kernel_list.h"
#include "src/status.h"
#include "src/validate.h"

// The device-side assertion handler, as in group_quant.cu (kept under NDEBUG).
extern "C" __host__ __device__ void __assert_fail(const char* assertion, const char* file,
                                                  unsigned int line, const char* function) noexcept
    __attribute__((__noreturn__));

namespace groupquant::detail {

void set_last_error(const char* message);  // src/api.cc: the text of gq_last_error()

namespace cuda {
namespace {

// Claimed by the one thread that reports a bad group_index: it prints the message and
// asserts; every other failing thread just stops. (The assertion poisons the context,
// so the flag never needs resetting.)
__device__ int g_dynamic_reported = 0;

// Every failing thread reports the same entry (the first bad one, dynamic_quant.cuh),
// so the message does not depend on which thread wins.
__device__ __noinline__ void fail_group_index(const Failure f, int64_t rows) {
  if (atomicCAS(&g_dynamic_reported, 0, 1) != 0) return;
  const long long i = f.index, v = f.value, o = f.other, r = rows;
  switch (f.code) {
    case Failure::kNegative:
      printf("groupquant: group_index values must be non-negative: group_index[%lld]=%lld\n", i, v);
      break;
    case Failure::kDecreasing:
      printf(
          "groupquant: group_index must be non-decreasing: group_index[%lld]=%lld < "
          "group_index[%lld]=%lld\n",
          i, v, i - 1, o);
      break;
    case Failure::kAboveM:
      printf(
          "groupquant: group_index values must not exceed the number of rows %lld (the product "
          "of input's leading sizes): group_index[%lld]=%lld\n",
          r, i, v);
      break;
    case Failure::kLastNotM:
      printf(
          "groupquant: group_index last value must equal the number of rows %lld (the product "
          "of input's leading sizes): group_index[%lld]=%lld\n",
          r, i, v);
      break;
    default:
      printf("groupquant: group_index: no expert owns row %lld\n", o);
      break;
  }
  __assert_fail("group_index is valid (SPEC-dynamic-quant.md 10.5; see the groupquant message)",
                __FILE__, __LINE__, __func__);
}

// run_block's phases on the GPU: this thread's part, then the block barrier.
struct DeviceBlock {
  int64_t rows;
  template <typename Fn>
  __device__ __forceinline__ bool each(Fn&& fn) {
    const Failure f = fn(static_cast<int>(threadIdx.x));
    if (f.code != Failure::kNone) {
      fail_group_index(f, rows);
      return false;
    }
    __syncthreads();
    return true;
  }
};

// At least 4 resident blocks per SM: ptxas then budgets 64 registers a thread
// (tests/cuda/check_device_code.py checks the count and that nothing spills).
constexpr int kMinBlocksPerSm = 4;

template <gq_dtype XD, gq_output_kind K>
__global__ void __launch_bounds__(kDynamicBlockThreads, kMinBlocksPerSm)
    dynamic_quant_kernel(const __grid_constant__ DynamicParams dp) {
  extern __shared__ float4 staged_rows[];  // 16-byte aligned
  __shared__ BlockShared shared;
  DeviceBlock block{dp.p.rows};
  run_block<XD, K>(dp, block, shared, reinterpret_cast<float*>(staged_rows), blockIdx.x, gridDim.x);
}

[[noreturn]] void throw_cuda(cudaError_t e, const char* what) {
  throw DeviceError(std::string("groupquant CUDA: ") + what + " failed: " + cudaGetErrorName(e) +
                    ": " + cudaGetErrorString(e));
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_cuda(e, what);
}

// Staged rows take at most this much shared memory per block (with BlockShared's 3 KiB:
// two blocks per SM on A100's 164 KiB, three on H100's 228 KiB); longer rows (H > 18432,
// one row per block) are read from global memory twice instead.
constexpr int64_t kMaxStageBytes = 72 * 1024;

template <gq_dtype XD, gq_output_kind K>
void launch_kernel(const DynamicParams& dp, cudaStream_t stream) {
  const auto kernel = dynamic_quant_kernel<XD, K>;
  const int64_t smem = stage_bytes(dp);
  // Above the default 48 KiB a kernel must opt in; an attribute call, not stream work, so
  // it is allowed while a CUDA graph is being captured.
  if (smem > 48 * 1024) {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(smem)),
          "cudaFuncSetAttribute(maxDynamicSharedMemorySize)");
  }
  int device = 0, sms = 0, per_sm = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
        "cudaDeviceGetAttribute(multiProcessorCount)");
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kDynamicBlockThreads,
                                                      static_cast<size_t>(smem)),
        "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  // Blocks enough for every row once, but no more than one wave: longer go grid-stride.
  const int64_t teams = kDynamicBlockThreads / dp.lanes;
  const int64_t wanted = (dp.p.rows + teams - 1) / teams;
  const int64_t blocks =
      std::max<int64_t>(1, std::min(wanted, static_cast<int64_t>(sms) * std::max(per_sm, 1)));
  kernel<<<static_cast<unsigned>(blocks), kDynamicBlockThreads, static_cast<size_t>(smem),
           stream>>>(dp);
  check(cudaGetLastError(), "kernel launch");
}

void launch(const DynamicProblem& p, cudaStream_t stream) {
  if (p.empty()) return;  // nothing to write; group_index is not inspected (§10.7)
  if (const Misaligned m = misaligned_argument(p); m.name != nullptr) {
    throw Error(std::string(m.name) +
                " data + byte_offset must be a multiple of its element size (" +
                std::to_string(m.size) + " bytes) on CUDA: got an address " +
                std::to_string(m.remainder) + " bytes past one");
  }
  int device = 0, optin = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
        "cudaDeviceGetAttribute(maxSharedMemoryPerBlockOptin)");
  const int64_t limit =
      std::min<int64_t>(kMaxStageBytes, static_cast<int64_t>(optin) - sizeof(BlockShared));
  const DynamicParams dp = make_dynamic_params(p, limit);
  // One kernel per entry of the op's dtype list (src/kernel_list.h).
#define GQ_LAUNCH_DYNAMIC(ctx, xt, out)                                 \
  if (p.x_dtype == GQ_DTYPE_OF_##xt && p.op.kind == GQ_KIND_OF_##out) { \
    launch_kernel<GQ_DTYPE_OF_##xt, GQ_KIND_OF_##out>(dp, stream);      \
    return;                                                             \
  }
  GQ_DYNAMIC_QUANT_TYPES(GQ_LAUNCH_DYNAMIC, _)
#undef GQ_LAUNCH_DYNAMIC
  throw Error(std::string("input dtype ") + dtype_name(p.x_dtype) + " with output kind " +
              output_traits(p.op.kind).name + " has no CUDA kernel");
}

}  // namespace
}  // namespace cuda
}  // namespace groupquant::detail

namespace groupquant {

void dynamic_quant_cuda(const gq_tensor& x, const gq_tensor* smooth_scales,
                        const gq_tensor* group_index, const gq_dynamic_quant_config& config,
                        void* stream, const gq_tensor& y, const gq_tensor& scale,
                        const gq_tensor* offset) {
  const detail::DynamicProblem p = detail::validate_dynamic_arguments(
      {&x, smooth_scales, group_index, &config, &y, &scale, offset},
      detail::GroupIndexCheck::kOnDevice);
  detail::cuda::launch(p, static_cast<cudaStream_t>(stream));
}

}  // namespace groupquant

extern "C" gq_status gq_dynamic_quant_cuda(const gq_tensor* x, const gq_tensor* smooth_scales,
                                           const gq_tensor* group_index,
                                           const gq_dynamic_quant_config* config, void* stream,
                                           const gq_tensor* y, const gq_tensor* scale,
                                           const gq_tensor* offset) {
  return groupquant::detail::guarded([&] {
    const groupquant::detail::DynamicProblem p = groupquant::detail::validate_dynamic_arguments(
        {x, smooth_scales, group_index, config, y, scale, offset},
        groupquant::detail::GroupIndexCheck::kOnDevice);
    groupquant::detail::cuda::launch(p, static_cast<cudaStream_t>(stream));
  });
}
