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
 *
 * Threads: every function may be called from any number of threads at once (calls that
 * share inputs included; outputs must not overlap). docs/cpp.md is the guide, with a
 * complete example.
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
  GQ_DTYPE_FLOAT8_E4M3FN = 6, /* OCP fp8 e4m3, finite-only (torch.float8_e4m3fn) */
  GQ_DTYPE_FLOAT8_E5M2 = 7,   /* OCP fp8 e5m2 (torch.float8_e5m2) */
  /* Not dtypes: they make every int32 value a valid gq_dtype in C++ too, since callers
   * from C or FFI may pass any code; the library rejects unknown ones with a message. */
  GQ_DTYPE_RANGE_MIN_ = -0x7FFFFFFF - 1,
  GQ_DTYPE_RANGE_MAX_ = 0x7FFFFFFF
} gq_dtype;

typedef enum gq_output_kind {
  GQ_OUTPUT_INT8 = 0,                     /* torch dst_dtype None / int8 / qint8: int8 [M, N] */
  GQ_OUTPUT_INT4_PACKED = 1,              /* torch dst_dtype quint4x2: int32 [M, N/8] */
  GQ_OUTPUT_FLOAT8_E4M3FN = 2,            /* fp8 e4m3fn [M, N] (npu_dynamic_quant, chip 950) */
  GQ_OUTPUT_FLOAT8_E5M2 = 3,              /* fp8 e5m2 [M, N] (npu_dynamic_quant, chip 950) */
  GQ_OUTPUT_RANGE_MIN_ = -0x7FFFFFFF - 1, /* not kinds: see GQ_DTYPE_RANGE_MIN_ */
  GQ_OUTPUT_RANGE_MAX_ = 0x7FFFFFFF
} gq_output_kind;

/* A non-owning strided view, laid out like DLPack's DLTensor (minus the device, which
 * the entry point implies): the first element lives at (char*)data + byte_offset,
 * element [i, j] at that address + (i * strides[0] + j * strides[1]) * element size.
 * strides are in elements, must be non-negative, and may be NULL for a compact
 * row-major tensor; byte_offset is in bytes. A 0-d tensor has ndim 0 and needs no shape
 * (e.g. the offset: {&value, 0, GQ_DTYPE_FLOAT32, NULL, NULL, 0}). Outputs use the same
 * struct: the view is const, the memory its data points to is written. */
typedef struct gq_tensor {
  void* data;
  int32_t ndim;
  gq_dtype dtype;
  const int64_t* shape;
  const int64_t* strides;
  uint64_t byte_offset;
} gq_tensor;

/* Runs fn over [begin, end) split into sub-ranges of at least grain indices (the last may
 * be shorter), each index exactly once, possibly in parallel, and returns when all have
 * run. fn never throws and never fails. Called from the thread that called
 * gq_group_quant, and by concurrent calls concurrently. */
typedef void (*gq_task_fn)(void* task_ctx, int64_t begin, int64_t end);
typedef void (*gq_parallel_for_fn)(void* runner_ctx, int64_t begin, int64_t end, int64_t grain,
                                   gq_task_fn fn, void* task_ctx);

typedef struct gq_options {
  /* Threads of the built-in pool, started for each call, the calling thread included:
   * 0 = up to all hardware threads (one per MiB the call moves, so small calls run
   * on the calling thread alone), 1 = the calling thread only (what a caller that is
   * itself one of many worker threads wants), k = up to k. Ignored when parallel_for
   * is set. */
  int32_t num_threads;
  /* Optional: run the work on the caller's thread pool instead (the torch binding
   * passes at::parallel_for here, so torch.set_num_threads is honoured). Not called when
   * the work is one chunk (about 192 KiB moved, or one row) or under 256 KiB: it runs on
   * the calling thread. */
  gq_parallel_for_fn parallel_for;
  void* parallel_ctx;
} gq_options;

/* Output dtype and shape for x and kind: int8 [M, N] or int32 [M, N/8]. Checks x's
 * rank and dtype, the kind, and N % 8 == 0 for packed int4. */
GQ_API gq_status gq_output_spec(const gq_tensor* x, gq_output_kind kind, gq_dtype* out_dtype,
                                int64_t out_shape[2]);

