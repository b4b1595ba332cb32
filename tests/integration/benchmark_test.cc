// The allreduce benchmark under a real mpirun: every size correct, figures present.
#include "tests/catch.h"

#include <boost/json.hpp>

#include "tests/temp_dir.h"
#include "tests/integration/process_runner.h"

namespace aimass::testing {
namespace {


TEST_CASE("the allreduce benchmark checks and times every size", "[integration][bench]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  std::vector<std::string> argv = MpirunPrefix();
  argv.insert(argv.end(), {"-np", "2", WorkerBinary(), "bench", "allreduce", "--min-bytes", "8",
                           "--max-bytes", "64K", "--bytes-per-size", "1M", "--json"});
  ProcessResult result = Run(argv, dir, std::chrono::seconds(120));
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  boost::json::array rows = boost::json::parse(result.out).as_array();
  REQUIRE(rows.size() == 14);  // 8 B, 16 B, ... 64 KiB
  uint64_t expected_bytes = 8;
  for (const auto& value : rows) {
    const auto& row = value.as_object();
    CHECK(row.at("bytes").to_number<uint64_t>() == expected_bytes);
    CHECK(row.at("correct").as_bool());
    CHECK(row.at("workers").to_number<int>() == 2);
    CHECK(row.at("backend").as_string() == "mpi");
    CHECK(row.at("busbw_gbps").as_double() > 0);
    CHECK(row.at("mpi_busbw_gbps").as_double() > 0);
    // busbw = algbw x 2(n-1)/n, which is algbw itself for 2 workers
    CHECK(row.at("busbw_gbps").as_double() == Approx(row.at("algbw_gbps").as_double()));
    expected_bytes *= 2;
  }
}

TEST_CASE("16-bit allreduce (the compressed-gradient wire) sums exactly", "[integration][bench]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  for (const char* dtype : {"bfloat16", "float16"}) {
    std::vector<std::string> argv = MpirunPrefix();
    argv.insert(argv.end(), {"-np", "2", WorkerBinary(), "bench", "allreduce", "--max-bytes", "4K",
                             "--bytes-per-size", "64K", "--dtype", dtype, "--json"});
    ProcessResult result = Run(argv, dir, std::chrono::seconds(120));
    INFO(dtype << "\nstdout:\n" << result.out << "\nstderr:\n" << result.err);
    REQUIRE(result.exit_code == 0);
    boost::json::array rows = boost::json::parse(result.out).as_array();
    REQUIRE(rows.size() == 10);  // 8 B ... 4 KiB
    for (const auto& row : rows) CHECK(row.as_object().at("correct").as_bool());
  }
}

TEST_CASE("the allreduce benchmark refuses bad arguments with one line", "[integration][bench]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  ProcessResult result =
      Run({WorkerBinary(), "bench", "allreduce", "--dtype", "int8"}, dir, std::chrono::seconds(30));
  CHECK(result.exit_code == 2);
  CHECK(result.err.rfind("aimass-worker: error: --dtype: 'int8' is not one of: float32, float64, "
                         "bfloat16, float16",
                         0) == 0);
}

}  // namespace
}  // namespace aimass::testing
