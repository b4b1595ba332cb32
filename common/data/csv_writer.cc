#include "common/data/csv_writer.h"

#include <charconv>
#include <cmath>

#include "common/env.h"
#include "common/io/output_file.h"

namespace aimass::data {
namespace {

// Integral values (pixels) are written as integers: shorter and faster than the float path.
char* WriteFeature(char* out, char* limit, float value) {
  if (std::fabs(value) < 16777216.0f && value == std::trunc(value) &&
      !(value == 0 && std::signbit(value))) {
    return std::to_chars(out, limit, static_cast<int32_t>(value)).ptr;
  }
  return std::to_chars(out, limit, value).ptr;  // shortest text that reads back exactly
}

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<std::string> EncodeCsvRecords(const RecordBlock& block, size_t begin, size_t end,
                                     const CsvWriteOptions& options) {
  const size_t features = block.feature_count;
  if (block.features.size() != block.size() * features ||
      (!block.ids.empty() && block.ids.size() != block.size())) {
    return Status::Error("inconsistent record block: " + std::to_string(block.ids.size()) + " ids, " +
                         std::to_string(block.labels.size()) + " labels, " +
                         std::to_string(block.features.size()) + " feature values");
  }
  if (begin > end || end > block.size()) return Status::Error("record range out of bounds");
  if (features == 0 && end > begin) return Status::Error("records need at least one feature");

  std::string text;
  if (options.header) {
    text = "id,label";
    for (size_t f = 0; f < features; ++f) text += "," + options.feature_prefix + std::to_string(f);
    text += '\n';
  }
  // Each record is written straight into `text` with room for its longest possible form.
  const size_t max_record_chars = 2 * 21 + features * 25 + 1;
  size_t used = text.size();
  text.resize(used + (end - begin) * std::min<size_t>(max_record_chars, 4 * features + 16));
  for (size_t i = begin; i < end; ++i) {
    if (text.size() - used < max_record_chars) {
      text.resize(std::max(text.size() * 3 / 2, used + max_record_chars));
    }
    char* out = text.data() + used;
    char* const limit = text.data() + text.size();
    const int64_t id = block.ids.empty() ? static_cast<int64_t>(i) : block.ids[i];
    out = std::to_chars(out, limit, id).ptr;
    *out++ = ',';
    out = std::to_chars(out, limit, block.labels[i]).ptr;
    const float* values = block.record_features(i);
    for (size_t f = 0; f < features; ++f) {
      if (!std::isfinite(values[f])) {
        return Status::Error("record id " + std::to_string(id) + ": feature " + std::to_string(f) +
                             " is not finite");
      }
      *out++ = ',';
      out = WriteFeature(out, limit, values[f]);
    }
    *out++ = '\n';
    used = static_cast<size_t>(out - text.data());
  }
  text.resize(used);
  return text;
}

Status WriteCsvShard(const std::string& path, const RecordBlock& block, size_t begin, size_t end,
                     const CsvWriteOptions& options) {
  AIMASS_ASSIGN_OR_RETURN(std::string text, EncodeCsvRecords(block, begin, end, options).WithContext(path));
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string temp = JoinPath(dir, "." + name + ".tmp");
  AIMASS_ASSIGN_OR_RETURN(auto file, io::OutputFile::Create(temp, EndsWith(path, ".gz") ? options.gzip_level : 0));
  Status written = file->Append(text);
  if (written.ok()) written = file->Close();
  Env& env = Env::Default();
  if (written.ok()) written = env.RenameFile(temp, path);
  if (!written.ok()) (void)env.RemoveFile(temp);
  return written.WithContext(path);
}

Status WriteCsvShard(const std::string& path, const RecordBlock& block, const CsvWriteOptions& options) {
  return WriteCsvShard(path, block, 0, block.size(), options);
}

}  // namespace aimass::data
