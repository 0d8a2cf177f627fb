#ifndef GROUPQUANT_SRC_REFERENCE_GROUP_QUANT_REF_H_
#define GROUPQUANT_SRC_REFERENCE_GROUP_QUANT_REF_H_

#include "src/problem.h"

namespace groupquant::detail {

// The scalar oracle: SPEC.md's "Groups" and "Arithmetic" sections, one element at a
// time, in the order the spec states them. Not designed to be fast.
void group_quant_ref(const Problem& p);

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_REFERENCE_GROUP_QUANT_REF_H_
