#include "worker/optim/optimizer_factory.h"

#include "tests/catch.h"
#include <cmath>

namespace aimass::worker {
namespace {

OptimizerConfig Config(const std::string& name) {
  OptimizerConfig config;
  config.name = name;
  config.lr = 0.1;
  return config;
}

// sum(w^2), minimized at w = 0.
torch::Tensor QuadraticLoss(const torch::Tensor& weights) { return weights.pow(2).sum(); }

double LossAfterOneStep(const OptimizerConfig& config, const torch::Tensor& weights) {
  auto optimizer = CreateOptimizer(config, {weights});
  REQUIRE(optimizer.ok());
  (*optimizer)->zero_grad();
  QuadraticLoss(weights).backward();
  (*optimizer)->step();
  return QuadraticLoss(weights).item<double>();
}

ScheduleConfig Schedule(const std::string& name, uint64_t warmup_steps) {
  ScheduleConfig schedule;
  schedule.name = name;
  schedule.warmup_steps = warmup_steps;
  return schedule;
}

}  // namespace

TEST_CASE("every optimizer takes a step down a quadratic", "[optimizer]") {
  for (const std::string& name : std::vector<std::string>{"sgd", "adam", "adamw"}) {
    for (bool nesterov : {false, true}) {
      if (nesterov && name != "sgd") continue;
      INFO(name << (nesterov ? " with nesterov" : ""));
      OptimizerConfig config = Config(name);
      config.nesterov = nesterov;
      config.weight_decay = 0.01;
      torch::Tensor weights = torch::tensor({3.0, -2.0}, torch::requires_grad());
      const double initial = QuadraticLoss(weights).item<double>();
      CHECK(LossAfterOneStep(config, weights) < initial);
    }
  }
}

TEST_CASE("optimizer options come from the configuration", "[optimizer]") {
  torch::Tensor weights = torch::zeros({2}, torch::requires_grad());
  OptimizerConfig sgd_config = Config("sgd");
  sgd_config.momentum = 0.8;
  sgd_config.nesterov = true;
  auto sgd = CreateOptimizer(sgd_config, {weights});
  REQUIRE(sgd.ok());
  REQUIRE(dynamic_cast<torch::optim::SGD*>(sgd->get()) != nullptr);
  auto& sgd_options = static_cast<torch::optim::SGDOptions&>((*sgd)->defaults());
  CHECK(sgd_options.momentum() == 0.8);
  CHECK(sgd_options.nesterov());

  // LibTorch's AdamW defaults to weight decay 1e-2; the configured 0 must win.
  OptimizerConfig adamw_config = Config("adamw");
  adamw_config.beta2 = 0.95;
  auto adamw = CreateOptimizer(adamw_config, {weights});
  REQUIRE(adamw.ok());
  REQUIRE(dynamic_cast<torch::optim::AdamW*>(adamw->get()) != nullptr);
  auto& adamw_options = static_cast<torch::optim::AdamWOptions&>((*adamw)->defaults());
  CHECK(adamw_options.weight_decay() == 0.0);
  CHECK(std::get<1>(adamw_options.betas()) == 0.95);

  auto adam = CreateOptimizer(Config("adam"), {weights});
  REQUIRE(adam.ok());
  CHECK(dynamic_cast<torch::optim::Adam*>(adam->get()) != nullptr);
}

TEST_CASE("impossible optimizer configurations are errors", "[optimizer]") {
  torch::Tensor weights = torch::zeros({2}, torch::requires_grad());
  OptimizerConfig config = Config("sgd");
  config.nesterov = true;
  config.momentum = 0.0;
  CHECK_THAT(CreateOptimizer(config, {weights}).status().message(),
             Catch::Contains("nesterov") && Catch::Contains("momentum"));

  CHECK_THAT(CreateOptimizer(Config("lamb"), {weights}).status().message(),
             Catch::Contains("lamb") && Catch::Contains("sgd, adam, adamw"));

  config = Config("adam");
  config.lr = -1;
  CHECK_THAT(CreateOptimizer(config, {weights}).status().message(), Catch::Contains("lr"));
  config = Config("adam");
  config.beta1 = 1.0;
  CHECK_THAT(CreateOptimizer(config, {weights}).status().message(), Catch::Contains("beta1"));
}

TEST_CASE("warmup ramps linearly to the base rate", "[optimizer]") {
  ScheduleConfig schedule = Schedule("constant", 4);
  CHECK(LearningRateAt(schedule, 0.1, 0, 100) == Approx(0.025));
  CHECK(LearningRateAt(schedule, 0.1, 1, 100) == Approx(0.05));
  CHECK(LearningRateAt(schedule, 0.1, 3, 100) == Approx(0.1));
  CHECK(LearningRateAt(schedule, 0.1, 4, 100) == Approx(0.1));
  CHECK(LearningRateAt(schedule, 0.1, 99, 100) == Approx(0.1));
  CHECK(LearningRateAt(Schedule("constant", 0), 0.1, 0, 100) == Approx(0.1));
}

TEST_CASE("step decay multiplies by gamma every step_size steps after warmup", "[optimizer]") {
  ScheduleConfig schedule = Schedule("step", 5);
  schedule.step_size = 10;
  schedule.gamma = 0.5;
  CHECK(LearningRateAt(schedule, 0.1, 2, 100) == Approx(0.06));
  CHECK(LearningRateAt(schedule, 0.1, 5, 100) == Approx(0.1));
  CHECK(LearningRateAt(schedule, 0.1, 14, 100) == Approx(0.1));
  CHECK(LearningRateAt(schedule, 0.1, 15, 100) == Approx(0.05));
  CHECK(LearningRateAt(schedule, 0.1, 35, 100) == Approx(0.0125));
}

TEST_CASE("cosine decays from the base rate to min_lr", "[optimizer]") {
  ScheduleConfig schedule = Schedule("cosine", 0);
  schedule.min_lr = 0.01;
  CHECK(LearningRateAt(schedule, 0.1, 0, 100) == Approx(0.1));
  CHECK(LearningRateAt(schedule, 0.1, 25, 100) == Approx(0.01 + 0.09 * 0.5 * (1 + std::sqrt(0.5))));
  CHECK(LearningRateAt(schedule, 0.1, 50, 100) == Approx(0.055));
  CHECK(LearningRateAt(schedule, 0.1, 100, 100) == Approx(0.01));
  CHECK(LearningRateAt(schedule, 0.1, 500, 100) == Approx(0.01));

  schedule.warmup_steps = 10;  // the cosine spans the 90 steps after warmup
  CHECK(LearningRateAt(schedule, 0.1, 9, 100) == Approx(0.1));
  CHECK(LearningRateAt(schedule, 0.1, 10, 100) == Approx(0.1));
  CHECK(LearningRateAt(schedule, 0.1, 55, 100) == Approx(0.055));
}

TEST_CASE("ValidateSchedule names what a schedule cannot use", "[optimizer]") {
  CHECK(ValidateSchedule(Schedule("cosine", 3)).ok());
  CHECK_THAT(ValidateSchedule(Schedule("linear", 0)).message(),
             Catch::Contains("linear") && Catch::Contains("constant, step, cosine"));
  ScheduleConfig schedule = Schedule("step", 0);
  schedule.step_size = 0;
  CHECK_THAT(ValidateSchedule(schedule).message(), Catch::Contains("schedule.step_size"));
}

TEST_CASE("SetLearningRate changes every parameter group", "[optimizer]") {
  torch::Tensor first = torch::zeros({2}, torch::requires_grad());
  torch::Tensor second = torch::zeros({3}, torch::requires_grad());
  auto optimizer = CreateOptimizer(Config("sgd"), {first});
  REQUIRE(optimizer.ok());
  (*optimizer)->add_param_group(torch::optim::OptimizerParamGroup({second}));
  REQUIRE((*optimizer)->param_groups().size() == 2);

  SetLearningRate(**optimizer, 0.0125);
  for (auto& group : (*optimizer)->param_groups()) CHECK(group.options().get_lr() == 0.0125);
}

}  // namespace aimass::worker
