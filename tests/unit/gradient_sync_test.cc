#include "tests/catch.h"

#include <chrono>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>

#include "worker/collective/loopback/loopback_communicator.h"
#include "worker/sync/bucket_plan.h"
#include "worker/sync/gradient_synchronizer.h"

namespace aimass::worker {
namespace {

TEST_CASE("buckets follow reverse registration order and respect their caps", "[sync]") {
  // Registration order: 10, 30, 20, 50 elements; backward sees 50, 20, 30, 10.
  BucketPlan plan = PlanBuckets({10, 30, 20, 50}, /*cap=*/55, /*first_cap=*/50);
  REQUIRE(plan.buckets.size() == 3);
  CHECK(plan.buckets[0].offset == 0);   // [50]: the first bucket is small
  CHECK(plan.buckets[0].count == 50);
  CHECK(plan.buckets[1].count == 50);   // [20, 30]
  CHECK(plan.buckets[2].count == 10);   // [10]
  CHECK(plan.parameter_offsets == (std::vector<int64_t>{100, 70, 50, 0}));
  CHECK(plan.bucket_of_parameter == (std::vector<size_t>{2, 1, 1, 0}));
  CHECK(plan.total == 110);
}

TEST_CASE("a cap of zero gives one bucket per parameter, a huge one a single bucket", "[sync]") {
  CHECK(PlanBuckets({4, 5, 6}, 0, 0).buckets.size() == 3);
  BucketPlan one = PlanBuckets({4, 5, 6}, 1000, 1000);
  REQUIRE(one.buckets.size() == 1);
  CHECK(one.buckets[0].parameters == 3);
  // A parameter over the cap gets a bucket of its own.
  BucketPlan big = PlanBuckets({3, 100, 3}, 10, 10);
  CHECK(big.buckets.size() == 3);
}

// A transport that stands for two workers holding the same gradients: the sum doubles them.
class DoublingCommunicator final : public collective::Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string backend() const override { return "fake"; }
  Status AllreduceSum(torch::Tensor& tensor) override {
    tensor.mul_(2);
    std::lock_guard<std::mutex> lock(mutex);
    reduced_sizes.push_back(tensor.numel());
    return Status::Ok();
  }
  Status Broadcast(torch::Tensor&, int) override { return Status::Ok(); }
  std::mutex mutex;
  std::vector<int64_t> reduced_sizes;
};

struct TinyNet {
  torch::Tensor first = torch::ones({4, 3}).requires_grad_(true);   // 12 elements
  torch::Tensor second = torch::ones({3, 2}).requires_grad_(true);  // 6 elements
  torch::Tensor unused = torch::ones({5}).requires_grad_(true);     // gets no gradient
  std::vector<torch::Tensor> parameters() { return {first, second, unused}; }
  torch::Tensor loss(const torch::Tensor& x) { return x.matmul(first).matmul(second).sum(); }
};

TEST_CASE("buckets are reduced in order during backward, and every bucket is reduced",
          "[sync]") {
  for (bool overlap : {true, false}) {
    INFO("overlap " << overlap);
    TinyNet net;
    DoublingCommunicator communicator;
    GradientSyncOptions options;
    options.bucket_bytes = 1;  // one parameter per bucket
    options.first_bucket_bytes = 1;
    options.overlap = overlap;
    auto sync = GradientSynchronizer::Create(net.parameters(), communicator, options);
    REQUIRE(sync.ok());
    REQUIRE((*sync)->bucket_count() == 3);

    torch::Tensor x = torch::ones({2, 4});
    (*sync)->StartStep();
    net.loss(x).backward();  // an accumulation micro-batch: nothing is reduced yet
    CHECK(communicator.reduced_sizes.empty());
    (*sync)->statistics()[0].fill_(7);
    (*sync)->ArmForLastBackward();
    net.loss(x).backward();
    auto exposed = (*sync)->Finish();
    REQUIRE(exposed.ok());

    // Reverse registration order: unused (5) after the statistics slots and their padding (16),
    // second (6), first (12). The last two reduce autograd's own gradient tensors.
    CHECK(communicator.reduced_sizes == (std::vector<int64_t>{21, 6, 12}));
    CHECK((*sync)->adopted_buckets() == 2);
    // Each micro-batch's d/d(second) is first^T x^T 1 = 8 per element; two micro-batches, doubled.
    CHECK(torch::allclose(net.second.grad(), torch::full({3, 2}, 32.0)));
    CHECK(torch::allclose(net.unused.grad(), torch::zeros({5})));
    CHECK((*sync)->statistics()[0].item<float>() == 14.0f);

    (*sync)->StartStep();  // the next step starts afresh: backward's result becomes the gradient
    CHECK_FALSE(net.first.grad().defined());
  }
}

TEST_CASE("a gradient that shares its memory with one backward still uses is copied, not reduced in place",
          "[sync]") {
  for (bool overlap : {true, false}) {
    INFO("overlap " << overlap);
    // `viewed`'s gradient is a view of the gradient that flows on to `scaled`: reducing it in
    // place (on the communication thread, while backward goes on) would change scaled's.
    torch::Tensor viewed = torch::ones({6}).requires_grad_(true);
    torch::Tensor scaled = torch::ones({2, 3}).requires_grad_(true);
    DoublingCommunicator communicator;
    GradientSyncOptions options;
    options.bucket_bytes = 1;  // one parameter per bucket: `viewed` alone in the last one
    options.first_bucket_bytes = 1;
    options.overlap = overlap;
    auto sync = GradientSynchronizer::Create({viewed, scaled}, communicator, options);
    REQUIRE(sync.ok());
    (*sync)->StartStep();
    (*sync)->ArmForLastBackward();
    // The weighting makes the gradient reaching the addition a real tensor (not an expanded
    // scalar), which `viewed` gets as a view.
    const torch::Tensor weighting = torch::arange(1, 7, torch::kFloat32).view({2, 3});
    ((scaled * 3 + viewed.view({2, 3})) * weighting).sum().backward();
    REQUIRE((*sync)->Finish().ok());
    // Without overlap the gradients are collected after backward, when nothing else holds that
    // memory any more: then reducing in place is safe.
    CHECK((*sync)->adopted_buckets() == (overlap ? 0u : 1u));
    CHECK(torch::equal(viewed.grad(), weighting.view({6}) * 2));
    CHECK(torch::equal(scaled.grad(), weighting * 6));
  }
}

TEST_CASE("compressed gradients travel in 16 bits and come back as float32", "[sync]") {
  for (auto wire : {torch::kBFloat16, torch::kFloat16}) {
    TinyNet net;
    DoublingCommunicator communicator;
    GradientSyncOptions options;
    options.wire_dtype = wire;
    options.overlap = true;
    auto sync = GradientSynchronizer::Create(net.parameters(), communicator, options);
    REQUIRE(sync.ok());
    (*sync)->StartStep();
    (*sync)->statistics()[1].fill_(12345);  // a count that 16-bit floats cannot hold exactly
    (*sync)->ArmForLastBackward();
    net.loss(torch::ones({2, 4})).backward();
    REQUIRE((*sync)->Finish().ok());
    CHECK(net.second.grad().scalar_type() == torch::kFloat32);
    CHECK(torch::allclose(net.second.grad(), torch::full({3, 2}, 16.0)));
    // The statistics travelled apart, in float32: exact.
    CHECK((*sync)->statistics()[1].item<float>() == 24690.0f);
    // One bucket for all 23 gradients (the default cap), then the two statistics.
    CHECK(communicator.reduced_sizes == (std::vector<int64_t>{23, 2}));
  }
}

TEST_CASE("compressed gradients of one-parameter buckets are reduced in their own tensors", "[sync]") {
  TinyNet net;
  DoublingCommunicator communicator;
  GradientSyncOptions options;
  options.wire_dtype = torch::kBFloat16;
  options.bucket_bytes = 1;  // one parameter per bucket; no statistics ride along when compressed
  options.first_bucket_bytes = 1;
  auto sync = GradientSynchronizer::Create(net.parameters(), communicator, options);
  REQUIRE(sync.ok());
  (*sync)->StartStep();
  (*sync)->ArmForLastBackward();
  net.loss(torch::ones({2, 4})).backward();
  REQUIRE((*sync)->Finish().ok());
  CHECK((*sync)->adopted_buckets() == 2);  // first and second; unused has no gradient to adopt
  CHECK(torch::allclose(net.second.grad(), torch::full({3, 2}, 16.0)));
  CHECK(torch::allclose(net.unused.grad(), torch::zeros({5})));
  CHECK(communicator.reduced_sizes == (std::vector<int64_t>{5, 6, 12, 2}));
}

// ---- Several ranks in one process, over the loopback transport ----

// A small two-layer network; every rank starts from the same weights (as after the initial
// broadcast) and is fed its own data.
struct Replica {
  torch::Tensor hidden_weight, hidden_bias, output_weight;
  explicit Replica(const std::vector<torch::Tensor>& initial)
      : hidden_weight(initial[0].clone().requires_grad_(true)),
        hidden_bias(initial[1].clone().requires_grad_(true)),
        output_weight(initial[2].clone().requires_grad_(true)) {}
  std::vector<torch::Tensor> parameters() const {
    return {hidden_weight, hidden_bias, output_weight};
  }
  // Mean squared error over this rank's batch.
  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) const {
    torch::Tensor hidden = torch::tanh(x.matmul(hidden_weight) + hidden_bias);
    return (hidden.matmul(output_weight) - y).pow(2).mean();
  }
};

