// The state store behind one mutex: the service's HTTP threads and job threads all reach the
// one SQLite connection through With(), one call at a time. Each store call is short (a
// transaction of a few rows), so the lock is never held across a job's work or a file copy.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

#include "coordinator/service/store/state_store.h"

namespace aimass::service {

class SharedStore {
 public:
  explicit SharedStore(std::unique_ptr<StateStore> store) : store_(std::move(store)) {}

  template <class Function>
  auto With(Function&& function) {
    std::lock_guard<std::mutex> lock(mutex_);
    return function(*store_);
  }

 private:
  std::mutex mutex_;
  std::unique_ptr<StateStore> store_;
};

}  // namespace aimass::service
