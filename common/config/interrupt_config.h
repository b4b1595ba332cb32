// `on_interrupt`: what `aimass-coordinator serve` does with a job that was running when the
// server stopped without ending it (SIGKILL, a crash, a power cut): a key of both the train and
// the infer config, read the same way by both (docs/service.md, "Jobs"). The CLI reads and
// ignores it: there, running the same command again is the resume. Torch-free.
#pragma once

#include <cstdint>

#include "common/status.h"

namespace aimass {

class YamlSection;

// How often one job may be resumed after interruptions when the config does not say.
inline constexpr uint32_t kDefaultMaxResumes = 3;

struct InterruptPolicy {
  // true (`resume`): the next start queues the job again, and it continues where it was (an
  // infer job from its committed splits, a train job from its newest checkpoint), up to
  // max_resumes times; false (`fail`): it stays `interrupted`.
  bool resume = true;
  uint32_t max_resumes = kDefaultMaxResumes;
};

// Reads the root's `on_interrupt` key: `resume`, `fail`, or a mapping
// `{action: resume|fail, max_resumes: N}` (N > 0). Absent: the defaults. Errors name the key.
Status ReadInterruptPolicy(YamlSection& root, InterruptPolicy& policy);

}  // namespace aimass
