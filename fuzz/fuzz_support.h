// What both libFuzzer targets share: aborting with a message (libFuzzer then keeps the
// input), the byte reader that decodes an input, and the element sizes of dtype codes
// (the harnesses' own table, sharing no code with the library).
#ifndef GROUPQUANT_FUZZ_FUZZ_SUPPORT_H_
#define GROUPQUANT_FUZZ_FUZZ_SUPPORT_H_

#include <groupquant/groupquant.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace gqfuzz {

[[noreturn]] inline void fail(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "%s: %s %s\n", GQ_FUZZ_TARGET, what, detail.c_str());
  std::abort();
}
#define FUZZ_CHECK(cond, ...)                                           \
  do {                                                                  \
    if (!(cond)) ::gqfuzz::fail("check failed: " #cond, ##__VA_ARGS__); \
  } while (0)

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  uint8_t byte() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  // Fills dst from the remaining bytes, then from a fixed pattern.
  void fill(uint8_t* dst, size_t len) {
    const size_t k = std::min(len, n_);
    if (k > 0) std::memcpy(dst, p_, k);
    p_ += k;
    n_ -= k;
    for (size_t i = k; i < len; ++i) dst[i] = static_cast<uint8_t>(i * 37 + 11);
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

inline int64_t dtype_size(int32_t code) {
  switch (code) {
    case GQ_DTYPE_INT8:
    case GQ_DTYPE_FLOAT8_E4M3FN:
    case GQ_DTYPE_FLOAT8_E5M2:
      return 1;
    case GQ_DTYPE_FLOAT16:
    case GQ_DTYPE_BFLOAT16:
      return 2;
    case GQ_DTYPE_INT64:
      return 8;
    default:
      return 4;  // float32, int32, and any unknown code
  }
}

}  // namespace gqfuzz

#endif  // GROUPQUANT_FUZZ_FUZZ_SUPPORT_H_
