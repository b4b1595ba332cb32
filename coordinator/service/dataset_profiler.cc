#include "coordinator/service/dataset_profiler.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "common/config/yaml_section.h"
#include "common/strict_json.h"
#include "common/tables/record_reader.h"
#include "common/tables/split_planner.h"
#include "common/tables/table_config.h"
#include "common/tables/table_listing.h"
#include "common/tables/text/delimited_reader.h"
#include "coordinator/service/store/data_catalog_store.h"

namespace aimass::service {

namespace json = boost::json;

namespace {

constexpr uint64_t kDefaultSampleRecords = 20000;

// The column a bad record's reason names ("field 'x': 'abc' is not a number"), or "".
std::string FieldOfReason(const std::string& reason) {
  for (const char* quote : {"'", "\""}) {
    const std::string prefix = std::string("field ") + quote;
    const size_t at = reason.find(prefix);
    if (at == std::string::npos) continue;
    const size_t begin = at + prefix.size();
    const size_t end = reason.find(quote, begin);
    if (end != std::string::npos && reason.find("not a number", end) != std::string::npos) {
      return reason.substr(begin, end - begin);
    }
  }
  return "";
}

// Reads every record of `files` with `table`, calling `on_record` for good ones and `on_bad`
// for bad ones; stops early when either returns false.
template <typename OnRecord, typename OnBad>
Status ReadAll(const std::vector<tables::InputFile>& files, const tables::TableOptions& table,
               uint64_t split_bytes, OnRecord on_record, OnBad on_bad) {
  for (const tables::Split& split : tables::PlanSplits(files, table.format, split_bytes)) {
    AIMASS_ASSIGN_OR_RETURN(auto reader, tables::OpenRecordReader(files[split.file], split, table));
    tables::TableRecord record;
    tables::BadRecord bad;
    while (true) {
      AIMASS_ASSIGN_OR_RETURN(auto outcome, reader->Next(&record, &bad));
      if (outcome == tables::RecordReader::Outcome::kEnd) break;
      const bool go_on = outcome == tables::RecordReader::Outcome::kRecord ? on_record(record) : on_bad(bad);
      if (!go_on) return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace

Result<DatasetSource> ParseDatasetSource(const std::string& text) {
  const std::string source_name = "dataset";
  AIMASS_ASSIGN_OR_RETURN(YAML::Node document, LoadYamlDocument(text, source_name));
  YamlSection root(document, "", &source_name);
  AIMASS_RETURN_IF_ERROR(root.CheckIsMap());
  DatasetSource source;
  if (!root.Has("input")) return Status::InvalidArgument("input: missing (the table's path and format)");
  {
    AIMASS_ASSIGN_OR_RETURN(YamlSection input, root.Child("input"));
    AIMASS_RETURN_IF_ERROR(ReadTableInputKeys(input, source.input));
    AIMASS_RETURN_IF_ERROR(input.Finish());
  }
  if (source.input.path.empty()) return Status::InvalidArgument("input.path: missing");
  if (root.Has("schema")) {
    AIMASS_ASSIGN_OR_RETURN(YamlSection schema, root.Child("schema"));
    AIMASS_RETURN_IF_ERROR(ReadColumnList(schema, "features", &source.features));
    AIMASS_RETURN_IF_ERROR(schema.Read("id", &source.id));
    AIMASS_RETURN_IF_ERROR(schema.Finish());
  }
  AIMASS_RETURN_IF_ERROR(root.Finish());
  return source;
}

Result<DatasetProfileResult> ProfileDataset(const std::string& request_json, const std::string& input_path,
                                            Env& env, uint64_t max_sample, const std::function<bool()>& cancelled,
                                            const std::vector<std::string>& confine_to) {
  const auto stop = [&cancelled] { return cancelled && cancelled(); };
  AIMASS_ASSIGN_OR_RETURN(DatasetSource source, ParseDatasetSource(request_json));
  source.input.path = input_path;
  source.input.confine_to = confine_to;
  AIMASS_ASSIGN_OR_RETURN(tables::TableOptions table, tables::TableOptionsFromInput(source.input));
  AIMASS_ASSIGN_OR_RETURN(std::vector<tables::InputFile> files,
                          tables::ListTable(input_path, tables::ListOptionsFromInput(source.input), env));

  std::vector<std::string> columns = source.features;
  if (columns.empty()) {
    if (table.format != tables::TableFormat::kDelimited) {
      return Status::InvalidArgument("schema.features: needed for a " + source.input.format +
                                     " table (only delimited tables name their columns)");
    }
    columns = table.columns;
    if (table.header) {
      for (const tables::InputFile& file : files) {
        if (file.size == 0) continue;
        AIMASS_ASSIGN_OR_RETURN(columns, tables::ReadDelimitedHeader(file, table.delimiter, table.max_record_bytes,
                                                                     table.confine_to));
        if (!columns.empty()) break;
      }
    }
    columns.erase(std::remove(columns.begin(), columns.end(), source.id), columns.end());
  }
  if (columns.empty()) return Status::InvalidArgument(input_path + ": no columns to profile");

  // Which columns hold numbers: the first records are read with every column, and a column a
  // bad record names as "not a number" becomes a string column; read again without it.
  std::set<std::string> strings;
  std::vector<std::string> numeric = columns;
  for (size_t attempt = 0; attempt <= columns.size() && !numeric.empty(); ++attempt) {
    table.feature_columns = numeric;
    table.feature_count = static_cast<uint32_t>(numeric.size());
    std::string non_numeric;
    uint64_t seen = 0;
    AIMASS_RETURN_IF_ERROR(ReadAll(
        files, table, source.input.split_bytes, [&](const tables::TableRecord&) { return ++seen < kTypeSniffRecords; },
        [&](const tables::BadRecord& bad) {
          non_numeric = FieldOfReason(bad.reason);
          // An empty field is a missing value, not a type.
          if (bad.reason.find("'' is not a number") != std::string::npos) non_numeric.clear();
          return non_numeric.empty() && ++seen < kTypeSniffRecords;
        }));
    if (non_numeric.empty() || strings.count(non_numeric) > 0) break;
    strings.insert(non_numeric);
    numeric.erase(std::remove(numeric.begin(), numeric.end(), non_numeric), numeric.end());
  }

  DatasetProfileResult result;
  std::vector<data::FeatureAccumulator> moments(numeric.size());
  std::vector<bool> integral(numeric.size(), true);
  std::vector<float> sample;
  uint64_t stride = 1;
  uint64_t sampled_rows = 0;
  const size_t width = numeric.size();
  const uint64_t cap = std::max<uint64_t>(2, max_sample);
  if (width > 0) {
    table.feature_columns = numeric;
    table.feature_count = static_cast<uint32_t>(width);
    AIMASS_RETURN_IF_ERROR(ReadAll(
        files, table, source.input.split_bytes,
        [&](const tables::TableRecord& record) {
          if (stop()) return false;
          for (size_t c = 0; c < width; ++c) {
            moments[c].Add(record.features[c]);
            if (integral[c] && record.features[c] != std::floor(record.features[c])) integral[c] = false;
          }
          // An even sample: every stride-th record; when full, every other one is dropped and
          // the stride doubles.
          if (result.records % stride == 0) {
            sample.insert(sample.end(), record.features.begin(), record.features.end());
            if (++sampled_rows >= cap) {
              std::vector<float> halved;
              for (uint64_t row = 0; row < sampled_rows; row += 2) {
                halved.insert(halved.end(), sample.begin() + row * width, sample.begin() + (row + 1) * width);
              }
              sample.swap(halved);
              sampled_rows = (sampled_rows + 1) / 2;
              stride *= 2;
            }
          }
          ++result.records;
          return true;
        },
        [&](const tables::BadRecord&) {
          ++result.bad_records;
          return !stop();
        }));
  } else {
    // Nothing numeric: only counted (a table of text columns).
    table.feature_columns.clear();
    table.feature_count = 0;
    AIMASS_RETURN_IF_ERROR(ReadAll(
        files, table, source.input.split_bytes, [&](const tables::TableRecord&) { return ++result.records, !stop(); },
        [&](const tables::BadRecord&) { return ++result.bad_records, !stop(); }));
  }
  if (stop()) return Status::Cancelled(input_path + ": profiling stopped");
  result.profile = data::BuildProfile(numeric, sample.data(), sampled_rows, nullptr, 0);
  result.profile.total_records = result.records;
  for (size_t c = 0; c < width; ++c) {
    // Exact figures over every record; the histogram is the sample's.
    data::FeatureProfile& feature = result.profile.features[c];
    feature.count = moments[c].count();
    feature.missing = moments[c].missing();
    feature.min = moments[c].min();
    feature.max = moments[c].max();
    feature.mean = moments[c].mean();
    feature.std = moments[c].stddev();
  }
  for (const std::string& column : columns) {
    auto at = std::find(numeric.begin(), numeric.end(), column);
    std::string type = "string";
    if (at != numeric.end()) type = integral[at - numeric.begin()] ? "integer" : "number";
    result.schema.emplace_back(column, type);
  }
  return result;
}

DatasetProfiler::DatasetProfiler(SharedStore& store, ProfileFiles& profiles, Env& env, const DataRoots& roots)
    : store_(store), profiles_(profiles), env_(env), roots_(roots) {}

DatasetProfiler::~DatasetProfiler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DatasetProfiler::Start() {
  auto left = store_.With([](StateStore& store) { return DataCatalogStore(store.database()).ListProfiling(); });
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (left.ok()) queue_.insert(queue_.end(), left->begin(), left->end());
    if (thread_.joinable()) return;
  }
  thread_ = std::thread([this] { Run(); });
}

void DatasetProfiler::Enqueue(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(name);
  }
  wake_.notify_all();
}

void DatasetProfiler::Run() {
  while (true) {
    std::string name;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      name = queue_.front();
      queue_.pop_front();
    }
    ProfileOne(name);
  }
}

void DatasetProfiler::ProfileOne(const std::string& name) {
  auto dataset = store_.With([&](StateStore& store) { return DataCatalogStore(store.database()).GetDataset(name); });
  if (!dataset.ok() || dataset->state != "profiling") return;  // deleted meanwhile, or done
  Result<std::string> reference = Status::Internal("not profiled");
  json::array schema;
  DatasetProfileResult result;
  auto profiled = ProfileDataset(dataset->input_yaml, dataset->input_path, env_, kDefaultSampleRecords,
                                 [this] { return stopping_.load(); }, roots_.roots());
  // Stopped by the server's shutdown: left `profiling`, done again at the next start.
  if (!profiled.ok() && profiled.status().code() == StatusCode::kCancelled) return;
  if (profiled.ok()) {
    result = std::move(profiled).value();
    json::value profile = data::ProfileToJson(result.profile);
    profile.as_object()["bad_records"] = result.bad_records;
    reference = profiles_.Put(SerializeStrictJson(profile));
    for (const auto& [column, type] : result.schema) schema.push_back(json::object{{"name", column}, {"type", type}});
  } else {
    reference = profiled.status();
  }
  Status stored = store_.With([&](StateStore& store) {
    DataCatalogStore catalog(store.database());
    if (!reference.ok()) return catalog.FailProfiling(name, reference.status().message());
    return catalog.FinishProfiling(name, *reference, json::serialize(schema), static_cast<int64_t>(result.records));
  });
  if (!stored.ok() && stored.code() != StatusCode::kNotFound) {
    std::fprintf(stderr, "aimass: warning: dataset '%s': profile not recorded: %s\n", name.c_str(),
                 stored.message().c_str());
  }
}

}  // namespace aimass::service