struct MultiRankCase {
  int ranks;
  std::vector<torch::Tensor> initial;  // the shared starting weights
  std::vector<torch::Tensor> inputs, targets;  // per rank, different
};

MultiRankCase MakeCase(int ranks) {
  MultiRankCase made;
  made.ranks = ranks;
  torch::manual_seed(42);
  made.initial = {torch::randn({6, 16}) * 0.5, torch::randn({16}) * 0.1,
                  torch::randn({16, 3}) * 0.5};
  for (int rank = 0; rank < ranks; ++rank) {
    made.inputs.push_back(torch::randn({5, 6}) + rank);
    made.targets.push_back(torch::randn({5, 3}) * (rank + 1));
  }
  return made;
}

// The mean over ranks of each rank's own gradient, computed directly (no communication).
std::vector<torch::Tensor> MeanGradientOverRanks(const MultiRankCase& c) {
  std::vector<torch::Tensor> mean;
  for (int rank = 0; rank < c.ranks; ++rank) {
    Replica replica(c.initial);
    auto grads = torch::autograd::grad({replica.loss(c.inputs[rank], c.targets[rank])},
                                       replica.parameters());
    for (size_t i = 0; i < grads.size(); ++i) {
      if (rank == 0) {
        mean.push_back(grads[i] / c.ranks);
      } else {
        mean[i] += grads[i] / c.ranks;
      }
    }
  }
  return mean;
}

