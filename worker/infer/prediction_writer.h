// PredictionWriter: one output part of an inference job, in the format the job asked for.
//   csv    header `id,prediction,score_0,...,score_{k-1}`; ids quoted as RFC 4180 needs
//   jsonl  {"id": "...", "prediction": 3, "scores": [...]}
// Ids are written as read. CSV keeps their bytes exactly. In JSON lines an id that is not valid
// UTF-8 (Latin-1 Hive text, say) is read as Latin-1: every byte 0x80-0xFF is written "\u00XX",
// so the line stays valid JSON and each byte maps back to a code point <= U+00FF. A JSON reader
// then cannot tell such an id from the UTF-8 id with the same code points; the CSV format can.
// `prediction` is the arg-max class when the model gives several scores, the score itself when
// it gives one (regression). Scores are written in the shortest form that reads back to the
// same float, so predictions compare exactly with what the model computed.
// BadRecordWriter: quarantined records, JSON lines {"location", "reason", "raw"}, where "raw"
// is the record as read when that is valid UTF-8; otherwise (TFRecord or IDX bytes, Latin-1
// text) the line carries "raw_base64", the bytes in standard base64 (RFC 4648, padded), instead.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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

// Whether `text` is well-formed UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
bool IsValidUtf8(std::string_view text);

class BadRecordWriter {
 public:
  static Result<std::unique_ptr<BadRecordWriter>> Create(const std::string& path);
  Status Write(const tables::BadRecord& record);
  Status Close() { return file_->Close(); }
  // After Close: what reached the disk, for the commit's check.
  uint64_t bytes() const { return file_->bytes_written(); }
  std::string sha256() const { return file_->sha256_hex(); }

 private:
  explicit BadRecordWriter(std::unique_ptr<io::OutputFile> file) : file_(std::move(file)) {}
  std::unique_ptr<io::OutputFile> file_;
};

}  // namespace aimass::worker
