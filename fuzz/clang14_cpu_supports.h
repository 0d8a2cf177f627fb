// Force-included into src/cpu/isa.cc by cmake/fuzz.cmake, for clang only: clang 14's
// __builtin_cpu_supports rejects "f16c" at compile time (gcc accepts it), so the core
// does not compile with the Debian clang that libFuzzer needs. This answers the same
// questions from CPUID and XGETBV. Remove once isa.cc detects F16C itself.
#ifndef GROUPQUANT_FUZZ_CLANG14_CPU_SUPPORTS_H_
#define GROUPQUANT_FUZZ_CLANG14_CPU_SUPPORTS_H_

#if defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#include <string.h>

static inline int gq_fuzz_cpu_supports(const char* feature) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const unsigned ecx1 = c;
  // AVX state (XMM|YMM) and AVX-512 state (opmask|ZMM) enabled by the OS.
  unsigned xcr0 = 0;
  if (ecx1 & bit_OSXSAVE) {
    unsigned hi;
    __asm__("xgetbv" : "=a"(xcr0), "=d"(hi) : "c"(0));
  }
  const int os_avx = (xcr0 & 0x6) == 0x6, os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;
  unsigned ebx7 = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) ebx7 = b;
  if (strcmp(feature, "f16c") == 0) return os_avx && (ecx1 & bit_F16C) != 0;
  if (strcmp(feature, "fma") == 0) return os_avx && (ecx1 & bit_FMA) != 0;
  if (strcmp(feature, "avx2") == 0) return os_avx && (ebx7 & bit_AVX2) != 0;
  if (strcmp(feature, "avx512f") == 0) return os_avx512 && (ebx7 & bit_AVX512F) != 0;
  if (strcmp(feature, "avx512bw") == 0) return os_avx512 && (ebx7 & bit_AVX512BW) != 0;
  if (strcmp(feature, "avx512vl") == 0) return os_avx512 && (ebx7 & bit_AVX512VL) != 0;
  return 0;
}
#define __builtin_cpu_supports(feature) gq_fuzz_cpu_supports(feature)
#endif

#endif  // GROUPQUANT_FUZZ_CLANG14_CPU_SUPPORTS_H_