/* Quantizes on the CPU into y_out, the OUTPUT: caller-allocated memory viewed by y_out
 * (dtype and shape from gq_output_spec, any non-overlapping strides, not overlapping an
 * input); the view is const, its data is written. offset may be NULL; options may be
 * NULL (the defaults of gq_options{0}). group_index values are checked on the host
 * before anything is written. Error messages call the output "y". */
GQ_API gq_status gq_group_quant(const gq_tensor* x, const gq_tensor* scale,
                                const gq_tensor* group_index, const gq_tensor* offset,
                                gq_output_kind kind, const gq_options* options,
                                const gq_tensor* y_out);

/* ---- npu_dynamic_quant / npu_dynamic_quant_asymmetric (SPEC-dynamic-quant.md) ----------
 * Per-token quantization: each row r of x (rank 2..8, [..., H], fp16 or bf16) is first
 * multiplied by a smooth row (smooth_scales [H], or [E, H] with the row's expert chosen
 * through group_index like gq_group_quant's), then quantized with its own scale (and, for
 * the asymmetric op, offset) derived from the row's max |x*s| (or max and min). */

/* The NPU generation whose arithmetic to reproduce: Atlas A2/A3 (SPEC 2.2-2.3) or
 * Ascend 950 (SPEC 2.4-2.5). */
typedef enum gq_chip {
  GQ_CHIP_A2 = 0,
  GQ_CHIP_950 = 1,
  GQ_CHIP_RANGE_MIN_ = -0x7FFFFFFF - 1, /* not chips: see GQ_DTYPE_RANGE_MIN_ */
  GQ_CHIP_RANGE_MAX_ = 0x7FFFFFFF
} gq_chip;

typedef struct gq_dynamic_quant_config {
  gq_output_kind kind; /* INT8, INT4_PACKED (int32 [..., H/8]); FLOAT8_* on chip 950 only */
  gq_chip chip;
  int32_t asymmetric; /* 0: npu_dynamic_quant (y, scale); 1: _asymmetric (y, scale, offset) */
} gq_dynamic_quant_config;

/* y's dtype and shape for x: x's shape with the last dim H (H/8 int32 words for packed
 * int4); scale and offset are float32 of shape x.shape[:-1]. y_shape has room for 8. */
GQ_API gq_status gq_dynamic_quant_output_spec(const gq_tensor* x,
                                              const gq_dynamic_quant_config* config,
                                              gq_dtype* y_dtype, int32_t* y_ndim,
                                              int64_t y_shape[8]);

/* Quantizes x on the CPU into the caller-allocated y, scale and (asymmetric only) offset.
 * smooth_scales and group_index may be NULL; group_index is ignored without
 * smooth_scales, as on the NPU. offset must be NULL for the symmetric op. options may
 * be NULL (all hardware threads). Everything, group_index values included, is checked
 * before anything is written. */
GQ_API gq_status gq_dynamic_quant(const gq_tensor* x, const gq_tensor* smooth_scales,
                                  const gq_tensor* group_index,
                                  const gq_dynamic_quant_config* config, const gq_options* options,
                                  const gq_tensor* y, const gq_tensor* scale,
                                  const gq_tensor* offset);

/* The message of the calling thread's last failure ("" if none). Valid until the
 * next groupquant call on this thread. */
GQ_API const char* gq_last_error(void);

/* CPU kernel selection. The best ISA the CPU supports is picked once; the environment
 * variable GROUPQUANT_CPU_ISA (scalar, avx2, avx512, neon, auto; read once, when first needed) or
 * this call overrides it. Forcing an ISA the CPU lacks gives GQ_STATUS_UNSUPPORTED.
 * The setting is process-wide (this copy of the library) and thread-safe: it applies to
 * calls that start after it, on every thread; calls in flight keep the kernels they
 * chose. Every ISA gives the same bits. */
GQ_API gq_status gq_set_cpu_isa(const char* name);
/* The name of the ISA in use: "scalar", "avx2", "avx512" (x86-64) or "neon" (aarch64). */
GQ_API const char* gq_cpu_isa(void);
/* Whether this build and this CPU can run the named ISA (1) or not (0). */
GQ_API int gq_cpu_isa_supported(const char* name);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GROUPQUANT_GROUPQUANT_H_ */
