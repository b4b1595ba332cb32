#include "common/strict_json.h"

#include <boost/json.hpp>

#include <cmath>

namespace aimass {
namespace {

// In place, depth first. JSON documents written here are shallow (a few levels), so recursion
// depth is not a concern.
void NullNonFinite(boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::double_:
      if (!std::isfinite(value.get_double())) value.emplace_null();
      break;
    case boost::json::kind::array:
      for (boost::json::value& element : value.get_array()) NullNonFinite(element);
      break;
    case boost::json::kind::object:
      for (auto& entry : value.get_object()) NullNonFinite(entry.value());
      break;
    default:
      break;
  }
}

}  // namespace

boost::json::value FiniteOrNull(double value) {
  if (!std::isfinite(value)) return nullptr;
  return value;
}

std::string SerializeStrictJson(boost::json::value value) {
  NullNonFinite(value);
  return boost::json::serialize(value);
}

}  // namespace aimass
