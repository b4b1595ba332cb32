#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>  // only the runner: the test files include tests/catch.h
