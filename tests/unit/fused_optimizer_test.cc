// The fused optimizers against LibTorch's own: the same small network trained for 100 steps
// from the same weights on the same batches, once with torch::optim and once with flat
// parameters and the fused step, ends with the same weights within floating-point contraction
// (max |fused - stock| / max |stock| per tensor below 1e-6), with a learning-rate schedule
// changing the rate on the way. The float32 CPU loop and the tensor-operation path (float64
// here; CUDA in production) are both checked, and so are checkpoints in both directions.
#include "worker/optim/fused_optimizers.h"

#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "worker/optim/flat_parameters.h"
#include "worker/optim/optimizer_factory.h"

namespace aimass::worker {
namespace {

// A two-layer network's weights, seeded.
std::vector<torch::Tensor> Weights(torch::ScalarType dtype) {
  torch::manual_seed(3);
  auto options = torch::TensorOptions().dtype(dtype);
  std::vector<torch::Tensor> weights = {torch::randn({32, 16}, options) * 0.3, torch::randn({32}, options) * 0.1,
                                        torch::randn({10, 32}, options) * 0.3, torch::randn({10}, options) * 0.1};
  for (auto& weight : weights) weight.set_requires_grad(true);
  return weights;
}

std::vector<torch::Tensor> Copy(const std::vector<torch::Tensor>& weights) {
  std::vector<torch::Tensor> copy;
  for (const auto& weight : weights) copy.push_back(weight.detach().clone().set_requires_grad(true));
  return copy;
}

torch::Tensor Loss(const std::vector<torch::Tensor>& w, int step) {
  torch::manual_seed(100 + step);
  torch::Tensor x = torch::randn({64, 16}, w[0].options().requires_grad(false));
  torch::Tensor y = torch::randint(0, 10, {64}, torch::kLong);
  torch::Tensor hidden = torch::relu(torch::addmm(w[1], x, w[0].t()));
  return torch::nn::functional::cross_entropy(torch::addmm(w[3], hidden, w[2].t()), y);
}

// Gradients in one buffer, parameters laid out in reverse order as the gradient synchronizer
// lays them out; then the parameters are flattened into the same layout.
FlatLayout Flatten(const std::vector<torch::Tensor>& weights) {
  int64_t total = 0;
  std::vector<int64_t> offsets(weights.size());
  for (size_t i = weights.size(); i-- > 0;) {
    offsets[i] = total;
    total += weights[i].numel();
  }
  torch::Tensor gradients = torch::zeros({total}, weights[0].options().requires_grad(false));
  for (size_t i = 0; i < weights.size(); ++i) {
    torch::Tensor weight = weights[i];
    weight.mutable_grad() = gradients.narrow(0, offsets[i], weight.numel()).view(weight.sizes());
  }
  auto layout = FlattenParameters(weights, gradients, offsets);
  REQUIRE(layout.ok());
  return *layout;
}

struct Trained {
  std::vector<torch::Tensor> weights;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::optional<FlatLayout> layout;
};

// A step's rate under a warmup-then-cosine schedule, so that the rate changes every step.
double RateAt(const OptimizerConfig& config, int step, int steps) {
  ScheduleConfig schedule;
  schedule.name = "cosine";
  schedule.warmup_steps = 10;
  schedule.min_lr = config.lr * 0.1;
  return LearningRateAt(schedule, config.lr, static_cast<uint64_t>(step), static_cast<uint64_t>(steps));
}

void Train(Trained& run, const OptimizerConfig& config, int from, int to) {
  for (int step = from; step < to; ++step) {
    if (run.layout) {
      run.layout->gradients.zero_();
    } else {
      run.optimizer->zero_grad();
    }
    Loss(run.weights, step).backward();
    SetLearningRate(*run.optimizer, RateAt(config, step, 100));
    run.optimizer->step();
  }
}

Trained Stock(const OptimizerConfig& config, const std::vector<torch::Tensor>& initial) {
  Trained run;
  run.weights = Copy(initial);
  if (config.name == "sgd") {
    run.optimizer = std::make_unique<torch::optim::SGD>(
        run.weights, torch::optim::SGDOptions(config.lr).momentum(config.momentum).dampening(config.dampening)
                         .nesterov(config.nesterov).weight_decay(config.weight_decay));
  } else if (config.name == "adam") {
    run.optimizer = std::make_unique<torch::optim::Adam>(
        run.weights, torch::optim::AdamOptions(config.lr).weight_decay(config.weight_decay));
  } else {
    run.optimizer = std::make_unique<torch::optim::AdamW>(
        run.weights, torch::optim::AdamWOptions(config.lr).weight_decay(config.weight_decay));
  }
  return run;
}

Trained Fused(const OptimizerConfig& config, const std::vector<torch::Tensor>& initial) {
  Trained run;
  run.weights = Copy(initial);
  auto optimizer = CreateOptimizer(config, run.weights);
  REQUIRE(optimizer.ok());
  run.optimizer = std::move(optimizer).value();
  run.layout = Flatten(run.weights);
  auto* flat = dynamic_cast<FlatOptimizer*>(run.optimizer.get());
  REQUIRE(flat != nullptr);
  REQUIRE(flat->Bind(*run.layout).ok());
  REQUIRE(flat->fused());
  return run;
}

// max |a - b| / max |b| over each tensor: the largest of them.
double Difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double scale = b[i].abs().max().item<double>();
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>() / std::max(scale, 1e-30));
  }
  return worst;
}

