// resnet: a small residual network for 28x28 grey images. A 3x3 stem, then three stages of two
// BasicBlocks (32, 64, 128 channels; stages 2 and 3 halve the resolution: 28 -> 14 -> 7), global
// average pooling and a linear classifier. Its batch-norm statistics are the builtin example of
// Buffers() that ranks must keep in step.
#include <string>

#include "models/builtin_modules.h"

namespace aimass::models {
namespace {

constexpr int64_t kBlocksPerStage = 2;

// Convolutions followed by batch norm need no bias: the norm's shift replaces it.
torch::nn::Conv2d Conv(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, kernel)
                               .stride(stride)
                               .padding(kernel / 2)
                               .bias(false));
}

// conv-bn-relu-conv-bn plus the input, projected by a 1x1 conv when the shape changes.
class BasicBlock final : public torch::nn::Module {
 public:
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride)
      : conv1_(register_module("conv1", Conv(in_channels, out_channels, 3, stride))),
        bn1_(register_module("bn1", torch::nn::BatchNorm2d(out_channels))),
        conv2_(register_module("conv2", Conv(out_channels, out_channels, 3, 1))),
        bn2_(register_module("bn2", torch::nn::BatchNorm2d(out_channels))) {
    if (stride != 1 || in_channels != out_channels) {
      shortcut_ = register_module(
          "shortcut", torch::nn::Sequential(Conv(in_channels, out_channels, 1, stride),
                                            torch::nn::BatchNorm2d(out_channels)));
    }
  }

  torch::Tensor forward(const torch::Tensor& input) {
    torch::Tensor x = torch::relu(bn1_->forward(conv1_->forward(input)));
    x = bn2_->forward(conv2_->forward(x));
    torch::Tensor identity = shortcut_.is_empty() ? input : shortcut_->forward(input);
    return torch::relu(x + identity);
  }

 private:
  torch::nn::Conv2d conv1_;
  torch::nn::BatchNorm2d bn1_;
  torch::nn::Conv2d conv2_;
  torch::nn::BatchNorm2d bn2_;
  torch::nn::Sequential shortcut_{nullptr};
};

class ResNet final : public BuiltinNet {
 public:
  ResNet()
      : stem_conv_(register_module("stem_conv", Conv(1, 32, 3, 1))),
        stem_bn_(register_module("stem_bn", torch::nn::BatchNorm2d(32))) {
    AddStage("stage1", 32, 32, 1);
    AddStage("stage2", 32, 64, 2);
    AddStage("stage3", 64, 128, 2);
    // Registered last so that the parameter order follows the data flow.
    classifier_ = register_module("classifier", torch::nn::Linear(128, 10));
  }

  torch::Tensor forward(torch::Tensor input) override {
    torch::Tensor x = torch::relu(stem_bn_->forward(stem_conv_->forward(ChannelsLastOnCpu(input))));
    for (const std::shared_ptr<BasicBlock>& block : blocks_) x = block->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(/*start_dim=*/1);
    return classifier_->forward(x);
  }

 private:
  void AddStage(const std::string& name, int64_t in_channels, int64_t out_channels,
                int64_t stride) {
    for (int64_t i = 0; i < kBlocksPerStage; ++i) {
      auto block = std::make_shared<BasicBlock>(i == 0 ? in_channels : out_channels,
                                                out_channels, i == 0 ? stride : 1);
      blocks_.push_back(register_module(name + "_block" + std::to_string(i), block));
    }
  }

  torch::nn::Conv2d stem_conv_;
  torch::nn::BatchNorm2d stem_bn_;
  torch::nn::Linear classifier_{nullptr};
  std::vector<std::shared_ptr<BasicBlock>> blocks_;
};

}  // namespace

std::shared_ptr<BuiltinNet> MakeResNet() { return std::make_shared<ResNet>(); }

}  // namespace aimass::models
