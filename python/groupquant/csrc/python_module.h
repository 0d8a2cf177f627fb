// The Python module of a groupquant extension (_C, _C_cuda). The module is empty: importing
// it loads the library, whose static TORCH_LIBRARY registrations do the work. A plain
// PyModuleDef, as in PyTorch's extension-cpp, so the extensions need no pybind11.
#ifndef GROUPQUANT_PYTHON_CSRC_PYTHON_MODULE_H_
#define GROUPQUANT_PYTHON_CSRC_PYTHON_MODULE_H_

#include <Python.h>

#define GROUPQUANT_PYTHON_MODULE(name, doc)                                                  \
  extern "C" PyObject* PyInit_##name(void) {                                                 \
    static PyModuleDef module_def = {                                                        \
        PyModuleDef_HEAD_INIT, #name, doc, -1, nullptr, nullptr, nullptr, nullptr, nullptr}; \
    return PyModule_Create(&module_def);                                                     \
  }

#endif  // GROUPQUANT_PYTHON_CSRC_PYTHON_MODULE_H_
