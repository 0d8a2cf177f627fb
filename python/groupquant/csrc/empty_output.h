// Fresh CPU outputs of the torch operators (op.cpp's npu_group_quant, dynamic_quant.cpp's
// npu_dynamic_quant ops), and the memory behind the large ones.
//
// A fresh output the size of a large call costs more than the quantization in a plain
// process: glibc maps every block over 32 MiB anew, and the kernel zeroes each page on its
// first write (in a VM the host may also have to fault the page in). So outputs of 2 MiB
// and more come from OutputMemory instead of torch's CPU allocator:
//   - 2 MiB-aligned mappings, advised MADV_HUGEPAGE (where THP is "madvise" or "always";
//     nothing changes where it is "never" or missing): one fault per 2 MiB, none on 4 KiB
//     pages at the block's ends. GROUPQUANT_HUGE_PAGES=0 turns the advice off.
//   - A bounded cache of freed output blocks, like a caching allocator's: the next output
//     of about the same size reuses one (no fault, no zeroing), so a serving loop pays
//     what a loop with out= pays. It holds at most GROUPQUANT_OUTPUT_CACHE_MIB MiB
//     (default 256; 0 turns it off), least recently freed blocks go first, and
//     groupquant.empty_cache() returns everything it holds to the system.
// Outputs below 2 MiB come from torch's CPU allocator (glibc's heap reuses those already).
#ifndef GROUPQUANT_PYTHON_CSRC_EMPTY_OUTPUT_H_
#define GROUPQUANT_PYTHON_CSRC_EMPTY_OUTPUT_H_

#include <ATen/ATen.h>
#include <Python.h>

namespace groupquant::torch_binding {

// A CPU tensor of this shape and options (row-major), from the memory described above.
at::Tensor empty_cpu_output(at::IntArrayRef shape, const at::TensorOptions& options);

// _C's Python functions for the cache: output_cache_info() -> dict, empty_cache(),
// set_output_cache_limit(bytes) -> None.
PyObject* py_output_cache_info(PyObject* self, PyObject* unused);
PyObject* py_empty_cache(PyObject* self, PyObject* unused);
PyObject* py_set_output_cache_limit(PyObject* self, PyObject* bytes);

}  // namespace groupquant::torch_binding

#endif  // GROUPQUANT_PYTHON_CSRC_EMPTY_OUTPUT_H_
