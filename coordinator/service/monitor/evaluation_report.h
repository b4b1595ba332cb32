// The evaluation report of a model version: from the confusion matrix of its test-split
// evaluation (rows: the true class, columns: the predicted one), per-class precision, recall,
// F1 and support, their macro and support-weighted averages, and the accuracy. A class never
// predicted has precision 0, a class absent from the test split recall 0 (scikit-learn's
// zero_division=0), so that every figure is a finite number.
//
// Pure arithmetic; thread-safe.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace aimass::service {

struct ClassMetrics {
  uint32_t label = 0;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  uint64_t support = 0;    // test records of this class
  uint64_t predicted = 0;  // test records predicted as this class
};

struct AveragedMetrics {
  double precision = 0;
  double recall = 0;
  double f1 = 0;
};

struct EvaluationReport {
  uint32_t num_classes = 0;
  uint64_t records = 0;  // the sum of the confusion matrix
  double accuracy = 0;
  std::vector<ClassMetrics> classes;  // by label
  AveragedMetrics macro;              // the plain mean over classes
  AveragedMetrics weighted;           // weighted by support
  std::vector<uint64_t> confusion;    // row-major, num_classes x num_classes
};

// kInvalidArgument unless `confusion` is a non-empty square (num_classes^2 entries).
[[nodiscard]] Result<EvaluationReport> ComputeEvaluationReport(const std::vector<uint64_t>& confusion);

// {"num_classes", "records", "accuracy", "classes": [{label, precision, recall, f1, support,
// predicted}], "macro_avg": {...}, "weighted_avg": {...}, "confusion": [[...], ...]}
boost::json::object ToJson(const EvaluationReport& report);

}  // namespace aimass::service
