#include "common/config/table_input_config.h"

#include <charconv>

#include "common/config/yaml_section.h"

namespace aimass {
namespace {

// "f0..f783": a shared prefix, then an inclusive numeric range.
bool SplitRange(const std::string& entry, std::string* prefix, uint64_t* first, uint64_t* last) {
  size_t dots = entry.find("..");
  if (dots == std::string::npos) return false;
  std::string left = entry.substr(0, dots);
  std::string right = entry.substr(dots + 2);
  size_t digits = left.find_last_not_of("0123456789") + 1;  // npos + 1 == 0: all digits
  *prefix = left.substr(0, digits);
  if (right.compare(0, prefix->size(), *prefix) == 0) right = right.substr(prefix->size());
  std::string number = left.substr(digits);
  auto parse = [](const std::string& text, uint64_t* out) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return !text.empty() && error == std::errc() && end == text.data() + text.size();
  };
  return parse(number, first) && parse(right, last);
}

}  // namespace

Status ReadTableInputKeys(YamlSection& section, TableInputConfig& input) {
  auto key = [&](const char* name) { return "key '" + section.Qualified(name) + "'"; };
  AIMASS_RETURN_IF_ERROR(section.Read("path", &input.path));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice(
      "format", {"csv", "tsv", "hive", "delimited", "jsonl", "tfrecord", "avro", "idx"}, &input.format));
  AIMASS_RETURN_IF_ERROR(section.Read("delimiter", &input.delimiter));
  if (section.Has("delimiter")) {
    if (input.format != "delimited") {
      return section.Error(key("delimiter"), "only with " + section.Qualified("format") + ": delimited");
    }
    if (input.delimiter.size() != 1) return section.Error(key("delimiter"), "must be one character");
  } else if (input.format == "delimited") {
    return section.Error(key("delimiter"),
                         "missing (" + section.Qualified("format") + ": delimited needs it)");
  }
  AIMASS_RETURN_IF_ERROR(section.Read("header", &input.header));
  AIMASS_RETURN_IF_ERROR(section.Read("columns", &input.columns));
  auto columns = ExpandColumnRanges(input.columns);
  if (!columns.ok()) return section.Error(key("columns"), columns.status().message());
  input.columns = std::move(columns).value();
  if (input.header && !input.columns.empty()) {
    return section.Error(key("columns"),
                         "not with " + section.Qualified("header") + ": true (the header names them)");
  }
  AIMASS_RETURN_IF_ERROR(section.Read("require_success", &input.require_success));
  double split_mb = static_cast<double>(input.split_bytes) / (1 << 20);
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("split_mb", &split_mb));
  // Up to 1 TiB, as max_record_mb: a larger double does not fit the byte count it becomes.
  if (!(split_mb <= 1024.0 * 1024.0)) {
    return section.Error(key("split_mb"), "must be at most 1048576 (1 TiB)");
  }
  input.split_bytes = static_cast<uint64_t>(split_mb * (1 << 20));
  if (input.split_bytes == 0) input.split_bytes = 1;
  double max_record_mb = static_cast<double>(input.max_record_bytes) / (1 << 20);
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("max_record_mb", &max_record_mb));
  // Up to 1 TiB: the value must fit the byte count it becomes (and no record is that large).
  if (!(max_record_mb <= 1024.0 * 1024.0)) {
    return section.Error(key("max_record_mb"), "must be at most 1048576 (1 TiB)");
  }
  input.max_record_bytes = static_cast<uint64_t>(max_record_mb * (1 << 20));
  if (input.max_record_bytes < 16) input.max_record_bytes = 16;
  return Status::Ok();
}

Status ReadColumnList(YamlSection& section, const std::string& key, std::vector<std::string>* columns) {
  if (!section.Has(key)) return Status::Ok();
  std::string single;
  if (section.Read(key, &single).ok()) {
    *columns = {single};
  } else {
    AIMASS_RETURN_IF_ERROR(section.Read(key, columns));
  }
  auto expanded = ExpandColumnRanges(*columns);
  if (!expanded.ok()) return section.Error("key '" + section.Qualified(key) + "'", expanded.status().message());
  *columns = std::move(expanded).value();
  return Status::Ok();
}

Status ReadShape(YamlSection& section, const std::string& key, std::vector<int64_t>* shape) {
  AIMASS_RETURN_IF_ERROR(section.Read(key, shape));
  for (int64_t dim : *shape) {
    if (dim <= 0) return section.Error("key '" + section.Qualified(key) + "'", "dimensions must be positive");
  }
  return Status::Ok();
}

Result<std::vector<std::string>> ExpandColumnRanges(const std::vector<std::string>& entries) {
  // Counted before anything is expanded: a few bytes of "f0..f99999999" must be refused at
  // once, not after building the names (a config arrives from the API; see docs/security.md).
  struct Range {
    std::string prefix;
    uint64_t first = 0;
    uint64_t last = 0;
  };
  std::vector<Range> ranges(entries.size());
  uint64_t total = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& entry = entries[i];
    Range& range = ranges[i];
    if (entry.find("..") == std::string::npos) {
      ++total;
    } else if (!SplitRange(entry, &range.prefix, &range.first, &range.last) || range.last < range.first) {
      return Status::InvalidArgument("'" + entry + "' is not a range like f0..f783");
    } else {
      // last - first + 1 can wrap (0..18446744073709551615): compared before adding one.
      const uint64_t span = range.last - range.first;
      total = span >= kMaxColumnNames ? kMaxColumnNames + 1 : total + span + 1;
    }
    if (total > kMaxColumnNames) {
      return Status::InvalidArgument("the list names more than " + std::to_string(kMaxColumnNames) +
                                     " columns (ranges expanded; '" + entry + "' passes the limit)");
    }
  }
  std::vector<std::string> names;
  names.reserve(total);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].find("..") == std::string::npos) {
      names.push_back(entries[i]);
      continue;
    }
    const Range& range = ranges[i];
    for (uint64_t n = range.first; n <= range.last; ++n) names.push_back(range.prefix + std::to_string(n));
  }
  return names;
}

char DelimiterOf(const TableInputConfig& input) {
  if (input.format == "csv") return ',';
  if (input.format == "tsv") return '\t';
  if (input.format == "hive") return '\x01';
  if (input.format == "delimited" && !input.delimiter.empty()) return input.delimiter[0];
  return 0;
}

}  // namespace aimass
