#include "worker/infer/prediction_writer.h"

#include <boost/json.hpp>

#include <charconv>

namespace aimass::worker {

namespace {

void AppendFloat(std::string& out, float value) {
  char text[32];
  auto [end, error] = std::to_chars(text, text + sizeof(text), value);
  out.append(text, error == std::errc() ? end : text);
}

void AppendCsvField(std::string& out, const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// Arg-max class, or the single score itself.
void AppendPrediction(std::string& out, const float* row, int64_t width) {
  if (width == 1) {
    AppendFloat(out, row[0]);
    return;
  }
  int64_t best = 0;
  for (int64_t k = 1; k < width; ++k) {
    if (row[k] > row[best]) best = k;
  }
  out += std::to_string(best);
}

}  // namespace

Result<std::unique_ptr<PredictionWriter>> PredictionWriter::Create(const std::string& path,
                                                                   const std::string& format,
                                                                   int gzip_level,
                                                                   int64_t scores_per_record) {
  AIMASS_ASSIGN_OR_RETURN(auto file, io::OutputFile::Create(path, gzip_level));
  bool json = format == "jsonl";
  std::unique_ptr<PredictionWriter> writer(
      new PredictionWriter(std::move(file), json, scores_per_record));
  if (!json) {
    std::string header = "id,prediction";
    for (int64_t k = 0; k < scores_per_record; ++k) header += ",score_" + std::to_string(k);
    AIMASS_RETURN_IF_ERROR(writer->file_->Append(header + "\n"));
  }
  return writer;
}

Status PredictionWriter::Write(const std::vector<std::string>& ids, const float* scores) {
  buffer_.clear();
  for (size_t i = 0; i < ids.size(); ++i) {
    const float* row = scores + static_cast<int64_t>(i) * width_;
    if (json_) {
      buffer_ += "{\"id\":";
      buffer_ += boost::json::serialize(boost::json::string_view(ids[i]));
      buffer_ += ",\"prediction\":";
      AppendPrediction(buffer_, row, width_);
      buffer_ += ",\"scores\":[";
      for (int64_t k = 0; k < width_; ++k) {
        if (k > 0) buffer_ += ',';
        AppendFloat(buffer_, row[k]);
      }
      buffer_ += "]}\n";
    } else {
      AppendCsvField(buffer_, ids[i]);
      buffer_ += ',';
      AppendPrediction(buffer_, row, width_);
      for (int64_t k = 0; k < width_; ++k) {
        buffer_ += ',';
        AppendFloat(buffer_, row[k]);
      }
      buffer_ += '\n';
    }
  }
  rows_ += ids.size();
  return file_->Append(buffer_);
}

Status PredictionWriter::Close() { return file_->Close(); }

Result<std::unique_ptr<BadRecordWriter>> BadRecordWriter::Create(const std::string& path) {
  AIMASS_ASSIGN_OR_RETURN(auto file, io::OutputFile::Create(path, 0));
  return std::unique_ptr<BadRecordWriter>(new BadRecordWriter(std::move(file)));
}

Status BadRecordWriter::Write(const tables::BadRecord& record) {
  boost::json::object line{
      {"location", record.location}, {"reason", record.reason}, {"raw", record.raw}};
  return file_->Append(boost::json::serialize(line) + "\n");
}

}  // namespace aimass::worker
