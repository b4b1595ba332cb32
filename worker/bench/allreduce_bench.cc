#include "worker/bench/allreduce_bench.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/strict_json.h"
#include "worker/collective/communicator.h"
#include "worker/device.h"

namespace aimass::worker {
namespace {

constexpr uint32_t kRounds = 3;

struct Row {
  uint64_t bytes = 0;
  int64_t count = 0;
  uint32_t iterations = 0;
  double seconds = 0;        // framework allreduce, per call, slowest worker
  double mpi_seconds = -1;   // plain MPI_Allreduce on the same buffer (CPU tensors only)
  bool correct = false;
};

Result<uint64_t> ParseBytes(const std::string& flag, const std::string& text) {
  // Accepts 8, 64K, 16M, 1G (binary multiples).
  size_t used = 0;
  uint64_t value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    return Status::Error(flag + ": '" + text + "' is not a size");
  }
  std::string unit = text.substr(used);
  if (unit == "K") value <<= 10;
  else if (unit == "M") value <<= 20;
  else if (unit == "G") value <<= 30;
  else if (!unit.empty()) return Status::Error(flag + ": unknown unit in '" + text + "'");
  if (value == 0) return Status::Error(flag + ": must be positive");
  return value;
}

// The slowest worker's time: a collective is as fast as its last participant.
double SlowestAcrossWorkers(double seconds, MPI_Comm comm) {
  double slowest = 0;
  MPI_Allreduce(&seconds, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm);
  return slowest;
}

template <class Call>
double TimePerCall(uint32_t iterations, MPI_Comm comm, Call call) {
  MPI_Barrier(comm);
  auto start = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < iterations; ++i) call();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return SlowestAcrossWorkers(elapsed / iterations, comm);
}

// Small integers, so float sums are exact: element i of worker r is (r + 1) * (i % 7 + 1).
Result<bool> CheckSize(collective::Communicator& communicator, int64_t count,
                       torch::ScalarType dtype, const torch::Device& device, MPI_Comm comm) {
  torch::Tensor pattern =
      torch::arange(count, torch::TensorOptions().dtype(torch::kInt64)).remainder(7).add(1).to(dtype);
  torch::Tensor values = (pattern * (communicator.rank() + 1)).to(device);
  AIMASS_RETURN_IF_ERROR(communicator.AllreduceSum(values));
  int workers = communicator.size();
  torch::Tensor expected = pattern * (workers * (workers + 1) / 2);
  int ok = torch::equal(values.cpu(), expected) ? 1 : 0;
  int all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
  return all_ok == 1;
}

void PrintTable(const std::vector<Row>& rows, const AllreduceBenchOptions& options,
                const std::string& backend, int workers) {
  const double bus_factor = 2.0 * (workers - 1) / workers;
  std::printf("# aimass allreduce: %d workers, backend %s, dtype %s, busbw = algbw x 2(n-1)/n\n",
              workers, backend.c_str(), options.dtype.c_str());
  std::printf("%12s %12s %8s %6s %11s %11s %11s %13s %12s %9s %6s\n", "size(B)", "count", "dtype",
              "iters", "time(us)", "algbw(GB/s)", "busbw(GB/s)", "mpi time(us)", "mpi busbw",
              "overhead", "check");
  for (const Row& row : rows) {
    double algbw = row.bytes / row.seconds / 1e9;
    char mpi_time[32] = "n/a", mpi_busbw[32] = "n/a", overhead[32] = "n/a";
    if (row.mpi_seconds > 0) {
      std::snprintf(mpi_time, sizeof(mpi_time), "%.2f", row.mpi_seconds * 1e6);
      std::snprintf(mpi_busbw, sizeof(mpi_busbw), "%.3f",
                    row.bytes / row.mpi_seconds / 1e9 * bus_factor);
      std::snprintf(overhead, sizeof(overhead), "%+.1f%%",
                    (row.seconds / row.mpi_seconds - 1.0) * 100.0);
    }
    std::printf("%12llu %12lld %8s %6u %11.2f %11.3f %11.3f %13s %12s %9s %6s\n",
                static_cast<unsigned long long>(row.bytes), static_cast<long long>(row.count),
                options.dtype.c_str(), row.iterations, row.seconds * 1e6, algbw,
                algbw * bus_factor, mpi_time, mpi_busbw, overhead, row.correct ? "ok" : "WRONG");
  }
}

void PrintJson(const std::vector<Row>& rows, const AllreduceBenchOptions& options,
               const std::string& backend, int workers) {
  const double bus_factor = 2.0 * (workers - 1) / workers;
  boost::json::array out;
  for (const Row& row : rows) {
    double algbw = row.bytes / row.seconds / 1e9;
    boost::json::object item{{"bytes", row.bytes},         {"count", row.count},
                             {"dtype", options.dtype},     {"backend", backend},
                             {"workers", workers},         {"iterations", row.iterations},
                             {"time_us", row.seconds * 1e6}, {"algbw_gbps", algbw},
                             {"busbw_gbps", algbw * bus_factor}, {"correct", row.correct}};
    if (row.mpi_seconds > 0) {
      item["mpi_time_us"] = row.mpi_seconds * 1e6;
      item["mpi_busbw_gbps"] = row.bytes / row.mpi_seconds / 1e9 * bus_factor;
    }
    out.push_back(std::move(item));
  }
  std::printf("%s\n", SerializeStrictJson(std::move(out)).c_str());
}

}  // namespace