std::vector<OptimizerConfig> Configs() {
  std::vector<OptimizerConfig> configs;
  OptimizerConfig sgd;
  sgd.name = "sgd";
  sgd.lr = 0.1;
  sgd.momentum = 0.9;
  sgd.nesterov = true;
  sgd.weight_decay = 5e-4;
  configs.push_back(sgd);  // the quickstart's
  sgd.nesterov = false;
  sgd.dampening = 0.1;
  configs.push_back(sgd);
  sgd.momentum = 0;
  sgd.dampening = 0;
  configs.push_back(sgd);  // plain
  OptimizerConfig adam;
  adam.name = "adam";
  adam.lr = 1e-2;
  adam.weight_decay = 1e-3;
  configs.push_back(adam);
  adam.name = "adamw";
  adam.weight_decay = 1e-2;
  configs.push_back(adam);
  return configs;
}

std::string Describe(const OptimizerConfig& config) {
  std::ostringstream text;
  text << config.name << " momentum " << config.momentum << " dampening " << config.dampening << " nesterov "
       << config.nesterov << " weight_decay " << config.weight_decay;
  return text.str();
}

}  // namespace

TEST_CASE("fused optimizers end 100 steps where LibTorch's do (float32 loop, float64 tensor path)",
          "[optimizer][fused]") {
  for (torch::ScalarType dtype : {torch::kFloat32, torch::kFloat64}) {
    for (const OptimizerConfig& config : Configs()) {
      INFO(Describe(config) << (dtype == torch::kFloat32 ? " float32" : " float64"));
      const std::vector<torch::Tensor> initial = Weights(dtype);
      Trained stock = Stock(config, initial);
      Trained fused = Fused(config, initial);
      Train(stock, config, 0, 100);
      Train(fused, config, 0, 100);
      CHECK(Difference(fused.weights, stock.weights) < (dtype == torch::kFloat32 ? 1e-6 : 1e-12));
      CHECK(Difference(fused.weights, initial) > 1e-3);  // it did train
      auto* flat = dynamic_cast<FlatOptimizer*>(fused.optimizer.get());
      CHECK(flat->fused());
      // The parameters are still the layout's views, and the gradients too.
      for (size_t i = 0; i < fused.weights.size(); ++i) CHECK(IsFlatView(*fused.layout, i, fused.weights[i]));
    }
  }
}

