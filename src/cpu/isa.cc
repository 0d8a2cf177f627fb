#include "src/cpu/isa.h"

#include <groupquant/groupquant.hpp>

#include <atomic>
#include <cstdlib>
#include <string>

namespace groupquant::detail {
namespace {

bool cpu_has(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
  }
  return false;
#else
  return isa == Isa::kScalar;
#endif
}

bool compiled_in(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return GQ_HAVE_AVX2;
    case Isa::kAvx512:
      return GQ_HAVE_AVX512;
  }
  return false;
}

// Read once; an unknown or unsupported value is an error the first call reports
// rather than a silent fallback, so a forced benchmark never measures the wrong path.
Isa initial_isa() {
  const char* env = std::getenv("GROUPQUANT_CPU_ISA");
  if (env == nullptr || std::string_view(env).empty() || std::string_view(env) == "auto") {
    return best_isa();
  }
  const std::optional<Isa> forced = parse_isa(env);
  if (!forced) {
    throw Unsupported("GROUPQUANT_CPU_ISA must be one of auto, scalar, avx2, avx512: got '" +
                      std::string(env) + "'");
  }
  if (!isa_supported(*forced)) {
    throw Unsupported(std::string("GROUPQUANT_CPU_ISA=") + env +
                      " is not supported by this CPU or build");
  }
  return *forced;
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

std::optional<Isa> parse_isa(std::string_view name) {
  for (int i = 0; i < kNumIsas; ++i) {
    if (name == isa_name(static_cast<Isa>(i))) return static_cast<Isa>(i);
  }
  return std::nullopt;
}

bool isa_supported(Isa isa) { return compiled_in(isa) && cpu_has(isa); }

Isa best_isa() {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2}) {
    if (isa_supported(isa)) return isa;
  }
  return Isa::kScalar;
}

Isa active_isa() { return static_cast<Isa>(active_slot().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  if (!isa_supported(isa)) {
    throw Unsupported(std::string("CPU ISA ") + isa_name(isa) +
                      " is not supported by this CPU or build");
  }
  active_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace groupquant::detail
