#include "coordinator/service/monitor/evaluation_report.h"

#include <boost/json.hpp>

#include <cmath>

namespace aimass::service {

namespace json = boost::json;

namespace {

double Ratio(uint64_t numerator, uint64_t denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

double F1(double precision, double recall) {
  return precision + recall == 0 ? 0.0 : 2 * precision * recall / (precision + recall);
}

json::object ToJson(const AveragedMetrics& metrics) {
  return json::object{{"precision", metrics.precision}, {"recall", metrics.recall}, {"f1", metrics.f1}};
}

}  // namespace

Result<EvaluationReport> ComputeEvaluationReport(const std::vector<uint64_t>& confusion) {
  const auto n = static_cast<uint64_t>(std::llround(std::sqrt(static_cast<double>(confusion.size()))));
  if (confusion.empty() || n * n != confusion.size()) {
    return Status::InvalidArgument("a confusion matrix of " + std::to_string(confusion.size()) +
                                   " entries is not square");
  }
  EvaluationReport report;
  report.num_classes = static_cast<uint32_t>(n);
  report.confusion = confusion;
  uint64_t correct = 0;
  std::vector<uint64_t> predicted(n, 0);
  std::vector<uint64_t> support(n, 0);
  for (uint64_t row = 0; row < n; ++row) {
    for (uint64_t column = 0; column < n; ++column) {
      const uint64_t count = confusion[row * n + column];
      support[row] += count;
      predicted[column] += count;
      report.records += count;
      if (row == column) correct += count;
    }
  }
  report.accuracy = Ratio(correct, report.records);
  for (uint64_t label = 0; label < n; ++label) {
    ClassMetrics metrics;
    metrics.label = static_cast<uint32_t>(label);
    metrics.support = support[label];
    metrics.predicted = predicted[label];
    const uint64_t true_positives = confusion[label * n + label];
    metrics.precision = Ratio(true_positives, metrics.predicted);
    metrics.recall = Ratio(true_positives, metrics.support);
    metrics.f1 = F1(metrics.precision, metrics.recall);
    report.macro.precision += metrics.precision / static_cast<double>(n);
    report.macro.recall += metrics.recall / static_cast<double>(n);
    report.macro.f1 += metrics.f1 / static_cast<double>(n);
    const double weight = Ratio(metrics.support, report.records);
    report.weighted.precision += metrics.precision * weight;
    report.weighted.recall += metrics.recall * weight;
    report.weighted.f1 += metrics.f1 * weight;
    report.classes.push_back(metrics);
  }
  return report;
}

json::object ToJson(const EvaluationReport& report) {
  json::array classes;
  for (const ClassMetrics& metrics : report.classes) {
    classes.push_back(json::object{{"label", metrics.label},
                                   {"precision", metrics.precision},
                                   {"recall", metrics.recall},
                                   {"f1", metrics.f1},
                                   {"support", metrics.support},
                                   {"predicted", metrics.predicted}});
  }
  json::array rows;
  const uint64_t n = report.num_classes;
  for (uint64_t row = 0; row < n; ++row) {
    json::array counts;
    for (uint64_t column = 0; column < n; ++column) counts.push_back(report.confusion[row * n + column]);
    rows.push_back(std::move(counts));
  }
  return json::object{{"num_classes", report.num_classes},
                      {"records", report.records},
                      {"accuracy", report.accuracy},
                      {"classes", std::move(classes)},
                      {"macro_avg", ToJson(report.macro)},
                      {"weighted_avg", ToJson(report.weighted)},
                      {"confusion", std::move(rows)}};
}

}  // namespace aimass::service
