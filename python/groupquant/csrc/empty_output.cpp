// OutputMemory: the allocator behind large fresh outputs (empty_output.h says why and
// what it keeps). Written here rather than taken from a library because what it needs
// is small and specific: torch's CPU allocator has no caching mode, and preloading
// tcmalloc or jemalloc is a choice for the user's whole process, not for a library.
#include "python/groupquant/csrc/empty_output.h"

#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/accumulate.h>
#include <pthread.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <vector>

namespace groupquant::torch_binding {
namespace {

constexpr size_t kHugePageBytes = size_t{2} << 20;
// Outputs from this size on come from OutputMemory (below it, glibc's heap reuses).
constexpr size_t kMinBytes = kHugePageBytes;
constexpr size_t kDefaultCacheMiB = 256;

bool huge_pages_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("GROUPQUANT_HUGE_PAGES");
    return env == nullptr || std::string_view(env) != "0";
  }();
  return enabled;
}

// GROUPQUANT_OUTPUT_CACHE_MIB: a non-negative integer, else the default (with a warning).
size_t cache_limit_from_env() {
  const char* env = std::getenv("GROUPQUANT_OUTPUT_CACHE_MIB");
  if (env == nullptr) return kDefaultCacheMiB << 20;
  char* end = nullptr;
  errno = 0;
  const unsigned long long mib = std::strtoull(env, &end, 10);
  if (*env == '\0' || *end != '\0' || errno != 0 || env[0] == '-' || mib > (SIZE_MAX >> 20)) {
    TORCH_WARN("groupquant: GROUPQUANT_OUTPUT_CACHE_MIB must be a number of MiB (0 turns the ",
               "output cache off): got '", env, "'; using the default, ", kDefaultCacheMiB);
    return kDefaultCacheMiB << 20;
  }
  return static_cast<size_t>(mib) << 20;
}

// One mapping: `bytes` (a multiple of 2 MiB) at a 2 MiB-aligned address.
struct Block {
  void* data;
  size_t bytes;
};

class OutputMemory final : public c10::Allocator {
 public:
  // Never destroyed: outputs may outlive static destruction (freed at interpreter exit).
  static OutputMemory& get() {
    static OutputMemory* memory = [] {
      auto* m = new OutputMemory();
      // A fork while another thread holds the lock would leave it locked in the child.
      pthread_atfork([] { get().mutex_.lock(); }, [] { get().mutex_.unlock(); },
                     [] { get().mutex_.unlock(); });
      return m;
    }();
    return *memory;
  }

  c10::DataPtr allocate(size_t n) override {
    // resize_() of an output's storage comes here with any size.
    if (n < kMinBytes) return c10::GetCPUAllocator()->allocate(n);
    const size_t bytes = (n + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    Block* block = take_cached(bytes);
    if (block == nullptr) block = map_block(bytes);
    report(block->data, static_cast<int64_t>(block->bytes));
    return {block->data, block, &free_block, c10::Device(c10::DeviceType::CPU)};
  }

  void copy_data(void* dest, const void* src, size_t count) const override {
    default_copy_data(dest, src, count);
  }

  PyObject* info() {
    std::lock_guard<std::mutex> lock(mutex_);
    return Py_BuildValue(
        "{s:K,s:n,s:K,s:K,s:K}", "held_bytes", static_cast<unsigned long long>(held_bytes_),
        "held_blocks", static_cast<Py_ssize_t>(cached_.size()), "limit_bytes",
        static_cast<unsigned long long>(limit_bytes_), "hits",
        static_cast<unsigned long long>(hits_), "misses", static_cast<unsigned long long>(misses_));
  }

  // Returns every cached block to the system; the limit stays.
  void release_cached() {
    std::vector<Block*> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      evicted.swap(cached_);
      held_bytes_ = 0;
    }
    unmap(evicted);
  }

