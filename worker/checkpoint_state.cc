// The payload is one LibTorch archive: the model's "model/..." tensors at the top level and the
// optimizer's own archive (step counts, momentum and moment buffers) nested under "optimizer",
// and the optimizer's kind under "optimizer_kind".
// LibTorch's optimizer archive maps its state to parameters by position, so a fresh optimizer
// over a freshly built model of the same architecture restores exactly.
#include "worker/checkpoint_state.h"

#include <exception>
#include <sstream>

namespace aimass::worker {
namespace {

constexpr const char kOptimizerKey[] = "optimizer";
constexpr const char kOptimizerKindKey[] = "optimizer_kind";

// LibTorch's loaders fail on another optimizer's archive with an internal assertion; recording
// the kind lets a resume with a changed optimizer.name fail with a sentence instead.
std::string OptimizerKind(torch::optim::Optimizer& optimizer) {
  if (dynamic_cast<torch::optim::SGD*>(&optimizer) != nullptr) return "sgd";
  if (dynamic_cast<torch::optim::Adam*>(&optimizer) != nullptr) return "adam";
  if (dynamic_cast<torch::optim::AdamW*>(&optimizer) != nullptr) return "adamw";
  return "other";
}

}  // namespace

Result<std::string> SerializeTrainingState(models::Model& model,
                                           torch::optim::Optimizer& optimizer) {
  try {
    torch::serialize::OutputArchive archive;
    model.SaveState(archive);
    torch::serialize::OutputArchive optimizer_archive(archive.compilation_unit());
    optimizer.save(optimizer_archive);
    archive.write(kOptimizerKey, optimizer_archive);
    archive.write(kOptimizerKindKey, c10::IValue(OptimizerKind(optimizer)));
    std::ostringstream bytes;
    archive.save_to(bytes);
    return bytes.str();
  } catch (const std::exception& error) {
    return Status::Error("cannot serialize the training state: " +
                         models::TorchErrorMessage(error));
  }
}

Status RestoreTrainingState(const std::string& payload, models::Model& model,
                            torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(payload.data(), payload.size());
  } catch (const std::exception& error) {
    return Status::Error("checkpoint payload is not a LibTorch archive: " +
                         models::TorchErrorMessage(error));
  }
  // The model goes first: its checked load explains an architecture mismatch, and it leaves the
  // model untouched when it fails.
  AIMASS_RETURN_IF_ERROR(model.LoadState(archive).WithContext("checkpoint model state"));
  try {
    c10::IValue saved_kind;
    if (archive.try_read(kOptimizerKindKey, saved_kind) && saved_kind.isString() &&
        saved_kind.toStringRef() != OptimizerKind(optimizer)) {
      return Status::Error("checkpoint was taken with optimizer " + saved_kind.toStringRef() +
                           ", this run uses " + OptimizerKind(optimizer));
    }
    torch::serialize::InputArchive optimizer_archive;
    if (!archive.try_read(kOptimizerKey, optimizer_archive)) {
      return Status::Error("checkpoint has no optimizer state");
    }
    optimizer.load(optimizer_archive);
  } catch (const std::exception& error) {
    return Status::Error("checkpoint optimizer state does not fit this optimizer (another "
                         "optimizer or model?): " + models::TorchErrorMessage(error));
  }
  return Status::Ok();
}

}  // namespace aimass::worker
