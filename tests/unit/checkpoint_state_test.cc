#include "worker/checkpoint_state.h"

#include "tests/catch.h"

#include "models/model_catalog.h"
#include "worker/optim/optimizer_factory.h"

namespace aimass::worker {
namespace {

// A model and its optimizer, built as a worker builds them.
struct Training {
  std::unique_ptr<models::Model> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
};

Training Build(const std::string& model_name, const std::string& optimizer_name, uint64_t seed) {
  ModelConfig model_config;
  model_config.name = model_name;
  REQUIRE(models::ResolveModelConfig(model_config).ok());
  auto model = models::CreateModel(model_config, seed);
  REQUIRE(model.ok());
  OptimizerConfig optimizer_config;
  optimizer_config.name = optimizer_name;
  optimizer_config.lr = 0.05;
  optimizer_config.momentum = 0.9;
  auto optimizer = CreateOptimizer(optimizer_config, (*model)->Parameters());
  REQUIRE(optimizer.ok());
  return {std::move(model).value(), std::move(optimizer).value()};
}

// One optimizer step on batch number `batch` of a fixed synthetic data set.
void Step(Training& training, int batch) {
  torch::manual_seed(1000 + batch);
  torch::Tensor images = torch::randn({8, 1, 28, 28});
  torch::Tensor labels = torch::randint(0, 10, {8}, torch::kLong);
  training.model->SetTraining(true);
  training.optimizer->zero_grad();
  torch::nn::functional::cross_entropy(training.model->Forward(images), labels).backward();
  training.optimizer->step();
}

bool SameParameters(models::Model& a, models::Model& b) {
  auto first = a.Parameters();
  auto second = b.Parameters();
  if (first.size() != second.size()) return false;
  for (size_t i = 0; i < first.size(); ++i) {
    if (!torch::equal(first[i], second[i])) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("restored training continues exactly where it was saved", "[checkpoint_state]") {
  for (const std::string& optimizer_name : std::vector<std::string>{"sgd", "adam"}) {
    INFO(optimizer_name);
    Training original = Build("mlp", optimizer_name, 1);
    for (int batch = 0; batch < 3; ++batch) Step(original, batch);
    auto payload = SerializeTrainingState(*original.model, *original.optimizer);
    REQUIRE(payload.ok());

    Training resumed = Build("mlp", optimizer_name, 2);
    REQUIRE(RestoreTrainingState(*payload, *resumed.model, *resumed.optimizer).ok());
    CHECK(SameParameters(*resumed.model, *original.model));

    Step(original, 3);
    Step(resumed, 3);
    CHECK(SameParameters(*resumed.model, *original.model));

    // Weights alone are not enough: without the optimizer's state (momentum, moments) the next
    // step differs, which is what makes the check above meaningful.
    Training weights_only = Build("mlp", optimizer_name, 2);
    torch::serialize::InputArchive archive;
    archive.load_from(payload->data(), payload->size());
    REQUIRE(weights_only.model->LoadState(archive).ok());
    Step(weights_only, 3);
    CHECK_FALSE(SameParameters(*weights_only.model, *original.model));
  }
}

TEST_CASE("batch-norm statistics travel with the training state", "[checkpoint_state]") {
  Training original = Build("resnet", "sgd", 1);
  Step(original, 0);
  auto payload = SerializeTrainingState(*original.model, *original.optimizer);
  REQUIRE(payload.ok());
  Training resumed = Build("resnet", "sgd", 2);
  REQUIRE(RestoreTrainingState(*payload, *resumed.model, *resumed.optimizer).ok());
  auto expected = original.model->Buffers();
  auto restored = resumed.model->Buffers();
  REQUIRE(restored.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) CHECK(torch::equal(restored[i], expected[i]));
}

TEST_CASE("a training state does not restore into something else", "[checkpoint_state]") {
  Training cnn = Build("cnn", "sgd", 1);
  Step(cnn, 0);
  auto payload = SerializeTrainingState(*cnn.model, *cnn.optimizer);
  REQUIRE(payload.ok());

  Training mlp = Build("mlp", "sgd", 1);
  Status into_mlp = RestoreTrainingState(*payload, *mlp.model, *mlp.optimizer);
  REQUIRE_FALSE(into_mlp.ok());
  CHECK_THAT(into_mlp.message(), Catch::Contains("model/parameters/"));

  Training adam = Build("cnn", "adam", 1);
  Status into_adam = RestoreTrainingState(*payload, *adam.model, *adam.optimizer);
  REQUIRE_FALSE(into_adam.ok());
  CHECK_THAT(into_adam.message(), Catch::Contains("optimizer sgd") && Catch::Contains("adam"));

  Status garbage = RestoreTrainingState("not an archive", *cnn.model, *cnn.optimizer);
  REQUIRE_FALSE(garbage.ok());
  CHECK_THAT(garbage.message(), Catch::Contains("payload"));
}

}  // namespace aimass::worker
