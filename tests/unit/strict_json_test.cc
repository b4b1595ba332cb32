#include "common/strict_json.h"

#include "tests/catch.h"

#include <boost/json.hpp>

#include <cmath>
#include <limits>

#include "tests/strict_json_check.h"

namespace aimass {
namespace {

namespace json = boost::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST_CASE("Boost.JSON alone writes tokens that strict parsers reject", "[json]") {
  // Why SerializeStrictJson exists: if this ever changes, the wrapper is still correct.
  const std::string plain = json::serialize(json::object{{"loss", kNaN}});
  CHECK_FALSE(testing::StrictJsonLines(plain));
}

TEST_CASE("non-finite doubles are written as null, at any depth", "[json]") {
  json::object line{{"step", 7},
                    {"loss", kNaN},
                    {"lr", 0.5},
                    {"rates", json::array{1.0, kInf, -kInf}},
                    {"nested", json::object{{"mean", -kInf}, {"name", "NaN"}}}};
  const std::string text = SerializeStrictJson(line);
  CHECK(text.find("NaN,") == std::string::npos);  // the string "NaN" stays a string
  CHECK(text.find("Infinity") == std::string::npos);
  REQUIRE(testing::StrictJsonLines(text));
  json::object back = json::parse(text).as_object();
  CHECK(back.at("step").as_int64() == 7);
  CHECK(back.at("loss").is_null());
  CHECK(back.at("lr").as_double() == 0.5);
  CHECK(back.at("rates").as_array()[0].as_double() == 1.0);
  CHECK(back.at("rates").as_array()[1].is_null());
  CHECK(back.at("rates").as_array()[2].is_null());
  CHECK(back.at("nested").as_object().at("mean").is_null());
  CHECK(back.at("nested").as_object().at("name").as_string() == "NaN");
}

TEST_CASE("finite doubles round-trip exactly", "[json]") {
  for (double value : {0.0, -0.0, 1e-300, 1.7976931348623157e308, 0.1, -123.456}) {
    const std::string text = SerializeStrictJson(json::array{value});
    CHECK(json::parse(text).as_array()[0].as_double() == value);
  }
  CHECK(FiniteOrNull(2.5).as_double() == 2.5);
  CHECK(FiniteOrNull(kNaN).is_null());
  CHECK(FiniteOrNull(-kInf).is_null());
}

}  // namespace
}  // namespace aimass
