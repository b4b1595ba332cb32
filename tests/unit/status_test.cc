#include "tests/catch.h"

#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "tests/temp_dir.h"

namespace aimass {
namespace {

Result<int> Half(int value) {
  if (value % 2 != 0) return Status::Error(std::to_string(value) + " is odd");
  return value / 2;
}

Result<int> Quarter(int value) {
  AIMASS_ASSIGN_OR_RETURN(int half, Half(value));
  return Half(half);
}

Status CheckEven(int value) {
  AIMASS_RETURN_IF_ERROR(Half(value).status());
  return Status::Ok();
}

TEST_CASE("Result carries a value or an error line", "[status]") {
  auto good = Quarter(8);
  REQUIRE(good.ok());
  CHECK(*good == 2);

  auto bad = Quarter(6);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "3 is odd");
}

TEST_CASE("Status context prefixes the message and keeps OK statuses OK", "[status]") {
  CHECK(CheckEven(4).ok());
  Status error = CheckEven(5).WithContext("job.yaml");
  CHECK(error.message() == "job.yaml: 5 is odd");
  CHECK(Status::Ok().WithContext("anything").ok());
  auto with_context = Half(3).WithContext("shard 7");
  CHECK(with_context.status().message() == "shard 7: 3 is odd");
}

TEST_CASE("each named constructor makes an error of its code", "[status]") {
  struct Case {
    Status status;
    StatusCode code;
    const char* name;
  };
  const std::vector<Case> cases = {
      {Status::InvalidArgument("m"), StatusCode::kInvalidArgument, "InvalidArgument"},
      {Status::NotFound("m"), StatusCode::kNotFound, "NotFound"},
      {Status::AlreadyExists("m"), StatusCode::kAlreadyExists, "AlreadyExists"},
      {Status::IOError("m"), StatusCode::kIOError, "IOError"},
      {Status::Corruption("m"), StatusCode::kCorruption, "Corruption"},
      {Status::Unavailable("m"), StatusCode::kUnavailable, "Unavailable"},
      {Status::FailedPrecondition("m"), StatusCode::kFailedPrecondition, "FailedPrecondition"},
      {Status::DeadlineExceeded("m"), StatusCode::kDeadlineExceeded, "DeadlineExceeded"},
      {Status::Cancelled("m"), StatusCode::kCancelled, "Cancelled"},
      {Status::Internal("m"), StatusCode::kInternal, "Internal"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK_FALSE(c.status.ok());
    CHECK(c.status.code() == c.code);
    CHECK(c.status.message() == "m");
    CHECK(std::string(StatusCodeName(c.code)) == c.name);
    CHECK(c.status.ToString() == std::string(c.name) + ": m");
  }
  CHECK(Status::Ok().code() == StatusCode::kOk);
  CHECK(std::string(StatusCodeName(StatusCode::kOk)) == "OK");
  CHECK(Status::Ok().ToString() == "OK");
  CHECK(std::string(StatusCodeName(static_cast<StatusCode>(12345))) == "Unknown");
}

TEST_CASE("Status::Error is the generic kInternal error", "[status]") {
  Status error = Status::Error("something broke");
  CHECK_FALSE(error.ok());
  CHECK(error.code() == StatusCode::kInternal);
  CHECK(error.message() == "something broke");
}

TEST_CASE("context keeps the code, through Status and Result", "[status]") {
  Status missing = Status::NotFound("shard.csv: open failed").WithContext("dataset d");
  CHECK(missing.IsNotFound());
  CHECK(missing.message() == "dataset d: shard.csv: open failed");
  Result<int> corrupt = Status::Corruption("bad CRC");
  Result<int> with_context = std::move(corrupt).WithContext("checkpoint 7");
  CHECK(with_context.status().IsCorruption());
  CHECK(with_context.status().message() == "checkpoint 7: bad CRC");
  // The macros pass the status on as it is.
  auto forward = [](Status status) -> Status {
    AIMASS_RETURN_IF_ERROR(status);
    return Status::Ok();
  };
  CHECK(forward(Status::Unavailable("peer gone")).IsUnavailable());
  auto assign = [](Result<int> result) -> Result<int> {
    AIMASS_ASSIGN_OR_RETURN(int value, std::move(result));
    return value + 1;
  };
  CHECK(assign(Status::DeadlineExceeded("late")).status().IsDeadlineExceeded());
  CHECK(*assign(1) == 2);
}

TEST_CASE("FromCode makes an error of any code, and kOk an OK status", "[status]") {
  CHECK(Status::FromCode(StatusCode::kIOError, "disk").IsIOError());
  CHECK(Status::FromCode(StatusCode::kOk, "ignored").ok());
  CHECK(Status::FromCode(StatusCode::kOk, "ignored").message().empty());
}

TEST_CASE("Env reports a missing file as NotFound and other failures as IOError", "[status]") {
  testing::TempDir dir;
  Env& env = Env::Default();
  auto missing = env.ReadFile(dir.Path("absent.yaml"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().IsNotFound());
  CHECK_THAT(missing.status().message(), Catch::Contains("absent.yaml"));
  CHECK(env.Stat(dir.Path("absent")).status().IsNotFound());
  CHECK(env.RenameFile(dir.Path("absent"), dir.Path("other")).IsNotFound());
  // A directory exists but cannot be read as a file.
  auto directory = env.ReadFile(dir.path());
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.status().IsIOError());
  // Writing under a missing directory: the directory is what is not found.
  CHECK(env.WriteFileAtomically(dir.Path("no/such/file"), "x").IsNotFound());
}

}  // namespace
}  // namespace aimass
