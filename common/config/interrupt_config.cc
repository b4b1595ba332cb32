#include "common/config/interrupt_config.h"

#include <string>

#include "common/config/yaml_section.h"

namespace aimass {

Status ReadInterruptPolicy(YamlSection& root, InterruptPolicy& policy) {
  if (!root.Has("on_interrupt")) return Status::Ok();
  std::string action = policy.resume ? "resume" : "fail";
  // `on_interrupt: fail` is shorthand for `on_interrupt: {action: fail}`.
  if (root.Read("on_interrupt", &action).ok()) {
    AIMASS_RETURN_IF_ERROR(root.ReadChoice("on_interrupt", {"resume", "fail"}, &action));
    policy.resume = action == "resume";
    return Status::Ok();
  }
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("on_interrupt"));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("action", {"resume", "fail"}, &action));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("max_resumes", &policy.max_resumes));
  policy.resume = action == "resume";
  return section.Finish();
}

}  // namespace aimass
