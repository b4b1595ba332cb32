#include "common/checkpoint/checkpoint_file.h"

#include <zlib.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <limits>

#include "common/strict_json.h"

namespace aimass {
namespace {

constexpr char kMagic[8] = {'A', 'I', 'M', 'A', 'S', 'S', 'C', 'K'};
constexpr uint32_t kFormatVersion = 1;
constexpr const char kNamePrefix[] = "ckpt-";
constexpr const char kNameSuffix[] = ".aimass";
// magic, version, header length | payload length | CRC.
constexpr size_t kPrefixBytes = sizeof(kMagic) + 4 + 4;
constexpr size_t kMinimumBytes = kPrefixBytes + 8 + 4;

void AppendLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t ReadLittleEndian(const std::string& in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  }
  return value;
}

uint32_t Crc32(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed payloads over 4 GiB in pieces.
  constexpr size_t kChunk = 1u << 30;
  while (size > 0) {
    size_t piece = std::min(size, kChunk);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(piece));
    data += piece;
    size -= piece;
  }
  return static_cast<uint32_t>(crc);
}

std::string EncodeHeader(const CheckpointHeader& header) {
  boost::json::object object;
  object["step"] = header.step;
  object["epoch"] = header.epoch;
  object["step_in_epoch"] = header.step_in_epoch;
  object["world_size"] = header.world_size;
  object["model"] = header.model;
  return SerializeStrictJson(std::move(object));
}

Result<uint64_t> ReadUnsigned(const boost::json::object& object, const char* key, uint64_t max) {
  const boost::json::value* value = object.if_contains(key);
  uint64_t number = 0;
  if (value != nullptr && value->is_uint64()) {
    number = value->get_uint64();
  } else if (value != nullptr && value->is_int64() && value->get_int64() >= 0) {
    number = static_cast<uint64_t>(value->get_int64());
  } else {
    return Status::Corruption(std::string("header field '") + key +
                              "' is missing or not a count");
  }
  if (number > max) {
    return Status::Corruption(std::string("header field '") + key + "' is too large");
  }
  return number;
}

Result<CheckpointHeader> DecodeHeader(const std::string& text) {
  boost::json::error_code error;
  boost::json::value parsed = boost::json::parse(text, error);
  if (error || !parsed.is_object()) return Status::Corruption("header is not a JSON object");
  const boost::json::object& object = parsed.get_object();
  constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();
  constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
  CheckpointHeader header;
  AIMASS_ASSIGN_OR_RETURN(header.step, ReadUnsigned(object, "step", kU64Max));
  AIMASS_ASSIGN_OR_RETURN(uint64_t epoch, ReadUnsigned(object, "epoch", kU32Max));
  AIMASS_ASSIGN_OR_RETURN(header.step_in_epoch, ReadUnsigned(object, "step_in_epoch", kU64Max));
  AIMASS_ASSIGN_OR_RETURN(uint64_t world_size, ReadUnsigned(object, "world_size", kU32Max));
  header.epoch = static_cast<uint32_t>(epoch);
  header.world_size = static_cast<uint32_t>(world_size);
  const boost::json::value* model = object.if_contains("model");
  if (model == nullptr || !model->is_string()) {
    return Status::Corruption("header field 'model' is missing or not a string");
  }
  header.model = std::string(model->get_string());
  return header;
}

// The total size the length fields declare, or 0 when the prefix is unreadable.
uint64_t DeclaredSize(const std::string& bytes) {
  if (bytes.size() < kPrefixBytes) return 0;
  uint64_t header_length = ReadLittleEndian(bytes, sizeof(kMagic) + 4, 4);
  uint64_t payload_offset = kPrefixBytes + header_length;
  if (bytes.size() < payload_offset + 8) return 0;
  uint64_t payload_length = ReadLittleEndian(bytes, payload_offset, 8);
  if (payload_length > std::numeric_limits<uint64_t>::max() - payload_offset - 12) return 0;
  return payload_offset + 8 + payload_length + 4;
}

