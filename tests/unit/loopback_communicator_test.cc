// The in-process loopback transport: exact sums, broadcast, 16-bit sums as the MPI backend's
// operation computes them, and failure instead of a hang when a rank never joins.
#include "tests/catch.h"

#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "worker/collective/loopback/loopback_communicator.h"

namespace aimass::collective {
namespace {

using Group = std::vector<std::unique_ptr<Communicator>>;

Group MakeGroup(int size, LoopbackOptions options = {}) {
  auto group = CreateLoopbackGroup(size, options);
  REQUIRE(group.ok());
  return std::move(group).value();
}

// Runs body(rank) on one thread per rank and returns each rank's status. Catch2 assertions are
// not thread-safe, so the bodies only compute; the test asserts afterwards.
std::vector<Status> RunRanks(int size, const std::function<Status(int rank)>& body) {
  std::vector<Status> statuses(static_cast<size_t>(size));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank) {
    threads.emplace_back([&, rank] { statuses[static_cast<size_t>(rank)] = body(rank); });
  }
  for (auto& thread : threads) thread.join();
  return statuses;
}

void RequireAllOk(const std::vector<Status>& statuses) {
  for (size_t rank = 0; rank < statuses.size(); ++rank) {
    INFO("rank " << rank << ": " << statuses[rank].ToString());
    REQUIRE(statuses[rank].ok());
  }
}

TEST_CASE("loopback allreduce is the exact rank-order sum for float32 and float64",
          "[loopback]") {
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (int size : {1, 2, 3, 4}) {
      INFO(c10::toString(dtype) << ", " << size << " ranks");
      Group group = MakeGroup(size);
      std::vector<torch::Tensor> inputs, tensors;
      for (int rank = 0; rank < size; ++rank) {
        torch::manual_seed(static_cast<uint64_t>(rank) + 1);
        inputs.push_back(torch::randn({1000}, torch::dtype(dtype)));
        tensors.push_back(inputs.back().clone());
      }
      // Several rounds in a row: the generation counter separates them.
      const int rounds = 3;
      auto statuses = RunRanks(size, [&](int rank) {
        for (int round = 0; round < rounds; ++round) {
          AIMASS_RETURN_IF_ERROR(group[static_cast<size_t>(rank)]->AllreduceSum(
              tensors[static_cast<size_t>(rank)]));
        }
        return Status::Ok();
      });
      RequireAllOk(statuses);
      torch::Tensor expected = inputs[0].clone();
      for (int round = 0; round < rounds; ++round) {
        std::vector<torch::Tensor> sources(static_cast<size_t>(size), expected);
        if (round == 0) sources = inputs;
        expected = sources[0].clone();
        for (int rank = 1; rank < size; ++rank) expected.add_(sources[static_cast<size_t>(rank)]);
      }
      for (int rank = 0; rank < size; ++rank) {
        CHECK(torch::equal(tensors[static_cast<size_t>(rank)], expected));  // bit for bit
      }
    }
  }
}

TEST_CASE("loopback allreduce of integer-valued floats equals the arithmetic sum", "[loopback]") {
  Group group = MakeGroup(4);
  std::vector<torch::Tensor> tensors;
  for (int rank = 0; rank < 4; ++rank) {
    tensors.push_back(torch::arange(8, torch::kFloat64) * (rank + 1));
  }
  RequireAllOk(RunRanks(4, [&](int rank) {
    return group[static_cast<size_t>(rank)]->AllreduceSum(tensors[static_cast<size_t>(rank)]);
  }));
  // (1 + 2 + 3 + 4) * i
  for (const auto& tensor : tensors) {
    CHECK(torch::equal(tensor, torch::arange(8, torch::kFloat64) * 10));
  }
}

