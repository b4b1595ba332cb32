// The one line a failed aimass-coordinator run prints on stderr, for tests that check it.
#pragma once

#include "tests/catch.h"

#include <string>

#include "tests/integration/process_runner.h"

namespace aimass::testing {

// The coordinator's error: exactly one line starting "aimass-coordinator: error: ", returned
// without that prefix. Requires a non-zero exit and the line; the output is shown otherwise.
inline std::string ErrorLine(const ProcessResult& result) {
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code > 0);
  const std::string marker = "aimass-coordinator: error: ";
  size_t at = result.err.find(marker);
  REQUIRE(at != std::string::npos);
  size_t end = result.err.find('\n', at);
  return result.err.substr(at + marker.size(), end - at - marker.size());
}

}  // namespace aimass::testing
