// The typed configuration of a batch-inference job (`aimass-coordinator infer`), read strictly
// from YAML like training's (an unknown key is an error naming it). The reference is
// docs/inference.md. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/interrupt_config.h"
#include "common/config/table_input_config.h"
#include "common/config/train_config.h"
#include "common/env.h"
#include "common/status.h"

namespace aimass {

using InferInputConfig = TableInputConfig;  // the `input` block

struct InferSchemaConfig {
  std::string id;                      // column carried to the output; empty: file and position
  std::vector<std::string> features;   // columns in order; "f0..f783" expands to f0, f1, ... f783
  std::vector<int64_t> shape;          // per record; empty: the model's, else [feature count]
  std::string dtype = "float32";       // float32 | float64: what the model is fed
  bool has_normalize = false;          // false: the trained run's normalization, or none
  NormalizeConfig normalize{1.0f, 0.0f, 1.0f};
};

struct InferOutputConfig {
  std::string path;
  std::string format = "csv";          // csv | jsonl
  std::string compression = "none";    // none | gzip
  std::string scores = "raw";          // raw | softmax: what score_0..score_k hold
};

struct InferConfig {
  // A TorchScript file saved from Python, or the run directory of `aimass-coordinator train`.
  std::string model;
  InferInputConfig input;
  InferSchemaConfig schema;
  InferOutputConfig output;
  uint32_t batch_size = 256;
  std::string device = "auto";         // auto | cpu | cuda
  uint32_t threads = 0;                // intra-op threads per worker; 0 = cores / local workers
  uint32_t prefetch_splits = 2;        // splits a worker holds: one running, the rest queued
  uint32_t max_attempts = 4;           // per split, across workers
  std::string on_bad_record = "fail";  // fail | skip | quarantine
  uint32_t heartbeat_timeout_s = 60;
  // drift: {warn, alert, feature_share}: the population stability index (per feature, and of the predicted
  // classes) against a registered model's training profile at which the service warns and
  // alerts (docs/inference.md, "Drift").
  double drift_warn = 0.1;
  double drift_alert = 0.25;
  double drift_feature_share = 0.05;  // of the features that must drift for a `drift` alert
  // on_interrupt: the service's resume of a job its server stopped while it ran
  // (interrupt_config.h); the CLI ignores it.
  InterruptPolicy on_interrupt;
};

// `source` names the text in error messages (normally the file path).
Result<InferConfig> ParseInferConfig(const std::string& yaml_text, const std::string& source);

}  // namespace aimass
