// The Python module of a groupquant extension (_C, _C_cuda). Importing it loads the
// library, whose static TORCH_LIBRARY registrations do the work; _C also carries a few
// plain functions (the CPU ISA switch). A plain PyModuleDef, as in PyTorch's
// extension-cpp, so the extensions need no pybind11.
#ifndef GROUPQUANT_PYTHON_CSRC_PYTHON_MODULE_H_
#define GROUPQUANT_PYTHON_CSRC_PYTHON_MODULE_H_

#include <Python.h>

// methods: a PyMethodDef table ending in {nullptr}, or nullptr.
#define GROUPQUANT_PYTHON_MODULE_WITH_METHODS(name, doc, methods)                            \
  extern "C" PyObject* PyInit_##name(void) {                                                 \
    static PyModuleDef module_def = {                                                        \
        PyModuleDef_HEAD_INIT, #name, doc, -1, methods, nullptr, nullptr, nullptr, nullptr}; \
    return PyModule_Create(&module_def);                                                     \
  }
#define GROUPQUANT_PYTHON_MODULE(name, doc) \
  GROUPQUANT_PYTHON_MODULE_WITH_METHODS(name, doc, nullptr)

#endif  // GROUPQUANT_PYTHON_CSRC_PYTHON_MODULE_H_
