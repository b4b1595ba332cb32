// Catch2 for every test file: include this instead of <catch2/catch.hpp>.
//
// LibTorch's logging (glog) defines CHECK as well, and whichever definition comes last wins: with
// glog's, a failing CHECK aborts the whole test binary instead of reporting the expression and
// going on. glog's header is included first here, so Catch's CHECK below wins, and glog's include
// guard keeps a later LibTorch header from defining it again.
#pragma once

#if __has_include(<glog/logging.h>)
#include <glog/logging.h>
#endif
#include <catch2/catch.hpp>
