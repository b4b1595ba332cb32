// Data profiles and drift (common/data/data_profile.h, coordinator/service/monitor/,
// profile_files.h, store/data_catalog_store.h): streaming moments agree with a two-pass
// computation, PSI has its textbook values, a profile survives JSON, a sealed profile opens only
// unaltered and with the key, an online window raises drift for data shifted by two standard
// deviations and nothing for clean data, and the catalogue's rows survive a reopen.
#include "tests/catch.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "common/data/data_profile.h"
#include "common/data/drift_wire.h"
#include "common/aimass.pb.h"
#include "common/env.h"
#include "common/strict_json.h"
#include "coordinator/service/dataset_profiler.h"
#include "coordinator/service/monitor/drift_alerts.h"
#include "coordinator/service/monitor/drift_window.h"
#include "coordinator/service/profile_files.h"
#include "coordinator/service/store/data_catalog_store.h"
#include "coordinator/service/store/state_store.h"
#include "tests/temp_dir.h"

namespace aimass::service {
namespace {

using Catch::Matchers::Contains;

class RecordingSink final : public AlertSink {
 public:
  void Raise(const Alert& alert) override {
    std::lock_guard<std::mutex> lock(mutex_);
    alerts.push_back(alert);
  }
  std::vector<Alert> alerts;

 private:
  std::mutex mutex_;
};

// `rows` records of `width` features, feature f ~ N(f, 1 + f), shifted by `shift` standard
// deviations; labels spread over 3 classes.
std::vector<float> Gaussian(size_t rows, size_t width, double shift, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<float> values;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t f = 0; f < width; ++f) {
      const double spread = 1.0 + static_cast<double>(f);
      values.push_back(static_cast<float>(static_cast<double>(f) + spread * (normal(random) + shift)));
    }
  }
  return values;
}

data::DataProfile TrainingProfile(size_t rows = 5000) {
  const std::vector<float> values = Gaussian(rows, 3, 0, 1);
  std::vector<int64_t> labels;
  for (size_t r = 0; r < rows; ++r) labels.push_back(static_cast<int64_t>(r % 3));
  return data::BuildProfile({"a", "b", "c"}, values.data(), rows, labels.data(), 3);
}

}  // namespace

TEST_CASE("streaming moments agree with a two-pass computation", "[profile]") {
  const std::vector<float> values = Gaussian(10000, 1, 0, 7);
  data::FeatureAccumulator accumulator;
  for (float value : values) accumulator.Add(1e6 + value);  // a large offset tests stability
  accumulator.Add(std::nan(""));
  double mean = 0;
  for (float value : values) mean += 1e6 + value;
  mean /= static_cast<double>(values.size());
  double squares = 0;
  for (float value : values) squares += (1e6 + value - mean) * (1e6 + value - mean);
  const double expected_std = std::sqrt(squares / static_cast<double>(values.size()));
  CHECK(accumulator.count() == values.size());
  CHECK(accumulator.missing() == 1);
  CHECK(accumulator.mean() == Approx(mean).epsilon(1e-12));
  CHECK(accumulator.stddev() == Approx(expected_std).epsilon(1e-9));
  CHECK(accumulator.min() == Approx(1e6 + *std::min_element(values.begin(), values.end())));
  CHECK(accumulator.max() == Approx(1e6 + *std::max_element(values.begin(), values.end())));
}

TEST_CASE("PSI has its known values; an empty bin counts as a small share", "[profile]") {
  CHECK(data::PopulationStabilityIndex({50, 50}, {500, 500}) == Approx(0.0).margin(1e-12));
  // 2 * 0.2 * ln(1.5)
  CHECK(data::PopulationStabilityIndex({60, 40}, {40, 60}) == Approx(0.4 * std::log(1.5)).epsilon(1e-12));
  // (0.5 - 1) ln(0.5) + (0.5 - 1e-4) ln(0.5 / 1e-4)
  CHECK(data::PopulationStabilityIndex({100, 0}, {50, 50}) ==
        Approx(-0.5 * std::log(0.5) + (0.5 - 1e-4) * std::log(0.5 / 1e-4)).epsilon(1e-9));
  CHECK(data::PopulationStabilityIndex({}, {}) == 0);
  CHECK(data::PopulationStabilityIndex({10, 10}, {0, 0}) == 0);
}

