// The torch operator groupquant::npu_group_quant: the schemas (the NPU operator's,
// unchanged, plus an out= overload and the integer-kind overloads the public wrapper
// calls) and their CPU implementation over the core's C ABI; and _C's Python functions
// (the CPU ISA switch, the output cache).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <groupquant/groupquant.h>
#include <torch/library.h>

#include <cstdint>
#include <cstring>
#include <optional>

#include "python/groupquant/csrc/empty_output.h"
#include "python/groupquant/csrc/python_module.h"
#include "python/groupquant/csrc/tensor_view.h"

namespace groupquant::torch_binding {
namespace {

// ---- _C's Python functions: gq_cpu_isa / gq_set_cpu_isa / gq_cpu_isa_supported ----------

PyObject* raise_last_error() {
  PyErr_SetString(PyExc_RuntimeError, gq_last_error());
  return nullptr;
}

PyObject* py_cpu_isa(PyObject* /*self*/, PyObject* /*unused*/) {
  const char* name = gq_cpu_isa();
  // "unsupported": GROUPQUANT_CPU_ISA names an ISA this machine cannot run.
  if (std::strcmp(name, "unsupported") == 0) return raise_last_error();
  return PyUnicode_FromString(name);
}

PyObject* py_set_cpu_isa(PyObject* /*self*/, PyObject* name) {
  const char* utf8 = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : nullptr;
  if (utf8 == nullptr) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "set_cpu_isa() takes a str");
    return nullptr;
  }
  if (gq_set_cpu_isa(utf8) != GQ_STATUS_SUCCESS) return raise_last_error();
  Py_RETURN_NONE;
}

PyObject* py_cpu_isa_supported(PyObject* /*self*/, PyObject* name) {
  const char* utf8 = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : nullptr;
  if (utf8 == nullptr) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "cpu_isa_supported() takes a str");
    return nullptr;
  }
  return PyBool_FromLong(gq_cpu_isa_supported(utf8));
}

PyMethodDef methods[] = {
    {"cpu_isa", &py_cpu_isa, METH_NOARGS, "The CPU ISA whose kernels run (gq_cpu_isa)."},
    {"set_cpu_isa", &py_set_cpu_isa, METH_O, "Forces a CPU ISA, or 'auto' (gq_set_cpu_isa)."},
    {"cpu_isa_supported", &py_cpu_isa_supported, METH_O,
     "Whether this build and CPU can run the named ISA (gq_cpu_isa_supported)."},
    {"output_cache_info", &py_output_cache_info, METH_NOARGS,
     "What the cache of large output blocks holds (empty_output.h)."},
    {"empty_cache", &py_empty_cache, METH_NOARGS,
     "Returns the output blocks the cache holds to the system."},
    {"set_output_cache_limit", &py_set_output_cache_limit, METH_O,
     "Sets the most bytes the output cache may hold (0: off)."},
    {nullptr, nullptr, 0, nullptr}};

// ---- The operator -----------------------------------------------------------------------

void check_cpu(const at::Tensor& x) {
  TORCH_CHECK(x.is_cpu(), "x must be a CPU tensor for the CPU implementation: got x on ",
              x.device());
}

// out: the caller's output, or null for a fresh one. Returns the output.
at::Tensor run(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& group_index,
               const std::optional<at::Tensor>& offset, gq_output_kind kind,
               const at::Tensor* out) {
  const OpCall call(x, scale, group_index, offset, kind, out, &empty_cpu_output);
  gq_options options{};
  options.parallel_for = &torch_parallel_for;
  if (gq_group_quant(call.x(), call.scale(), call.group_index(), call.offset(), call.kind(),
                     &options, call.y()) != GQ_STATUS_SUCCESS) {
    call.fail();
  }
  return call.output();
}

