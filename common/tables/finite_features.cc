#include "common/tables/finite_features.h"

#include <cmath>
#include <utility>

namespace aimass::tables {
namespace {

class FiniteFeatureReader final : public RecordReader {
 public:
  FiniteFeatureReader(std::unique_ptr<RecordReader> inner, const InputFile& file,
                      const TableOptions& options)
      : inner_(std::move(inner)), relative_path_(file.relative_path), options_(options) {}

  Result<Outcome> Next(TableRecord* record, BadRecord* bad) override {
    AIMASS_ASSIGN_OR_RETURN(Outcome outcome, inner_->Next(record, bad));
    if (outcome != Outcome::kRecord) return outcome;
    std::string reason = NonFiniteFeatureReason(*record, options_);
    if (reason.empty()) return outcome;
    bad->location = options_.id_column.empty()
                        ? record->id
                        : relative_path_ + ": record with id '" + record->id + "'";
    bad->reason = std::move(reason);
    bad->raw.clear();
    return Outcome::kBad;
  }

 private:
  std::unique_ptr<RecordReader> inner_;
  const std::string relative_path_;
  const TableOptions options_;
};

}  // namespace

std::string NonFiniteFeatureReason(const TableRecord& record, const TableOptions& options) {
  const std::vector<float>& values = record.features;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) continue;
    const char* kind = std::isnan(values[i]) ? "NaN" : (values[i] > 0 ? "Inf" : "-Inf");
    // One name per value when no field is a list; otherwise the position is what is known.
    if (values.size() == options.feature_columns.size()) {
      return "field '" + options.feature_columns[i] + "' is " + kind + " (not a finite number)";
    }
    return "value " + std::to_string(i) + " of the record is " + kind + " (not a finite number)";
  }
  return std::string();
}

std::unique_ptr<RecordReader> RejectNonFiniteFeatures(std::unique_ptr<RecordReader> reader,
                                                      const InputFile& file,
                                                      const TableOptions& options) {
  return std::make_unique<FiniteFeatureReader>(std::move(reader), file, options);
}

}  // namespace aimass::tables
