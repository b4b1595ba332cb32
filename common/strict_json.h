// Strict JSON: what every JSON file AI Mass writes goes through (metrics.jsonl, evals.jsonl,
// summary.json, workers.json, the inference manifest, commit log and job file, quarantine
// files, the dataset index cache, checkpoint headers).
//
// RFC 8259 has no NaN or Infinity, but Boost.JSON serializes a non-finite double as the bare
// tokens NaN / Infinity / -Infinity, which strict parsers (Python's json.loads with
// parse_constant raising, jq, Go, boost::json::parse itself) reject. Here a non-finite double
// is written as null instead: a reader sees "no value" (a diverged loss, a rate over zero
// seconds) and the file stays valid. See docs/formats.md.
// Thread safety: pure functions.
#pragma once

#include <boost/json/value.hpp>

#include <string>

namespace aimass {

// `value` as a double, or null when it is NaN or +-Inf.
boost::json::value FiniteOrNull(double value);

// Serializes `value` with every non-finite double in it (at any depth) replaced by null.
// Takes the value by copy: callers pass temporaries or move.
std::string SerializeStrictJson(boost::json::value value);

}  // namespace aimass
