// The store's side of data profiles and the dataset catalogue (tables model_profiles and
// datasets, created by the state store's migrations): which stored profile (profile_files.h)
// belongs to a model version, and the registered datasets with their profiling outcome.
//
// Thread safety: none; used on the StateStore's Database under the SharedStore's lock. Every
// method that writes is one transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/service/store/sqlite_database.h"

namespace aimass::service {

struct NewDataset {
  std::string name;
  std::string description;
  std::string owner;
  std::string input_yaml;  // the `input` block as registered (YAML or JSON text)
  std::string input_path;  // its path, resolved inside a data root
  std::string created_by;
  int64_t created_at_ms = 0;
};

struct DatasetRecord {
  std::string name;
  std::string description;
  std::string owner;
  std::string input_yaml;
  std::string input_path;
  std::string created_by;
  int64_t created_at_ms = 0;
  std::string state;  // profiling | ready | failed
  std::string error;
  std::string profile;      // reference into ProfileFiles, once profiled
  std::string schema_json;  // [{"name", "type"}], once profiled
  std::optional<int64_t> records;
};

// What read a table: the model versions trained on it and the infer jobs that scored it,
// newest first, from the facts stored when each job was accepted (jobs.input_path).
struct TrainedVersion {
  std::string model;
  int64_t version = 0;
  std::optional<int64_t> job_id;
  int64_t created_at_ms = 0;
};
struct ScoringJob {
  int64_t job_id = 0;
  std::string model;  // as the job's config named it
  std::string state;
  int64_t created_at_ms = 0;
};
struct TableLineage {
  std::vector<TrainedVersion> trained;
  std::vector<ScoringJob> scored;
};

// Dataset names: 1-64 of [A-Za-z0-9._-], as model names (they appear in URLs).
bool ValidDatasetName(const std::string& name);

class DataCatalogStore {
 public:
  // `db` must outlive this.
  explicit DataCatalogStore(Database& db) : db_(db) {}

  // Model profiles. Set replaces; Get is kNotFound when the version has none.
  [[nodiscard]] Status SetModelProfile(const std::string& model, int64_t version, const std::string& profile);
  [[nodiscard]] Result<std::string> GetModelProfile(const std::string& model, int64_t version);

  // Datasets. Insert: kAlreadyExists (409) for a taken name, kInvalidArgument for a bad name.
  [[nodiscard]] Status InsertDataset(const NewDataset& dataset);
  [[nodiscard]] Result<DatasetRecord> GetDataset(const std::string& name);
  [[nodiscard]] Result<std::vector<DatasetRecord>> ListDatasets();
  [[nodiscard]] Status DeleteDataset(const std::string& name);
  // The profiling job's outcome: ready with its profile, schema and count, or failed.
  [[nodiscard]] Status FinishProfiling(const std::string& name, const std::string& profile,
                                       const std::string& schema_json, int64_t records);
  [[nodiscard]] Status FailProfiling(const std::string& name, const std::string& error);
  // Datasets left `profiling` by a server that stopped: profiled again at start-up.
  [[nodiscard]] Result<std::vector<std::string>> ListProfiling();

  // Lineage of the table at `input_path` (resolved, as stored): two indexed queries of at
  // most `limit` rows each, so a request costs the same however many jobs the service has run.
  [[nodiscard]] Result<TableLineage> Lineage(const std::string& input_path, uint32_t limit);

 private:
  Database& db_;
};

}  // namespace aimass::service
