// Google Benchmark for the CPU core. Three families:
//   group_quant_<x>_<scale>_<out>__<isa>/cache   one L2-resident row, compute throughput
//   group_quant_<x>_<scale>_<out>__<isa>/stream  rows over a 256 MiB x buffer (>= 4x a 32-64 MiB
//                                        LLC), memory throughput, 1 and all threads (SIMD
//                                        ISAs; scalar is compute-bound, /cache shows it)
//   group_quant_<x>_<scale>_<out>__<isa>/stream_nt  the same with the streaming-store variant
//                                        (row_stream.h), which the driver uses for big calls
//   dynamic_quant_<x>_<out>__<isa>/cache[_asym]  one L1/L2-resident row of 7168 (DeepSeek's H)
//                                        through the npu_dynamic_quant kernel: symmetric
//                                        with a smooth row, or asymmetric without (A2;
//                                        950 for the fp8 kinds, which only it has)
//   memcpy/stream                        the copy ceiling: the same bytes moved (read +
//                                        write) as a bf16 -> int8 stream
//   group_quant/<shape>/threads:<t>      the full operator at MoE shapes, 1 thread and 0 (all
//                                        hardware threads, fewer for small calls); "colmajor"
//                                        shapes read a column-major x (the tiled path)
//   dynamic_quant/<shape>/<stream|plain>/threads:<t>  the full npu_dynamic_quant (A2, MoE
//                                        smooth [E, H] through group_index) at
//                                        bench_dynamic_quant.py's large shapes, with y streamed
//                                        (non-temporal stores, what the driver does for calls this
//                                        big) or not
// bytes_per_second counts bytes read from x plus bytes written to y (scale rows are
// cache-resident and not counted), as XNNPACK's `bytes` counter does.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <groupquant/groupquant.hpp>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "src/cpu/isa.h"
#include "src/cpu/kernels.h"
#include "src/cpu/row_stream.h"

namespace {

using groupquant::detail::DynamicOp;
using groupquant::detail::DynamicRowKernel;
using groupquant::detail::Isa;
using groupquant::detail::RowKernel;

constexpr int64_t kStreamXBytes = int64_t{256} << 20;
constexpr int64_t kRowElements = 4096;
constexpr int64_t kDynamicRowElements = 7168;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<char[], FreeDeleter>;

// 64-byte aligned, every page touched (so no first-touch faults are timed).
Buffer alloc_buffer(int64_t bytes) {
  const size_t size = static_cast<size_t>((bytes + 63) / 64 * 64);
  Buffer b(static_cast<char*>(std::aligned_alloc(64, size)));
  std::memset(b.get(), 0, size);
  return b;
}

int64_t dtype_bytes(gq_dtype d) { return d == GQ_DTYPE_FLOAT32 ? 4 : 2; }

uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}
// Values well inside fp16's normal range: exact half bits built from an int (no F16C).
uint16_t to_f16_small(float f) {
  const int q = std::clamp(static_cast<int>(f * 16.0f), -16000, 16000);  // |f| < 1000
  if (q == 0) return 0;
  const uint16_t sign = q < 0 ? 0x8000 : 0;
  uint32_t m = static_cast<uint32_t>(std::abs(q));
  int e = 0;
  while (m >= 2048) {
    m >>= 1;
    ++e;
  }
  while (m < 1024) {
    m <<= 1;
    --e;
  }
  return sign | static_cast<uint16_t>((e + 10 - 4 + 15) << 10) | static_cast<uint16_t>(m & 0x3FF);
}

// Fills `count` elements with values like an activation (normal, sigma 40) or a scale.
void fill(char* p, gq_dtype dtype, int64_t count, bool is_scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> act(0.0f, 40.0f);
  std::uniform_real_distribution<float> scl(0.5f, 2.0f);
  for (int64_t i = 0; i < count; ++i) {
    const float v = is_scale ? scl(rng) : act(rng);
    if (dtype == GQ_DTYPE_FLOAT32) {
      std::memcpy(p + 4 * i, &v, 4);
    } else {
      const uint16_t h = dtype == GQ_DTYPE_BFLOAT16 ? to_bf16(v) : to_f16_small(v);
      std::memcpy(p + 2 * i, &h, 2);
    }
  }
}

// One streaming input per dtype, shared by every benchmark (filled once: 256 MiB each).
const char* stream_input(gq_dtype dtype) {
  static std::map<gq_dtype, Buffer> buffers;
  Buffer& b = buffers[dtype];
  if (!b) {
    b = alloc_buffer(kStreamXBytes);
    fill(b.get(), dtype, kStreamXBytes / dtype_bytes(dtype), false, 1);
  }
  return b.get();
}

