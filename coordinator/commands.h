// The aimass-coordinator command line: `train` and `data convert`.
#pragma once

namespace aimass::coordinator {

int CoordinatorMain(int argc, char** argv);

}  // namespace aimass::coordinator
