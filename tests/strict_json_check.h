// For tests: is a file's text strict JSON (RFC 8259), as every JSON file AI Mass writes must be?
#pragma once

#include <boost/json.hpp>

#include <cmath>
#include <string>

namespace aimass::testing {

// True when `value` holds no non-finite double (boost::json reads 1e999 as Infinity).
inline bool AllNumbersFinite(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::double_: return std::isfinite(value.get_double());
    case boost::json::kind::array:
      for (const auto& element : value.get_array()) {
        if (!AllNumbersFinite(element)) return false;
      }
      return true;
    case boost::json::kind::object:
      for (const auto& entry : value.get_object()) {
        if (!AllNumbersFinite(entry.value())) return false;
      }
      return true;
    default: return true;
  }
}

// Every non-empty line of `text` (a .jsonl file, or a one-line .json file) is a JSON document
// that boost::json::parse accepts with its default, strict options (which reject the NaN and
// Infinity tokens) and whose numbers are all finite.
inline bool StrictJsonLines(const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    boost::json::error_code error;
    boost::json::value value = boost::json::parse(line, error);
    if (error || !AllNumbersFinite(value)) return false;
  }
  return true;
}

}  // namespace aimass::testing
