// SPEC.md: the result never depends on the caller's floating-point environment. A
// caller may have set another rounding mode (fesetround) or flush-to-zero /
// denormals-are-zero (torch.set_flush_denormal(True) sets both); either changes the
// fp32 multiply and add. Every computation runs inside this guard, which sets the
// IEEE default for the current thread and restores the caller's state afterwards.
#ifndef GROUPQUANT_SRC_FP_ENV_H_
#define GROUPQUANT_SRC_FP_ENV_H_

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <cstdint>
#else
#include <cfenv>
#endif

namespace groupquant::detail {

class ScopedDefaultFpEnv {
 public:
#if defined(__x86_64__) || defined(__i386__)
  // MXCSR 0x1F80: all exceptions masked, round to nearest even, no FTZ, no DAZ. SSE/AVX
  // arithmetic (all float math on x86-64) obeys MXCSR alone.
  ScopedDefaultFpEnv() : saved_(_mm_getcsr()) { _mm_setcsr(0x1F80u); }
  ~ScopedDefaultFpEnv() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#elif defined(__aarch64__)
  // FPCR 0: round to nearest even, no flush-to-zero (FZ, FZ16), IEEE half precision
  // (AHP, which fp16 -> fp32 conversions obey), no default-NaN, no traps. Scalar and
  // Advanced SIMD arithmetic obey FPCR alone. Written only when it differs: msr fpcr
  // can stall the pipeline on some cores.
  ScopedDefaultFpEnv() : saved_(read_fpcr()) {
    if (saved_ != 0) write_fpcr(0);
  }
  ~ScopedDefaultFpEnv() {
    if (saved_ != 0) write_fpcr(saved_);
  }

 private:
  static uint64_t read_fpcr() {
    uint64_t v;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
    return v;
  }
  static void write_fpcr(uint64_t v) { __asm__ __volatile__("msr fpcr, %0" : : "r"(v)); }
  uint64_t saved_;
#else
  ScopedDefaultFpEnv() : saved_(std::fegetround()) { std::fesetround(FE_TONEAREST); }
  ~ScopedDefaultFpEnv() { std::fesetround(saved_); }

 private:
  int saved_;
#endif

 public:
  ScopedDefaultFpEnv(const ScopedDefaultFpEnv&) = delete;
  ScopedDefaultFpEnv& operator=(const ScopedDefaultFpEnv&) = delete;
};

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_FP_ENV_H_
