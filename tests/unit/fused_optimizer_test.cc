// The fused optimizers against LibTorch's own: the same small network trained for 100 steps
// from the same weights on the same batches, once with torch::optim and once with flat
// parameters and the fused step, ends with the same weights within floating-point contraction
// (max |fused - stock| / max |stock| per tensor below 1e-6), with a learning-rate schedule
// changing the rate on the way. The float32 CPU loop and the tensor-operation path (float64
// here; CUDA in production) are both checked. Checkpoints: each reads the other's archive into
// bit-identical state, and a fused run resumed from its own archive is bit-identical to the run
// that was not interrupted. (Resumes across implementations are not compared by their weights:
// two float orders apart, a ReLU unit near zero can flip, and the trajectories part.)
#include "worker/optim/fused_optimizers.h"

#include "tests/catch.h"

#include <limits>
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

// The parameters laid out in reverse order, as the gradient synchronizer lays them out, and
// flattened into that layout. Their gradients stay where autograd puts them.
FlatLayout Flatten(const std::vector<torch::Tensor>& weights) {
  int64_t total = 0;
  std::vector<int64_t> offsets(weights.size());
  for (size_t i = weights.size(); i-- > 0;) {
    offsets[i] = total;
    total += weights[i].numel();
  }
  auto layout = FlattenParameters(weights, offsets, total);
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
    run.optimizer->zero_grad();
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

std::string Save(const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

void Load(torch::optim::Optimizer& optimizer, const std::string& bytes) {
  torch::serialize::InputArchive archive;
  archive.load_from(bytes.data(), bytes.size());
  optimizer.load(archive);
}

std::string KeyOf(const torch::Tensor& parameter) {
  std::ostringstream key;
  key << parameter.unsafeGetTensorImpl();
  return key.str();
}

// The state tensors of optimizer `a` (over `wa`) equal `b`'s (over `wb`), parameter by parameter,
// bit for bit, and so do the Adam step counts.
bool SameState(torch::optim::Optimizer& a, const std::vector<torch::Tensor>& wa, torch::optim::Optimizer& b,
               const std::vector<torch::Tensor>& wb) {
  if (a.state().size() != b.state().size()) return false;
  for (size_t i = 0; i < wa.size(); ++i) {
    auto found_a = a.state().find(KeyOf(wa[i]));
    auto found_b = b.state().find(KeyOf(wb[i]));
    if ((found_a == a.state().end()) != (found_b == b.state().end())) return false;
    if (found_a == a.state().end()) continue;
    if (auto* sgd_a = dynamic_cast<torch::optim::SGDParamState*>(found_a->second.get())) {
      auto* sgd_b = dynamic_cast<torch::optim::SGDParamState*>(found_b->second.get());
      if (sgd_b == nullptr || !torch::equal(sgd_a->momentum_buffer(), sgd_b->momentum_buffer())) return false;
    } else if (auto* adam_a = dynamic_cast<torch::optim::AdamParamState*>(found_a->second.get())) {
      auto* adam_b = dynamic_cast<torch::optim::AdamParamState*>(found_b->second.get());
      if (adam_b == nullptr || adam_a->step() != adam_b->step() || !torch::equal(adam_a->exp_avg(), adam_b->exp_avg()) ||
          !torch::equal(adam_a->exp_avg_sq(), adam_b->exp_avg_sq())) {
        return false;
      }
    } else {
      auto* w_a = dynamic_cast<torch::optim::AdamWParamState*>(found_a->second.get());
      auto* w_b = dynamic_cast<torch::optim::AdamWParamState*>(found_b->second.get());
      if (w_a == nullptr || w_b == nullptr || w_a->step() != w_b->step() || !torch::equal(w_a->exp_avg(), w_b->exp_avg()) ||
          !torch::equal(w_a->exp_avg_sq(), w_b->exp_avg_sq())) {
        return false;
      }
    }
  }
  return true;
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
      // The parameters are still the layout's views.
      for (size_t i = 0; i < fused.weights.size(); ++i) CHECK(IsFlatView(*fused.layout, i, fused.weights[i]));
    }
  }
}

