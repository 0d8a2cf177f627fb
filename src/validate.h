// Every validation rule of both ops (SPEC.md's "Validation", SPEC-dynamic-quant.md §4 and
// §10), and the only place that writes the text of an invalid-argument error. (An
// unsupported forced ISA is reported by cpu/isa.cc, a device-side group_index failure by
// the CUDA kernels.) Messages read "<argument> <rule>: <offending value>".
#ifndef GROUPQUANT_SRC_VALIDATE_H_
#define GROUPQUANT_SRC_VALIDATE_H_

#include <groupquant/groupquant.hpp>
#include <string>

#include "src/problem.h"

namespace groupquant::detail {

struct Arguments {
  const gq_tensor* x = nullptr;
  const gq_tensor* scale = nullptr;
  const gq_tensor* group_index = nullptr;
  const gq_tensor* offset = nullptr;  // optional
  gq_output_kind kind = GQ_OUTPUT_INT8;
  const gq_tensor* y = nullptr;
};

// kOnHost reads group_index values (CPU); kOnDevice leaves them to the kernel, which
// traps on a bad one (CUDA: the host must not read device memory).
enum class GroupIndexCheck { kOnHost, kOnDevice };

struct DynamicArguments {
  const gq_tensor* x = nullptr;
  const gq_tensor* smooth_scales = nullptr;  // optional
  const gq_tensor* group_index = nullptr;    // optional; ignored without smooth_scales
  const gq_dynamic_quant_config* config = nullptr;
  const gq_tensor* y = nullptr;
  const gq_tensor* scale = nullptr;
  const gq_tensor* offset = nullptr;  // asymmetric only
};

// Throws groupquant::Error on the first broken rule; otherwise the validated Problem.
Problem validate_arguments(const Arguments& args, GroupIndexCheck check);

// x's rank and dtype, the kind, and N % 8 for packed int4; then the output's spec.
OutputSpec validate_output_spec(const gq_tensor* x, gq_output_kind kind);

// The same for npu_dynamic_quant(_asymmetric).
DynamicProblem validate_dynamic_arguments(const DynamicArguments& args, GroupIndexCheck check);
DynamicOutputSpec validate_dynamic_output_spec(const gq_tensor* x,
                                               const gq_dynamic_quant_config* config);

const char* dtype_name(gq_dtype dtype);
int64_t dtype_size(gq_dtype dtype);

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_VALIDATE_H_
