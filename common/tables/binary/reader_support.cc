#include "common/tables/binary/reader_support.h"

#include <cctype>
#include <cstdlib>
#include <string>

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

PartitionFeature BindPartitionFeature(const InputFile& file, const std::string& name) {
  PartitionFeature bound;
  const std::string* value = FindPartition(file, name);
  if (value == nullptr) return bound;
  bound.found = true;
  bound.numeric = ParseFloat(*value, &bound.value);
  if (!bound.numeric) {
    bound.reason = "partition '" + name + "': '" + *value + "' is not a number";
  }
  return bound;
}

}  // namespace aimass::tables::binary