struct RankOutcome {
  Status status;
  std::vector<torch::Tensor> gradients;
  float loss_sum = 0;
  float correct = 0;
};

// One optimizer step on every rank, each on its own thread with its own replica and
// synchronizer, as separate worker processes would run it.
std::vector<RankOutcome> RunSynchronizedStep(const MultiRankCase& c,
                                             const GradientSyncOptions& options) {
  auto group = collective::CreateLoopbackGroup(c.ranks);
  REQUIRE(group.ok());
  std::vector<RankOutcome> outcomes(static_cast<size_t>(c.ranks));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < c.ranks; ++rank) {
    threads.emplace_back([&, rank] {
      RankOutcome& outcome = outcomes[static_cast<size_t>(rank)];
      Replica replica(c.initial);
      auto sync = GradientSynchronizer::Create(replica.parameters(),
                                               *(*group)[static_cast<size_t>(rank)], options);
      if (!sync.ok()) {
        outcome.status = sync.status();
        return;
      }
      (*sync)->StartStep();
      torch::Tensor loss = replica.loss(c.inputs[rank], c.targets[rank]);
      (*sync)->statistics()[0].fill_(loss.item<float>());
      (*sync)->statistics()[1].fill_(rank + 1);
      (*sync)->ArmForLastBackward();
      // Scaled so that the summed gradient is the mean, as the trainer scales its loss.
      (loss / c.ranks).backward();
      auto waited = (*sync)->Finish();
      outcome.status = waited.status();
      for (const auto& parameter : replica.parameters()) {
        outcome.gradients.push_back(parameter.grad().clone());
      }
      outcome.loss_sum = (*sync)->statistics()[0].item<float>();
      outcome.correct = (*sync)->statistics()[1].item<float>();
    });
  }
  for (auto& thread : threads) thread.join();
  return outcomes;
}