  void set_limit(size_t bytes) {
    std::vector<Block*> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_bytes_ = bytes;
      evict_over_limit(&evicted);
    }
    unmap(evicted);
  }

 private:
  OutputMemory() : limit_bytes_(cache_limit_from_env()) {}

  // The smallest cached block that fits, wasting at most a quarter of the request.
  Block* take_cached(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t best = cached_.size();
    for (size_t i = 0; i < cached_.size(); ++i) {
      const size_t have = cached_[i]->bytes;
      if (have >= bytes && have - bytes <= bytes / 4 &&
          (best == cached_.size() || have < cached_[best]->bytes)) {
        best = i;
      }
    }
    if (best == cached_.size()) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    Block* block = cached_[best];
    cached_.erase(cached_.begin() + static_cast<std::ptrdiff_t>(best));
    held_bytes_ -= block->bytes;
    live_bytes_ += block->bytes;
    return block;
  }

  Block* map_block(size_t bytes) {
    // Map 2 MiB more than needed, keep the aligned part, unmap the ends.
    const size_t mapped = bytes + kHugePageBytes;
    void* base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
      release_cached();  // what the cache holds may be what is missing
      base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    TORCH_CHECK_WITH(OutOfMemoryError, base != MAP_FAILED, "groupquant: cannot allocate an ",
                     "output of ", bytes, " bytes: mmap failed: ", std::strerror(errno));
    const auto begin = reinterpret_cast<uintptr_t>(base);
    const uintptr_t aligned = (begin + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
    if (aligned > begin) munmap(base, aligned - begin);
    if (begin + mapped > aligned + bytes) {
      munmap(reinterpret_cast<void*>(aligned + bytes), begin + mapped - (aligned + bytes));
    }
    void* data = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
    // Before the first write; fails (ignored) where THP is missing.
    if (huge_pages_enabled()) madvise(data, bytes, MADV_HUGEPAGE);
#endif
    std::lock_guard<std::mutex> lock(mutex_);
    live_bytes_ += bytes;
    return new Block{data, bytes};
  }

  // The DataPtr's deleter, on whichever thread drops the last reference.
  static void free_block(void* ctx) {
    auto* block = static_cast<Block*>(ctx);
    OutputMemory& m = get();
    std::vector<Block*> evicted;
    {
      std::lock_guard<std::mutex> lock(m.mutex_);
      m.live_bytes_ -= block->bytes;
      if (block->bytes <= m.limit_bytes_) {
        m.cached_.push_back(block);
        m.held_bytes_ += block->bytes;
        m.evict_over_limit(&evicted);
      } else {
        evicted.push_back(block);
      }
    }
    m.report(block->data, -static_cast<int64_t>(block->bytes));
    unmap(evicted);
  }

  // Oldest first, until the cache holds no more than its limit. Caller holds the lock.
  void evict_over_limit(std::vector<Block*>* evicted) {
    size_t drop = 0;
    while (held_bytes_ > limit_bytes_) {
      held_bytes_ -= cached_[drop]->bytes;
      evicted->push_back(cached_[drop++]);
    }
    cached_.erase(cached_.begin(), cached_.begin() + static_cast<std::ptrdiff_t>(drop));
  }

  static void unmap(const std::vector<Block*>& blocks) {
    for (Block* b : blocks) {
      munmap(b->data, b->bytes);
      delete b;
    }
  }

  // torch.profiler(profile_memory=True) sees these outputs like torch's own allocations.
  void report(void* data, int64_t delta) {
    if (!c10::memoryProfilingEnabled()) return;
    size_t live, held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      live = live_bytes_;
      held = held_bytes_;
    }
    c10::reportMemoryUsageToProfiler(data, delta, live, live + held,
                                     c10::Device(c10::DeviceType::CPU));
  }

  std::mutex mutex_;
  std::vector<Block*> cached_;  // least recently freed first
  size_t held_bytes_ = 0;       // in cached_
  size_t live_bytes_ = 0;       // in outputs alive now
  size_t limit_bytes_;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace

at::Tensor empty_cpu_output(at::IntArrayRef shape, const at::TensorOptions& options) {
  const auto dtype = c10::typeMetaToScalarType(options.dtype());
  const size_t bytes = c10::multiply_integers(shape) * static_cast<size_t>(c10::elementSize(dtype));
  // Small outputs: torch's CPU allocator directly (at::empty would add a trip through the
  // dispatcher, a measurable part of a decode-size call).
  if (bytes < kMinBytes) return at::detail::empty_cpu(shape, options);
  return at::Tensor(at::detail::empty_generic(shape, &OutputMemory::get(),
                                              c10::DispatchKeySet(c10::DispatchKey::CPU), dtype,
                                              std::nullopt));
}

PyObject* py_output_cache_info(PyObject* /*self*/, PyObject* /*unused*/) {
  return OutputMemory::get().info();
}

PyObject* py_empty_cache(PyObject* /*self*/, PyObject* /*unused*/) {
  OutputMemory::get().release_cached();
  Py_RETURN_NONE;
}

PyObject* py_set_output_cache_limit(PyObject* /*self*/, PyObject* bytes) {
  if (!PyLong_Check(bytes)) {
    PyErr_SetString(PyExc_TypeError, "set_output_cache_limit() takes an int (bytes)");
    return nullptr;
  }
  const unsigned long long value = PyLong_AsUnsignedLongLong(bytes);
  if (PyErr_Occurred()) {
    PyErr_Clear();
    PyErr_SetString(PyExc_ValueError, "set_output_cache_limit(): bytes must be a non-negative int");
    return nullptr;
  }
  OutputMemory::get().set_limit(static_cast<size_t>(value));
  Py_RETURN_NONE;
}

}  // namespace groupquant::torch_binding
