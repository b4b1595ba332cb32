#include "common/tables/binary/reader_support.h"

#include <cctype>
#include <cstdlib>
#include <string>
#include <utility>

namespace aimass::tables::binary {

const std::string& ReportedName(const InputFile& file) {
  return file.relative_path.empty() ? file.path : file.relative_path;
}

Status CheckWholeFileSplit(const InputFile& file, const Split& split, const char* format) {
  if (split.whole_file || (split.begin == 0 && split.end >= file.size)) return Status::Ok();
  return Status::Error(ReportedName(file) + ": " + format +
                       " files are read whole, but the split covers bytes [" +
                       std::to_string(split.begin) + ", " + std::to_string(split.end) + ") of " +
                       std::to_string(file.size));
}

const std::string* FindPartition(const InputFile& file, const std::string& name) {
  for (const auto& [key, value] : file.partitions) {
    if (key == name) return &value;
  }
  return nullptr;
}

bool ParseFloat(std::string_view text, float* value) {
  // strtof needs a terminated string; partition values and ids are short.
  const std::string copy(text);
  if (copy.empty() || std::isspace(static_cast<unsigned char>(copy.front()))) return false;
  char* end = nullptr;
  const float parsed = std::strtof(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return false;
  *value = parsed;
  return true;
}

PartitionFeature BindPartitionFeature(const InputFile& file, const std::string& name,
                                      std::string missing_reason) {
  PartitionFeature bound;
  const std::string* value = FindPartition(file, name);
  if (value == nullptr) {
    bound.reason = std::move(missing_reason);
    return bound;
  }
  bound.found = true;
  bound.numeric = ParseFloat(*value, &bound.value);
  if (!bound.numeric) {
    bound.reason = "partition '" + name + "': '" + *value + "' is not a number";
  }
  return bound;
}

bool AppendPartitionFeature(const PartitionFeature& partition, std::vector<float>* out,
                            std::string* reason) {
  if (!partition.found || !partition.numeric) {
    *reason = partition.reason;
    return false;
  }
  out->push_back(partition.value);
  return true;
}

bool CheckFeatureCount(size_t actual, uint32_t expected, uint32_t leading, std::string* reason) {
  if (expected == 0 || actual == expected) return true;
  const size_t shown = actual > leading ? actual - leading : 0;
  const uint32_t wanted = expected > leading ? expected - leading : 0;
  *reason = std::to_string(shown) + " feature values, expected " + std::to_string(wanted);
  return false;
}

}  // namespace aimass::tables::binary
