#include "worker/data/batch_loader.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <list>
#include <mutex>
#include <thread>

#include "common/data/split_decoder.h"

namespace aimass::worker {

using data::RecordBlock;
using data::SampleRef;
using data::SampleSequence;

namespace {

// How far ahead of the assembler (in shard switches) decoders look for shards to prefetch.
constexpr size_t kMaxLookahead = 1 << 16;
constexpr uint32_t kNoShard = UINT32_MAX;

}  // namespace

// "Shard" below is one split of the dataset (data::DatasetIndex::splits): the unit of decoding
// and caching.
// Threads: the consumer (Start, Next), `loader_threads` decoders (DecodeSplit into the cache),
// and one assembler per stream (cache rows into batch tensors). One mutex guards all shared
// state: every critical section is short, the decoding and copying happen outside it.
class BatchLoader::Impl {
 public:
  Impl(data::DatasetIndex dataset, BatchLoaderOptions options)
      : dataset_(std::move(dataset)),
        options_(options),
        cache_(dataset_.splits.size()),
        known_bytes_(dataset_.splits.size(), 0),
        horizon_mark_(dataset_.splits.size(), 0),
        ready_(std::max(1u, options_.prefetch_batches)),
        held_blocks_(dataset_.splits.size()) {
    held_shards_.reserve(dataset_.splits.size());
    for (uint32_t i = 0; i < std::max(1u, options_.loader_threads); ++i) {
      decoders_.emplace_back(&Impl::DecodeLoop, this);
    }
  }

  ~Impl() {
    StopAssembler();
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
    }
    decode_cv_.notify_all();
    for (std::thread& decoder : decoders_) decoder.join();  // each finishes its current shard
  }

  void Start(std::unique_ptr<SampleSequence> sequence, uint64_t skip_samples, uint32_t batch_size) {
    StopAssembler();
    Stream stream;
    Status invalid = BuildStream(std::move(sequence), skip_samples, batch_size, &stream);
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = std::move(stream);
    for (; ready_count_ > 0; --ready_count_) PopReady();  // frees the old stream's tensors
    stream_error_ = invalid;
    stream_done_ = !invalid.ok() || stream_.samples == 0;
    stop_assembler_ = false;
    use_cursor_ = 0;
    for (CachedShard& entry : cache_) {
      if (entry.state == ShardState::kFailed) entry = CachedShard();  // a new stream retries
    }
    if (!stream_done_) {
      assembling_ = true;
      assembler_ = std::thread(&Impl::AssembleLoop, this);
      decode_cv_.notify_all();
    }
  }

