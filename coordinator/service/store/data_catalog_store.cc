#include "coordinator/service/store/data_catalog_store.h"

namespace aimass::service {

namespace {

constexpr const char* kDatasetColumns =
    "name, description, owner, input_yaml, input_path, created_by, created_at_ms, state, error, "
    "profile, schema_json, records";

DatasetRecord ReadDataset(const Statement& row) {
  DatasetRecord record;
  record.name = row.Text(0);
  record.description = row.Text(1);
  record.owner = row.Text(2);
  record.input_yaml = row.Text(3);
  record.input_path = row.Text(4);
  record.created_by = row.Text(5);
  record.created_at_ms = row.Int(6);
  record.state = row.Text(7);
  record.error = row.Text(8);
  record.profile = row.Text(9);
  record.schema_json = row.Text(10);
  record.records = row.OptionalInt(11);
  return record;
}

}  // namespace

bool ValidDatasetName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status DataCatalogStore::SetModelProfile(const std::string& model, int64_t version, const std::string& profile) {
  return db_.InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(Statement insert,
                            db_.Prepare("INSERT INTO model_profiles (model, version, profile) VALUES (?1, ?2, ?3) "
                                        "ON CONFLICT (model, version) DO UPDATE SET profile = excluded.profile"));
    insert.Bind(1, model).Bind(2, version).Bind(3, profile);
    return insert.Run();
  });
}

Result<std::string> DataCatalogStore::GetModelProfile(const std::string& model, int64_t version) {
  AIMASS_ASSIGN_OR_RETURN(Statement select,
                          db_.Prepare("SELECT profile FROM model_profiles WHERE model = ?1 AND version = ?2"));
  select.Bind(1, model).Bind(2, version);
  AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) {
    return Status::NotFound("model '" + model + "' version " + std::to_string(version) + " has no data profile");
  }
  return select.Text(0);
}

Status DataCatalogStore::InsertDataset(const NewDataset& dataset) {
  if (!ValidDatasetName(dataset.name)) {
    return Status::InvalidArgument("name: '" + dataset.name + "': use 1-64 of A-Z a-z 0-9 . _ -");
  }
  return db_.InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(Statement exists, db_.Prepare("SELECT 1 FROM datasets WHERE name = ?1"));
    exists.Bind(1, dataset.name);
    AIMASS_ASSIGN_OR_RETURN(bool taken, exists.Step());
    if (taken) return Status::AlreadyExists("dataset '" + dataset.name + "' is already registered");
    AIMASS_ASSIGN_OR_RETURN(
        Statement insert,
        db_.Prepare("INSERT INTO datasets (name, description, owner, input_yaml, input_path, created_by, "
                    "created_at_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'profiling')"));
    insert.Bind(1, dataset.name)
        .Bind(2, dataset.description)
        .Bind(3, dataset.owner)
        .Bind(4, dataset.input_yaml)
        .Bind(5, dataset.input_path)
        .Bind(6, dataset.created_by)
        .Bind(7, dataset.created_at_ms);
    return insert.Run();
  });
}

Result<DatasetRecord> DataCatalogStore::GetDataset(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(Statement select, db_.Prepare(std::string("SELECT ") + kDatasetColumns +
                                                         " FROM datasets WHERE name = ?1"));
  select.Bind(1, name);
  AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return Status::NotFound("no dataset '" + name + "'");
  return ReadDataset(select);
}

Result<std::vector<DatasetRecord>> DataCatalogStore::ListDatasets() {
  AIMASS_ASSIGN_OR_RETURN(Statement select,
                          db_.Prepare(std::string("SELECT ") + kDatasetColumns + " FROM datasets ORDER BY name"));
  std::vector<DatasetRecord> records;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    records.push_back(ReadDataset(select));
  }
  return records;
}

Status DataCatalogStore::DeleteDataset(const std::string& name) {
  return db_.InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(Statement remove, db_.Prepare("DELETE FROM datasets WHERE name = ?1"));
    remove.Bind(1, name);
    AIMASS_RETURN_IF_ERROR(remove.Run());
    if (db_.changes() == 0) return Status::NotFound("no dataset '" + name + "'");
    return Status::Ok();
  });
}

Status DataCatalogStore::FinishProfiling(const std::string& name, const std::string& profile,
                                         const std::string& schema_json, int64_t records) {
  return db_.InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(Statement update,
                            db_.Prepare("UPDATE datasets SET state = 'ready', error = '', profile = ?2, "
                                        "schema_json = ?3, records = ?4 WHERE name = ?1"));
    update.Bind(1, name).Bind(2, profile).Bind(3, schema_json).Bind(4, records);
    AIMASS_RETURN_IF_ERROR(update.Run());
    if (db_.changes() == 0) return Status::NotFound("no dataset '" + name + "'");
    return Status::Ok();
  });
}

Status DataCatalogStore::FailProfiling(const std::string& name, const std::string& error) {
  return db_.InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(Statement update,
                            db_.Prepare("UPDATE datasets SET state = 'failed', error = ?2 WHERE name = ?1"));
    update.Bind(1, name).Bind(2, error);
    AIMASS_RETURN_IF_ERROR(update.Run());
    if (db_.changes() == 0) return Status::NotFound("no dataset '" + name + "'");
    return Status::Ok();
  });
}

Result<std::vector<std::string>> DataCatalogStore::ListProfiling() {
  AIMASS_ASSIGN_OR_RETURN(Statement select,
                          db_.Prepare("SELECT name FROM datasets WHERE state = 'profiling' ORDER BY created_at_ms"));
  std::vector<std::string> names;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    names.push_back(select.Text(0));
  }
  return names;
}

Result<TableLineage> DataCatalogStore::Lineage(const std::string& input_path, uint32_t limit) {
  TableLineage lineage;
  if (input_path.empty()) return lineage;  // jobs older than schema 8 stored none: match none
  AIMASS_ASSIGN_OR_RETURN(
      Statement versions,
      db_.Prepare("SELECT model, version, job_id, created_at_ms FROM model_versions "
                  "WHERE input_path = ?1 ORDER BY created_at_ms DESC, model, version DESC LIMIT ?2"));
  versions.Bind(1, input_path).Bind(2, static_cast<int64_t>(limit));
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, versions.Step());
    if (!row) break;
    lineage.trained.push_back(
        TrainedVersion{versions.Text(0), versions.Int(1), versions.OptionalInt(2), versions.Int(3)});
  }
  AIMASS_ASSIGN_OR_RETURN(
      Statement jobs,
      db_.Prepare("SELECT id, model_reference, state, created_at_ms FROM jobs "
                  "WHERE input_path = ?1 AND kind = 'infer' ORDER BY id DESC LIMIT ?2"));
  jobs.Bind(1, input_path).Bind(2, static_cast<int64_t>(limit));
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, jobs.Step());
    if (!row) break;
    lineage.scored.push_back(ScoringJob{jobs.Int(0), jobs.Text(1), jobs.Text(2), jobs.Int(3)});
  }
  return lineage;
}

}  // namespace aimass::service
