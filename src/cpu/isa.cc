#include "src/cpu/isa.h"

#include <atomic>
#include <cstdlib>
#include <groupquant/groupquant.hpp>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace groupquant::detail {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// Read from CPUID and XGETBV rather than __builtin_cpu_supports, which clang 14 (the
// compiler of the fuzz build) rejects for "f16c". A feature counts only if the OS also
// saves the register state it needs (XCR0: YMM for AVX*, opmask+ZMM for AVX-512).
struct X86Features {
  bool avx2_fma_f16c = false;
  bool avx512_f_bw_vl = false;
};

X86Features read_x86_features() {
  X86Features f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const unsigned ecx1 = c;
  if ((ecx1 & bit_OSXSAVE) == 0) return f;
  unsigned xcr0, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0), "=d"(xcr0_hi) : "c"(0));
  const bool os_avx = (xcr0 & 0x6) == 0x6;
  const bool os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;
  unsigned ebx7 = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) ebx7 = b;
  f.avx2_fma_f16c = os_avx && (ebx7 & bit_AVX2) && (ecx1 & bit_FMA) && (ecx1 & bit_F16C);
  f.avx512_f_bw_vl =
      os_avx512 && (ebx7 & bit_AVX512F) && (ebx7 & bit_AVX512BW) && (ebx7 & bit_AVX512VL);
  return f;
}
#endif

#if defined(__aarch64__)
// Advanced SIMD is in the aarch64 baseline that the whole library is compiled for (the
// compiler uses it for ordinary code too), so asimd is true wherever this code runs; the
// HWCAPs are read anyway so that later paths (SVE, SVE2) only add a field and a case.
struct Arm64Features {
  bool asimd = true;
  bool sve = false;
  bool sve2 = false;
};

Arm64Features read_arm64_features() {
  Arm64Features f;
#if defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
  const unsigned long hwcap2 = getauxval(AT_HWCAP2);
#if defined(HWCAP_SVE)
  f.sve = (hwcap & HWCAP_SVE) != 0;
#endif
#if defined(HWCAP2_SVE2)
  f.sve2 = f.sve && (hwcap2 & HWCAP2_SVE2) != 0;
#endif
  (void)hwcap, (void)hwcap2;
#endif
  return f;
}
#endif

bool cpu_has(Isa isa) {
  if (isa == Isa::kScalar) return true;
#if defined(__x86_64__) || defined(__i386__)
  static const X86Features features = read_x86_features();
  switch (isa) {
    case Isa::kAvx2:
      return features.avx2_fma_f16c;
    case Isa::kAvx512:
      return features.avx512_f_bw_vl;
    default:
      return false;
  }
#elif defined(__aarch64__)
  static const Arm64Features features = read_arm64_features();
  return isa == Isa::kNeon && features.asimd;
#else
  return false;
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
    case Isa::kNeon:
      return GQ_HAVE_NEON;
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
    throw Unsupported("GROUPQUANT_CPU_ISA must be one of auto, scalar, avx2, avx512, neon: got '" +
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
    case Isa::kNeon:
      return "neon";
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
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kNeon}) {
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
