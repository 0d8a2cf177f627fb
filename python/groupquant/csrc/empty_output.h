// Fresh CPU outputs of the torch operators (op.cpp's npu_group_quant, dynamic_quant.cpp's
// npu_dynamic_quant ops): one copy of the allocation and its huge-page advice.
//
// Outputs of 2 MiB and more get transparent huge pages where the system allows them
// (THP "madvise" or "always"): the kernel writes a fresh allocation first, and with 4 KiB
// pages its first-touch faults (one per page, each zeroing it) cost more than the
// quantization. MADV_HUGEPAGE on the allocation's 2 MiB-aligned interior, before the first
// write, makes that one fault per 2 MiB. Nothing is kept beyond the call, and nothing
// changes where THP is "never" or missing (madvise then fails or does nothing; ignored).
// GROUPQUANT_HUGE_PAGES=0 in the environment, read once, turns it off.
#ifndef GROUPQUANT_PYTHON_CSRC_EMPTY_OUTPUT_H_
#define GROUPQUANT_PYTHON_CSRC_EMPTY_OUTPUT_H_

#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace groupquant::torch_binding {

inline constexpr uintptr_t kHugePageBytes = uintptr_t{2} << 20;

inline bool huge_pages_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("GROUPQUANT_HUGE_PAGES");
    return env == nullptr || std::string_view(env) != "0";
  }();
  return enabled;
}

inline void advise_huge_pages(void* data, size_t bytes) {
#ifdef MADV_HUGEPAGE
  if (bytes < kHugePageBytes || !huge_pages_enabled()) return;
  const auto begin =
      (reinterpret_cast<uintptr_t>(data) + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  const auto end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHugePageBytes - 1);
  if (begin < end) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data, (void)bytes;
#endif
}

// torch's CPU allocator directly (at::empty would add a trip through the dispatcher,
// a measurable part of a decode-size call), then the huge-page advice.
inline at::Tensor empty_cpu_output(at::IntArrayRef shape, const at::TensorOptions& options) {
  at::Tensor y(at::detail::empty_cpu(shape, options));
  advise_huge_pages(y.data_ptr(), y.nbytes());
  return y;
}

}  // namespace groupquant::torch_binding

#endif  // GROUPQUANT_PYTHON_CSRC_EMPTY_OUTPUT_H_
