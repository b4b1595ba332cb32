// The Model wrapper shared by the builtin networks: parameters, buffers and export all come from
// the torch::nn::Module's own registration order, which is the same on every rank.
#include <utility>

#include "models/builtin_modules.h"
#include "models/model_state.h"

namespace aimass::models {
namespace {

class BuiltinModel final : public Model {
 public:
  explicit BuiltinModel(std::shared_ptr<BuiltinNet> net) : net_(std::move(net)) {}

  torch::Tensor Forward(const torch::Tensor& input) override { return net_->forward(input); }

  std::vector<torch::Tensor> Parameters() override { return net_->parameters(); }
  std::vector<torch::Tensor> Buffers() override { return net_->buffers(); }

  void SetTraining(bool training) override { net_->train(training); }
  void MoveTo(const torch::Device& device) override { net_->to(device); }

  void SaveState(torch::serialize::OutputArchive& archive) override {
    WriteModelState(State(), archive);
  }

  Status LoadState(torch::serialize::InputArchive& archive) override {
    return ReadModelState(archive, State());
  }

  // The export is the same archive as the model part of a checkpoint, so LoadExportedModel gets
  // the same checked load.
  Status Export(const std::string& path) override {
    torch::serialize::OutputArchive archive;
    WriteModelState(State(), archive);
    return SaveArchiveAtomically(archive, path);
  }

 private:
  NamedState State() {
    NamedState state;
    for (const auto& item : net_->named_parameters()) {
      state.parameters.push_back({item.key(), item.value()});
    }
    for (const auto& item : net_->named_buffers()) {
      state.buffers.push_back({item.key(), item.value()});
    }
    return state;
  }

  std::shared_ptr<BuiltinNet> net_;
};

}  // namespace

std::unique_ptr<Model> WrapBuiltinNet(std::shared_ptr<BuiltinNet> net) {
  return std::make_unique<BuiltinModel>(std::move(net));
}

}  // namespace aimass::models