TEST_CASE("fused optimizer state is LibTorch's: checkpoints go both ways", "[optimizer][fused]") {
  for (const OptimizerConfig& config : Configs()) {
    INFO(Describe(config));
    const std::vector<torch::Tensor> initial = Weights(torch::kFloat32);
    Trained stock = Stock(config, initial);
    Trained fused = Fused(config, initial);
    Train(stock, config, 0, 50);
    Train(fused, config, 0, 50);

    // Fused -> stock: LibTorch's optimizer reads the fused one's archive into the same state.
    const std::string fused_archive = Save(*fused.optimizer);
    Trained from_fused = Stock(config, fused.weights);
    Load(*from_fused.optimizer, fused_archive);
    CHECK(SameState(*from_fused.optimizer, from_fused.weights, *fused.optimizer, fused.weights));

    // Stock -> fused: the fused one reads LibTorch's archive, and binding keeps that state.
    Trained from_stock;
    from_stock.weights = Copy(stock.weights);
    auto optimizer = CreateOptimizer(config, from_stock.weights);
    REQUIRE(optimizer.ok());
    from_stock.optimizer = std::move(optimizer).value();
    Load(*from_stock.optimizer, Save(*stock.optimizer));
    from_stock.layout = Flatten(from_stock.weights);
    REQUIRE(dynamic_cast<FlatOptimizer*>(from_stock.optimizer.get())->Bind(*from_stock.layout).ok());
    CHECK(SameState(*from_stock.optimizer, from_stock.weights, *stock.optimizer, stock.weights));

    // Fused -> fused (a resumed run): bit-identical to the run that was not interrupted.
    Trained resumed;
    resumed.weights = Copy(fused.weights);
    optimizer = CreateOptimizer(config, resumed.weights);
    REQUIRE(optimizer.ok());
    resumed.optimizer = std::move(optimizer).value();
    Load(*resumed.optimizer, fused_archive);
    resumed.layout = Flatten(resumed.weights);
    REQUIRE(dynamic_cast<FlatOptimizer*>(resumed.optimizer.get())->Bind(*resumed.layout).ok());
    Train(fused, config, 50, 100);
    Train(resumed, config, 50, 100);
    CHECK(Difference(resumed.weights, fused.weights) == 0);
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
  Train(fused, config, 5, 10);
  Train(stock, config, 5, 10);
  CHECK(Difference(fused.weights, stock.weights) < 1e-6);
}

TEST_CASE("flattening refuses parameters that do not fit the buffer", "[optimizer][fused]") {
  std::vector<torch::Tensor> weights = Weights(torch::kFloat32);
  CHECK_FALSE(FlattenParameters(weights, {0, 0, 0, 0}, 10).ok());
  CHECK_FALSE(FlattenParameters(weights, {0, 512}, 2000).ok());
  std::vector<torch::Tensor> mixed = weights;
  mixed[2] = mixed[2].to(torch::kFloat64);
  CHECK_FALSE(FlattenParameters(mixed, {0, 512, 544, 864}, 2000).ok());
}

TEST_CASE("a fused step reads gradients wherever they live, and without one it is LibTorch's",
          "[optimizer][fused]") {
  OptimizerConfig config = Configs()[0];
  const std::vector<torch::Tensor> initial = Weights(torch::kFloat32);
  Trained fused = Fused(config, initial);
  Trained stock = Stock(config, initial);
  // Gradients in one buffer, in the layout's order (as a synchronizer's copying bucket leaves
  // them) for some parameters, standalone tensors for the others: several runs.
  auto give_gradients = [](std::vector<torch::Tensor>& weights, int step) {
    torch::Tensor shared = torch::empty({weights[2].numel() + weights[3].numel()});
    for (auto& weight : weights) weight.mutable_grad().reset();
    Loss(weights, step).backward();
    shared.narrow(0, 0, weights[3].numel()).copy_(weights[3].grad().view({-1}));
    shared.narrow(0, weights[3].numel(), weights[2].numel()).copy_(weights[2].grad().view({-1}));
    weights[3].mutable_grad() = shared.narrow(0, 0, weights[3].numel());
    weights[2].mutable_grad() = shared.narrow(0, weights[3].numel(), weights[2].numel()).view(weights[2].sizes());
  };
  for (int step = 0; step < 20; ++step) {
    give_gradients(fused.weights, step);
    give_gradients(stock.weights, step);
    fused.optimizer->step();
    stock.optimizer->step();
  }
  CHECK(Difference(fused.weights, stock.weights) < 1e-6);
  // A parameter without a gradient: LibTorch's step, which leaves it as it is.
  for (auto* run : {&fused, &stock}) {
    for (auto& weight : run->weights) weight.mutable_grad().reset();
    Loss(run->weights, 20).backward();
    run->weights[1].mutable_grad().reset();
  }
  const torch::Tensor bias = fused.weights[1].detach().clone();
  fused.optimizer->step();
  stock.optimizer->step();
  CHECK(torch::equal(fused.weights[1], bias));
  CHECK(Difference(fused.weights, stock.weights) < 1e-6);
  CHECK(dynamic_cast<FlatOptimizer*>(fused.optimizer.get())->fused());  // still flat
}

TEST_CASE("the fused CPU step reports a NaN or Inf gradient it read; other paths leave it to the caller",
          "[optimizer][fused][nonfinite]") {
  for (const OptimizerConfig& config : Configs()) {
    INFO(Describe(config));
    Trained fused = Fused(config, Weights(torch::kFloat32));
    auto* flat = dynamic_cast<FlatOptimizer*>(fused.optimizer.get());
    Train(fused, config, 0, 1);
    CHECK(flat->last_gradient_check() == FlatOptimizer::GradientCheck::kFinite);
    for (float poison : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      fused.optimizer->zero_grad();
      Loss(fused.weights, 1).backward();
      fused.weights[2].mutable_grad()[4][7] = poison;
      fused.optimizer->step();
      CHECK(flat->last_gradient_check() == FlatOptimizer::GradientCheck::kNonFinite);
    }
    Trained tensor_path = Fused(config, Weights(torch::kFloat64));
    Train(tensor_path, config, 0, 1);
    CHECK(dynamic_cast<FlatOptimizer*>(tensor_path.optimizer.get())->last_gradient_check() ==
          FlatOptimizer::GradientCheck::kUnchecked);
  }
}

}  // namespace aimass::worker

