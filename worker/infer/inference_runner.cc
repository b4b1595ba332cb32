#include "worker/infer/inference_runner.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include "common/aimass.pb.h"
#include "common/data/drift_wire.h"
#include "common/env.h"
#include "common/tables/table_wire.h"
#include "models/model.h"
#include "worker/infer/prediction_writer.h"
#include "worker/infer/scorer.h"
#include "worker/infer/split_reader.h"

namespace aimass::worker {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kReceivePoll = std::chrono::milliseconds(500);

SplitReaderOptions ReaderOptions(const proto::InferSpec& spec) {
  SplitReaderOptions options;
  tables::DecodeTable(spec.table(), &options.table, &options.files);
  options.batch_size = std::max<uint32_t>(1, spec.batch_size());
  options.normalize.scale = spec.normalize().scale();
  options.normalize.mean = spec.normalize().mean();
  options.normalize.std = spec.normalize().std();
  options.fail_on_bad_record = spec.on_bad_record() == "fail";
  options.keep_raw_bad_records = spec.on_bad_record() == "quarantine";
  if (spec.has_drift()) options.drift_edges = data::DecodeDriftEdges(spec.drift());
  return options;
}

// The attempt being written: its files live in its own directory until the coordinator commits.
struct Attempt {
  uint64_t id = 0;
  uint32_t split = 0;
  std::string directory;
  std::string output_path;
  std::string bad_records_path;
  std::unique_ptr<PredictionWriter> writer;
  std::unique_ptr<BadRecordWriter> bad_writer;
  uint64_t bad_records = 0;
  std::vector<uint64_t> predicted;  // records per predicted class, when drift is on
  Clock::time_point started;
};

class InferenceLoop {
 public:
  InferenceLoop(const proto::InferSpec& spec, Scorer scorer, ControlClient& control)
      : spec_(spec), scorer_(std::move(scorer)), control_(control) {}

  Status Run() {
    SplitReader reader(ReaderOptions(spec_),
                       [this](const std::atomic<bool>& stopping) { return NextTask(stopping); });
    AIMASS_RETURN_IF_ERROR(RequestWork(std::max<uint32_t>(1, spec_.prefetch_splits())));
    while (true) {
      WorkItem item = reader.Pop();
      control_.SetProgress(reader.records_read());
      switch (item.kind) {
        case WorkItem::Kind::kNoMoreWork:
          return Status::Ok();
        case WorkItem::Kind::kSplitStart:
          AIMASS_RETURN_IF_ERROR(Begin(item));
          break;
        case WorkItem::Kind::kBatch:
          if (!attempt_) break;  // the attempt already failed: drain its batches
          if (Status written = WriteBatch(item); !written.ok()) {
            AIMASS_RETURN_IF_ERROR(Fail(written.message(), true));
          }
          break;
        case WorkItem::Kind::kSplitEnd:
          if (attempt_) AIMASS_RETURN_IF_ERROR(Finish(item.records_in, std::move(item.drift)));
          break;
        case WorkItem::Kind::kSplitFailed:
          if (attempt_) AIMASS_RETURN_IF_ERROR(Fail(item.error, item.retryable));
          break;
      }
    }
  }

 private:
  // Runs on the reader thread: the next assignment, or nullopt once the coordinator is done.
  std::optional<SplitTask> NextTask(const std::atomic<bool>& stopping) {
    while (!stopping) {
      auto message = control_.Receive(kReceivePoll);
      if (!message.ok()) {
        if (control_.lost()) return std::nullopt;
        continue;  // nothing yet: the coordinator has no split for us right now
      }
      if ((*message)->has_shutdown()) return std::nullopt;
      if (!(*message)->has_split_assignment()) continue;
      const proto::SplitAssignment& assignment = (*message)->split_assignment();
      SplitTask task;
      task.attempt_id = assignment.attempt_id();
      task.attempt_directory = assignment.attempt_directory();
      task.split.index = assignment.split();
      task.split.file = assignment.file();
      task.split.begin = assignment.begin();
      task.split.end = assignment.end();
      task.split.whole_file = assignment.whole_file();
      return task;
    }
    return std::nullopt;  // this loop is leaving on an error of its own
  }

  Status RequestWork(uint32_t splits) {
    proto::WorkerMessage message;
    message.mutable_work_request()->set_splits(splits);
    return control_.Send(message);
  }