at::Tensor npu_group_quant_cpu(const at::Tensor& x, const at::Tensor& scale,
                               const at::Tensor& group_index,
                               const std::optional<at::Tensor>& offset,
                               std::optional<at::ScalarType> dst_dtype) {
  check_same_device(x, scale, group_index, offset);
  check_cpu(x);
  return run(x, scale, group_index, offset, output_kind(dst_dtype), nullptr);
}

at::Tensor& npu_group_quant_out_cpu(const at::Tensor& x, const at::Tensor& scale,
                                    const at::Tensor& group_index,
                                    const std::optional<at::Tensor>& offset,
                                    std::optional<at::ScalarType> dst_dtype, at::Tensor& out) {
  check_same_device(x, scale, group_index, offset, &out);
  check_cpu(x);
  run(x, scale, group_index, offset, output_kind(dst_dtype), &out);
  return out;
}

at::Tensor npu_group_quant_kind_cpu(const at::Tensor& x, const at::Tensor& scale,
                                    const at::Tensor& group_index,
                                    const std::optional<at::Tensor>& offset, int64_t kind) {
  check_same_device(x, scale, group_index, offset);
  check_cpu(x);
  return run(x, scale, group_index, offset, output_kind(kind), nullptr);
}

void npu_group_quant_kind_into_cpu(const at::Tensor& x, const at::Tensor& scale,
                                   const at::Tensor& group_index,
                                   const std::optional<at::Tensor>& offset, int64_t kind,
                                   at::Tensor& out) {
  check_same_device(x, scale, group_index, offset, &out);
  check_cpu(x);
  run(x, scale, group_index, offset, output_kind(kind), &out);
}

}  // namespace
}  // namespace groupquant::torch_binding

// `import groupquant._C` loads this library, which runs the registrations below.
GROUPQUANT_PYTHON_MODULE_WITH_METHODS(_C, "groupquant CPU operator",
                                      groupquant::torch_binding::methods)

// The NPU operator's schema, and three more overloads:
//   .out       the same with a caller's output (ATen's out= convention: `out` is written
//              and returned; it must already have the output's dtype and shape).
//   .kind      dst_dtype as the core's output kind, an int (0: int8, 1: packed int4). The
//              public wrapper calls these, so graphs that torch.export saves or
//              AOTInductor compiles carry no quantized dtype (neither serializes qint8
//              or quint4x2). Positional arguments only: matching keywords costs about
//              1.4 us a call, a quarter of a decode-size call.
//   .kind_into .kind with the caller's out, returning nothing: a plain mutable op, so
//              torch.compile's reinplacing writes a compiled graph's result straight into
//              a graph input `out`. (For .out, tagged out=, torch 2.13 functionalizes into
//              a fresh buffer plus a copy back.)
TORCH_LIBRARY(groupquant, m) {
  m.def(
      "npu_group_quant(Tensor x, Tensor scale, Tensor group_index, *, Tensor? offset=None, "
      "ScalarType? dst_dtype=None) -> Tensor");
  m.def(
      "npu_group_quant.out(Tensor x, Tensor scale, Tensor group_index, *, Tensor? offset=None, "
      "ScalarType? dst_dtype=None, Tensor(a!) out) -> Tensor(a!)",
      {at::Tag::out});
  m.def(
      "npu_group_quant.kind(Tensor x, Tensor scale, Tensor group_index, Tensor? offset, "
      "int kind) -> Tensor");
  m.def(
      "npu_group_quant.kind_into(Tensor x, Tensor scale, Tensor group_index, Tensor? offset, "
      "int kind, Tensor(a!) out) -> ()");
}

TORCH_LIBRARY_IMPL(groupquant, CPU, m) {
  m.impl("npu_group_quant", &groupquant::torch_binding::npu_group_quant_cpu);
  m.impl("npu_group_quant.out", &groupquant::torch_binding::npu_group_quant_out_cpu);
  m.impl("npu_group_quant.kind", &groupquant::torch_binding::npu_group_quant_kind_cpu);
  m.impl("npu_group_quant.kind_into", &groupquant::torch_binding::npu_group_quant_kind_into_cpu);
}
