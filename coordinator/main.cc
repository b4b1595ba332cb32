#include "coordinator/commands.h"

int main(int argc, char** argv) { return aimass::coordinator::CoordinatorMain(argc, argv); }