TEST_CASE("loopback sums 16-bit floats pairwise in float, as the MPI backend's operation",
          "[loopback]") {
  for (auto dtype : {torch::kBFloat16, torch::kFloat16}) {
    INFO(c10::toString(dtype));
    const int size = 3;
    Group group = MakeGroup(size);
    std::vector<torch::Tensor> inputs, tensors;
    for (int rank = 0; rank < size; ++rank) {
      torch::manual_seed(static_cast<uint64_t>(rank) + 11);
      inputs.push_back(torch::randn({512}).to(dtype));
      tensors.push_back(inputs.back().clone());
    }
    RequireAllOk(RunRanks(size, [&](int rank) {
      return group[static_cast<size_t>(rank)]->AllreduceSum(tensors[static_cast<size_t>(rank)]);
    }));
    // What MPI's SumInFloat computes element by element, folded in rank order.
    torch::Tensor expected = inputs[0].clone();
    auto* out = static_cast<uint16_t*>(expected.data_ptr());
    for (int rank = 1; rank < size; ++rank) {
      const auto* in = static_cast<const uint16_t*>(inputs[static_cast<size_t>(rank)].data_ptr());
      for (int64_t i = 0; i < expected.numel(); ++i) {
        if (dtype == torch::kBFloat16) {
          c10::BFloat16 a(out[i], c10::BFloat16::from_bits()), b(in[i], c10::BFloat16::from_bits());
          out[i] = c10::BFloat16(static_cast<float>(a) + static_cast<float>(b)).x;
        } else {
          c10::Half a(out[i], c10::Half::from_bits()), b(in[i], c10::Half::from_bits());
          out[i] = c10::Half(static_cast<float>(a) + static_cast<float>(b)).x;
        }
      }
    }
    for (const auto& tensor : tensors) {
      CHECK(tensor.scalar_type() == dtype);
      CHECK(torch::equal(tensor, expected));
    }
  }
}

TEST_CASE("loopback broadcast gives every rank the root's values", "[loopback]") {
  const int size = 3;
  Group group = MakeGroup(size);
  std::vector<torch::Tensor> tensors;
  for (int rank = 0; rank < size; ++rank) tensors.push_back(torch::full({6}, rank * 1.5));
  RequireAllOk(RunRanks(size, [&](int rank) {
    return group[static_cast<size_t>(rank)]->Broadcast(tensors[static_cast<size_t>(rank)], 2);
  }));
  for (const auto& tensor : tensors) CHECK(torch::equal(tensor, torch::full({6}, 3.0)));
  CHECK(group[1]->rank() == 1);
  CHECK(group[1]->size() == 3);
  CHECK(group[1]->backend() == "loopback");
}

TEST_CASE("a rank that never joins makes its peers time out instead of hanging", "[loopback]") {
  LoopbackOptions options;
  options.timeout = std::chrono::milliseconds(200);
  const int size = 3;
  Group group = MakeGroup(size, options);
  std::vector<torch::Tensor> tensors(size, torch::ones({4}));
  for (auto& tensor : tensors) tensor = tensor.clone();
  auto start = std::chrono::steady_clock::now();
  // Rank 2 never calls: ranks 0 and 1 wait for it.
  auto statuses = RunRanks(2, [&](int rank) {
    return group[static_cast<size_t>(rank)]->AllreduceSum(tensors[static_cast<size_t>(rank)]);
  });
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(seconds < 5.0);
  // The first to time out gets DeadlineExceeded; the group is then broken for the other.
  int deadline_exceeded = 0;
  for (const Status& status : statuses) {
    INFO(status.ToString());
    REQUIRE_FALSE(status.ok());
    CHECK((status.IsDeadlineExceeded() || status.IsUnavailable()));
    if (status.IsDeadlineExceeded()) {
      ++deadline_exceeded;
      CHECK_THAT(status.message(), Catch::Contains("1 of 3 ranks"));
    }
  }
  CHECK(deadline_exceeded >= 1);
  // The late rank finds the group broken instead of waiting for peers that have left.
  Status late = group[2]->AllreduceSum(tensors[2]);
  CHECK(late.IsUnavailable());
  CHECK(torch::equal(tensors[2], torch::ones({4})));
}

TEST_CASE("ranks calling different collectives in one round all get an error", "[loopback]") {
  Group group = MakeGroup(2);
  torch::Tensor a = torch::ones({4});
  torch::Tensor b = torch::ones({5});
  auto statuses = RunRanks(2, [&](int rank) {
    return rank == 0 ? group[0]->AllreduceSum(a) : group[1]->AllreduceSum(b);
  });
  for (const Status& status : statuses) {
    INFO(status.ToString());
    CHECK(status.IsInvalidArgument());
    CHECK_THAT(status.message(), Catch::Contains("allreduce of 5") ||
                                     Catch::Contains("allreduce of 4"));
  }
}

TEST_CASE("loopback rejects what no backend can reduce", "[loopback]") {
  Group group = MakeGroup(1);
  torch::Tensor strided = torch::ones({4, 4}).t();
  CHECK(group[0]->AllreduceSum(strided).IsInvalidArgument());
  torch::Tensor flags = torch::ones({4}, torch::kBool);
  CHECK(group[0]->AllreduceSum(flags).IsInvalidArgument());
  torch::Tensor values = torch::ones({4});
  CHECK(group[0]->Broadcast(values, 1).IsInvalidArgument());
  CHECK(CreateLoopbackGroup(0).status().IsInvalidArgument());
}

}  // namespace
}  // namespace aimass::collective
