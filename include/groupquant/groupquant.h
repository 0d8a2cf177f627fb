/* groupquant: a portable, bit-exact implementation of Ascend's npu_group_quant.
 *
 * For row r of x in group g (group g owns rows [group_index[g-1], group_index[g]),
 * with group_index[-1] = 0):
 *
 *   y[r, n] = saturate(round_half_even(float(x[r, n]) * float(scale[g, n]) + offset))
 *
 * one fp32 multiply and one fp32 add (never fused), NaN -> 0, saturated to int8
 * [-128, 127] or to int4 [-8, 7] packed 8 per int32 (column 8w+k in bits [4k, 4k+3]
 * of word w). The full contract is SPEC.md.
 *
 * This is the C ABI: every function returns gq_status; on failure the message of the
 * calling thread's last error is available from gq_last_error(). Out-parameters come
 * last. Nothing is written to an output before every argument has been validated.
 */
#ifndef GROUPQUANT_GROUPQUANT_H_
#define GROUPQUANT_GROUPQUANT_H_

#include <stdint.h>

#if defined(_WIN32)
#define GQ_API __declspec(dllexport)
#else
#define GQ_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gq_status {
  GQ_STATUS_SUCCESS = 0,
  GQ_STATUS_INVALID_ARGUMENT = 1, /* a SPEC.md validation rule failed */
  GQ_STATUS_UNSUPPORTED = 2,      /* e.g. a CPU ISA this machine lacks */
  GQ_STATUS_INTERNAL_ERROR = 3,   /* a bug or a failed allocation */
  GQ_STATUS_DEVICE_ERROR = 4      /* a CUDA call failed */
} gq_status;

typedef enum gq_dtype {
  GQ_DTYPE_FLOAT32 = 0,
  GQ_DTYPE_FLOAT16 = 1,
  GQ_DTYPE_BFLOAT16 = 2,
  GQ_DTYPE_INT8 = 3,
  GQ_DTYPE_INT32 = 4,
  GQ_DTYPE_INT64 = 5,
  /* Not dtypes: they make every int32 value a valid gq_dtype in C++ too, since callers
   * from C or FFI may pass any code; the library rejects unknown ones with a message. */
  GQ_DTYPE_RANGE_MIN_ = -0x7FFFFFFF - 1,
  GQ_DTYPE_RANGE_MAX_ = 0x7FFFFFFF
} gq_dtype;

typedef enum gq_output_kind {
  GQ_OUTPUT_INT8 = 0,                     /* torch dst_dtype None / int8 / qint8: int8 [M, N] */
  GQ_OUTPUT_INT4_PACKED = 1,              /* torch dst_dtype quint4x2: int32 [M, N/8] */
  GQ_OUTPUT_RANGE_MIN_ = -0x7FFFFFFF - 1, /* not kinds: see GQ_DTYPE_RANGE_MIN_ */
  GQ_OUTPUT_RANGE_MAX_ = 0x7FFFFFFF
} gq_output_kind;

/* A non-owning strided view, laid out like DLPack's DLTensor (minus the device, which
 * the entry point implies): the first element lives at (char*)data + byte_offset,
 * element [i, j] at that address + (i * strides[0] + j * strides[1]) * element size.
 * strides are in elements, must be non-negative, and may be NULL for a compact
 * row-major tensor. A 0-d tensor has ndim 0 and needs no shape. */
typedef struct gq_tensor {
  void* data;
  int32_t ndim;
  gq_dtype dtype;
  const int64_t* shape;
  const int64_t* strides;
  uint64_t byte_offset;
} gq_tensor;

/* Runs fn over [begin, end) split into sub-ranges, possibly in parallel, and returns
 * when all have run. fn never throws and never fails. */
typedef void (*gq_task_fn)(void* task_ctx, int64_t begin, int64_t end);
typedef void (*gq_parallel_for_fn)(void* runner_ctx, int64_t begin, int64_t end, int64_t grain,
                                   gq_task_fn fn, void* task_ctx);

typedef struct gq_options {
  /* Threads of the built-in pool: 0 = all hardware threads, 1 = the calling thread
   * only. Ignored when parallel_for is set. */
  int32_t num_threads;
  /* Optional: run the work on the caller's thread pool instead (the torch binding
   * passes at::parallel_for here, so torch.set_num_threads is honoured). */
  gq_parallel_for_fn parallel_for;
  void* parallel_ctx;
} gq_options;

/* Output dtype and shape for x and kind: int8 [M, N] or int32 [M, N/8]. Checks x's
 * rank and dtype, the kind, and N % 8 == 0 for packed int4. */
GQ_API gq_status gq_output_spec(const gq_tensor* x, gq_output_kind kind, gq_dtype* out_dtype,
                                int64_t out_shape[2]);

/* Quantizes on the CPU into the caller-allocated y (dtype and shape from
 * gq_output_spec, any non-overlapping strides, not overlapping an input).
 * offset may be NULL; options may be NULL (all hardware threads).
 * group_index values are checked on the host before anything is written. */
GQ_API gq_status gq_group_quant(const gq_tensor* x, const gq_tensor* scale,
                                const gq_tensor* group_index, const gq_tensor* offset,
                                gq_output_kind kind, const gq_options* options, const gq_tensor* y);

/* The message of the calling thread's last failure ("" if none). Valid until the
 * next groupquant call on this thread. */
GQ_API const char* gq_last_error(void);

/* CPU kernel selection. The best ISA the CPU supports is picked once; the environment
 * variable GROUPQUANT_CPU_ISA (scalar, avx2, avx512, neon, auto) or this call overrides it.
 * Forcing an ISA the CPU lacks gives GQ_STATUS_UNSUPPORTED. */
GQ_API gq_status gq_set_cpu_isa(const char* name);
/* The name of the ISA in use: "scalar", "avx2", "avx512" (x86-64) or "neon" (aarch64). */
GQ_API const char* gq_cpu_isa(void);
/* Whether this build and this CPU can run the named ISA (1) or not (0). */
GQ_API int gq_cpu_isa_supported(const char* name);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GROUPQUANT_GROUPQUANT_H_ */
