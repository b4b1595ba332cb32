// libFuzzer target "tfrecord": see tests/fuzz/fuzz_drivers.h for what it feeds and where.
// AIMASS_FUZZ_PRINT=1 prints each input's outcome (for triage: run the binary on saved files).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/fuzz_drivers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const aimass::fuzz::Driver drive = aimass::fuzz::FindDriver("tfrecord");
  static const bool print = std::getenv("AIMASS_FUZZ_PRINT") != nullptr;
  // Errors are the expected answer to most inputs; only crashes, hangs and leaks are findings.
  const aimass::Status status = drive(data, size);
  if (print) std::fprintf(stderr, "tfrecord: %s\n", status.ok() ? "OK" : status.message().c_str());
  return 0;
}
