#include "common/tables/table_listing.h"

#include <algorithm>
#include <utility>

#include "common/io/input_stream.h"

namespace aimass::tables {
bool IsHidden(const std::string& name) {
  return name.empty() || name[0] == '_' || name[0] == '.';
}

namespace {

// Deeper than any real partition layout; stops a symlink loop from recursing forever.
constexpr int kMaxDepth = 64;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hive's FileUtils.unescapePathName: "%XX" is the byte 0xXX; anything else is itself.
std::string UnescapeHive(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int high = HexValue(text[i + 1]);
      int low = HexValue(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

struct Walk {
  const std::string& root;
  const std::vector<std::string>& confine_to;
  Env& env;
  std::vector<InputFile> files;

  // `relative` must resolve inside the roots before it is listed, stat'ed or read.
  Status Confined(const std::string& relative) const {
    return io::CheckConfined(relative.empty() ? root : JoinPath(root, relative),
                             relative.empty() ? root : relative, confine_to);
  }

  Status Directory(const std::string& relative, const PartitionValues& partitions, int depth) {
    if (depth > kMaxDepth) {
      return Status::Error(JoinPath(root, relative) +
                           ": directories nested too deeply (a symbolic link loop?)");
    }
    const std::string path = relative.empty() ? root : JoinPath(root, relative);
    AIMASS_RETURN_IF_ERROR(Confined(relative));
    auto entries = env.ListDirectory(path);
    if (!entries.ok()) return entries.status();
    for (FileInfo& entry : entries.value()) {
      if (IsHidden(entry.name)) continue;
      const std::string child = relative.empty() ? entry.name : relative + "/" + entry.name;
      // Before the entry is used at all (Directory checks a directory itself before listing it).
      if (!entry.is_directory) AIMASS_RETURN_IF_ERROR(Confined(child));
      if (entry.is_directory) {
        std::string key, value;
        if (ParsePartitionDirectory(entry.name, &key, &value)) {
          PartitionValues inner = partitions;
          inner.emplace_back(std::move(key), std::move(value));
          AIMASS_RETURN_IF_ERROR(Directory(child, inner, depth + 1));
        } else {
          AIMASS_RETURN_IF_ERROR(Directory(child, partitions, depth + 1));
        }
        continue;
      }
      InputFile file;
      file.path = JoinPath(root, child);
      file.relative_path = child;
      file.size = entry.size;
      file.mtime_ns = entry.mtime_ns;
      file.codec = io::CodecFromPath(entry.name);
      file.partitions = partitions;
      files.push_back(std::move(file));
    }
    return Status::Ok();
  }
};

}  // namespace

bool ParsePartitionDirectory(const std::string& name, std::string* key, std::string* value) {
  const size_t equals = name.find('=');
  if (equals == std::string::npos || equals == 0) return false;
  *key = UnescapeHive(name.substr(0, equals));
  *value = UnescapeHive(name.substr(equals + 1));
  return true;
}

Result<std::vector<InputFile>> ListTable(const std::string& root, const ListOptions& options,
                                         Env& env) {
  if (root.empty()) return Status::Error("input table: no path given");
  if (!env.Exists(root)) return Status::Error(root + ": input table does not exist");
  // The root as named was confined by whoever named it; checked again here, as it is resolved
  // now rather than when the job was submitted.
  AIMASS_RETURN_IF_ERROR(io::CheckConfined(root, root, options.confine_to));
  auto info = env.Stat(root);
  if (!info.ok()) return info.status();
  if (!info->is_directory) {
    return Status::Error(root + ": input table is not a directory (give the export's directory)");
  }
  if (options.require_success && !env.Exists(JoinPath(root, "_SUCCESS"))) {
    return Status::Error(root +
                         ": no _SUCCESS marker: the export is incomplete or still running (set "
                         "input.require_success: false to read it anyway)");
  }
  Walk walk{root, options.confine_to, env, {}};
  AIMASS_RETURN_IF_ERROR(walk.Directory("", {}, 0));
  if (walk.files.empty()) {
    return Status::Error(root +
                         ": no part files (names starting with '_' or '.' are skipped as Hadoop "
                         "bookkeeping)");
  }
  std::sort(walk.files.begin(), walk.files.end(), [](const InputFile& a, const InputFile& b) {
    return a.relative_path < b.relative_path;
  });
  return std::move(walk.files);
}

}  // namespace aimass::tables