  Status Begin(const WorkItem& item) {
    attempt_.emplace();
    attempt_->id = item.attempt_id;
    attempt_->split = item.split;
    attempt_->started = Clock::now();
    if (spec_.has_drift()) attempt_->predicted.assign(spec_.drift().classes(), 0);
    attempt_->directory = item.attempt_directory;
    std::string suffix = "." + spec_.output_format() + (spec_.gzip_level() > 0 ? ".gz" : "");
    attempt_->output_path = JoinPath(attempt_->directory, "part" + suffix);
    // Only a directory below this job's attempts directory: the assignment names it.
    Status status = item.attempt_directory.rfind(spec_.attempts_dir() + "/", 0) == 0
                        ? Env::Default().CreateDirectories(attempt_->directory)
                        : Status::Error("attempt directory '" + item.attempt_directory +
                                        "' is not below " + spec_.attempts_dir());
    if (status.ok()) {
      auto writer = PredictionWriter::Create(attempt_->output_path, spec_.output_format(),
                                             static_cast<int>(spec_.gzip_level()), scorer_.width());
      if (writer.ok()) {
        attempt_->writer = std::move(writer).value();
      } else {
        status = writer.status();
      }
    }
    if (!status.ok()) return Fail(status.message(), true);
    return Status::Ok();
  }

  Status WriteBatch(WorkItem& item) {
    for (const tables::BadRecord& bad : item.bad) {
      ++attempt_->bad_records;
      if (spec_.on_bad_record() != "quarantine") continue;
      if (!attempt_->bad_writer) {
        attempt_->bad_records_path = JoinPath(attempt_->directory, "bad_records.jsonl");
        AIMASS_ASSIGN_OR_RETURN(attempt_->bad_writer, BadRecordWriter::Create(attempt_->bad_records_path));
      }
      AIMASS_RETURN_IF_ERROR(attempt_->bad_writer->Write(bad));
    }
    if (item.ids.empty()) return Status::Ok();
    AIMASS_ASSIGN_OR_RETURN(torch::Tensor scores,
                            scorer_.Score(item.features.data(), static_cast<int64_t>(item.ids.size())));
    if (!attempt_->predicted.empty()) CountPredictions(scores);
    return attempt_->writer->Write(item.ids, scores.data_ptr<float>());
  }

  // The predicted class of each scored row (its highest score), for drift.
  void CountPredictions(const torch::Tensor& scores) {
    const int64_t rows = scores.size(0);
    const int64_t width = scores.size(1);
    const float* values = scores.data_ptr<float>();
    for (int64_t row = 0; row < rows; ++row) {
      const float* first = values + row * width;
      const auto best = static_cast<size_t>(std::max_element(first, first + width) - first);
      if (best < attempt_->predicted.size()) ++attempt_->predicted[best];
    }
  }

  Status Finish(uint64_t records_in, data::DriftCounts drift) {
    Status status = attempt_->writer->Close();
    if (status.ok() && attempt_->bad_writer) status = attempt_->bad_writer->Close();
    if (!status.ok()) return Fail(status.message(), true);
    proto::WorkerMessage message;
    proto::SplitDone* done = message.mutable_split_done();
    done->set_attempt_id(attempt_->id);
    done->set_split(attempt_->split);
    done->set_output_file(attempt_->output_path);
    done->set_bad_records_file(attempt_->bad_writer ? attempt_->bad_records_path : "");
    done->set_records_in(records_in);
    done->set_records_out(attempt_->writer->rows());
    done->set_bad_records(attempt_->bad_records);
    done->set_output_bytes(attempt_->writer->bytes());
    done->set_output_sha256(attempt_->writer->sha256());
    if (attempt_->bad_writer) {
      done->set_bad_records_bytes(attempt_->bad_writer->bytes());
      done->set_bad_records_sha256(attempt_->bad_writer->sha256());
    }
    if (spec_.has_drift()) {
      drift.predicted = attempt_->predicted;
      data::EncodeDriftCounts(drift, done->mutable_drift());
    }
    done->set_seconds(std::chrono::duration<double>(Clock::now() - attempt_->started).count());
    attempt_.reset();
    AIMASS_RETURN_IF_ERROR(control_.Send(message));
    return RequestWork(1);
  }

  // Reports the attempt as failed; its directory is the coordinator's to delete.
  Status Fail(const std::string& error, bool retryable) {
    proto::WorkerMessage message;
    proto::SplitFailed* failed = message.mutable_split_failed();
    failed->set_attempt_id(attempt_->id);
    failed->set_split(attempt_->split);
    failed->set_message(error);
    failed->set_retryable(retryable);
    attempt_.reset();
    AIMASS_RETURN_IF_ERROR(control_.Send(message));
    return RequestWork(1);
  }

  const proto::InferSpec& spec_;
  Scorer scorer_;
  ControlClient& control_;
  std::optional<Attempt> attempt_;
};

}  // namespace

Status RunInference(const proto::StartInference& start, const Placement& placement,
                    ControlClient& control) {
  const proto::InferSpec& spec = start.spec();
  AIMASS_ASSIGN_OR_RETURN(Scorer scorer, Scorer::Load(ScorerOptionsOf(spec), placement.device));
  InferenceLoop loop(spec, std::move(scorer), control);
  return loop.Run();
}

}  // namespace aimass::worker
