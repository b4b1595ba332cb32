#include <catch2/catch.hpp>

#include "common/status.h"

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

}  // namespace
}  // namespace aimass
