#include "coordinator/infer/output_committer.h"

#include <boost/json.hpp>

#include <cstdio>
#include <random>

#include "common/io/output_file.h"
#include "common/net/handshake.h"
#include "common/strict_json.h"

namespace aimass::coordinator {

namespace json = boost::json;

namespace {

constexpr char kSuccess[] = "_SUCCESS";
constexpr char kTemporary[] = "_temporary";
constexpr char kJobFile[] = "job.json";
constexpr char kCommitLog[] = "commits.jsonl";
constexpr char kBadRecordsDir[] = "_bad_records";
constexpr char kLockFile[] = "job.lock";

// Names the first key whose value differs, so a refusal says what changed.
std::string FirstDifference(const json::object& expected, const json::object& found) {
  for (const auto& entry : expected) {
    const json::value* other = found.if_contains(entry.key());
    if (other == nullptr || *other != entry.value()) {
      return std::string(entry.key()) + " is " + json::serialize(entry.value()) + ", the output has " +
             (other ? json::serialize(*other) : std::string("none"));
    }
  }
  return "its job description differs";
}

// 64 random bits as hex. A failure of OpenSSL's generator (no entropy) falls back to
// std::random_device: the nonce separates runs, it is not a secret.
std::string NewRunNonce() {
  constexpr size_t kNonceBytes = 8;
  auto random = net::RandomBytes(kNonceBytes);
  if (random.ok()) return net::ToHex(*random);
  std::random_device entropy;
  std::string bytes(kNonceBytes, '\0');
  for (char& byte : bytes) byte = static_cast<char>(entropy());
  return net::ToHex(bytes);
}

// The file at `path` must be what its worker reported: `bytes` long with SHA-256 `sha256`.
Status VerifyReported(Env& env, const std::string& path, uint64_t bytes, const std::string& sha256) {
  AIMASS_ASSIGN_OR_RETURN(FileInfo info, env.Stat(path));
  if (info.size != bytes) {
    return Status::Corruption(path + ": " + std::to_string(info.size) + " bytes, the worker reported " +
                              std::to_string(bytes) + "; not committed");
  }
  AIMASS_ASSIGN_OR_RETURN(std::string actual, io::Sha256OfFile(path));
  if (actual != sha256) {
    return Status::Corruption(path + ": SHA-256 " + actual + ", the worker reported " +
                              (sha256.empty() ? std::string("none") : sha256) + "; not committed");
  }
  return Status::Ok();
}

Result<json::object> ParseObject(const std::string& text, const std::string& path) {
  json::error_code error;
  json::value value = json::parse(text, error);
  if (error || !value.is_object()) return Status::Error(path + ": not a JSON object");
  return value.as_object();
}

}  // namespace

json::object CommittedPart::ToJson() const {
  return json::object{{"split", split},           {"attempt", attempt_id},
                      {"file", file},             {"bad_records_file", bad_records_file},
                      {"records_in", records_in}, {"records_out", records_out},
                      {"bad_records", bad_records}, {"bytes", bytes},
                      {"sha256", sha256}, {"bad_records_bytes", bad_records_bytes},
                      {"bad_records_sha256", bad_records_sha256}};
}

Result<CommittedPart> CommittedPart::FromJson(const json::value& value) {
  try {
    const json::object& object = value.as_object();
    CommittedPart part;
    part.split = json::value_to<uint32_t>(object.at("split"));
    part.attempt_id = json::value_to<uint64_t>(object.at("attempt"));
    part.file = json::value_to<std::string>(object.at("file"));
    part.bad_records_file = json::value_to<std::string>(object.at("bad_records_file"));
    part.records_in = json::value_to<uint64_t>(object.at("records_in"));
    part.records_out = json::value_to<uint64_t>(object.at("records_out"));
    part.bad_records = json::value_to<uint64_t>(object.at("bad_records"));
    part.bytes = json::value_to<uint64_t>(object.at("bytes"));
    part.sha256 = json::value_to<std::string>(object.at("sha256"));
    // Absent in commit logs written before the quarantine file was checked.
    if (const json::value* bytes = object.if_contains("bad_records_bytes")) {
      part.bad_records_bytes = json::value_to<uint64_t>(*bytes);
    }
    if (const json::value* sha256 = object.if_contains("bad_records_sha256")) {
      part.bad_records_sha256 = json::value_to<std::string>(*sha256);
    }
    return part;
  } catch (const std::exception& error) {
    return Status::Error(std::string("malformed commit record: ") + error.what());
  }
}

OutputCommitter::OutputCommitter(Env& env, std::string output_dir, std::string part_suffix)
    : env_(env),
      output_dir_(std::move(output_dir)),
      part_suffix_(std::move(part_suffix)),
      run_nonce_(NewRunNonce()) {}

std::string OutputCommitter::attempts_dir() const { return JoinPath(output_dir_, kTemporary); }

std::string OutputCommitter::AttemptDirectory(uint64_t attempt_id) const {
  return JoinPath(attempts_dir(), "attempt-" + run_nonce_ + "-" + std::to_string(attempt_id));
}

std::string OutputCommitter::PartName(uint32_t split) const {
  char name[32];
  std::snprintf(name, sizeof(name), "part-%05u", split);
  return name + part_suffix_;
}

Result<OutputState> OutputCommitter::Open(const json::object& identity, bool overwrite) {
  OutputState state;
  const std::string success_path = JoinPath(output_dir_, kSuccess);
  const std::string job_path = JoinPath(attempts_dir(), kJobFile);
  bool empty = true;
  if (env_.Exists(output_dir_)) {
    AIMASS_ASSIGN_OR_RETURN(auto entries, env_.ListDirectory(output_dir_));
    empty = entries.empty();
  }
  std::string refusal;
  bool resume = false;
  if (empty) {
    // a fresh output
  } else if (env_.Exists(success_path)) {
    json::object manifest;
    AIMASS_RETURN_IF_ERROR(ReadOwnManifest(success_path, &manifest));
    const json::value* found = manifest.if_contains("identity");
    if (found && found->is_object() && found->as_object() == identity && !overwrite) {
      (void)env_.RemoveTree(attempts_dir());  // left if the coordinator died after _SUCCESS
      state.finished_manifest = std::move(manifest);
      return state;
    }
    refusal = output_dir_ + ": holds a finished job whose " +
              (found && found->is_object() ? FirstDifference(identity, found->as_object())
                                           : std::string("manifest has no job description"));
  } else if (env_.Exists(job_path)) {
    AIMASS_ASSIGN_OR_RETURN(std::string text, env_.ReadFile(job_path));
    AIMASS_ASSIGN_OR_RETURN(json::object previous, ParseObject(text, job_path));
    resume = previous == identity && !overwrite;
    if (!resume) {
      refusal = output_dir_ + ": holds an unfinished job whose " + FirstDifference(identity, previous);
    }
  } else if (AbandonedStart()) {
    // A run died in Open between taking the lock and recording its job (below): it wrote
    // nothing, so this is a fresh output (a rerun, or a restarted server's resume, would
    // otherwise be told the directory is not an aimass output).
  } else {
    // Not ours: --overwrite does not apply, so that a mistyped path cannot delete a directory.
    return Status::Error(output_dir_ + ": exists, is not empty and is not an aimass inference "
                                       "output; choose another output directory");
  }
  if (!refusal.empty() && !overwrite) {
    return Status::Error(refusal + " (pass --overwrite to replace it)");
  }

  // From here on this job owns the directory: a second coordinator on it is refused.
  AIMASS_RETURN_IF_ERROR(env_.CreateDirectories(attempts_dir()));
  auto lock = env_.LockFile(JoinPath(attempts_dir(), kLockFile));
  if (!lock.ok()) {
    return Status::Error(output_dir_ + ": another aimass job is writing this output (" +
                         lock.status().message() + ")");
  }
  lock_ = std::move(lock).value();
  if (resume) {
    AIMASS_ASSIGN_OR_RETURN(state.committed, LoadCommits());
    // Attempts of the interrupted run are abandoned: their splits run again.
    AIMASS_ASSIGN_OR_RETURN(auto temporary, env_.ListDirectory(attempts_dir()));
    for (const FileInfo& entry : temporary) {
      if (entry.is_directory && entry.name.rfind("attempt-", 0) == 0) {
        AIMASS_RETURN_IF_ERROR(env_.RemoveTree(JoinPath(attempts_dir(), entry.name)));
      }
    }
    return state;
  }
  if (!empty) AIMASS_RETURN_IF_ERROR(RemoveEarlierOutput());
  AIMASS_RETURN_IF_ERROR(env_.RemoveFile(JoinPath(attempts_dir(), kCommitLog)));
  AIMASS_RETURN_IF_ERROR(env_.WriteFileAtomically(job_path, SerializeStrictJson(identity)));
  return state;
}

Status OutputCommitter::ReadOwnManifest(const std::string& path, json::object* manifest) {
  AIMASS_ASSIGN_OR_RETURN(std::string text, env_.ReadFile(path));
  json::error_code error;
  json::value value = json::parse(text, error);
  const json::object* object = !error && value.is_object() ? &value.as_object() : nullptr;
  const json::value* job = object ? object->if_contains("job") : nullptr;
  const json::value* identity = object ? object->if_contains("identity") : nullptr;
  // Another tool's _SUCCESS (Hadoop's and Spark's are empty; some write JSON): its parts are
  // not aimass's to delete, so --overwrite does not apply either.
  if (job == nullptr || !job->is_string() || job->as_string() != kManifestJob ||
      identity == nullptr || !identity->is_object()) {
    return Status::FailedPrecondition(
        path + ": not an aimass manifest (no aimass job identity); this output was written by "
               "something else and is not replaced, even with --overwrite: choose another output "
               "directory");
  }
  *manifest = std::move(value.as_object());
  return Status::Ok();
}

// What an earlier aimass job wrote, and nothing else: its parts, quarantine, manifest, attempts.
bool OutputCommitter::AbandonedStart() {
  auto entries = env_.ListDirectory(output_dir_);
  if (!entries.ok() || entries->size() != 1 || (*entries)[0].name != kTemporary || !(*entries)[0].is_directory) {
    return false;
  }
  auto temporary = env_.ListDirectory(attempts_dir());
  if (!temporary.ok()) return false;
  const std::string job_file_temporary = std::string(kJobFile) + ".tmp.";
  for (const FileInfo& entry : *temporary) {
    const bool lock = entry.name == kLockFile;
    const bool unfinished_job_file = entry.name.rfind(job_file_temporary, 0) == 0;
    if (entry.is_directory || (!lock && !unfinished_job_file)) return false;
  }
  return true;
}

Status OutputCommitter::RemoveEarlierOutput() {
  AIMASS_RETURN_IF_ERROR(env_.RemoveFile(JoinPath(output_dir_, kSuccess)));
  AIMASS_RETURN_IF_ERROR(env_.RemoveTree(JoinPath(output_dir_, kBadRecordsDir)));
  AIMASS_ASSIGN_OR_RETURN(auto entries, env_.ListDirectory(output_dir_));
  for (const FileInfo& entry : entries) {
    if (!entry.is_directory && entry.name.rfind("part-", 0) == 0) {
      AIMASS_RETURN_IF_ERROR(env_.RemoveFile(JoinPath(output_dir_, entry.name)));
    }
  }
  AIMASS_ASSIGN_OR_RETURN(auto temporary, env_.ListDirectory(attempts_dir()));
  for (const FileInfo& entry : temporary) {
    if (entry.name == kLockFile) continue;
    AIMASS_RETURN_IF_ERROR(env_.RemoveTree(JoinPath(attempts_dir(), entry.name)));
  }
  return Status::Ok();
}

Result<std::vector<CommittedPart>> OutputCommitter::LoadCommits() {
  std::vector<CommittedPart> parts;
  const std::string log_path = JoinPath(attempts_dir(), kCommitLog);
  if (!env_.Exists(log_path)) return parts;
  AIMASS_ASSIGN_OR_RETURN(std::string text, env_.ReadFile(log_path));
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) break;  // a torn last line: that commit did not complete
    std::string line = text.substr(start, end - start);
    start = end + 1;
    json::error_code error;
    json::value value = json::parse(line, error);
    if (error) continue;
    auto part = CommittedPart::FromJson(value);
    if (!part.ok()) return part.status().WithContext(log_path);
    // A part that is gone or not the size committed is not trusted: its split runs again.
    auto info = env_.Stat(JoinPath(output_dir_, part->file));
    if (!info.ok() || info->size != part->bytes) continue;
    parts.push_back(std::move(part).value());
  }
  return parts;
}