void CheckGradientsAreTheMean(const MultiRankCase& c, const GradientSyncOptions& options,
                              double relative_tolerance, double absolute_tolerance) {
  std::vector<torch::Tensor> expected = MeanGradientOverRanks(c);
  float expected_loss_sum = 0;
  for (int rank = 0; rank < c.ranks; ++rank) {
    Replica replica(c.initial);
    expected_loss_sum += replica.loss(c.inputs[rank], c.targets[rank]).item<float>();
  }
  auto outcomes = RunSynchronizedStep(c, options);
  for (int rank = 0; rank < c.ranks; ++rank) {
    const RankOutcome& outcome = outcomes[static_cast<size_t>(rank)];
    INFO("rank " << rank << ": " << outcome.status.ToString());
    REQUIRE(outcome.status.ok());
    REQUIRE(outcome.gradients.size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      INFO("parameter " << i << ", max difference "
                        << (outcome.gradients[i] - expected[i]).abs().max().item<float>());
      CHECK(outcome.gradients[i].scalar_type() == torch::kFloat32);
      CHECK(torch::allclose(outcome.gradients[i], expected[i], relative_tolerance,
                            absolute_tolerance));
    }
    // Every rank ends with the same values: the replicas stay in step.
    for (size_t i = 0; i < expected.size(); ++i) {
      CHECK(torch::equal(outcome.gradients[i], outcomes[0].gradients[i]));
    }
    // The statistics are sums over ranks, carried in float32 even when gradients are 16-bit.
    CHECK(outcome.loss_sum == Approx(expected_loss_sum).epsilon(1e-6));
    CHECK(outcome.correct == static_cast<float>(c.ranks * (c.ranks + 1) / 2));
  }
}

TEST_CASE("several ranks' synchronized gradients are the mean of their own gradients",
          "[sync][loopback]") {
  for (int ranks : {2, 3, 4}) {
    MultiRankCase c = MakeCase(ranks);
    SECTION("per-tensor path, " + std::to_string(ranks) + " ranks") {
      GradientSyncOptions options;
      options.bucket_bytes = 0;  // one allreduce per parameter
      options.first_bucket_bytes = 0;
      options.overlap = false;
      CheckGradientsAreTheMean(c, options, 1e-5, 1e-6);
    }
    SECTION("bucketed, overlap off, " + std::to_string(ranks) + " ranks") {
      GradientSyncOptions options;
      options.bucket_bytes = 200;  // the 96- and 16-element weights split over several buckets
      options.first_bucket_bytes = 100;
      options.overlap = false;
      CheckGradientsAreTheMean(c, options, 1e-5, 1e-6);
    }
    SECTION("bucketed, overlap on, " + std::to_string(ranks) + " ranks") {
      GradientSyncOptions options;
      options.bucket_bytes = 200;
      options.first_bucket_bytes = 100;
      options.overlap = true;
      CheckGradientsAreTheMean(c, options, 1e-5, 1e-6);
    }
    SECTION("default buckets, overlap on, " + std::to_string(ranks) + " ranks") {
      CheckGradientsAreTheMean(c, GradientSyncOptions{}, 1e-5, 1e-6);
    }
    SECTION("bf16 on the wire, " + std::to_string(ranks) + " ranks") {
      GradientSyncOptions options;
      options.wire_dtype = torch::kBFloat16;
      options.overlap = true;
      // bfloat16 keeps 8 significant bits: about 0.4 % per rounding, a few roundings per sum.
      CheckGradientsAreTheMean(c, options, 3e-2, 1e-3);
    }
  }
}

// One step on every rank over the loopback transport; `poison` (may be empty) says what rank
// `poisoned_rank` does to its local gradient or loss before the reduction. Returns each rank's
// finite check.
std::vector<GradientSynchronizer::FiniteCheck> CheckFiniteOnEveryRank(
    const MultiRankCase& c, const GradientSyncOptions& options, int poisoned_rank,
    const std::function<void(GradientSynchronizer&, Replica&)>& poison) {
  auto group = collective::CreateLoopbackGroup(c.ranks);
  REQUIRE(group.ok());
  std::vector<GradientSynchronizer::FiniteCheck> checks(static_cast<size_t>(c.ranks));
  std::vector<Status> statuses(static_cast<size_t>(c.ranks));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < c.ranks; ++rank) {
    threads.emplace_back([&, rank] {
      Replica replica(c.initial);
      auto sync = GradientSynchronizer::Create(replica.parameters(),
                                               *(*group)[static_cast<size_t>(rank)], options);
      if (!sync.ok()) {
        statuses[static_cast<size_t>(rank)] = sync.status();
        return;
      }
      (*sync)->StartStep();
      torch::Tensor loss = replica.loss(c.inputs[rank], c.targets[rank]);
      (*sync)->statistics()[0].add_(loss.detach());
      (*sync)->ArmForLastBackward();
      loss.backward();
      // After backward, before the reduction (no overlap): the gradient the worker sends.
      if (rank == poisoned_rank && poison) poison(**sync, replica);
      auto finished = (*sync)->Finish();
      statuses[static_cast<size_t>(rank)] = finished.status();
      if (finished.ok()) checks[static_cast<size_t>(rank)] = (*sync)->CheckFinite();
    });
  }
  for (auto& thread : threads) thread.join();
  for (const Status& status : statuses) REQUIRE(status.ok());
  return checks;
}

