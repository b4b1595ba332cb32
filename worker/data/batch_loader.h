// BatchLoader: turns a worker's record stream (SampleRanges over shard files on the shared
// filesystem) into normalized tensor batches, reading and decoding on background threads so the
// training step does not wait on I/O when it need not.
//
// Decoded shards stay in an LRU cache bounded by `cache_bytes`, so a shard is decoded once per
// worker as long as the dataset fits. Up to `prefetch_batches` batches are assembled ahead.
// Thread safety: one consumer thread calls Start/Next; the loader owns its worker threads.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config/train_config.h"
#include "common/data/record_block.h"
#include "common/status.h"

namespace aimass::worker {

struct Batch {
  torch::Tensor features;  // [n, feature_count] float32, normalized
  torch::Tensor labels;    // [n] int64
};

struct BatchLoaderOptions {
  uint32_t feature_count = 0;  // every shard must have this many features (error names the file)
  uint32_t loader_threads = 2;
  uint32_t prefetch_batches = 4;
  uint64_t cache_bytes = 2ull << 30;
  NormalizeConfig normalize;
};

class BatchLoader {
 public:
  BatchLoader(std::vector<std::string> shard_paths, BatchLoaderOptions options);
  ~BatchLoader();  // stops and joins the background threads
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Begins a new stream and drops what is left of the previous one. The stream is `ranges` in
  // order, less its first `skip_samples` samples (resume), cut into batches of `batch_size`
  // (the last one may be smaller). Prefetching starts at once.
  void Start(std::vector<data::SampleRange> ranges, uint64_t skip_samples, uint32_t batch_size);

  // The next batch of the current stream, std::nullopt at its end. An unreadable or malformed
  // shard gives an error naming the file.
  Result<std::optional<Batch>> Next();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::worker
