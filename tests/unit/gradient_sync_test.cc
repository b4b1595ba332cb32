#include <catch2/catch.hpp>

#include <mutex>

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

    // Reverse registration order: unused (5), second (6), first (12) + the 2 statistics slots.
    CHECK(communicator.reduced_sizes == (std::vector<int64_t>{5, 6, 14}));
    // Each micro-batch's d/d(second) is first^T x^T 1 = 8 per element; two micro-batches, doubled.
    CHECK(torch::allclose(net.second.grad(), torch::full({3, 2}, 32.0)));
    CHECK(torch::allclose(net.unused.grad(), torch::zeros({5})));
    CHECK((*sync)->statistics()[0].item<float>() == 14.0f);

    (*sync)->StartStep();  // the next step starts from zero
    CHECK(net.first.grad().abs().sum().item<float>() == 0.0f);
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

}  // namespace
}  // namespace aimass::worker
