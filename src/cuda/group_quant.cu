// The CUDA kernel and its launcher: validate on the host (never reading device memory),
// pick the launch shape, launch on the caller's stream. No torch here; the torch binding
// is python/groupquant/csrc/op_cuda.cpp. The per-thread work is group_quant.cuh.
#include <cuda_runtime.h>
#include <groupquant/groupquant_cuda.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <string>

#include "src/cuda/group_quant.cuh"
#include "src/cuda/launch_shape.h"
#include "src/status.h"
#include "src/validate.h"

// The device-side assertion handler, declared exactly as glibc's <assert.h> does (which
// leaves it undeclared under NDEBUG); CUDA provides it on the device. torch does the same.
extern "C" __host__ __device__ void __assert_fail(const char* assertion, const char* file,
                                                  unsigned int line, const char* function) noexcept
    __attribute__((__noreturn__));

namespace groupquant::detail {

namespace cuda {
namespace {

// Claimed by the first thread that finds group_index invalid: it alone prints what is
// wrong and fails the assertion; every other failing thread just returns (its rows stay
// unwritten, and the launch fails anyway). One message and one assertion, so the useful
// line cannot be pushed out of the device printf buffer at large M. The assertion
// poisons the context, so the flag never needs resetting.
__device__ int g_reported = 0;

// Prints what is wrong with group_index, then fails a device-side assertion: the launch
// ends with cudaErrorAssert ("device-side assert triggered"), like torch's index
// kernels (CUDA_KERNEL_ASSERT). __assert_fail is called directly so that NDEBUG, which
// compiles assert() out of release builds, cannot silence it.
__device__ __noinline__ void fail_group_index(const Failure f, int64_t M) {
  if (atomicExch(&g_reported, 1) != 0) return;  // another thread reports
  const long long i = f.index, v = f.value, o = f.other, m = M;
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
          "groupquant: group_index values must not exceed M=%lld (x.size(0)): "
          "group_index[%lld]=%lld\n",
          m, i, v);
      break;
    case Failure::kLastNotM:
      printf(
          "groupquant: group_index last value must equal M=%lld (x.size(0)): "
          "group_index[%lld]=%lld\n",
          m, i, v);
      break;
    default:
      printf(
          "groupquant: group_index must be non-negative, non-decreasing and end at M=%lld "
          "(x.size(0)): no group owns row %lld\n",
          m, o);
      break;
  }
  __assert_fail("group_index is valid (SPEC.md; see the groupquant message above)", __FILE__,
                __LINE__, __func__);
}

// At least 4 resident blocks (1024 threads) per SM: ptxas then budgets 64 registers a
// thread, which the kernels fit without spilling (tests/cuda/check_device_code.py);
// without the bound it chose fewer and spilled the row loop's stride. The exception:
// 16-bit x with fp32 scale and int8 y holds two chunks of x (16 words), their scale (32)
// and the output (4 per chunk) and spilled at 64; it gets 3 blocks (80 registers), still
// more bytes of x in flight per SM than one chunk a thread at 4 blocks (48 vs 32 KiB).
template <gq_dtype XD, gq_dtype SD, gq_output_kind K>
inline constexpr int kMinBlocksPerSm =
    XD != GQ_DTYPE_FLOAT32&& SD == GQ_DTYPE_FLOAT32&& K == GQ_OUTPUT_INT8 ? 3 : 4;

template <gq_dtype XD, gq_dtype SD, gq_output_kind K>
__global__ void __launch_bounds__(kBlockThreads, kMinBlocksPerSm<XD, SD, K>)
    group_quant_kernel(const Params p) {
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t num_threads = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const Failure f = run_thread<XD, SD, K>(p, tid, num_threads);
  if (f.code != Failure::kNone) fail_group_index(f, p.M);
}

[[noreturn]] void throw_cuda(cudaError_t e, const char* what) {
  throw DeviceError(std::string("groupquant CUDA: ") + what + " failed: " + cudaGetErrorName(e) +
                    ": " + cudaGetErrorString(e));
}

// Blocks of group_quant_kernel<XD, SD, K> that the current device holds at a time:
// multiprocessors x resident blocks per multiprocessor (registers decide;
// __launch_bounds__ guarantees at least 3 or 4). Asked once per kernel and device; these are
// attribute queries, allowed while a CUDA graph is being captured (stream work is not).
template <gq_dtype XD, gq_dtype SD, gq_output_kind K>
int64_t resident_blocks() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int64_t> cache[kMaxDevices];
  int device = 0;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess)
    throw_cuda(e, "cudaGetDevice");
  const bool cacheable = device >= 0 && device < kMaxDevices;
  if (cacheable) {
    if (const int64_t n = cache[device].load(std::memory_order_relaxed); n > 0) return n;
  }
  int sms = 0, per_sm = 0;
  if (const cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
      e != cudaSuccess) {
    throw_cuda(e, "cudaDeviceGetAttribute(multiProcessorCount)");
  }
  if (const cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &per_sm, group_quant_kernel<XD, SD, K>, kBlockThreads, 0);
      e != cudaSuccess) {
    throw_cuda(e, "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
  }
  const int64_t n = static_cast<int64_t>(sms) * std::max(per_sm, 1);
  if (cacheable) cache[device].store(n, std::memory_order_relaxed);
  return n;
}

