#include "models/model_state.h"

#include <set>
#include <sstream>
#include <utility>

#include "common/env.h"

namespace aimass::models {
namespace {

constexpr const char kModelPrefix[] = "model/";
constexpr const char kParameterPrefix[] = "model/parameters/";
constexpr const char kBufferPrefix[] = "model/buffers/";

std::string ShapeText(torch::IntArrayRef shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

struct PendingCopy {
  torch::Tensor target;
  torch::Tensor loaded;
};

Status ReadExpected(torch::serialize::InputArchive& archive, const std::string& key,
                    const torch::Tensor& target, bool is_buffer, std::vector<PendingCopy>& copies) {
  torch::Tensor loaded;
  if (!archive.try_read(key, loaded, is_buffer) || !loaded.defined()) {
    return Status::Error("state has no " + key + " (saved from another model?)");
  }
  if (loaded.sizes() != target.sizes()) {
    return Status::Error(key + " has shape " + ShapeText(loaded.sizes()) +
                         " in the saved state but " + ShapeText(target.sizes()) +
                         " in this model (saved from another model?)");
  }
  copies.push_back({target, loaded});
  return Status::Ok();
}

}  // namespace

void WriteModelState(const NamedState& state, torch::serialize::OutputArchive& archive) {
  for (const NamedTensor& entry : state.parameters) {
    archive.write(kParameterPrefix + entry.name, entry.tensor.detach().cpu());
  }
  for (const NamedTensor& entry : state.buffers) {
    archive.write(kBufferPrefix + entry.name, entry.tensor.detach().cpu(), /*is_buffer=*/true);
  }
}

Status ReadModelState(torch::serialize::InputArchive& archive, const NamedState& state) {
  try {
    std::vector<PendingCopy> copies;
    std::set<std::string> expected_keys;
    for (const NamedTensor& entry : state.parameters) {
      std::string key = kParameterPrefix + entry.name;
      AIMASS_RETURN_IF_ERROR(ReadExpected(archive, key, entry.tensor, false, copies));
      expected_keys.insert(std::move(key));
    }
    for (const NamedTensor& entry : state.buffers) {
      std::string key = kBufferPrefix + entry.name;
      AIMASS_RETURN_IF_ERROR(ReadExpected(archive, key, entry.tensor, true, copies));
      expected_keys.insert(std::move(key));
    }
    // A model whose tensors are a subset of the saved one's would otherwise load silently.
    for (const std::string& key : archive.keys()) {
      if (key.rfind(kModelPrefix, 0) == 0 && expected_keys.count(key) == 0) {
        return Status::Error("state has " + key + ", which this model lacks (saved from another "
                             "model?)");
      }
    }
    torch::NoGradGuard no_grad;
    for (PendingCopy& copy : copies) copy.target.copy_(copy.loaded);
    return Status::Ok();
  } catch (const std::exception& error) {
    return Status::Error("cannot read model state: " + TorchErrorMessage(error));
  }
}

Status SaveArchiveAtomically(torch::serialize::OutputArchive& archive, const std::string& path) {
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const std::exception& error) {
    return Status::Error(path + ": cannot serialize: " + TorchErrorMessage(error));
  }
  return Env::Default().WriteFileAtomically(path, bytes.str());
}

Status LoadArchiveFile(const std::string& path, torch::serialize::InputArchive& archive) {
  Result<std::string> contents = Env::Default().ReadFile(path);
  if (!contents.ok()) return contents.status();
  try {
    archive.load_from(contents->data(), contents->size());
  } catch (const std::exception& error) {
    return Status::Error(path + ": not a LibTorch archive: " + TorchErrorMessage(error));
  }
  return Status::Ok();
}

std::string TorchErrorMessage(const std::exception& error) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&error);
  std::string message = torch_error != nullptr ? torch_error->what_without_backtrace()
                                               : error.what();
  // Status messages are one line; LibTorch's often continue with source context.
  auto start = message.find_first_not_of(" \n");
  if (start == std::string::npos) return "unknown LibTorch error";
  // A TorchScript interpreter error starts with this line and a traceback of the scripted code;
  // what went wrong ("RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x2 and 3x4)")
  // is its last line.
  static const std::string kInterpreter =
      "The following operation failed in the TorchScript interpreter.";
  if (message.compare(start, kInterpreter.size(), kInterpreter) == 0) {
    const auto last_end = message.find_last_not_of(" \n");
    const auto newline = message.rfind('\n', last_end);
    if (newline != std::string::npos && newline > start) {
      return "TorchScript: " + message.substr(newline + 1, last_end - newline);
    }
  }
  auto end = message.find('\n', start);
  return message.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace aimass::models