Status ChecksumError(const std::string& bytes) {
  std::string message = "checksum mismatch, the file is corrupt";
  if (!std::equal(std::begin(kMagic), std::end(kMagic), bytes.begin())) {
    return Status::Corruption(message + " (and has no checkpoint magic: not a checkpoint?)");
  }
  uint64_t declared = DeclaredSize(bytes);
  if (declared > bytes.size()) {
    message += " (" + std::to_string(bytes.size()) + " of the " + std::to_string(declared) +
               " bytes its header declares: truncated?)";
  }
  return Status::Corruption(message);
}

Result<Checkpoint> DecodeCheckpoint(const std::string& bytes) {
  if (bytes.size() < kMinimumBytes) {
    return Status::Corruption("truncated: " + std::to_string(bytes.size()) +
                              " bytes, shorter than any checkpoint");
  }
  uint32_t stored_crc = static_cast<uint32_t>(ReadLittleEndian(bytes, bytes.size() - 4, 4));
  // The checksum comes first so that any damaged byte, wherever it is, reads as corruption.
  if (Crc32(bytes.data(), bytes.size() - 4) != stored_crc) return ChecksumError(bytes);
  if (!std::equal(std::begin(kMagic), std::end(kMagic), bytes.begin())) {
    return Status::Corruption("not an AI Mass checkpoint (bad magic)");
  }
  uint32_t version = static_cast<uint32_t>(ReadLittleEndian(bytes, sizeof(kMagic), 4));
  if (version != kFormatVersion) {
    return Status::Corruption("checkpoint format version " + std::to_string(version) +
                              " is not supported (this build reads " +
                              std::to_string(kFormatVersion) + ")");
  }
  if (DeclaredSize(bytes) != bytes.size()) {
    return Status::Corruption("length fields do not match the file size of " +
                              std::to_string(bytes.size()) + " bytes");
  }
  uint64_t header_length = ReadLittleEndian(bytes, sizeof(kMagic) + 4, 4);
  Checkpoint checkpoint;
  AIMASS_ASSIGN_OR_RETURN(checkpoint.header,
                          DecodeHeader(bytes.substr(kPrefixBytes, header_length)));
  uint64_t payload_offset = kPrefixBytes + header_length;
  uint64_t payload_length = ReadLittleEndian(bytes, payload_offset, 8);
  checkpoint.payload = bytes.substr(payload_offset + 8, payload_length);
  return checkpoint;
}

// The step of a "ckpt-<digits>.aimass" name; nothing for any other name (temporaries included).
std::optional<uint64_t> StepOfName(const std::string& name) {
  const size_t prefix = sizeof(kNamePrefix) - 1;
  const size_t suffix = sizeof(kNameSuffix) - 1;
  if (name.size() <= prefix + suffix || name.rfind(kNamePrefix, 0) != 0 ||
      name.compare(name.size() - suffix, suffix, kNameSuffix) != 0) {
    return std::nullopt;
  }
  const std::string digits = name.substr(prefix, name.size() - prefix - suffix);
  uint64_t step = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (step > (std::numeric_limits<uint64_t>::max() - digit) / 10) return std::nullopt;
    step = step * 10 + digit;
  }
  return step;
}

bool IsLeftoverTemporary(const std::string& name) {
  return name.rfind(kNamePrefix, 0) == 0 &&
         name.find(std::string(kNameSuffix) + ".tmp.") != std::string::npos;
}

struct NamedCheckpoint {
  uint64_t step;
  std::string path;
};