TEST_CASE("every rank reaches the same finite-check verdict from the reduced buffer",
          "[sync][loopback][nonfinite]") {
  MultiRankCase c = MakeCase(3);
  GradientSyncOptions options;
  options.overlap = false;  // poison after backward, before the reduction
  SECTION("all finite: every rank applies the update") {
    for (const auto& check : CheckFiniteOnEveryRank(c, options, -1, nullptr)) {
      CHECK(check.ok());
    }
  }
  SECTION("one rank's NaN gradient: every rank skips") {
    auto checks = CheckFiniteOnEveryRank(c, options, 1, [](GradientSynchronizer&, Replica& r) {
      r.output_weight.mutable_grad()[0][0] = std::numeric_limits<float>::quiet_NaN();
    });
    for (const auto& check : checks) {
      CHECK_FALSE(check.ok());
      CHECK_FALSE(check.gradients_finite);
      CHECK(check.loss_finite);
    }
  }
  SECTION("one rank's Inf gradient: every rank skips") {
    auto checks = CheckFiniteOnEveryRank(c, options, 2, [](GradientSynchronizer&, Replica& r) {
      r.hidden_bias.mutable_grad()[3] = std::numeric_limits<float>::infinity();
    });
    for (const auto& check : checks) CHECK_FALSE(check.gradients_finite);
  }
  SECTION("one rank's Inf loss: every rank skips, naming the loss") {
    auto checks = CheckFiniteOnEveryRank(c, options, 0, [](GradientSynchronizer& sync, Replica&) {
      sync.statistics()[0].fill_(std::numeric_limits<float>::infinity());
    });
    for (const auto& check : checks) {
      CHECK_FALSE(check.ok());
      CHECK_FALSE(check.loss_finite);
      CHECK(check.gradients_finite);
    }
  }
}

TEST_CASE("the finite check is not fooled by a finite sum that overflows", "[sync][nonfinite]") {
  TinyNet net;
  DoublingCommunicator communicator;
  GradientSyncOptions options;
  options.overlap = false;
  auto sync = GradientSynchronizer::Create(net.parameters(), communicator, options);
  REQUIRE(sync.ok());
  (*sync)->StartStep();
  (*sync)->ArmForLastBackward();
  net.loss(torch::ones({2, 4})).backward();
  // Large but finite gradients whose float32 sum overflows to Inf.
  net.first.mutable_grad().fill_(1.0e38f);
  REQUIRE((*sync)->Finish().ok());  // doubled: 2e38, still finite
  CHECK((*sync)->CheckFinite().ok());
  net.second.mutable_grad()[1][1] = std::numeric_limits<float>::quiet_NaN();
  auto check = (*sync)->CheckFinite();
  CHECK_FALSE(check.ok());
  CHECK_FALSE(check.gradients_finite);
}

TEST_CASE("a synchronizer whose peer never joins reports an error instead of hanging",
          "[sync][loopback]") {
  for (bool overlap : {true, false}) {
    INFO("overlap " << overlap);
    collective::LoopbackOptions loopback;
    loopback.timeout = std::chrono::milliseconds(200);
    auto group = collective::CreateLoopbackGroup(2, loopback);
    REQUIRE(group.ok());
    MultiRankCase c = MakeCase(2);
    Replica replica(c.initial);
    GradientSyncOptions options;
    options.overlap = overlap;
    // Only rank 0 takes the step; rank 1 never joins.
    auto sync = GradientSynchronizer::Create(replica.parameters(), *(*group)[0], options);
    REQUIRE(sync.ok());
    auto start = std::chrono::steady_clock::now();
    (*sync)->StartStep();
    (*sync)->ArmForLastBackward();
    replica.loss(c.inputs[0], c.targets[0]).backward();
    auto finished = (*sync)->Finish();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    REQUIRE_FALSE(finished.ok());
    CHECK(finished.status().IsDeadlineExceeded());
    CHECK_THAT(finished.status().message(), Catch::Contains("rank 0"));
    CHECK(seconds < 5.0);
  }
}

}  // namespace
}  // namespace aimass::worker
