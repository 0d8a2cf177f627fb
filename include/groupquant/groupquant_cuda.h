/* groupquant on NVIDIA GPUs: the same operator as groupquant.h, on device memory.
 *
 * Library: groupquant_cuda (CMake option GROUPQUANT_ENABLE_CUDA=ON); it links the core
 * library groupquant, which has gq_last_error(), gq_output_spec() and the CPU entry points.
 */
#ifndef GROUPQUANT_GROUPQUANT_CUDA_H_
#define GROUPQUANT_GROUPQUANT_CUDA_H_

#include <groupquant/groupquant.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Quantizes x into y on the GPU, asynchronously on `stream` (a cudaStream_t; NULL is the
 * legacy default stream). Every data pointer is device memory of the current device;
 * y is caller-allocated (dtype and shape from gq_output_spec, any non-overlapping
 * strides, not overlapping an input).
 *
 * Shapes, dtypes and strides are validated on the host before the launch (failures:
 * GQ_STATUS_INVALID_ARGUMENT, nothing launched). group_index VALUES are never read on
 * the host, so the call does not synchronise and can be captured in a CUDA graph; the
 * kernel checks them, and an invalid group_index (negative, decreasing, > M, or last
 * != M) triggers a device-side assertion: the kernel prints which entry is wrong and
 * the error (cudaErrorAssert) surfaces at the next synchronisation, leaving the CUDA
 * context unusable, as torch's own index kernels do. Empty problems launch nothing.
 * A launch failure gives GQ_STATUS_DEVICE_ERROR with the CUDA error text. */
GQ_API gq_status gq_group_quant_cuda(const gq_tensor* x, const gq_tensor* scale,
                                     const gq_tensor* group_index, const gq_tensor* offset,
                                     gq_output_kind kind, void* stream, const gq_tensor* y);

/* npu_dynamic_quant(_asymmetric) on the GPU (gq_dynamic_quant's arguments, on device
 * memory of the current device), asynchronously on `stream` (a cudaStream_t; NULL is the
 * legacy default stream). y, scale and offset (asymmetric only; NULL otherwise) are
 * caller-allocated as for gq_dynamic_quant. Bit for bit the CPU's results.
 *
 * Shapes, dtypes and strides are validated on the host before the launch (failures:
 * GQ_STATUS_INVALID_ARGUMENT, nothing launched). group_index VALUES are never read on
 * the host, so the call does not synchronise and can be captured in a CUDA graph (the
 * launcher only queries device attributes and may raise the kernel's shared-memory
 * limit, both allowed during capture); the kernel checks them, and an invalid
 * group_index (negative, decreasing, > rows, or last != rows) triggers one device-side
 * assertion: one thread prints the first wrong entry and the error (cudaErrorAssert)
 * surfaces at the next synchronisation, leaving the CUDA context unusable. Empty inputs
 * (rows == 0) launch nothing. A launch failure gives GQ_STATUS_DEVICE_ERROR. */
GQ_API gq_status gq_dynamic_quant_cuda(const gq_tensor* x, const gq_tensor* smooth_scales,
                                       const gq_tensor* group_index,
                                       const gq_dynamic_quant_config* config, void* stream,
                                       const gq_tensor* y, const gq_tensor* scale,
                                       const gq_tensor* offset);

#ifdef __cplusplus
} /* extern "C" */

#include <groupquant/groupquant.hpp>

namespace groupquant {

/* Thrown when a CUDA call made by the launcher fails. */
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/* The C++ form of gq_group_quant_cuda: throws groupquant::Error for a broken validation
 * rule, groupquant::DeviceError for a failed launch. */
GQ_API void group_quant_cuda(const gq_tensor& x, const gq_tensor& scale,
                             const gq_tensor& group_index, const gq_tensor* offset,
                             gq_output_kind kind, void* stream, const gq_tensor& y);

/* The C++ form of gq_dynamic_quant_cuda: throws groupquant::Error for a broken validation
 * rule, groupquant::DeviceError for a failed launch. */
GQ_API void dynamic_quant_cuda(const gq_tensor& x, const gq_tensor* smooth_scales,
                               const gq_tensor* group_index, const gq_dynamic_quant_config& config,
                               void* stream, const gq_tensor& y, const gq_tensor& scale,
                               const gq_tensor* offset);

}  // namespace groupquant
#endif /* __cplusplus */

#endif /* GROUPQUANT_GROUPQUANT_CUDA_H_ */
