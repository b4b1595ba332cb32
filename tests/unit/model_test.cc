#include "tests/temp_dir.h"
#include "models/model.h"

#include "tests/catch.h"
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/model_catalog.h"

namespace aimass::models {
namespace {

using testing::TempDir;
using testing::WriteRaw;

namespace fs = std::filesystem;

ModelConfig Resolved(const std::string& name) {
  ModelConfig config;
  config.name = name;
  REQUIRE(ResolveModelConfig(config).ok());
  return config;
}

std::unique_ptr<Model> Create(const std::string& name, uint64_t seed) {
  auto model = CreateModel(Resolved(name), seed);
  REQUIRE(model.ok());
  return std::move(model).value();
}

// The same input in C++ and in Python: linspace is computed by the same ATen kernel in both.
torch::Tensor FixedInput() { return torch::linspace(-1, 1, 2 * 28 * 28).reshape({2, 1, 28, 28}); }

int64_t ParameterCount(Model& model) {
  int64_t count = 0;
  for (const torch::Tensor& parameter : model.Parameters()) count += parameter.numel();
  return count;
}

bool SameTensors(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return true;
}

// Round-trips the model's state through bytes, as a checkpoint does.
std::string SavedState(Model& model) {
  torch::serialize::OutputArchive archive;
  model.SaveState(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

Status LoadSavedState(Model& model, const std::string& bytes) {
  torch::serialize::InputArchive archive;
  archive.load_from(bytes.data(), bytes.size());
  return model.LoadState(archive);
}

// One SGD step on a fixed batch, so that weights (and batch-norm statistics) move.
void TrainOneStep(Model& model) {
  model.SetTraining(true);
  torch::optim::SGD optimizer(model.Parameters(), torch::optim::SGDOptions(0.1));
  torch::Tensor loss = torch::nn::functional::cross_entropy(model.Forward(FixedInput()),
                                                            torch::tensor({3, 7}, torch::kLong));
  optimizer.zero_grad();
  loss.backward();
  optimizer.step();
}

// The first Python that can import torch (python3-torch is Debian's, so a python3 earlier on the
// PATH, e.g. pyenv's, may lack it); empty when there is none.
std::string PythonWithTorch() {
  for (const char* python : {"python3", "/usr/bin/python3"}) {
    std::string probe = std::string(python) + " -c 'import torch' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return python;
  }
  return "";
}

// Runs `script` with `python`, its arguments after it; returns what it printed, or fails the test.
std::string RunPython(const std::string& python, const TempDir& dir, const std::string& script,
                      const std::string& arguments) {
  const std::string script_path = dir.Path("script.py");
  std::ofstream(script_path) << script;
  const std::string command = python + " " + script_path + " " + arguments + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  while (size_t got = std::fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, got);
  INFO(command << " printed:\n" << output);
  REQUIRE(::pclose(pipe) == 0);
  return output;
}

std::vector<double> ParseNumbers(const std::string& text) {
  std::vector<double> numbers;
  std::istringstream stream(text);
  for (double number = 0; stream >> number;) numbers.push_back(number);
  return numbers;
}

// A scripted module with a parameter and batch-norm buffers, so that training and export have to
// carry both.
constexpr const char kMakeFixture[] = R"(
import sys, torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)
        self.bn = torch.nn.BatchNorm1d(10)
    def forward(self, x):
        return self.bn(self.fc(x.flatten(1)))
torch.manual_seed(0)
torch.jit.save(torch.jit.script(Net()), sys.argv[1])
)";

// Prints the eval-mode output of a saved module on FixedInput().
constexpr const char kEvaluate[] = R"(
import sys, torch
model = torch.jit.load(sys.argv[1])
model.eval()
output = model(torch.linspace(-1, 1, 2 * 28 * 28).reshape(2, 1, 28, 28))
print(' '.join('%.8f' % v for v in output.flatten().tolist()))
)";

}  // namespace