Status OutputCommitter::Commit(const CommittedPart& part, const std::string& attempt_output,
                               const std::string& attempt_bad_records) {
  // Every file first, then the renames: a mismatch leaves the output as it was.
  AIMASS_RETURN_IF_ERROR(VerifyReported(env_, attempt_output, part.bytes, part.sha256));
  if (!part.bad_records_file.empty()) {
    AIMASS_RETURN_IF_ERROR(VerifyReported(env_, attempt_bad_records, part.bad_records_bytes,
                                          part.bad_records_sha256));
  }
  AIMASS_RETURN_IF_ERROR(env_.RenameFile(attempt_output, JoinPath(output_dir_, part.file)));
  if (!part.bad_records_file.empty()) {
    AIMASS_RETURN_IF_ERROR(env_.CreateDirectories(JoinPath(output_dir_, kBadRecordsDir)));
    AIMASS_RETURN_IF_ERROR(
        env_.RenameFile(attempt_bad_records, JoinPath(output_dir_, part.bad_records_file)));
  }
  AIMASS_RETURN_IF_ERROR(env_.AppendToFile(JoinPath(attempts_dir(), kCommitLog),
                                           SerializeStrictJson(part.ToJson()) + "\n"));
  Discard(part.attempt_id);
  return Status::Ok();
}

void OutputCommitter::Discard(uint64_t attempt_id) {
  (void)env_.RemoveTree(AttemptDirectory(attempt_id));
}

Status OutputCommitter::CommitJob(const json::object& manifest) {
  return env_.WriteFileAtomically(JoinPath(output_dir_, kSuccess), SerializeStrictJson(manifest) + "\n");
}

Status OutputCommitter::RemoveTemporary() {
  Status removed = env_.RemoveTree(attempts_dir());
  lock_.reset();
  return removed;
}

}  // namespace aimass::coordinator