TEST_CASE("fused optimizer state is LibTorch's: checkpoints go both ways", "[optimizer][fused]") {
  std::vector<OptimizerConfig> configs = Configs();
  std::swap(configs[0], configs[1]);
  for (const OptimizerConfig& config : configs) {
    INFO(Describe(config));
    const std::vector<torch::Tensor> initial = Weights(torch::kFloat32);
    Trained stock = Stock(config, initial);
    Trained fused = Fused(config, initial);
    Train(stock, config, 0, 50);
    Train(fused, config, 0, 50);

    // Fused -> stock: a stock optimizer over a copy of the fused weights, loaded from the
    // fused one's archive, goes on as the fused one does.
    torch::serialize::OutputArchive fused_archive;
    fused.optimizer->save(fused_archive);
    std::ostringstream fused_bytes;
    fused_archive.save_to(fused_bytes);
    Trained resumed_stock = Stock(config, fused.weights);
    torch::serialize::InputArchive fused_in;
    const std::string fused_text = fused_bytes.str();
    fused_in.load_from(fused_text.data(), fused_text.size());
    resumed_stock.optimizer->load(fused_in);

    // Stock -> fused: a fused optimizer loaded from the stock one's archive, then bound.
    torch::serialize::OutputArchive stock_archive;
    stock.optimizer->save(stock_archive);
    std::ostringstream stock_bytes;
    stock_archive.save_to(stock_bytes);
    Trained resumed_fused;
    resumed_fused.weights = Copy(stock.weights);
    auto optimizer = CreateOptimizer(config, resumed_fused.weights);
    REQUIRE(optimizer.ok());
    resumed_fused.optimizer = std::move(optimizer).value();
    torch::serialize::InputArchive stock_in;
    const std::string stock_text = stock_bytes.str();
    stock_in.load_from(stock_text.data(), stock_text.size());
    resumed_fused.optimizer->load(stock_in);
    resumed_fused.layout = Flatten(resumed_fused.weights);
    REQUIRE(dynamic_cast<FlatOptimizer*>(resumed_fused.optimizer.get())->Bind(*resumed_fused.layout).ok());

    std::vector<torch::Tensor> stock_weights_at_50 = Copy(stock.weights);
    Train(stock, config, 50, 100);
    Train(fused, config, 50, 100);
    Train(resumed_stock, config, 50, 100);
    Train(resumed_fused, config, 50, 100);
    CHECK(Difference(resumed_stock.weights, fused.weights) < 1e-6);
    CHECK(Difference(resumed_stock.weights, stock.weights) < 1e-6);  // DEBUG
    {
      Trained again = Stock(config, stock_weights_at_50);
      torch::serialize::InputArchive in2;
      in2.load_from(stock_text.data(), stock_text.size());
      again.optimizer->load(in2);
      Train(again, config, 50, 100);
      CHECK(Difference(again.weights, stock.weights) < 1e-6);  // DEBUG stock->stock
    }
    CHECK(Difference(resumed_fused.weights, stock.weights) < 1e-6);
    CHECK(Difference(fused.weights, stock.weights) < 1e-6);
  }
}

TEST_CASE("a fused optimizer whose parameters are no longer flat takes LibTorch's step",
          "[optimizer][fused]") {
  OptimizerConfig config = Configs()[0];
  const std::vector<torch::Tensor> initial = Weights(torch::kFloat32);
  Trained fused = Fused(config, initial);
  Trained stock = Stock(config, initial);
  Train(fused, config, 0, 5);
  Train(stock, config, 0, 5);
  // A module load rebinds a parameter's storage: the layout no longer holds it.
  {
    torch::NoGradGuard no_grad;
    fused.weights[0].set_(fused.weights[0].detach().clone());
  }
  auto* flat = dynamic_cast<FlatOptimizer*>(fused.optimizer.get());
  CHECK_FALSE(flat->fused());
  fused.layout.reset();  // zero_grad through the optimizer from now on
  Train(fused, config, 5, 10);
  Train(stock, config, 5, 10);
  CHECK(Difference(fused.weights, stock.weights) < 1e-6);
}

TEST_CASE("flattening refuses parameters that do not fit the gradients", "[optimizer][fused]") {
  std::vector<torch::Tensor> weights = Weights(torch::kFloat32);
  torch::Tensor gradients = torch::zeros({10});
  CHECK_FALSE(FlattenParameters(weights, gradients, {0, 0, 0, 0}).ok());
  CHECK_FALSE(FlattenParameters(weights, torch::zeros({2000}, torch::kFloat64), {0, 512, 544, 864}).ok());
  CHECK_FALSE(FlattenParameters(weights, torch::zeros({2000}), {0, 512}).ok());
}

}  // namespace aimass::worker