TEST_CASE("ResolveModelConfig completes builtins and rejects what they cannot do", "[model]") {
  ModelConfig config = Resolved("resnet");
  CHECK(config.input_shape == std::vector<int64_t>{1, 28, 28});
  CHECK(config.num_classes == 10);

  config.input_shape = {3, 32, 32};
  CHECK_THAT(ResolveModelConfig(config).message(), Catch::Contains("model.input_shape"));
  config = ModelConfig{"cnn", {}, 100};
  CHECK_THAT(ResolveModelConfig(config).message(), Catch::Contains("model.num_classes"));
  config = ModelConfig{"transformer", {}, 10};
  CHECK_THAT(ResolveModelConfig(config).message(),
             Catch::Contains("transformer") && Catch::Contains("mlp, cnn, resnet"));
}

TEST_CASE("ResolveModelConfig needs a torchscript model's shape and file", "[model]") {
  TempDir dir;
  ModelConfig config{"torchscript:" + dir.Path("absent.pt"), {1, 28, 28}, 10};
  CHECK(IsTorchScriptName(config.name));
  CHECK(TorchScriptPath(config.name) == dir.Path("absent.pt"));
  CHECK_THAT(ResolveModelConfig(config).message(), Catch::Contains(dir.Path("absent.pt")));

  std::ofstream(dir.Path("present.pt")) << "x";
  config = ModelConfig{"torchscript:" + dir.Path("present.pt"), {}, 10};
  CHECK_THAT(ResolveModelConfig(config).message(), Catch::Contains("model.input_shape"));
  config.input_shape = {784};
  CHECK(ResolveModelConfig(config).ok());
}

TEST_CASE("builtins map [N, 1, 28, 28] to [N, 10] logits", "[model]") {
  for (const std::string& name : BuiltinModelNames()) {
    INFO(name);
    auto model = Create(name, 1);
    for (bool training : {true, false}) {
      model->SetTraining(training);
      CHECK(model->Forward(torch::randn({5, 1, 28, 28})).sizes() == torch::IntArrayRef{5, 10});
    }
  }
}

TEST_CASE("builtin architectures have the documented sizes", "[model]") {
  auto mlp = Create("mlp", 1);
  CHECK(ParameterCount(*mlp) == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10);
  CHECK(ParameterCount(*mlp) == 535818);
  CHECK(mlp->Parameters().size() == 6);
  CHECK(mlp->Buffers().empty());

  auto cnn = Create("cnn", 1);
  CHECK(ParameterCount(*cnn) == 320 + 18496 + 401536 + 1290);
  CHECK(cnn->Parameters().size() == 8);

  auto resnet = Create("resnet", 1);
  CHECK_FALSE(resnet->Buffers().empty());  // batch-norm running statistics
  CHECK(ParameterCount(*resnet) > 100000);
}

TEST_CASE("the seed alone decides the initial weights", "[model]") {
  for (const std::string& name : BuiltinModelNames()) {
    INFO(name);
    auto first = Create(name, 42);
    auto again = Create(name, 42);
    auto other = Create(name, 43);
    CHECK(SameTensors(first->Parameters(), again->Parameters()));
    CHECK_FALSE(SameTensors(first->Parameters(), other->Parameters()));
  }
}

TEST_CASE("SaveState and LoadState restore parameters and buffers", "[model]") {
  for (const std::string& name : BuiltinModelNames()) {
    INFO(name);
    auto trained = Create(name, 1);
    TrainOneStep(*trained);
    auto restored = Create(name, 2);
    std::vector<torch::Tensor> live_parameters = restored->Parameters();
    REQUIRE(LoadSavedState(*restored, SavedState(*trained)).ok());
    CHECK(SameTensors(restored->Parameters(), trained->Parameters()));
    CHECK(SameTensors(restored->Buffers(), trained->Buffers()));
    // Loaded in place: an optimizer built before the load still updates the model.
    CHECK(restored->Parameters()[0].is_same(live_parameters[0]));
    trained->SetTraining(false);
    restored->SetTraining(false);
    CHECK(torch::equal(restored->Forward(FixedInput()), trained->Forward(FixedInput())));
  }
}

