#include "worker/torch_errors.h"

#include <exception>

#include "models/model.h"

namespace aimass::worker {

Status GuardTorchErrors(int rank, const std::function<std::string()>& what,
                        const std::function<Status()>& body) {
  try {
    return body();
  } catch (const std::exception& error) {
    // c10::Error derives from std::exception; TorchErrorMessage strips its backtrace.
    return Status::Internal("rank " + std::to_string(rank) + ": " + what() + ": " +
                            models::TorchErrorMessage(error));
  } catch (...) {
    return Status::Internal("rank " + std::to_string(rank) + ": " + what() +
                            ": an exception that is not a std::exception");
  }
}

Status GuardTorchErrors(int rank, const std::string& what, const std::function<Status()>& body) {
  return GuardTorchErrors(rank, [&what] { return what; }, body);
}

}  // namespace aimass::worker
