// A user's scripted module trained in place: the optimizer updates the module's own parameter
// tensors, so Export saves the trained weights with the user's code and torch.jit.load in
// Python gets the trained model back.
#include "models/torchscript_model.h"

#include <sstream>
#include <utility>

#include "common/env.h"
#include "models/model_state.h"

namespace aimass::models {
namespace {

class TorchScriptModel final : public Model {
 public:
  explicit TorchScriptModel(torch::jit::Module module) : module_(std::move(module)) {}

  torch::Tensor Forward(const torch::Tensor& input) override {
    return module_.forward({input}).toTensor();
  }

  std::vector<torch::Tensor> Parameters() override {
    std::vector<torch::Tensor> parameters;
    for (const torch::Tensor& parameter : module_.parameters()) parameters.push_back(parameter);
    return parameters;
  }

  std::vector<torch::Tensor> Buffers() override {
    std::vector<torch::Tensor> buffers;
    for (const torch::Tensor& buffer : module_.buffers()) buffers.push_back(buffer);
    return buffers;
  }

  void SetTraining(bool training) override { module_.train(training); }
  void MoveTo(const torch::Device& device) override { module_.to(device); }

  void SaveState(torch::serialize::OutputArchive& archive) override {
    WriteModelState(State(), archive);
  }

  Status LoadState(torch::serialize::InputArchive& archive) override {
    return ReadModelState(archive, State());
  }

  // Saved from the CPU, so that torch.jit.load works without map_location on any machine.
  Status Export(const std::string& path) override {
    std::ostringstream bytes;
    try {
      if (OnCpu()) {
        module_.save(bytes);
      } else {
        torch::jit::Module cpu_copy = module_.deepcopy();
        cpu_copy.to(torch::kCPU);
        cpu_copy.save(bytes);
      }
    } catch (const std::exception& error) {
      return Status::Error(path + ": cannot save TorchScript module: " + TorchErrorMessage(error));
    }
    return Env::Default().WriteFileAtomically(path, bytes.str());
  }

 private:
  NamedState State() {
    NamedState state;
    for (const auto& item : module_.named_parameters()) {
      state.parameters.push_back({item.name, item.value});
    }
    for (const auto& item : module_.named_buffers()) {
      state.buffers.push_back({item.name, item.value});
    }
    return state;
  }

  bool OnCpu() {
    for (const torch::Tensor& tensor : module_.parameters()) {
      if (!tensor.device().is_cpu()) return false;
    }
    for (const torch::Tensor& tensor : module_.buffers()) {
      if (!tensor.device().is_cpu()) return false;
    }
    return true;
  }

  torch::jit::Module module_;
};

}  // namespace

Result<std::unique_ptr<Model>> LoadTorchScriptModel(const std::string& path) {
  try {
    torch::jit::Module module = torch::jit::load(path, torch::Device(torch::kCPU));
    return std::unique_ptr<Model>(std::make_unique<TorchScriptModel>(std::move(module)));
  } catch (const std::exception& error) {
    return Status::Error(path + ": cannot load TorchScript module: " + TorchErrorMessage(error));
  }
}

}  // namespace aimass::models