TEST_CASE("LoadState of another architecture fails clearly and changes nothing", "[model]") {
  auto cnn = Create("cnn", 1);
  auto mlp = Create("mlp", 2);
  auto before = mlp->Parameters();
  std::vector<torch::Tensor> copies;
  for (const torch::Tensor& parameter : before) copies.push_back(parameter.clone());

  Status status = LoadSavedState(*mlp, SavedState(*cnn));
  REQUIRE_FALSE(status.ok());
  CHECK_THAT(status.message(), Catch::Contains("model/parameters/"));
  CHECK(SameTensors(mlp->Parameters(), copies));

  CHECK_FALSE(LoadSavedState(*cnn, SavedState(*Create("resnet", 1))).ok());
  CHECK_FALSE(LoadSavedState(*Create("resnet", 1), SavedState(*cnn)).ok());
}

TEST_CASE("Export and LoadExportedModel round-trip a builtin", "[model]") {
  TempDir dir;
  for (const std::string& name : BuiltinModelNames()) {
    INFO(name);
    auto trained = Create(name, 1);
    TrainOneStep(*trained);
    const std::string path = dir.Path(name + ".pt");
    REQUIRE(trained->Export(path).ok());
    auto loaded = LoadExportedModel(Resolved(name), path);
    REQUIRE(loaded.ok());
    trained->SetTraining(false);
    (*loaded)->SetTraining(false);
    CHECK(torch::equal((*loaded)->Forward(FixedInput()), trained->Forward(FixedInput())));
  }
  auto missing = LoadExportedModel(Resolved("cnn"), dir.Path("absent.pt"));
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::Contains(dir.Path("absent.pt")));
  auto wrong = LoadExportedModel(Resolved("mlp"), dir.Path("cnn.pt"));
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(wrong.status().message(), Catch::Contains(dir.Path("cnn.pt")));
}

TEST_CASE("a TorchScript model trains, exports and loads back in Python", "[model]") {
  const std::string python = PythonWithTorch();
  if (python.empty()) {
    WARN("no python3 can import torch (package python3-torch): TorchScript test skipped");
    return;
  }
  TempDir dir;
  const std::string fixture = dir.Path("fixture.pt");
  RunPython(python, dir, kMakeFixture, fixture);
  ModelConfig config{"torchscript:" + fixture, {1, 28, 28}, 10};
  REQUIRE(ResolveModelConfig(config).ok());
  auto created = CreateModel(config, 7);
  REQUIRE(created.ok());
  Model& model = **created;
  CHECK(ParameterCount(model) == 784 * 10 + 10 + 10 + 10);
  CHECK(model.Buffers().size() == 3);  // running mean, running variance, batches tracked

  model.SetTraining(false);
  torch::Tensor before = model.Forward(FixedInput());
  TrainOneStep(model);
  model.SetTraining(false);
  torch::Tensor after = model.Forward(FixedInput());
  REQUIRE_FALSE(torch::allclose(before, after));

  const std::string exported = dir.Path("trained.pt");
  REQUIRE(model.Export(exported).ok());
  std::vector<double> from_python = ParseNumbers(RunPython(python, dir, kEvaluate, exported));
  REQUIRE(from_python.size() == 20);
  auto from_cpp = after.flatten();
  for (int64_t i = 0; i < 20; ++i) {
    CHECK(from_python[i] == Approx(from_cpp[i].item<double>()).margin(1e-4));
  }

  auto reloaded = LoadExportedModel(config, exported);
  REQUIRE(reloaded.ok());
  (*reloaded)->SetTraining(false);
  CHECK(torch::allclose((*reloaded)->Forward(FixedInput()), after));

  auto fresh = CreateModel(config, 7);
  REQUIRE(fresh.ok());
  REQUIRE(LoadSavedState(**fresh, SavedState(model)).ok());
  CHECK(SameTensors((*fresh)->Buffers(), model.Buffers()));
  CHECK_FALSE(LoadSavedState(**fresh, SavedState(*Create("mlp", 1))).ok());
}

TEST_CASE("a file that is not TorchScript is an error naming it", "[model]") {
  TempDir dir;
  std::ofstream(dir.Path("garbage.pt")) << "not a zip archive";
  ModelConfig config{"torchscript:" + dir.Path("garbage.pt"), {1, 28, 28}, 10};
  auto created = CreateModel(config, 1);
  REQUIRE_FALSE(created.ok());
  CHECK_THAT(created.status().message(), Catch::Contains(dir.Path("garbage.pt")));
}

}  // namespace aimass::models
