#include "worker/serve/serving_loop.h"

#include <chrono>
#include <vector>

#include "common/aimass.pb.h"
#include "worker/infer/scorer.h"

namespace aimass::worker {
namespace {

// A Receive returns at least this often, so a lost connection is noticed even when idle.
constexpr auto kReceivePoll = std::chrono::milliseconds(1000);

NormalizeConfig NormalizeOf(const proto::ServeSpec& spec) {
  NormalizeConfig normalize;
  normalize.scale = spec.normalize().scale();
  normalize.mean = spec.normalize().mean();
  normalize.std = spec.normalize().std();
  return normalize;
}

}  // namespace

Status RunServing(const proto::StartServing& start, const Placement& placement,
                  ControlClient& control) {
  const proto::ServeSpec& spec = start.spec();
  AIMASS_ASSIGN_OR_RETURN(Scorer scorer, Scorer::Load(ScorerOptionsOf(spec), placement.device));
  const NormalizeConfig normalize = NormalizeOf(spec);
  const int64_t values = scorer.values_per_record();

  // The first batch of a size pays for LibTorch's allocations (and on CUDA its kernels'
  // selection); paying it here keeps it out of the first requests' latency.
  const int64_t warm_rows = std::max<int64_t>(1, spec.max_batch_size());
  std::vector<float> buffer(static_cast<size_t>(warm_rows * values), 0.0f);
  AIMASS_RETURN_IF_ERROR(scorer.Score(buffer.data(), warm_rows).status());

  proto::WorkerMessage ready;
  ready.mutable_serving_ready()->set_width(static_cast<uint32_t>(scorer.width()));
  AIMASS_RETURN_IF_ERROR(control.Send(ready));

  proto::WorkerMessage answer;
  while (true) {
    auto message = control.Receive(kReceivePoll);
    if (!message.ok()) {
      if (message.status().code() == StatusCode::kDeadlineExceeded) continue;
      return message.status();
    }
    if ((*message)->has_shutdown()) return Status::Ok();
    if (!(*message)->has_predict_batch()) return Status::Error("expected a batch from the service");
    const proto::PredictBatch& batch = (*message)->predict_batch();
    proto::PredictResult* result = answer.mutable_predict_result();
    result->Clear();
    result->set_batch_id(batch.batch_id());
    result->set_rows(batch.rows());
    const int64_t rows = batch.rows();
    if (rows < 1 || static_cast<int64_t>(batch.features_size()) != rows * values) {
      result->set_error("a batch of " + std::to_string(rows) + " records has " +
                        std::to_string(batch.features_size()) + " values; the model takes " +
                        std::to_string(values) + " per record");
      AIMASS_RETURN_IF_ERROR(control.Send(answer));
      continue;
    }
    buffer.assign(batch.features().begin(), batch.features().end());
    NormalizeInPlace(buffer.data(), buffer.size(), normalize);
    auto scores = scorer.Score(buffer.data(), rows);
    if (!scores.ok()) {
      result->set_error(scores.status().message());
    } else {
      const float* data = scores->data_ptr<float>();
      result->set_width(static_cast<uint32_t>(scores->size(1)));
      result->mutable_scores()->Add(data, data + scores->numel());
    }
    AIMASS_RETURN_IF_ERROR(control.Send(answer));
  }
}

}  // namespace aimass::worker
