// The evaluation report's arithmetic on a known confusion matrix, and its storage with a
// model version (computed from the train job's last evaluation at registration).
#include "tests/catch.h"

#include <boost/json.hpp>

#include "coordinator/service/monitor/evaluation_report.h"
#include "coordinator/service/monitor/evaluation_store.h"
#include "tests/temp_dir.h"

namespace aimass::service {
namespace {

using aimass::testing::TempDir;
using Catch::Matchers::WithinAbs;
namespace json = boost::json;

TEST_CASE("per-class precision, recall, F1 and their averages from a known confusion matrix",
          "[evaluation]") {
  // Rows: true class, columns: predicted.
  //          p0  p1  p2
  //   t0      5   1   0     support 6
  //   t1      2   3   1     support 6
  //   t2      0   0   0     support 0 (absent from the test split)
  auto report = ComputeEvaluationReport({5, 1, 0, 2, 3, 1, 0, 0, 0});
  REQUIRE(report.ok());
  CHECK(report->num_classes == 3);
  CHECK(report->records == 12);
  CHECK_THAT(report->accuracy, WithinAbs(8.0 / 12, 1e-12));
  const ClassMetrics& c0 = report->classes[0];
  CHECK(c0.support == 6);
  CHECK(c0.predicted == 7);
  CHECK_THAT(c0.precision, WithinAbs(5.0 / 7, 1e-12));
  CHECK_THAT(c0.recall, WithinAbs(5.0 / 6, 1e-12));
  CHECK_THAT(c0.f1, WithinAbs(2 * (5.0 / 7) * (5.0 / 6) / (5.0 / 7 + 5.0 / 6), 1e-12));
  const ClassMetrics& c1 = report->classes[1];
  CHECK_THAT(c1.precision, WithinAbs(3.0 / 4, 1e-12));
  CHECK_THAT(c1.recall, WithinAbs(3.0 / 6, 1e-12));
  CHECK_THAT(c1.f1, WithinAbs(0.6, 1e-12));
  const ClassMetrics& c2 = report->classes[2];  // predicted once, never right, no support
  CHECK(c2.predicted == 1);
  CHECK(c2.precision == 0);
  CHECK(c2.recall == 0);
  CHECK(c2.f1 == 0);
  CHECK_THAT(report->macro.precision, WithinAbs((5.0 / 7 + 0.75 + 0) / 3, 1e-12));
  CHECK_THAT(report->macro.recall, WithinAbs((5.0 / 6 + 0.5) / 3, 1e-12));
  CHECK_THAT(report->weighted.recall, WithinAbs(0.5 * 5.0 / 6 + 0.5 * 0.5, 1e-12));
  CHECK_THAT(report->weighted.f1, WithinAbs(0.5 * c0.f1 + 0.5 * c1.f1, 1e-12));

  json::object body = ToJson(*report);
  CHECK(body.at("confusion").as_array().size() == 3);
  CHECK(body.at("confusion").as_array()[1].as_array()[0].as_uint64() == 2);
  CHECK(body.at("classes").as_array()[1].as_object().at("support").as_uint64() == 6);
  CHECK(body.at("macro_avg").as_object().contains("f1"));
}

TEST_CASE("a confusion matrix that is not square is refused", "[evaluation]") {
  CHECK(ComputeEvaluationReport({}).status().code() == StatusCode::kInvalidArgument);
  CHECK(ComputeEvaluationReport({1, 2, 3}).status().code() == StatusCode::kInvalidArgument);
  auto empty_split = ComputeEvaluationReport({0, 0, 0, 0});  // every figure 0, none NaN
  REQUIRE(empty_split.ok());
  CHECK(empty_split->accuracy == 0);
  CHECK(empty_split->weighted.f1 == 0);
}

TEST_CASE("registration stores the report of the job's last evaluation with a matrix", "[evaluation]") {
  TempDir dir;
  {
    auto opened = StateStore::Open(dir.path() + "/state");
    REQUIRE(opened.ok());
    StateStore& store = **opened;
    auto job = store.InsertJob(NewJob{"train", "model: mlp\n", 1, "1", ""});
    REQUIRE(job.ok());
    REQUIRE(store
                .AppendJobMetrics(*job, {JobMetric{"step", "{\"step\":1}"},
                                         JobMetric{"evaluation", "{\"epoch\":1,\"confusion\":[1,1,1,1]}"},
                                         JobMetric{"evaluation", "{\"epoch\":2,\"confusion\":[2,0,1,3]}"},
                                         JobMetric{"evaluation", "{\"epoch\":3,\"test_loss\":null}"}})
                .ok());
    NewModelVersion version;
    version.model = "fashion";
    version.job_id = *job;
    version.metrics_json = "{}";
    version.artifact_sha256 = std::string(64, 'a');
    version.created_by = "test";
    REQUIRE(store.RegisterVersion(version).ok());
    REQUIRE(store.RegisterVersion(version).ok());
    auto stored = StoreEvaluationOfJob(store, "fashion", 1, *job);
    REQUIRE(stored.ok());
    CHECK(*stored);

    // A job without a test split has none; a version that does not exist takes no report.
    auto bare = store.InsertJob(NewJob{"train", "model: mlp\n", 1, "1", ""});
    REQUIRE(bare.ok());
    auto none = StoreEvaluationOfJob(store, "fashion", 2, *bare);
    REQUIRE(none.ok());
    CHECK_FALSE(*none);
    CHECK_FALSE(EvaluationStore(store.database()).Put("fashion", 9, "{}").ok());
  }
  auto reopened = StateStore::Open(dir.path() + "/state");
  REQUIRE(reopened.ok());
  EvaluationStore evaluations((*reopened)->database());
  auto report = evaluations.Get("fashion", 1);
  REQUIRE(report.ok());
  REQUIRE(report->has_value());
  json::object body = json::parse(**report).as_object();
  CHECK(body.at("epoch").as_int64() == 2);
  CHECK(body.at("records").to_number<uint64_t>() == 6);
  CHECK_THAT(body.at("accuracy").as_double(), WithinAbs(5.0 / 6, 1e-12));
  auto missing = evaluations.Get("fashion", 2);
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
  auto absent = evaluations.Get("fashion", 9);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());
}

}  // namespace
}  // namespace aimass::service
