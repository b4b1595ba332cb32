// libFuzzer target "gzip": see tests/fuzz/fuzz_drivers.h for what it feeds and where.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const aimass::fuzz::Driver drive = aimass::fuzz::FindDriver("gzip");
  // Errors are the expected answer to most inputs; only crashes, hangs and leaks are findings.
  (void)drive(data, size);
  return 0;
}
