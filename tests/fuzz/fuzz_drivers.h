// What each libFuzzer target does with one input, shared by the targets (one *_fuzz.cc per
// target, built with -DAIMASS_FUZZ=ON) and by the unit tests that replay saved crashing inputs
// (tests/unit/fuzz_regression_test.cc over tests/data/fuzz_regressions/<target>/), so that a
// regression case takes exactly the code path its fuzzer found.
//
// Every driver sends the bytes through the real code: the readers get them as a file (written
// to a scratch directory of this process, named with the extension the format or codec has), and
// read it to its end or first error. A driver returns that error (Ok when the input read cleanly);
// what it must never do is crash, hang or allocate without bound. The caps are small (1 MiB per
// record) so that the fuzzer reaches them quickly.
// Not thread-safe: the scratch file is shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace aimass::fuzz {

// The record cap the drivers give every reader and codec.
inline constexpr uint64_t kFuzzMaxRecordBytes = uint64_t{1} << 20;

using Driver = Status (*)(const uint8_t* data, size_t size);

struct Target {
  const char* name;  // the fuzz target's name: <name>_fuzz.cc, tests/data/fuzz_regressions/<name>
  Driver drive;
};

// Every target, in a fixed order.
const std::vector<Target>& AllTargets();

// The driver of target `name`, or null.
Driver FindDriver(const std::string& name);

}  // namespace aimass::fuzz
