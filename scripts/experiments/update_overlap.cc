// The communication experiment of the training step (docs/benchmarks.md): can the optimizer
// update of gradients already reduced hide the allreduce of the rest on CPU workers?
//
// Each iteration reduces the mlp's gradient buckets (134,410 and 401,408 floats, the bucket
// plan's sizes) and applies SGD with momentum, Nesterov and weight decay to every element
// (the fused kernel's arithmetic), three ways:
//   blocking   MPI_Allreduce per bucket, then the update: what the trainer does with overlap off
//   thread     a communication thread reduces the buckets in chunks, the calling thread updates
//              each chunk as soon as it is reduced (the update of chunk k needs only chunk k)
//   progress   the calling thread keeps two chunked MPI_Iallreduce in flight and drives them
//              with MPI_Test between slices of the update (no thread: MPI progresses in calls)
// Prints each way's time per iteration on rank 0 and its ratio to `blocking`.
// Build and run: scripts/bench_update_overlap.sh.
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace {

constexpr long kBuckets[] = {134410, 401408};
constexpr long kElements = kBuckets[0] + kBuckets[1];
constexpr long kSlice = 16384;  // elements updated between two MPI_Test calls

struct Buffers {
  std::vector<float> gradients, parameters, momentum;
  Buffers() : gradients(kElements), parameters(kElements, 0.01f), momentum(kElements, 0.0f) {}
  void Refill() {  // fresh gradients for the next iteration, as backward would write them
    for (long i = 0; i < kElements; ++i) gradients[i] = 1e-3f * static_cast<float>(i % 7);
  }
};

void Update(Buffers& b, long begin, long end) {
  float* __restrict p = b.parameters.data();
  const float* __restrict g = b.gradients.data();
  float* __restrict m = b.momentum.data();
  for (long i = begin; i < end; ++i) {
    const float d = g[i] + 0.0005f * p[i];
    const float v = m[i] * 0.9f + d;
    m[i] = v;
    p[i] = p[i] + (-0.05f) * (d + 0.9f * v);
  }
}

// [begin, end) of the reduction units: bucket 0 whole (it is reduced during backward in the
// engine), the last bucket in chunks of `chunk` elements.
std::vector<std::pair<long, long>> Units(long chunk) {
  std::vector<std::pair<long, long>> units = {{0, kBuckets[0]}};
  for (long begin = kBuckets[0]; begin < kElements; begin += chunk) {
    units.push_back({begin, std::min(kElements, begin + chunk)});
  }
  return units;
}

void Blocking(Buffers& b) {
  MPI_Allreduce(MPI_IN_PLACE, b.gradients.data(), kBuckets[0], MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, b.gradients.data() + kBuckets[0], kBuckets[1], MPI_FLOAT, MPI_SUM,
                MPI_COMM_WORLD);
  Update(b, 0, kElements);
}

// A communication thread that reduces the units of one iteration on request and publishes how
// far it got.
class Reducer {
 public:
  Reducer(Buffers& b, long chunk) : buffers_(b), units_(Units(chunk)), thread_([this] { Loop(); }) {}
  ~Reducer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  void Iterate() {
    reduced_.store(0);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requested_ = true;
    }
    wake_.notify_one();
    for (long updated = 0; updated < kElements;) {
      const long reduced = reduced_.load(std::memory_order_acquire);
      if (reduced > updated) {
        Update(buffers_, updated, reduced);
        updated = reduced;
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  void Loop() {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return requested_ || quit_; });
        if (quit_) return;
        requested_ = false;
      }
      for (const auto& [begin, end] : units_) {
        MPI_Allreduce(MPI_IN_PLACE, buffers_.gradients.data() + begin, static_cast<int>(end - begin), MPI_FLOAT,
                      MPI_SUM, MPI_COMM_WORLD);
        reduced_.store(end, std::memory_order_release);
      }
    }
  }

  Buffers& buffers_;
  const std::vector<std::pair<long, long>> units_;
  std::atomic<long> reduced_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;
  bool quit_ = false;
  std::thread thread_;
};

void Progress(Buffers& b, long chunk) {
  const auto units = Units(chunk);
  std::vector<MPI_Request> requests(units.size(), MPI_REQUEST_NULL);
  size_t issued = 0, completed = 0;
  auto issue = [&] {
    const auto& [begin, end] = units[issued];
    MPI_Iallreduce(MPI_IN_PLACE, b.gradients.data() + begin, static_cast<int>(end - begin), MPI_FLOAT, MPI_SUM,
                   MPI_COMM_WORLD, &requests[issued]);
    ++issued;
  };
  while (issued < units.size() && issued < 2) issue();
  long updated = 0;
  while (updated < kElements) {
    int done = 1;
    while (completed < issued && done) {
      MPI_Test(&requests[completed], &done, MPI_STATUS_IGNORE);
      if (done) {
        ++completed;
        if (issued < units.size()) issue();
      }
    }
    const long reduced = completed == 0 ? 0 : units[completed - 1].second;
    if (reduced > updated) {
      const long end = std::min(reduced, updated + kSlice);
      Update(b, updated, end);
      updated = end;
    } else {
      MPI_Wait(&requests[completed], MPI_STATUS_IGNORE);
      ++completed;
      if (issued < units.size()) issue();
    }
  }
}

template <typename Body>
double MillisecondsPerIteration(Buffers& b, int iterations, const Body& body) {
  double spent = 0;
  for (int i = 0; i < iterations + 20; ++i) {  // 20 to warm up
    b.Refill();
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    body();
    if (i >= 20) spent += MPI_Wtime() - start;
  }
  return spent / iterations * 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 500;
  Buffers buffers;
  const double blocking = MillisecondsPerIteration(buffers, iterations, [&] { Blocking(buffers); });
  if (rank == 0) std::printf("%-10s %8s %10s %9s\n", "way", "chunk", "ms/iter", "vs block");
  if (rank == 0) std::printf("%-10s %8s %10.3f %8.2fx\n", "blocking", "-", blocking, 1.0);
  for (long chunk : {65536L, 131072L, 401408L}) {
    Reducer reducer(buffers, chunk);
    const double ms = MillisecondsPerIteration(buffers, iterations, [&] { reducer.Iterate(); });
    if (rank == 0) std::printf("%-10s %8ld %10.3f %8.2fx\n", "thread", chunk, ms, blocking / ms);
  }
  for (long chunk : {65536L, 131072L}) {
    const double ms = MillisecondsPerIteration(buffers, iterations, [&] { Progress(buffers, chunk); });
    if (rank == 0) std::printf("%-10s %8ld %10.3f %8.2fx\n", "progress", chunk, ms, blocking / ms);
  }
  MPI_Finalize();
  return 0;
}
