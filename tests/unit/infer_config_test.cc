#include "common/config/infer_config.h"

#include "tests/catch.h"

namespace aimass {
namespace {

TEST_CASE("an inference config reads every section", "[infer_config]") {
  auto config = ParseInferConfig(R"(
model: /models/classifier.pt
input: {path: /exports/events, format: tsv, header: true, require_success: false, split_mb: 0.5}
schema:
  id: event_id
  features: [f0..f2, dt]
  shape: [4]
  dtype: float64
  normalize: {scale: 0.5, mean: 1, std: 2}
output: {path: /out, format: jsonl, compression: gzip, scores: softmax}
inference: {batch_size: 64, prefetch_splits: 3, max_attempts: 2, on_bad_record: quarantine}
)", "infer.yaml");
  REQUIRE(config.ok());
  REQUIRE(config->model == "/models/classifier.pt");
  REQUIRE(config->input.format == "tsv");
  REQUIRE(config->input.header);
  REQUIRE_FALSE(config->input.require_success);
  REQUIRE(config->input.split_bytes == 512 * 1024);
  REQUIRE(config->schema.features == std::vector<std::string>{"f0", "f1", "f2", "dt"});
  REQUIRE(config->schema.shape == std::vector<int64_t>{4});
  REQUIRE(config->schema.has_normalize);
  REQUIRE(config->schema.normalize.std == 2.0f);
  REQUIRE(config->output.compression == "gzip");
  REQUIRE(config->batch_size == 64);
  REQUIRE(config->max_attempts == 2);
  REQUIRE(config->on_bad_record == "quarantine");
}

TEST_CASE("inference config errors name the file and key", "[infer_config]") {
  auto check = [](const char* yaml, const char* expected) {
    auto config = ParseInferConfig(yaml, "infer.yaml");
    REQUIRE_FALSE(config.ok());
    REQUIRE_THAT(config.status().message(), Catch::StartsWith("infer.yaml: "));
    REQUIRE_THAT(config.status().message(), Catch::Contains(expected));
  };
  check("input: {path: x}", "key 'model'");
  check("model: m.pt\ninference: {on_bad_records: skip}", "unknown key 'inference.on_bad_records'");
  check("model: m.pt\ninference: {on_bad_record: ignore}", "'ignore' is not one of: fail, skip, quarantine");
  check("model: m.pt\nschema: {features: [f9..f2]}", "'f9..f2' is not a range");
  check("model: m.pt\ninput: {format: delimited}", "input.delimiter");
  check("model: m.pt\ninput: {format: csv, delimiter: ';'}", "only with input.format: delimited");
  check("model: m.pt\ninput: {header: true, columns: [a]}", "input.columns");
}

TEST_CASE("drift thresholds default to 0.1 and 0.25 and are checked", "[infer_config]") {
  auto defaults = ParseInferConfig("model: m.pt\n", "infer.yaml");
  REQUIRE(defaults.ok());
  CHECK(defaults->drift_warn == 0.1);
  CHECK(defaults->drift_alert == 0.25);
  CHECK(defaults->drift_feature_share == 0.05);
  auto set = ParseInferConfig("model: m.pt\ndrift: {warn: 0.2, alert: 0.5, feature_share: 0.5}\n", "infer.yaml");
  REQUIRE(set.ok());
  CHECK(set->drift_warn == 0.2);
  CHECK(set->drift_alert == 0.5);
  CHECK(set->drift_feature_share == 0.5);
  for (const char* yaml : {"model: m.pt\ndrift: {warn: 0.3, alert: 0.2}", "model: m.pt\ndrift: {warn: 0}",
                           "model: m.pt\ndrift: {feature_share: 2}", "model: m.pt\ndrift: {psi: 1}"}) {
    auto refused = ParseInferConfig(yaml, "infer.yaml");
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.status().message(), Catch::Contains("drift."));
  }
}

TEST_CASE("an inference config reads on_interrupt as training's does", "[infer_config]") {
  auto unset = ParseInferConfig("model: m.pt\n", "infer.yaml");
  REQUIRE(unset.ok());
  CHECK(unset->on_interrupt.resume);
  CHECK(unset->on_interrupt.max_resumes == 3);
  auto fail = ParseInferConfig("model: m.pt\non_interrupt: {action: fail}\n", "infer.yaml");
  REQUIRE(fail.ok());
  CHECK_FALSE(fail->on_interrupt.resume);
  auto bad = ParseInferConfig("model: m.pt\non_interrupt: {action: maybe}\n", "infer.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "infer.yaml: key 'on_interrupt.action': 'maybe' is not one of: resume, fail");
}

TEST_CASE("column ranges keep a prefix and count inclusively", "[infer_config]") {
  auto names = ExpandColumnRanges({"pixel0..pixel3", "_c10.._c11", "label"});
  REQUIRE(names.ok());
  REQUIRE(*names == std::vector<std::string>{"pixel0", "pixel1", "pixel2", "pixel3", "_c10", "_c11",
                                             "label"});
  REQUIRE(ExpandColumnRanges({"7..9"}).value() == std::vector<std::string>{"7", "8", "9"});
}

TEST_CASE("column ranges are counted before they are expanded, against one limit for the list",
          "[infer_config]") {
  // Finding 1 of the second hardening round: six ranges of ten million names each were expanded
  // in full (2 GB) before anything refused them.
  const std::string six_ranges =
      "model: m.pt\nschema: {features: [f0_0..f0_10000000, f1_0..f1_10000000, f2_0..f2_10000000, "
      "f3_0..f3_10000000, f4_0..f4_10000000, f5_0..f5_10000000]}";
  auto refused = ParseInferConfig(six_ranges, "infer.yaml");
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Catch::Contains("schema.features") && Catch::Contains("262144"));

  // Several ranges under the limit each that pass it together; a range that wraps uint64.
  auto together = ExpandColumnRanges({"a0..a150000", "b0..b150000"});
  REQUIRE_FALSE(together.ok());
  CHECK_THAT(together.status().message(), Catch::Contains("'b0..b150000' passes the limit"));
  CHECK_FALSE(ExpandColumnRanges({"x0..x18446744073709551615"}).ok());

  // A split or record size past 1 TiB does not fit the byte count it becomes (undefined
  // behaviour found by the config fuzz target: tests/data/fuzz_regressions/config/).
  auto huge = ParseInferConfig("model: /m.pt\ninput: {path: /t, format: csv, split_mb: 744073709551615}\n"
                               "schema: {features: [a]}\noutput: {path: /o}\n", "infer.yaml");
  REQUIRE_FALSE(huge.ok());
  CHECK_THAT(huge.status().message(), Catch::Contains("input.split_mb") && Catch::Contains("at most 1048576"));

  // Exactly the limit is still accepted.
  auto widest = ExpandColumnRanges({"p1..p" + std::to_string(kMaxColumnNames)});
  REQUIRE(widest.ok());
  CHECK(widest->size() == kMaxColumnNames);
  CHECK(widest->back() == "p" + std::to_string(kMaxColumnNames));
}

}  // namespace
}  // namespace aimass
