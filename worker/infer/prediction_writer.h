// PredictionWriter: one output part of an inference job, in the format the job asked for.
//   csv    header `id,prediction,score_0,...,score_{k-1}`; ids quoted as RFC 4180 needs
//   jsonl  {"id": "...", "prediction": 3, "scores": [...]}
// `prediction` is the arg-max class when the model gives several scores, the score itself when
// it gives one (regression). Scores are written in the shortest form that reads back to the
// same float, so predictions compare exactly with what the model computed.
// BadRecordWriter: quarantined records, JSON lines {"location", "reason", "raw"}.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/io/output_file.h"
#include "common/status.h"
#include "common/tables/table.h"

namespace aimass::worker {

class PredictionWriter {
 public:
  // `format` csv | jsonl; `scores_per_record` fixes the CSV header.
  static Result<std::unique_ptr<PredictionWriter>> Create(const std::string& path,
                                                          const std::string& format,
                                                          int gzip_level, int64_t scores_per_record);

  // `scores` holds ids.size() rows of scores_per_record floats.
  Status Write(const std::vector<std::string>& ids, const float* scores);
  Status Close();

  uint64_t rows() const { return rows_; }
  uint64_t bytes() const { return file_->bytes_written(); }
  std::string sha256() const { return file_->sha256_hex(); }

 private:
  PredictionWriter(std::unique_ptr<io::OutputFile> file, bool json, int64_t scores_per_record)
      : file_(std::move(file)), json_(json), width_(scores_per_record) {}

  std::unique_ptr<io::OutputFile> file_;
  bool json_;
  int64_t width_;
  uint64_t rows_ = 0;
  std::string buffer_;
};

class BadRecordWriter {
 public:
  static Result<std::unique_ptr<BadRecordWriter>> Create(const std::string& path);
  Status Write(const tables::BadRecord& record);
  Status Close() { return file_->Close(); }

 private:
  explicit BadRecordWriter(std::unique_ptr<io::OutputFile> file) : file_(std::move(file)) {}
  std::unique_ptr<io::OutputFile> file_;
};

}  // namespace aimass::worker