  Result<std::optional<Batch>> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    batch_ready_cv_.wait(lock, [&] { return ready_count_ > 0 || stream_done_; });
    if (ready_count_ > 0) {
      Batch batch = PopReady();
      --ready_count_;
      lock.unlock();
      room_cv_.notify_one();
      return std::optional<Batch>(std::move(batch));
    }
    if (!stream_error_.ok()) return stream_error_;
    return std::optional<Batch>();
  }

 private:
  enum class ShardState { kAbsent, kLoading, kReady, kFailed };

  struct CachedShard {
    ShardState state = ShardState::kAbsent;
    std::shared_ptr<const RecordBlock> block;  // kReady
    Status error;                              // kFailed
    uint64_t bytes = 0;                        // kReady: counted in resident_bytes_
    uint32_t pins = 0;                         // the assembler reads from it: not evictable
    std::list<uint32_t>::iterator lru;         // kReady: its place in lru_
  };

  // A stream as the assembler walks it. Immutable while an assembler runs (but for the sequence's
  // own cursor, which only the assembler moves): Start replaces it only after joining the
  // previous one, so the assembler reads it without the lock.
  struct Stream {
    std::unique_ptr<SampleSequence> sequence;
    uint64_t first = 0;                 // the first sample to deliver (resume skips the others)
    uint64_t samples = 0;               // samples to deliver
    uint32_t batch_size = 1;
    std::vector<uint32_t> uses;         // the shards in order of use, segment by segment
    std::vector<uint64_t> segment_first_sample;
    std::vector<size_t> segment_first_use;  // segment i needs uses[segment_first_use[i]...]
    std::vector<uint64_t> extent;       // per shard: records the stream needs it to have
    size_t distinct_shards = 0;
  };

  Status BuildStream(std::unique_ptr<SampleSequence> sequence, uint64_t skip, uint32_t batch_size,
                     Stream* stream) const {
    if (batch_size == 0) return Status::Error("batch loader: batch_size is 0");
    stream->batch_size = batch_size;
    stream->extent.assign(dataset_.splits.size(), 0);
    const uint64_t size = sequence->size();
    stream->first = std::min(skip, size);
    stream->samples = size - stream->first;
    for (SampleSequence::Segment& segment : sequence->Segments()) {
      stream->segment_first_sample.push_back(segment.first_sample);
      stream->segment_first_use.push_back(stream->uses.size());
      for (uint32_t split : segment.splits) {
        if (split >= dataset_.splits.size()) {
          return Status::Error("batch loader: a sample names split " + std::to_string(split) + " of " +
                               std::to_string(dataset_.splits.size()));
        }
        if (stream->extent[split] == 0) ++stream->distinct_shards;
        stream->extent[split] = std::max<uint64_t>(1, dataset_.splits[split].records);
        stream->uses.push_back(split);
      }
    }
    stream->sequence = std::move(sequence);
    return Status::Ok();
  }

  // The index of the segment holding sample `k`.
  size_t SegmentOf(const Stream& stream, uint64_t k) const {
    const auto& firsts = stream.segment_first_sample;
    const auto found = std::upper_bound(firsts.begin(), firsts.end(), k);
    return found == firsts.begin() ? 0 : static_cast<size_t>(found - firsts.begin() - 1);
  }

  void StopAssembler() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_assembler_ = true;
    }
    room_cv_.notify_all();
    shard_cv_.notify_all();
    if (assembler_.joinable()) assembler_.join();
  }

  // ---- Decoders ----

  void DecodeLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      uint32_t shard = kNoShard;
      decode_cv_.wait(lock, [&] {
        if (shutdown_) return true;
        shard = PickShardToDecode();
        return shard != kNoShard;
      });
      if (shutdown_) return;
      CachedShard& entry = cache_[shard];  // cache_ never resizes: the reference stays valid
      entry.state = ShardState::kLoading;
      lock.unlock();
      Result<RecordBlock> block = Decode(shard);
      lock.lock();
      if (block.ok()) {
        entry.bytes = block->memory_bytes();
        entry.block = std::make_shared<const RecordBlock>(std::move(block).value());
        entry.state = ShardState::kReady;
        lru_.push_front(shard);  // new shards are the most recent: they are about to be used
        entry.lru = lru_.begin();
        resident_bytes_ += entry.bytes;
        known_bytes_[shard] = entry.bytes;
        EvictOverBudget(shard);
      } else {
        entry.state = ShardState::kFailed;
        entry.error = block.status();
      }
      shard_cv_.notify_all();
      decode_cv_.notify_all();  // a known size or an eviction may let another prefetch start
    }
  }

  Result<RecordBlock> Decode(uint32_t shard) const {
    const data::DatasetSplit& split = dataset_.splits[shard];
    const tables::InputFile& file = dataset_.files.at(split.split.file);
    try {
      data::SplitDecodeOptions options;
      options.table = dataset_.table;
      options.num_classes = dataset_.num_classes;
      options.max_records = split.records;
      RecordBlock block;
      block.labels.reserve(split.records);
      block.features.reserve(split.records * options_.feature_count);
      AIMASS_RETURN_IF_ERROR(data::DecodeSplit(file, split.split, options, &block).status());
      if (block.size() > 0 && block.feature_count != options_.feature_count) {
        return Status::Error(file.relative_path + ": " + std::to_string(block.feature_count) +
                             " features per record, expected " + std::to_string(options_.feature_count));
      }
      return block;
    } catch (const std::exception& e) {  // std::bad_alloc on a split too large for memory
      return Status::Error(file.relative_path + ": cannot decode: " + e.what());
    }
  }

  // The shard to decode next, kNoShard for none: the one the assembler waits for, else the
  // soonest needed that is absent, if it fits in the budget. Requires mu_.
  uint32_t PickShardToDecode() {
    if (demanded_ != kNoShard && cache_[demanded_].state == ShardState::kAbsent) return demanded_;
    return MarkHorizon();
  }

  uint64_t BytesOf(uint32_t shard) const {  // requires mu_
    if (cache_[shard].state == ShardState::kReady) return cache_[shard].bytes;
    if (known_bytes_[shard] > 0) return known_bytes_[shard];
    // A lower bound until it is decoded.
    return stream_.extent[shard] * data::DecodedRecordBytes(options_.feature_count);
  }

  // Marks the shards the stream needs next, in order of need, as long as they fit in the budget
  // together (the first always does), with horizon_stamp_; returns the first of them that is
  // absent, kNoShard if none. Requires mu_.
  uint32_t MarkHorizon() {
    ++horizon_stamp_;
    if (!assembling_) return kNoShard;
    uint32_t first_absent = kNoShard;
    uint64_t planned = 0;
    size_t marked = 0;
    const size_t end = std::min(stream_.uses.size(), use_cursor_ + kMaxLookahead);
    for (size_t use = use_cursor_; use < end && marked < stream_.distinct_shards; ++use) {
      const uint32_t shard = stream_.uses[use];
      if (horizon_mark_[shard] == horizon_stamp_) continue;
      planned += BytesOf(shard);
      if (marked > 0 && planned > options_.cache_bytes) break;
      horizon_mark_[shard] = horizon_stamp_;
      ++marked;
      if (first_absent == kNoShard && cache_[shard].state == ShardState::kAbsent) {
        first_absent = shard;
      }
    }
    return first_absent;
  }

  // Evicts least recently used shards until the cache fits its budget: first those the stream
  // does not need soon, then the others. Never `keep`, a pinned one or the one the assembler
  // waits for. Requires mu_.
  void EvictOverBudget(uint32_t keep) {
    if (resident_bytes_ <= options_.cache_bytes) return;
    MarkHorizon();
    for (bool spare_horizon : {true, false}) {
      for (auto it = lru_.end(); it != lru_.begin() && resident_bytes_ > options_.cache_bytes;) {
        --it;
        const uint32_t shard = *it;
        CachedShard& entry = cache_[shard];
        if (entry.pins > 0 || shard == keep || shard == demanded_ ||
            (spare_horizon && horizon_mark_[shard] == horizon_stamp_)) {
          continue;
        }
        resident_bytes_ -= entry.bytes;
        it = lru_.erase(it);
        entry = CachedShard();
      }
    }
  }

  // ---- Assembler ----

  void AssembleLoop() {
    Status status;
    try {
      status = AssembleStream();
    } catch (const std::exception& e) {  // a tensor allocation failed
      status = Status::Error(std::string("batch loader: cannot assemble a batch: ") + e.what());
    }
    std::lock_guard<std::mutex> lock(mu_);
    ReleaseHeld();
    demanded_ = kNoShard;
    assembling_ = false;
    if (!stop_assembler_) stream_error_ = status;
    stream_done_ = true;
    batch_ready_cv_.notify_all();
  }

  // Builds the stream's batches into ready_; returns early (any status) once stopped.
  Status AssembleStream() {
    const Stream& stream = stream_;
    SampleSequence& sequence = *stream.sequence;
    const int64_t features = options_.feature_count;
    const NormalizeConfig norm = options_.normalize;
    uint64_t k = stream.first;
    for (uint64_t remaining = stream.samples; remaining > 0;) {
      const int64_t rows = static_cast<int64_t>(std::min<uint64_t>(stream.batch_size, remaining));
      {
        std::unique_lock<std::mutex> lock(mu_);
        room_cv_.wait(lock, [&] { return stop_assembler_ || ready_count_ < ready_.size(); });
        if (stop_assembler_) return Status::Ok();
        if (!stream.segment_first_use.empty()) {
          use_cursor_ = stream.segment_first_use[SegmentOf(stream, k)];
        }
      }
      decode_cv_.notify_all();  // the prefetch horizon moved

      Batch batch{torch::empty({rows, features}, torch::kFloat32),
                  torch::empty({rows}, torch::kInt64)};
      float* out_features = batch.features.data_ptr<float>();
      int64_t* out_labels = batch.labels.data_ptr<int64_t>();
      for (int64_t row = 0; row < rows; ++row, ++k) {
        const SampleRef sample = sequence.At(k);
        AIMASS_ASSIGN_OR_RETURN(const RecordBlock* block, Hold(sample.split));
        if (sample.record >= block->size()) {
          const data::DatasetSplit& split = dataset_.splits[sample.split];
          return Status::Error(dataset_.files.at(split.split.file).relative_path + ": record " +
                               std::to_string(sample.record) + " of split " +
                               std::to_string(sample.split) + " planned, but it has " +
                               std::to_string(block->size()) + " (changed since it was indexed?)");
        }
        const float* in = block->record_features(sample.record);
        float* out = out_features + row * features;
        for (int64_t i = 0; i < features; ++i) out[i] = (in[i] * norm.scale - norm.mean) / norm.std;
        out_labels[row] = block->labels[sample.record];
      }
      remaining -= static_cast<uint64_t>(rows);
      {
        std::lock_guard<std::mutex> lock(mu_);
        ReleaseHeld();
        if (stop_assembler_) return Status::Ok();
        ready_[(ready_head_ + ready_count_++) % ready_.size()] = std::move(batch);
      }
      batch_ready_cv_.notify_one();
    }
    return Status::Ok();
  }

  // The decoded shard, pinned until ReleaseHeld; waits for a decoder when it is not cached.
  // Shards already held for this batch are answered without the lock.
  Result<const RecordBlock*> Hold(uint32_t shard) {
    if (held_blocks_[shard]) return held_blocks_[shard].get();
    std::unique_lock<std::mutex> lock(mu_);
    CachedShard& entry = cache_[shard];
    while (entry.state != ShardState::kReady) {
      if (stop_assembler_) return Status::Error("stopped");
      if (entry.state == ShardState::kFailed) return entry.error;
      demanded_ = shard;
      decode_cv_.notify_all();
      shard_cv_.wait(lock);
    }
    demanded_ = kNoShard;
    ++entry.pins;
    lru_.splice(lru_.begin(), lru_, entry.lru);
    held_blocks_[shard] = entry.block;
    held_shards_.push_back(shard);
    return entry.block.get();
  }

  // Takes the oldest ready batch out of its slot; the caller counts it out. Requires mu_.
  Batch PopReady() {
    Batch batch = std::move(ready_[ready_head_]);
    ready_[ready_head_] = Batch();
    ready_head_ = (ready_head_ + 1) % ready_.size();
    return batch;
  }

  // Unpins what the last batch held, then lets the cache shrink back to its budget.
  // Requires mu_.
  void ReleaseHeld() {
    for (uint32_t shard : held_shards_) {
      --cache_[shard].pins;
      held_blocks_[shard].reset();
    }
    held_shards_.clear();
    EvictOverBudget(kNoShard);
  }

  const data::DatasetIndex dataset_;
  const BatchLoaderOptions options_;

  std::mutex mu_;
  std::condition_variable decode_cv_;       // decoders: a shard is wanted, or shutdown
  std::condition_variable shard_cv_;        // assembler: a shard was decoded, or stop
  std::condition_variable room_cv_;         // assembler: ready_ has room, or stop
  std::condition_variable batch_ready_cv_;  // consumer: a batch, or the end of the stream

  // Guarded by mu_.
  bool shutdown_ = false;
  std::vector<CachedShard> cache_;      // by shard number
  std::list<uint32_t> lru_;             // ready shards, most recently used first
  uint64_t resident_bytes_ = 0;         // of the ready shards
  std::vector<uint64_t> known_bytes_;   // decoded size of every shard seen so far
  std::vector<uint64_t> horizon_mark_;  // == horizon_stamp_: in the latest MarkHorizon
  uint64_t horizon_stamp_ = 0;
  Stream stream_;                       // written under mu_ only while no assembler runs
  bool assembling_ = false;
  size_t use_cursor_ = 0;               // stream_.uses index of the batch being assembled
  uint32_t demanded_ = kNoShard;        // the shard the assembler is waiting for
  bool stop_assembler_ = false;
  std::vector<Batch> ready_;            // ring of prefetch_batches slots: assembled, not yet
  size_t ready_head_ = 0;               // taken by Next, ready_count_ of them from ready_head_
  size_t ready_count_ = 0;
  bool stream_done_ = true;             // no more batches will be added to ready_
  Status stream_error_;                 // why the stream ended early

  // Only the assembler thread touches these (one assembler at a time).
  std::vector<std::shared_ptr<const RecordBlock>> held_blocks_;  // by shard, pinned ones
  std::vector<uint32_t> held_shards_;

  std::vector<std::thread> decoders_;
  std::thread assembler_;  // the consumer thread starts and joins it
};

BatchLoader::BatchLoader(data::DatasetIndex dataset, BatchLoaderOptions options)
    : impl_(std::make_unique<Impl>(std::move(dataset), options)) {}

BatchLoader::~BatchLoader() = default;

void BatchLoader::Start(std::unique_ptr<data::SampleSequence> sequence, uint64_t skip_samples,
                        uint32_t batch_size) {
  impl_->Start(std::move(sequence), skip_samples, batch_size);
}

Result<std::optional<Batch>> BatchLoader::Next() { return impl_->Next(); }

}  // namespace aimass::worker
