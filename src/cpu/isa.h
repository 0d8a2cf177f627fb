// Which CPU kernels run: decided once per process from the CPU's features, overridable
// by the environment variable GROUPQUANT_CPU_ISA or by set_active_isa() (tests and
// benchmarks force every path in one process this way).
#ifndef GROUPQUANT_SRC_CPU_ISA_H_
#define GROUPQUANT_SRC_CPU_ISA_H_

#include <optional>
#include <string_view>

namespace groupquant::detail {

// x86-64: avx2, avx512. aarch64: neon (Advanced SIMD, every aarch64 CPU).
enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kNeon = 3 };
inline constexpr int kNumIsas = 4;

const char* isa_name(Isa isa);
std::optional<Isa> parse_isa(std::string_view name);  // "scalar", "avx2", "avx512", "neon"
// Compiled into this build and runnable on this CPU.
bool isa_supported(Isa isa);
// The best supported ISA.
Isa best_isa();
Isa active_isa();
// Throws groupquant::Unsupported if !isa_supported(isa).
void set_active_isa(Isa isa);

}  // namespace groupquant::detail

#endif  // GROUPQUANT_SRC_CPU_ISA_H_