// The grid from M, N and G (launch_shape.h), at most one wave of blocks: larger problems
// go grid-stride.
void launch(const Problem& pr, cudaStream_t stream) {
  if (pr.empty()) return;  // nothing to write; group_index is not inspected (SPEC)
  if (const Misaligned m = misaligned_argument(pr); m.name != nullptr) {
    throw Error(std::string(m.name) +
                " data + byte_offset must be a multiple of its element size (" +
                std::to_string(m.size) + " bytes) on CUDA: got an address " +
                std::to_string(m.remainder) + " bytes past one");
  }
  Params p = make_params(pr);
  const bool listed = dispatch(pr.x_dtype, pr.scale_dtype, pr.kind, [&](auto xd, auto sd, auto k) {
    constexpr gq_dtype XD = decltype(xd)::value, SD = decltype(sd)::value;
    constexpr gq_output_kind K = decltype(k)::value;
    const LaunchShape shape =
        plan_launch(p.M, p.N, p.G, kCols<XD>, p.lanes, resident_blocks<XD, SD, K>());
    p.lanes = shape.lanes;
    group_quant_kernel<XD, SD, K>
        <<<static_cast<unsigned>(shape.blocks), kBlockThreads, 0, stream>>>(p);
  });
  // Validation admits only the list's combinations; anything else is a bug here.
  if (!listed) throw std::logic_error("no npu_group_quant CUDA kernel for a validated call");
  if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) throw_cuda(e, "kernel launch");
}

}  // namespace
}  // namespace cuda
}  // namespace groupquant::detail

namespace groupquant {

void group_quant_cuda(const gq_tensor& x, const gq_tensor& scale, const gq_tensor& group_index,
                      const gq_tensor* offset, gq_output_kind kind, void* stream,
                      const gq_tensor& y) {
  const detail::Problem p = detail::validate_arguments({&x, &scale, &group_index, offset, kind, &y},
                                                       detail::GroupIndexCheck::kOnDevice);
  detail::cuda::launch(p, static_cast<cudaStream_t>(stream));
}

}  // namespace groupquant

extern "C" gq_status gq_group_quant_cuda(const gq_tensor* x, const gq_tensor* scale,
                                         const gq_tensor* group_index, const gq_tensor* offset,
                                         gq_output_kind kind, void* stream, const gq_tensor* y) {
  return groupquant::detail::guarded([&] {
    const groupquant::detail::Problem p = groupquant::detail::validate_arguments(
        {x, scale, group_index, offset, kind, y}, groupquant::detail::GroupIndexCheck::kOnDevice);
    groupquant::detail::cuda::launch(p, static_cast<cudaStream_t>(stream));
  });
}
