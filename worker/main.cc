#include "worker/worker_main.h"

int main(int argc, char** argv) { return aimass::worker::WorkerMain(argc, argv); }
