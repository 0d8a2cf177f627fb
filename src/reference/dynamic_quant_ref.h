#ifndef GROUPQUANT_SRC_REFERENCE_DYNAMIC_QUANT_REF_H_
#define GROUPQUANT_SRC_REFERENCE_DYNAMIC_QUANT_REF_H_

#include "src/problem.h"

namespace groupquant::detail {

// The scalar oracle of SPEC-dynamic-quant.md §2 (with §10's decisions), one row and
// one element at a time, in the order the spec states them. Not designed to be fast.
void dynamic_quant_ref(const DynamicProblem& p);

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_REFERENCE_DYNAMIC_QUANT_REF_H_
