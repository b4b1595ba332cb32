// cnn: two conv/ReLU/max-pool stages and two linear layers, layer for layer the classic PyTorch
// MNIST baseline so that accuracy and speed can be compared with it.
#include "models/builtin_modules.h"

namespace aimass::models {
namespace {

torch::nn::Conv2dOptions Conv3x3(int64_t in_channels, int64_t out_channels) {
  return torch::nn::Conv2dOptions(in_channels, out_channels, /*kernel_size=*/3).padding(1);
}

class CnnNet final : public BuiltinNet {
 public:
  CnnNet()
      : conv1_(register_module("conv1", torch::nn::Conv2d(Conv3x3(1, 32)))),
        conv2_(register_module("conv2", torch::nn::Conv2d(Conv3x3(32, 64)))),
        fc1_(register_module("fc1", torch::nn::Linear(64 * 7 * 7, 128))),
        fc2_(register_module("fc2", torch::nn::Linear(128, 10))) {}

  torch::Tensor forward(torch::Tensor input) override {
    torch::Tensor x = conv1_->forward(ChannelsLastOnCpu(input));
    x = torch::max_pool2d(torch::relu(x), /*kernel_size=*/2);
    x = torch::max_pool2d(torch::relu(conv2_->forward(x)), /*kernel_size=*/2);
    x = torch::relu(fc1_->forward(x.flatten(/*start_dim=*/1)));
    return fc2_->forward(x);
  }

 private:
  torch::nn::Conv2d conv1_;
  torch::nn::Conv2d conv2_;
  torch::nn::Linear fc1_;
  torch::nn::Linear fc2_;
};

}  // namespace

std::shared_ptr<BuiltinNet> MakeCnnNet() { return std::make_shared<CnnNet>(); }

}  // namespace aimass::models