TEST_CASE("a profile's bins are open-ended, its quantiles near the data's, and it survives JSON", "[profile]") {
  const data::DataProfile profile = TrainingProfile();
  REQUIRE(profile.features.size() == 3);
  const data::FeatureProfile& b = profile.features[1];
  CHECK(b.edges.size() == data::kProfileBins - 1);
  CHECK(b.bins.size() == data::kProfileBins);
  CHECK(b.mean == Approx(1.0).margin(0.1));
  CHECK(b.std == Approx(2.0).margin(0.1));
  CHECK(b.quantiles[2] == Approx(1.0).margin(0.3));  // the median, from the bins
  CHECK(data::BinOf(b.edges, -1e9) == 0);
  CHECK(data::BinOf(b.edges, 1e9) == data::kProfileBins - 1);
  CHECK(profile.class_counts == std::vector<uint64_t>{1667, 1667, 1666});

  const std::string text = SerializeStrictJson(data::ProfileToJson(profile));
  auto back = data::ProfileFromJson(boost::json::parse(text));
  REQUIRE(back.ok());
  CHECK(back->records == profile.records);
  CHECK(back->class_counts == profile.class_counts);
  REQUIRE(back->features.size() == profile.features.size());
  for (size_t f = 0; f < profile.features.size(); ++f) {
    const data::FeatureProfile& want = profile.features[f];
    const data::FeatureProfile& got = back->features[f];
    CHECK(got.name == want.name);
    CHECK(got.count == want.count);
    CHECK(got.bins == want.bins);
    CHECK(got.std == Approx(want.std).epsilon(1e-14));  // decimal text keeps ~16 digits
    REQUIRE(got.edges.size() == want.edges.size());
    for (size_t e = 0; e < want.edges.size(); ++e) CHECK(got.edges[e] == Approx(want.edges[e]).epsilon(1e-14));
  }

  boost::json::value broken = boost::json::parse(text);
  broken.as_object()["features"].as_array()[0].as_object()["bins"].as_array().pop_back();
  auto refused = data::ProfileFromJson(broken);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Contains("'a'") && Contains("bins"));
  auto missing = data::ProfileFromJson(boost::json::parse(R"({"records": 1})"));
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Contains("total_records"));
}

TEST_CASE("drift counts travel the wire and are refused when shaped otherwise", "[profile]") {
  const data::DataProfile profile = TrainingProfile(300);
  const auto edges = data::ProfileEdges(profile);
  proto::DriftSpec spec;
  data::EncodeDriftSpec(edges, 3, &spec);
  CHECK(data::DecodeDriftEdges(spec) == edges);

  data::DriftHistogram histogram(edges, 3);
  const std::vector<float> values = Gaussian(50, 3, 0, 3);
  for (size_t r = 0; r < 50; ++r) histogram.Add(values.data() + r * 3, static_cast<int64_t>(r % 3));
  const data::DriftCounts counts = histogram.Counts();
  // The histogram bins as BinOf does.
  for (size_t f = 0; f < 3; ++f) {
    std::vector<uint64_t> expected(edges[f].size() + 1, 0);
    for (size_t r = 0; r < 50; ++r) ++expected[data::BinOf(edges[f], values[r * 3 + f])];
    CHECK(counts.features[f] == expected);
  }
  CHECK(counts.predicted == std::vector<uint64_t>{17, 17, 16});
  proto::DriftHistograms wire;
  data::EncodeDriftCounts(counts, &wire);
  auto decoded = data::DecodeDriftCounts(wire, data::DriftCounts::Shaped(edges, 3));
  REQUIRE(decoded.ok());
  CHECK(decoded->features == counts.features);
  CHECK(decoded->predicted == counts.predicted);
  CHECK(decoded->records() == 50);

  wire.mutable_features(1)->mutable_counts()->RemoveLast();
  CHECK_FALSE(data::DecodeDriftCounts(wire, data::DriftCounts::Shaped(edges, 3)).ok());
}