Result<AllreduceBenchOptions> ParseAllreduceBenchOptions(const std::vector<std::string>& args) {
  AllreduceBenchOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--json") {
      options.json = true;
      continue;
    }
    if (i + 1 >= args.size()) return Status::Error(flag + " needs a value");
    const std::string& value = args[++i];
    if (flag == "--min-bytes") {
      AIMASS_ASSIGN_OR_RETURN(options.min_bytes, ParseBytes(flag, value));
    } else if (flag == "--max-bytes") {
      AIMASS_ASSIGN_OR_RETURN(options.max_bytes, ParseBytes(flag, value));
    } else if (flag == "--bytes-per-size") {
      AIMASS_ASSIGN_OR_RETURN(options.bytes_per_size, ParseBytes(flag, value));
    } else if (flag == "--dtype") {
      if (value != "float32" && value != "float64" && value != "bfloat16" && value != "float16") {
        return Status::Error("--dtype: '" + value +
                             "' is not one of: float32, float64, bfloat16, float16");
      }
      options.dtype = value;
    } else if (flag == "--backend") {
      AIMASS_ASSIGN_OR_RETURN(options.backend, ParseBackendKind(value, "--backend"));
    } else {
      return Status::Error("unknown argument '" + flag + "'");
    }
  }
  if (options.min_bytes > options.max_bytes) {
    return Status::Error("--min-bytes is larger than --max-bytes");
  }
  return options;
}

Status RunAllreduceBench(const AllreduceBenchOptions& options, const MpiWorld& world) {
  AIMASS_ASSIGN_OR_RETURN(Placement placement,
                          ChoosePlacement(options.backend == BackendKind::kMpi ? DeviceKind::kCpu
                                                                               : DeviceKind::kAuto,
                                          options.backend, 0, world.local_rank, world.local_size));
  AIMASS_ASSIGN_OR_RETURN(auto communicator,
                          collective::CreateCommunicator(placement.backend, world.worker_comm,
                                                         placement.device));
  const torch::ScalarType dtype = options.dtype == "float64"    ? torch::kFloat64
                                  : options.dtype == "bfloat16" ? torch::kBFloat16
                                  : options.dtype == "float16"  ? torch::kFloat16
                                                                : torch::kFloat32;
  const auto tensor_options = torch::TensorOptions(placement.device).dtype(dtype);
  const int64_t element_size = static_cast<int64_t>(c10::elementSize(dtype));
  const MPI_Datatype mpi_type = options.dtype == "float64" ? MPI_DOUBLE : MPI_FLOAT;

  std::vector<Row> rows;
  bool all_correct = true;
  for (uint64_t bytes = options.min_bytes; bytes <= options.max_bytes; bytes *= 2) {
    Row row;
    row.count = std::max<int64_t>(1, static_cast<int64_t>(bytes) / element_size);
    row.bytes = static_cast<uint64_t>(row.count * element_size);
    row.iterations = static_cast<uint32_t>(
        std::clamp<uint64_t>(options.bytes_per_size / row.bytes, 5, 1000));
    AIMASS_ASSIGN_OR_RETURN(row.correct, CheckSize(*communicator, row.count, dtype,
                                                   placement.device, world.worker_comm));
    all_correct = all_correct && row.correct;

    // Zeros for timing: repeated in-place sums of anything else overflow to inf.
    torch::Tensor buffer = torch::zeros({row.count}, tensor_options);
    Status status = Status::Ok();
    auto framework = [&] { status = communicator->AllreduceSum(buffer); };
    void* data = buffer.data_ptr();
    int count = static_cast<int>(row.count);
    auto plain = [&] {
      MPI_Allreduce(MPI_IN_PLACE, data, count, mpi_type, MPI_SUM, world.worker_comm);
    };
    // MPI has no 16-bit float type to compare with: those sizes show the framework alone.
    const bool compare_with_mpi = placement.device.is_cpu() && element_size >= 4;
    for (int i = 0; i < 3; ++i) {  // warm-up: connections, page faults
      framework();
      if (compare_with_mpi) plain();
    }
    // Alternating rounds, best of each: both sides see the same noise on a shared machine.
    const uint32_t per_round = std::max<uint32_t>(2, row.iterations / kRounds);
    row.seconds = row.mpi_seconds = 1e30;
    for (uint32_t round = 0; round < kRounds; ++round) {
      row.seconds = std::min(row.seconds, TimePerCall(per_round, world.worker_comm, framework));
      if (compare_with_mpi) {
        row.mpi_seconds = std::min(row.mpi_seconds, TimePerCall(per_round, world.worker_comm, plain));
      }
    }
    if (!compare_with_mpi) row.mpi_seconds = -1;
    row.iterations = per_round * kRounds;
    AIMASS_RETURN_IF_ERROR(status);
    rows.push_back(row);
    if (bytes > options.max_bytes / 2) break;  // no overflow past the largest size
  }
  if (world.worker_rank == 0) {
    if (options.json) {
      PrintJson(rows, options, BackendKindName(placement.backend), world.worker_count);
    } else {
      PrintTable(rows, options, BackendKindName(placement.backend), world.worker_count);
    }
    std::fflush(stdout);
  }
  if (!all_correct) return Status::Error("allreduce gave wrong results (see the check column)");
  return Status::Ok();
}

}  // namespace aimass::worker
