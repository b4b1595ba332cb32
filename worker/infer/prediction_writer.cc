#include "worker/infer/prediction_writer.h"

#include <openssl/evp.h>

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/strict_json.h"

namespace aimass::worker {

namespace {

void AppendFloat(std::string& out, float value) {
  char text[32];
  auto [end, error] = std::to_chars(text, text + sizeof(text), value);
  out.append(text, error == std::errc() ? end : text);
}

// JSON has no NaN or Infinity: a non-finite score is null there, as in every JSON file the
// project writes (common/strict_json.h). CSV keeps "nan" / "inf", which CSV readers accept.
void AppendJsonFloat(std::string& out, float value) {
  if (std::isfinite(value)) {
    AppendFloat(out, value);
  } else {
    out += "null";
  }
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

// A JSON string of `bytes` read as Latin-1: each byte is one code point, those past ASCII and the
// control characters written as \u00XX.
void AppendLatin1JsonString(std::string& out, std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x80) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

// Standard, padded base64 of `bytes`.
std::string Base64(std::string_view bytes) {
  // EVP_EncodeBlock takes an int length: encode in whole groups of 3 bytes at a time.
  constexpr size_t kChunk = size_t{3} << 20;
  std::string out;
  out.resize((bytes.size() + 2) / 3 * 4 + 1);  // + the NUL EVP_EncodeBlock writes
  size_t written = 0;
  for (size_t at = 0; at < bytes.size(); at += kChunk) {
    const size_t n = std::min(kChunk, bytes.size() - at);
    written += static_cast<size_t>(
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + written),
                        reinterpret_cast<const unsigned char*>(bytes.data() + at), static_cast<int>(n)));
  }
  out.resize(written);
  return out;
}

// Arg-max class, or the single score itself.
void AppendPrediction(std::string& out, const float* row, int64_t width, bool json) {
  if (width == 1) {
    if (json) {
      AppendJsonFloat(out, row[0]);
    } else {
      AppendFloat(out, row[0]);
    }
    return;
  }
  int64_t best = 0;
  for (int64_t k = 1; k < width; ++k) {
    if (row[k] > row[best]) best = k;
  }
  out += std::to_string(best);
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned char lead = *p;
    if (lead < 0x80) {
      ++p;
      continue;
    }
    size_t length;
    unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;   // overlong
      if (lead == 0xED) high = 0x9F;  // UTF-16 surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;   // overlong
      if (lead == 0xF4) high = 0x8F;  // past U+10FFFF
    } else {
      return false;  // a continuation byte, an overlong 2-byte lead (C0, C1) or F5-FF
    }
    if (static_cast<size_t>(end - p) < length) return false;
    if (p[1] < low || p[1] > high) return false;
    for (size_t i = 2; i < length; ++i) {
      if (p[i] < 0x80 || p[i] > 0xBF) return false;
    }
    p += length;
  }
  return true;
}

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
      if (IsValidUtf8(ids[i])) {
        buffer_ += boost::json::serialize(boost::json::string_view(ids[i]));
      } else {
        AppendLatin1JsonString(buffer_, ids[i]);
      }
      buffer_ += ",\"prediction\":";
      AppendPrediction(buffer_, row, width_, true);
      buffer_ += ",\"scores\":[";
      for (int64_t k = 0; k < width_; ++k) {
        if (k > 0) buffer_ += ',';
        AppendJsonFloat(buffer_, row[k]);
      }
      buffer_ += "]}\n";
    } else {
      AppendCsvField(buffer_, ids[i]);
      buffer_ += ',';
      AppendPrediction(buffer_, row, width_, false);
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
  boost::json::object line{{"location", record.location}, {"reason", record.reason}};
  if (IsValidUtf8(record.raw)) {
    line["raw"] = record.raw;
  } else {
    line["raw_base64"] = Base64(record.raw);
  }
  return file_->Append(SerializeStrictJson(std::move(line)) + "\n");
}

}  // namespace aimass::worker
