// How a model is served online: its replicas, where they run, and how requests are batched.
// Stored per model (serving_configs table) as a JSON object with exactly these keys; a key
// left out keeps its default. Documented in docs/service.md, "Online prediction".
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace aimass::service {

struct ServingConfig {
  std::string alias = "production";  // kept warm: served before the first request for it
  uint32_t replicas = 1;
  std::string device = "cpu";        // auto | cpu | cuda
  uint32_t threads = 0;              // intra-op threads per replica; 0: cores / replicas
  uint32_t max_batch_size = 32;      // records per forward pass
  uint32_t max_delay_ms = 0;         // the longest a batch waits to fill; 0: none (Triton's default)
  uint32_t max_queue = 4096;         // records waiting; beyond this, 503 with Retry-After
  std::string scores = "raw";        // raw | softmax
  uint32_t timeout_ms = 10000;       // a request not answered by then gets 504
  // Online drift (monitor/drift_window.h), for a version with a training profile: PSI of a
  // window of this many records against the profile; 0 turns it off.
  uint32_t drift_window = 1000;
  uint32_t drift_window_seconds = 300;  // a window closes this long after its first record

  bool operator==(const ServingConfig& other) const;
  bool operator!=(const ServingConfig& other) const { return !(*this == other); }
};

// From a request body or the store: unknown keys and out-of-range values are InvalidArgument
// naming the key.
[[nodiscard]] Result<ServingConfig> ParseServingConfig(const boost::json::object& object);
boost::json::object ServingConfigJson(const ServingConfig& config);

}  // namespace aimass::service