TEST_CASE("a batch shifted by two standard deviations drifts; a clean one does not", "[profile][drift]") {
  const data::DataProfile profile = TrainingProfile();
  const auto edges = data::ProfileEdges(profile);
  auto drift_of = [&](double shift, bool predicted_shift) {
    data::DriftHistogram histogram(edges, 3);
    const std::vector<float> values = Gaussian(2000, 3, shift, 11);
    for (size_t r = 0; r < 2000; ++r) {
      histogram.Add(values.data() + r * 3, predicted_shift ? 0 : static_cast<int64_t>(r % 3));
    }
    return *data::ComputeDrift(profile, histogram.Counts());
  };
  const data::DriftReport clean = drift_of(0, false);
  CHECK(clean.max_feature_psi() < 0.1);
  CHECK(clean.prediction_psi < 0.1);
  RecordingSink sink;
  DriftSubject subject{std::optional<int64_t>(5), "m", std::optional<int64_t>(2), "job 5's input"};
  CHECK(RaiseDriftAlerts(clean, {}, subject, sink) == 0);

  const data::DriftReport shifted = drift_of(2, true);
  for (const auto& feature : shifted.features) CHECK(feature.psi > 0.25);
  CHECK(shifted.prediction_psi > 0.25);
  CHECK(RaiseDriftAlerts(shifted, {}, subject, sink) == 2);
  REQUIRE(sink.alerts.size() == 2);
  CHECK(sink.alerts[0].kind == "drift");
  CHECK(sink.alerts[0].severity == AlertSeverity::kAlert);
  CHECK(sink.alerts[0].job_id == 5);
  CHECK(sink.alerts[0].model_version == 2);
  CHECK_THAT(sink.alerts[0].message, Contains("3 of 3 features"));
  CHECK(sink.alerts[1].kind == "prediction_drift");
  // One feature of 40 drifting is below the default share (5%: 2 of 40); with a share of 2.5%
  // it is enough.
  data::DriftReport one_of_many;
  one_of_many.records = 1000;
  for (int i = 0; i < 40; ++i) one_of_many.features.push_back({"f" + std::to_string(i), i == 7 ? 0.4 : 0.01});
  sink.alerts.clear();
  CHECK(RaiseDriftAlerts(one_of_many, {}, subject, sink) == 0);
  data::DriftThresholds any{0.1, 0.25, 0.025};
  CHECK(RaiseDriftAlerts(one_of_many, any, subject, sink) == 1);
  CHECK(sink.alerts.back().subject == "f7");
  sink.alerts.clear();
  CHECK(RaiseDriftAlerts(shifted, {}, subject, sink) == 2);
  // Between the thresholds: a warning.
  sink.alerts.clear();
  data::DriftThresholds lenient{0.1, 1e9, 0.05};
  CHECK(RaiseDriftAlerts(shifted, lenient, subject, sink) == 2);
  CHECK(sink.alerts[0].severity == AlertSeverity::kWarning);
}

TEST_CASE("an online window closes on its row count or its time and raises only for drift", "[profile][drift]") {
  const data::DataProfile profile = TrainingProfile();
  RecordingSink sink;
  auto now = std::chrono::steady_clock::time_point();
  DriftWindowOptions options;
  options.max_requests = 500;
  options.max_seconds = 60;
  options.min_requests = 100;
  DriftWindow window(profile, options, DriftSubject{std::nullopt, "m", 1, "online window"}, sink,
                     [&now] { return now; });

  auto rows = [](size_t count, double shift, uint32_t seed) {
    std::vector<float> values = Gaussian(count, 3, shift, seed);
    std::vector<int64_t> predicted;
    for (size_t r = 0; r < count; ++r) predicted.push_back(static_cast<int64_t>(r % 3));
    return std::make_pair(values, predicted);
  };
  // Clean traffic: a full window closes, no alert.
  auto [clean, clean_classes] = rows(500, 0, 21);
  auto closed = window.Add(clean, clean_classes);
  REQUIRE(closed.ok());
  REQUIRE(closed->has_value());
  CHECK((*closed)->records == 500);
  CHECK(sink.alerts.empty());
  // Shifted traffic that closes on time.
  auto [shifted, shifted_classes] = rows(200, 2, 22);
  closed = window.Add(shifted, shifted_classes);
  REQUIRE(closed.ok());
  CHECK_FALSE(closed->has_value());
  CHECK_FALSE(window.Tick().has_value());  // not yet
  now += std::chrono::seconds(61);
  auto timed = window.Tick();
  REQUIRE(timed.has_value());
  CHECK(timed->records == 200);
  REQUIRE(sink.alerts.size() == 1);
  CHECK(sink.alerts[0].kind == "drift");
  CHECK(sink.alerts[0].severity == AlertSeverity::kAlert);
  CHECK(window.windows_closed() == 2);
  // Too few rows when the time is up: dropped without a verdict.
  auto [few, few_classes] = rows(10, 2, 23);
  REQUIRE(window.Add(few, few_classes).ok());
  now += std::chrono::seconds(61);
  CHECK_FALSE(window.Tick().has_value());
  CHECK(sink.alerts.size() == 1);
  // A request of the wrong width is refused, naming the widths.
  auto refused = window.Add({1.0f, 2.0f}, {0});
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Contains("3 features"));
}

