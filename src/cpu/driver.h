#ifndef GROUPQUANT_SRC_CPU_DRIVER_H_
#define GROUPQUANT_SRC_CPU_DRIVER_H_

#include <groupquant/groupquant.h>

#include "src/problem.h"

namespace groupquant::detail {

// Runs a validated problem on the CPU with the active ISA's row kernels: rows split
// into equal chunks (equal work whatever the group sizes), each chunk's first group
// found by binary search and then advanced row by row.
void run_cpu(const Problem& p, const gq_options& options);

// The same for npu_dynamic_quant(_asymmetric) (dynamic_quant_driver.cc).
void run_dynamic_cpu(const DynamicProblem& p, const gq_options& options);

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_CPU_DRIVER_H_
