#include "common/io/record_limit.h"

#include <cstdio>

namespace aimass::io {

std::string RecordCapAdvice(uint64_t max_record_bytes) {
  // MiB with up to two decimals: the cap is configured in MiB and may be fractional.
  char size[64];
  std::snprintf(size, sizeof size, "%.6g MiB",
                static_cast<double>(max_record_bytes) / double(uint64_t{1} << 20));
  return std::string("over the ") + size +
         " cap; raise max_record_mb in the table's input settings (input.max_record_mb, or "
         "data.train/data.test.max_record_mb in training) if records really are this large";
}

}  // namespace aimass::io
