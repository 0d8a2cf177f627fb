// The C entry points' one exception -> gq_status mapping: the CPU ones (src/api.cc) and
// the CUDA ones (src/cuda/*.cu) run `fn` inside guarded(), which records the message as
// this thread's gq_last_error() (set_last_error, src/api.cc: one slot per process).
#ifndef GROUPQUANT_SRC_STATUS_H_
#define GROUPQUANT_SRC_STATUS_H_

#include <groupquant/groupquant.h>
#include <groupquant/groupquant_cuda.h>  // groupquant::DeviceError: a plain C++ type, no CUDA

#include <groupquant/groupquant.hpp>
#include <new>
#include <stdexcept>

#include "src/validate.h"

namespace groupquant::detail {

template <typename Fn>
gq_status guarded(Fn&& fn) {
  try {
    fn();
    set_last_error("");
    return GQ_STATUS_SUCCESS;
  } catch (const Error& e) {
    set_last_error(e.what());
    return GQ_STATUS_INVALID_ARGUMENT;
  } catch (const Unsupported& e) {
    set_last_error(e.what());
    return GQ_STATUS_UNSUPPORTED;
  } catch (const DeviceError& e) {
    set_last_error(e.what());
    return GQ_STATUS_DEVICE_ERROR;
  } catch (const std::bad_alloc&) {
    set_last_error("out of memory");
    return GQ_STATUS_INTERNAL_ERROR;
  } catch (const std::exception& e) {
    set_last_error(e.what());
    return GQ_STATUS_INTERNAL_ERROR;
  } catch (...) {
    set_last_error("unknown error");
    return GQ_STATUS_INTERNAL_ERROR;
  }
}

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_STATUS_H_