char* stream_output() {
  static Buffer b = alloc_buffer(kStreamXBytes / 2);  // >= y of any stream
  return b.get();
}

int all_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// One kernel over one row (cache) or over all rows of the stream buffer, split between
// the benchmark's threads.
void BM_row(benchmark::State& state, Isa isa, gq_dtype xd, gq_dtype sd, gq_output_kind kind,
            RowKernel kernel, bool streaming) {
  if (!groupquant::detail::isa_supported(isa)) {
    state.SkipWithError("this CPU lacks the ISA");
    return;
  }
  const int64_t n = kRowElements;
  const int64_t x_row = n * dtype_bytes(xd);
  const int64_t y_row = kind == GQ_OUTPUT_INT8 ? n : n / 2;
  Buffer scale = alloc_buffer(n * 4);
  fill(scale.get(), sd, n, true, 2);
  Buffer x_own, y_own;
  const char* x;
  char* y;
  int64_t row_begin = 0, row_end = 1;
  if (streaming) {
    x = stream_input(xd);
    y = stream_output();
    const int64_t rows = kStreamXBytes / x_row;
    row_begin = rows * state.thread_index() / state.threads();
    row_end = rows * (state.thread_index() + 1) / state.threads();
  } else {
    x_own = alloc_buffer(x_row);
    fill(x_own.get(), xd, n, false, 3);
    y_own = alloc_buffer(y_row);
    x = x_own.get();
    y = y_own.get();
  }
  for (auto _ : state) {
    for (int64_t r = row_begin; r < row_end; ++r) {
      kernel(x + r * x_row, scale.get(), 0.25f, y + r * y_row, n);
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * (row_end - row_begin) * (x_row + y_row));
}

// One npu_dynamic_quant row, cache-resident: both passes of the kernel, compute-bound.
void BM_dynamic_row(benchmark::State& state, Isa isa, gq_dtype xd, gq_output_kind kind,
                    DynamicRowKernel kernel, bool asymmetric) {
  if (!groupquant::detail::isa_supported(isa)) {
    state.SkipWithError("this CPU lacks the ISA");
    return;
  }
  const int64_t n = kDynamicRowElements;
  const groupquant::detail::OutputTraits out = groupquant::detail::output_traits(kind);
  const int64_t x_row = n * dtype_bytes(xd), y_row = n / out.cols_per_word * out.word_bytes;
  Buffer x = alloc_buffer(x_row), smooth = alloc_buffer(x_row), y = alloc_buffer(y_row);
  fill(x.get(), xd, n, false, 3);
  fill(smooth.get(), xd, n, true, 2);
  DynamicOp op;
  op.kind = kind;
  op.chip_950 = out.encoding == groupquant::detail::Encoding::kFloat8;
  op.asymmetric = asymmetric;
  float scale = 0.0f, offset = 0.0f;
  for (auto _ : state) {
    kernel(x.get(), asymmetric ? nullptr : smooth.get(), n, op, y.get(), &scale,
           asymmetric ? &offset : nullptr);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(scale);
  state.SetBytesProcessed(state.iterations() * (x_row + y_row));
}

// The copy ceiling: memcpy moving the bytes a bf16 -> int8 stream moves (x 256 MiB read
// + y 128 MiB written = 384 MiB): 192 MiB read and 192 MiB written.
void BM_memcpy(benchmark::State& state) {
  static Buffer src = alloc_buffer(kStreamXBytes);
  static Buffer dst = alloc_buffer(kStreamXBytes);
  const int64_t total = (kStreamXBytes + kStreamXBytes / 2) / 2;
  const int64_t begin = total * state.thread_index() / state.threads();
  const int64_t end = total * (state.thread_index() + 1) / state.threads();
  for (auto _ : state) {
    std::memcpy(dst.get() + begin, src.get() + begin, static_cast<size_t>(end - begin));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * (end - begin));
}

// ---- The full operator ---------------------------------------------------------------

struct Shape {
  const char* name;
  int64_t M, N, G;
  gq_dtype x_dtype;
  gq_output_kind kind;
  bool column_major_x = false;
};

// MoE shapes of bench/bench_op.py; scale rows are float32.
constexpr Shape kShapes[] = {
    {"8192x7168_G32_bf16_int8", 8192, 7168, 32, GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT8},
    {"8192x7168_G32_bf16_int4", 8192, 7168, 32, GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT4_PACKED},
    {"16384x4096_G16_fp16_int8", 16384, 4096, 16, GQ_DTYPE_FLOAT16, GQ_OUTPUT_INT8},
    {"4096x4096_G8_fp32_int8", 4096, 4096, 8, GQ_DTYPE_FLOAT32, GQ_OUTPUT_INT8},
    {"decode_32x7168_G16_bf16_int8", 32, 7168, 16, GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT8},
    {"decode_8x2048_G8_bf16_int8", 8, 2048, 8, GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT8},
    {"mid_256x7168_G8_bf16_int8", 256, 7168, 8, GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT8},
    {"4096x4096_G8_bf16_int8", 4096, 4096, 8, GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT8},
    {"colmajor_4096x4096_G8_bf16_int8", 4096, 4096, 8, GQ_DTYPE_BFLOAT16, GQ_OUTPUT_INT8, true},
};

void BM_group_quant(benchmark::State& state, Shape s) {
  const int32_t threads = static_cast<int32_t>(state.range(0));
  const int64_t x_bytes = s.M * s.N * dtype_bytes(s.x_dtype);
  const int64_t y_bytes = s.kind == GQ_OUTPUT_INT8 ? s.M * s.N : s.M * s.N / 2;
  Buffer x = alloc_buffer(x_bytes), scale = alloc_buffer(s.G * s.N * 4), y = alloc_buffer(y_bytes);
  fill(x.get(), s.x_dtype, s.M * s.N, false, 4);
  fill(scale.get(), GQ_DTYPE_FLOAT32, s.G * s.N, true, 5);
  // Uneven groups, like tokens routed to experts: random cut points, sorted.
  std::mt19937 rng(6);
  std::uniform_int_distribution<int64_t> cut(0, s.M);
  std::vector<int64_t> ends(static_cast<size_t>(s.G));
  for (int64_t& e : ends) e = cut(rng);
  std::sort(ends.begin(), ends.end());
  ends.back() = s.M;
  const int64_t x_shape[2] = {s.M, s.N}, s_shape[2] = {s.G, s.N}, g_shape[1] = {s.G};
  const int64_t x_column_major[2] = {1, s.M};
  const int64_t y_shape[2] = {s.M, s.kind == GQ_OUTPUT_INT8 ? s.N : s.N / 8};
  const gq_tensor xt{x.get(), 2, s.x_dtype, x_shape, s.column_major_x ? x_column_major : nullptr,
                     0};
  const gq_tensor st{scale.get(), 2, GQ_DTYPE_FLOAT32, s_shape, nullptr, 0};
  const gq_tensor gt{ends.data(), 1, GQ_DTYPE_INT64, g_shape, nullptr, 0};
  const gq_tensor yt{y.get(), 2,       s.kind == GQ_OUTPUT_INT8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32,
                     y_shape, nullptr, 0};
  gq_options options{};
  options.num_threads = threads;
  for (auto _ : state) {
    groupquant::group_quant(xt, st, gt, nullptr, s.kind, yt, options);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * (x_bytes + y_bytes));
  state.SetLabel(groupquant::detail::isa_name(groupquant::detail::active_isa()));
}

// The full npu_dynamic_quant call, A2, smooth rows [E, H] chosen through group_index:
// stream forces the streaming-store path on (as the driver picks it for these sizes) or
// off, to compare the two in one run.
void BM_dynamic_quant(benchmark::State& state, Shape s, bool stream) {
  const int32_t threads = static_cast<int32_t>(state.range(0));
  const int64_t x_bytes = s.M * s.N * dtype_bytes(s.x_dtype);
  const int64_t y_bytes = s.kind == GQ_OUTPUT_INT8 ? s.M * s.N : s.M * s.N / 2;
  Buffer x = alloc_buffer(x_bytes), smooth = alloc_buffer(s.G * s.N * dtype_bytes(s.x_dtype));
  Buffer y = alloc_buffer(y_bytes), scale = alloc_buffer(s.M * 4);
  fill(x.get(), s.x_dtype, s.M * s.N, false, 4);
  fill(smooth.get(), s.x_dtype, s.G * s.N, true, 5);
  std::mt19937 rng(6);
  std::uniform_int_distribution<int64_t> cut(0, s.M);
  std::vector<int64_t> ends(static_cast<size_t>(s.G));
  for (int64_t& e : ends) e = cut(rng);
  std::sort(ends.begin(), ends.end());
  ends.back() = s.M;
  const int64_t x_shape[2] = {s.M, s.N}, s_shape[2] = {s.G, s.N}, g_shape[1] = {s.G};
  const int64_t y_shape[2] = {s.M, s.kind == GQ_OUTPUT_INT8 ? s.N : s.N / 8},
                scale_shape[1] = {s.M};
  const gq_tensor xt{x.get(), 2, s.x_dtype, x_shape, nullptr, 0};
  const gq_tensor st{smooth.get(), 2, s.x_dtype, s_shape, nullptr, 0};
  const gq_tensor gt{ends.data(), 1, GQ_DTYPE_INT64, g_shape, nullptr, 0};
  const gq_tensor yt{y.get(), 2,       s.kind == GQ_OUTPUT_INT8 ? GQ_DTYPE_INT8 : GQ_DTYPE_INT32,
                     y_shape, nullptr, 0};
  const gq_tensor scale_t{scale.get(), 1, GQ_DTYPE_FLOAT32, scale_shape, nullptr, 0};
  const gq_dynamic_quant_config config{s.kind, GQ_CHIP_A2, 0};
  gq_options options{};
  options.num_threads = threads;
  const int64_t saved = groupquant::detail::streaming_min_bytes();
  groupquant::detail::set_streaming_min_bytes(stream ? 0 : INT64_MAX);
  for (auto _ : state) {
    if (gq_dynamic_quant(&xt, &st, &gt, &config, &options, &yt, &scale_t, nullptr) !=
        GQ_STATUS_SUCCESS) {
      state.SkipWithError(gq_last_error());
      break;
    }
    benchmark::ClobberMemory();
  }
  groupquant::detail::set_streaming_min_bytes(saved);
  state.SetBytesProcessed(state.iterations() * (x_bytes + y_bytes));
  state.SetLabel(groupquant::detail::isa_name(groupquant::detail::active_isa()));
}

void register_all() {
  const int hw = all_threads();
#define GQ_CPU_GROUP_QUANT_KERNEL(isa, xt, st, out)                                              \
  do {                                                                                           \
    const std::string name = "group_quant_" #xt "_" #st "_" #out "__" #isa;                      \
    benchmark::RegisterBenchmark(                                                                \
        (name + "/cache").c_str(), BM_row, GQ_ISA_OF_##isa, GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st,  \
        GQ_KIND_OF_##out, &groupquant::detail::group_quant_##xt##_##st##_##out##__##isa, false); \
    if (GQ_ISA_OF_##isa == Isa::kScalar) continue; /* compute-bound: /cache says it all */       \
    auto* b = benchmark::RegisterBenchmark(                                                      \
        (name + "/stream").c_str(), BM_row, GQ_ISA_OF_##isa, GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, \
        GQ_KIND_OF_##out, &groupquant::detail::group_quant_##xt##_##st##_##out##__##isa, true);  \
    b->UseRealTime()->Threads(1);                                                                \
    if (hw > 1) b->Threads(hw);                                                                  \
    if (RowKernel nt = groupquant::detail::find_streaming_row_kernel(                            \
            GQ_ISA_OF_##isa, GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out)) {            \
      b = benchmark::RegisterBenchmark((name + "/stream_nt").c_str(), BM_row, GQ_ISA_OF_##isa,   \
                                       GQ_DTYPE_OF_##xt, GQ_DTYPE_OF_##st, GQ_KIND_OF_##out, nt, \
                                       true);                                                    \
      b->UseRealTime()->Threads(1);                                                              \
      if (hw > 1) b->Threads(hw);                                                                \
    }                                                                                            \
  } while (0);
#include "src/cpu/kernels.inc"
#define GQ_CPU_DYNAMIC_QUANT_KERNEL(isa, xt, out)                              \
  for (bool asymmetric : {false, true}) {                                      \
    benchmark::RegisterBenchmark(                                              \
        (std::string("dynamic_quant_" #xt "_" #out "__" #isa) +                \
         (asymmetric ? "/cache_asym" : "/cache"))                              \
            .c_str(),                                                          \
        BM_dynamic_row, GQ_ISA_OF_##isa, GQ_DTYPE_OF_##xt, GQ_KIND_OF_##out,   \
        &groupquant::detail::dynamic_quant_##xt##_##out##__##isa, asymmetric); \
  }
#include "src/cpu/kernels.inc"
  auto* m = benchmark::RegisterBenchmark("memcpy/stream", BM_memcpy)->UseRealTime()->Threads(1);
  if (hw > 1) m->Threads(hw);
  for (const Shape& s : kShapes) {
    benchmark::RegisterBenchmark((std::string("group_quant/") + s.name).c_str(), BM_group_quant, s)
        ->ArgName("threads")  // 0: all hardware threads, as many as the work warrants
        ->Arg(1)
        ->Arg(0)
        ->UseRealTime();
  }
  for (const Shape& s : kShapes) {
    if (s.x_dtype == GQ_DTYPE_FLOAT32 || s.column_major_x || s.M < 4096) continue;
    for (bool stream : {true, false}) {
      benchmark::RegisterBenchmark(
          (std::string("dynamic_quant/") + s.name + (stream ? "/stream" : "/plain")).c_str(),
          BM_dynamic_quant, s, stream)
          ->ArgName("threads")
          ->Arg(1)
          ->Arg(0)
          ->UseRealTime();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("groupquant_isa",
                              groupquant::detail::isa_name(groupquant::detail::active_isa()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