// The checkpoint files of `dir`, newest first; an empty list for a directory that does not exist.
Result<std::vector<NamedCheckpoint>> ListCheckpoints(Env& env, const std::string& dir,
                                                     std::vector<std::string>* temporaries) {
  std::vector<NamedCheckpoint> checkpoints;
  if (!env.Exists(dir)) return checkpoints;
  AIMASS_ASSIGN_OR_RETURN(std::vector<FileInfo> entries, env.ListDirectory(dir));
  for (const FileInfo& entry : entries) {
    if (entry.is_directory) continue;
    if (std::optional<uint64_t> step = StepOfName(entry.name)) {
      checkpoints.push_back({*step, JoinPath(dir, entry.name)});
    } else if (temporaries != nullptr && IsLeftoverTemporary(entry.name)) {
      temporaries->push_back(JoinPath(dir, entry.name));
    }
  }
  std::sort(checkpoints.begin(), checkpoints.end(),
            [](const NamedCheckpoint& a, const NamedCheckpoint& b) { return a.step > b.step; });
  return checkpoints;
}

}  // namespace

std::string CheckpointFileName(uint64_t step) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s%012llu%s", kNamePrefix,
                static_cast<unsigned long long>(step), kNameSuffix);
  return name;
}

Status WriteCheckpoint(Env& env, const std::string& path, const Checkpoint& checkpoint) {
  const std::string header = EncodeHeader(checkpoint.header);
  std::string bytes;
  bytes.reserve(kMinimumBytes + header.size() + checkpoint.payload.size());
  bytes.append(kMagic, sizeof(kMagic));
  AppendLittleEndian(bytes, kFormatVersion, 4);
  AppendLittleEndian(bytes, header.size(), 4);
  bytes += header;
  AppendLittleEndian(bytes, checkpoint.payload.size(), 8);
  bytes += checkpoint.payload;
  AppendLittleEndian(bytes, Crc32(bytes.data(), bytes.size()), 4);
  return env.WriteFileAtomically(path, bytes).WithContext("checkpoint " + path);
}

Result<Checkpoint> ReadCheckpoint(Env& env, const std::string& path) {
  AIMASS_ASSIGN_OR_RETURN(std::string bytes, env.ReadFile(path));
  return DecodeCheckpoint(bytes).WithContext(path);
}

Result<std::optional<CheckpointRef>> FindNewestValidCheckpoint(Env& env, const std::string& dir,
                                                               std::vector<std::string>* skipped,
                                                               std::optional<uint32_t> below_epoch) {
  AIMASS_ASSIGN_OR_RETURN(std::vector<NamedCheckpoint> checkpoints,
                          ListCheckpoints(env, dir, nullptr));
  for (const NamedCheckpoint& candidate : checkpoints) {
    Result<Checkpoint> checkpoint = ReadCheckpoint(env, candidate.path);
    std::string problem;
    if (!checkpoint.ok()) {
      problem = checkpoint.status().message();
    } else if (checkpoint->header.step != candidate.step) {
      // A renamed file would otherwise resume from a step it does not hold.
      problem = candidate.path + ": header says step " + std::to_string(checkpoint->header.step) +
                ", the name says " + std::to_string(candidate.step);
    } else if (below_epoch && checkpoint->header.epoch >= *below_epoch) {
      continue;
    } else {
      return std::optional<CheckpointRef>(CheckpointRef{candidate.path, checkpoint->header});
    }
    if (skipped != nullptr) skipped->push_back(problem);
  }
  return std::optional<CheckpointRef>();
}

Status PruneCheckpoints(Env& env, const std::string& dir, uint32_t keep) {
  if (keep < 1) return Status::InvalidArgument("checkpoint.keep: must be at least 1");
  std::vector<std::string> temporaries;
  AIMASS_ASSIGN_OR_RETURN(std::vector<NamedCheckpoint> checkpoints,
                          ListCheckpoints(env, dir, &temporaries));
  for (size_t i = keep; i < checkpoints.size(); ++i) {
    AIMASS_RETURN_IF_ERROR(env.RemoveFile(checkpoints[i].path));
  }
  for (const std::string& temporary : temporaries) {
    AIMASS_RETURN_IF_ERROR(env.RemoveFile(temporary));
  }
  return Status::Ok();
}

}  // namespace aimass