TEST_CASE("stored profiles are sealed under the master key and refused when altered or without it",
          "[profile][sealed]") {
  testing::TempDir dir;
  const std::string text = SerializeStrictJson(data::ProfileToJson(TrainingProfile(100)));
  const MasterKey key = *MasterKey::FromBytes(std::string(kMasterKeyBytes, 'k'));
  ProfileFiles sealed(dir.Path("profiles"), Env::Default(), key);
  auto reference = sealed.Put(text);
  REQUIRE(reference.ok());
  CHECK_THAT(*reference, Catch::Matchers::StartsWith("sha256:"));
  const std::string path = dir.Path("profiles") + "/" + reference->substr(7) + ".json.sealed";
  REQUIRE(Env::Default().Exists(path));
  CHECK(testing::ReadRaw(path).find("\"features\"") == std::string::npos);  // no plaintext
  auto opened = sealed.Get(*reference);
  REQUIRE(opened.ok());
  CHECK(*opened == text);

  ProfileFiles keyless(dir.Path("profiles"), Env::Default());
  CHECK(keyless.Get(*reference).status().code() == StatusCode::kFailedPrecondition);
  ProfileFiles other_key(dir.Path("profiles"), Env::Default(), *MasterKey::FromBytes(std::string(kMasterKeyBytes, 'x')));
  CHECK(other_key.Get(*reference).status().code() == StatusCode::kCorruption);

  std::string bytes = testing::ReadRaw(path);
  bytes[bytes.size() / 2] ^= 0x01;
  testing::WriteRaw(path, bytes);
  auto altered = sealed.Get(*reference);
  CHECK(altered.status().code() == StatusCode::kCorruption);
  CHECK_THAT(altered.status().message(), Contains(path));

  // Without a key: plain files, refused when their content no longer has their digest.
  auto plain = keyless.Put("{\"x\": 1}");
  REQUIRE(plain.ok());
  CHECK(*keyless.Get(*plain) == "{\"x\": 1}");
  CHECK(keyless.Get("sha256:../../etc").status().code() == StatusCode::kInvalidArgument);
  CHECK(keyless.Get("sha256:" + std::string(64, 'a')).status().code() == StatusCode::kNotFound);
}

TEST_CASE("the catalogue's rows survive a reopen; a refused write leaves nothing", "[profile][datasets]") {
  testing::TempDir dir;
  {
    auto store = StateStore::Open(dir.path() + "/state", [] { return int64_t{1000}; });
    REQUIRE(store.ok());
    DataCatalogStore catalog((*store)->database());
    NewDataset dataset{"mnist-test", "test split", "ml-team", "{\"input\": {\"path\": \"/d\"}}", "/d", "1", 42};
    REQUIRE(catalog.InsertDataset(dataset).ok());
    Status again = catalog.InsertDataset(dataset);
    CHECK(again.code() == StatusCode::kAlreadyExists);
    NewDataset bad = dataset;
    bad.name = "../x";
    CHECK(catalog.InsertDataset(bad).code() == StatusCode::kInvalidArgument);
    REQUIRE(catalog.FinishProfiling("mnist-test", "sha256:ab", "[]", 10000).ok());
    CHECK(catalog.FinishProfiling("nope", "sha256:ab", "[]", 1).code() == StatusCode::kNotFound);
    NewDataset second = dataset;
    second.name = "gone";
    REQUIRE(catalog.InsertDataset(second).ok());
    REQUIRE(catalog.FailProfiling("gone", "no such directory").ok());
    REQUIRE(catalog.DeleteDataset("gone").ok());
    CHECK(catalog.DeleteDataset("gone").code() == StatusCode::kNotFound);
    NewDataset third = dataset;
    third.name = "pending";
    REQUIRE(catalog.InsertDataset(third).ok());
    REQUIRE((*store)->RegisterVersion(NewModelVersion{"m", std::nullopt, "", "", "{}", std::string(64, 'a'), "1"}).ok());
    REQUIRE(catalog.SetModelProfile("m", 1, "sha256:old").ok());
    REQUIRE(catalog.SetModelProfile("m", 1, "sha256:new").ok());
  }
  auto store = StateStore::Open(dir.path() + "/state");
  REQUIRE(store.ok());
  DataCatalogStore catalog((*store)->database());
  auto datasets = catalog.ListDatasets();
  REQUIRE(datasets.ok());
  REQUIRE(datasets->size() == 2);
  const DatasetRecord& ready = (*datasets)[0];
  CHECK(ready.name == "mnist-test");
  CHECK(ready.state == "ready");
  CHECK(ready.records == 10000);
  CHECK(ready.profile == "sha256:ab");
  CHECK(ready.owner == "ml-team");
  CHECK(ready.created_at_ms == 42);
  CHECK(*catalog.ListProfiling() == std::vector<std::string>{"pending"});
  CHECK(*catalog.GetModelProfile("m", 1) == "sha256:new");
  CHECK(catalog.GetModelProfile("m", 2).status().code() == StatusCode::kNotFound);
}

