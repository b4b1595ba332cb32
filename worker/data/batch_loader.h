// BatchLoader: turns a worker's sample stream (a data::SampleSequence over the splits of a
// training table on the shared filesystem) into normalized tensor batches, reading and decoding
// on background threads so the training step does not wait on I/O when it need not.
//
// Splits are decoded whole (data::DecodeSplit, the table readers batch inference uses) and stay
// in an LRU cache bounded by `cache_bytes`, so a split is decoded once per worker as long as the
// dataset fits. Decoders read ahead along the sequence's segments (the splits a shuffle window
// needs). Up to `prefetch_batches` batches are assembled ahead.
// Thread safety: one consumer thread calls Start/Next; the loader owns its worker threads.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config/train_config.h"
#include "common/data/dataset_index.h"
#include "common/data/epoch_planner.h"
#include "common/data/record_block.h"
#include "common/status.h"

namespace aimass::worker {

struct Batch {
  torch::Tensor features;  // [n, feature_count] float32, normalized
  torch::Tensor labels;    // [n] int64
};

struct BatchLoaderOptions {
  uint32_t feature_count = 0;  // every record must have this many features (error names the file)
  uint32_t loader_threads = 2;
  uint32_t prefetch_batches = 4;
  uint64_t cache_bytes = 2ull << 30;
  NormalizeConfig normalize;
};

class BatchLoader {
 public:
  BatchLoader(data::DatasetIndex dataset, BatchLoaderOptions options);
  ~BatchLoader();  // stops and joins the background threads
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Begins a new stream and drops what is left of the previous one. The stream is `sequence`
  // in order, less its first `skip_samples` samples (resume), cut into batches of `batch_size`
  // (the last one may be smaller). Prefetching starts at once.
  void Start(std::unique_ptr<data::SampleSequence> sequence, uint64_t skip_samples,
             uint32_t batch_size);

  // The next batch of the current stream, std::nullopt at its end. An unreadable or malformed
  // split gives an error naming the file and record.
  Result<std::optional<Batch>> Next();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::worker
