// mlp: 784-512-256-10 with ReLU, the smallest builtin and the fastest to train.
#include "models/builtin_modules.h"

namespace aimass::models {
namespace {

class MlpNet final : public BuiltinNet {
 public:
  MlpNet()
      : hidden1_(register_module("hidden1", torch::nn::Linear(784, 512))),
        hidden2_(register_module("hidden2", torch::nn::Linear(512, 256))),
        output_(register_module("output", torch::nn::Linear(256, 10))) {}

  torch::Tensor forward(torch::Tensor input) override {
    torch::Tensor x = input.flatten(/*start_dim=*/1);
    x = torch::relu(hidden1_->forward(x));
    x = torch::relu(hidden2_->forward(x));
    return output_->forward(x);
  }

 private:
  torch::nn::Linear hidden1_;
  torch::nn::Linear hidden2_;
  torch::nn::Linear output_;
};

}  // namespace

std::shared_ptr<BuiltinNet> MakeMlpNet() { return std::make_shared<MlpNet>(); }

}  // namespace aimass::models