TEST_CASE("lineage comes from the input path each job stored when it was accepted, newest first",
          "[profile][datasets]") {
  // Finding 1 of the second hardening round: lineage re-parsed up to 1,000 stored configs per
  // request under the store's lock. Now two indexed queries; the configs are never read.
  testing::TempDir dir;
  auto store = StateStore::Open(dir.path() + "/state");
  REQUIRE(store.ok());
  auto job = [&](const std::string& kind, const std::string& path, const std::string& model) {
    NewJob insert;
    insert.kind = kind;
    insert.config_yaml = "not: [a config that parses";  // proves nobody parses it
    insert.submitted_by = "1";
    insert.input_path = path;
    insert.model_reference = model;
    auto id = (*store)->InsertJob(insert);
    REQUIRE(id.ok());
    return *id;
  };
  const int64_t trained = job("train", "/data/train", "");
  const int64_t scored_first = job("infer", "/data/test", "models:/m@production");
  job("infer", "/data/other", "models:/m@production");
  const int64_t scored_second = job("infer", "/data/test", "/models/m.pt");
  job("train", "/data/test", "");  // trained on it, never registered: not a version
  REQUIRE((*store)->RegisterVersion(NewModelVersion{"m", trained, "", "", "{}", std::string(64, 'a'), "1"}).ok());
  REQUIRE((*store)->RegisterVersion(NewModelVersion{"m", std::nullopt, "", "", "{}", std::string(64, 'b'), "1"}).ok());

  DataCatalogStore catalog((*store)->database());
  auto train = catalog.Lineage("/data/train", 1000);
  REQUIRE(train.ok());
  REQUIRE(train->trained.size() == 1);
  CHECK(train->trained[0].model == "m");
  CHECK(train->trained[0].version == 1);
  CHECK(train->trained[0].job_id == trained);
  CHECK(train->scored.empty());
  auto test = catalog.Lineage("/data/test", 1000);
  REQUIRE(test.ok());
  CHECK(test->trained.empty());
  REQUIRE(test->scored.size() == 2);
  CHECK(test->scored[0].job_id == scored_second);
  CHECK(test->scored[0].model == "/models/m.pt");
  CHECK(test->scored[1].job_id == scored_first);
  CHECK(test->scored[1].state == "queued");
  CHECK(catalog.Lineage("/data/test", 1)->scored.size() == 1);
  CHECK(catalog.Lineage("", 1000)->scored.empty());  // jobs from before schema 8 match nothing
}

TEST_CASE("a dataset is profiled through the data stack: schema, types, count and statistics",
          "[profile][datasets]") {
  testing::TempDir dir;
  std::string csv = "id,label,x,name\n";
  for (int i = 0; i < 1500; ++i) {
    csv += "r" + std::to_string(i) + "," + std::to_string(i % 4) + "," + std::to_string(i) + ".5,n" + std::to_string(i) + "\n";
  }
  REQUIRE(Env::Default().CreateDirectories(dir.Path("table")).ok());
  testing::WriteRaw(dir.Path("table/part-00000.csv"), csv);
  const std::string request = R"({"input": {"path": "ignored", "format": "csv", "header": true, "require_success": false}})";
  auto result = ProfileDataset(request, dir.Path("table"), Env::Default(), 1000);
  REQUIRE(result.ok());
  CHECK(result->records == 1500);
  CHECK(result->bad_records == 0);
  using Column = std::pair<std::string, std::string>;
  CHECK(result->schema == std::vector<Column>{{"id", "string"}, {"label", "integer"}, {"x", "number"}, {"name", "string"}});
  REQUIRE(result->profile.features.size() == 2);
  const data::FeatureProfile& x = result->profile.features[1];
  CHECK(x.name == "x");
  CHECK(x.count == 1500);
  CHECK(x.min == Approx(0.5));
  CHECK(x.max == Approx(1499.5));
  CHECK(x.mean == Approx(750.0));
  CHECK(result->profile.records <= 1000);  // the histogram's sample

  auto refused = ParseDatasetSource(R"({"input": {"path": "/d", "format": "parquet"}})");
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Contains("input.format"));
  auto unknown = ParseDatasetSource(R"({"input": {"path": "/d", "colour": 1}})");
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(unknown.status().message(), Contains("input.colour"));
}

}  // namespace aimass::service
