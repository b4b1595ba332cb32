# Finds every third-party dependency once, as imported targets. All come from Debian packages
# (scripts/setup.sh); CUDA and NCCL are optional and only looked for under /usr/local/cuda.

find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(Boost 1.74 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(ZLIB REQUIRED)

# LibTorch: Debian's CPU build (1.13) in CI, a CUDA build (2.x) where one is on CMAKE_PREFIX_PATH.
# Not needed (nor looked for) when only common/ is built (AIMASS_COMMON_ONLY, the fuzz build).
if(NOT AIMASS_COMMON_ONLY)
  find_package(Torch REQUIRED)
  add_library(aimass_torch INTERFACE)
  target_link_libraries(aimass_torch INTERFACE ${TORCH_LIBRARIES})
  target_include_directories(aimass_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
  # Torch's own flags (ABI macro on pip builds) must reach every translation unit that includes it.
  if(TORCH_CXX_FLAGS)
    separate_arguments(_aimass_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
    target_compile_options(aimass_torch INTERFACE ${_aimass_torch_flags})
  endif()

  find_package(Catch2 2 QUIET)
  # The platform service's state (coordinator/service/store): Debian's libsqlite3-dev.
  find_package(SQLite3 REQUIRED)

  include(FindNccl)
endif()

# Decompression and checksums for exported tables (common/io): zlib above, plus zstd, bzip2,
# snappy and OpenSSL's libcrypto. Snappy is found by its header and library, which every
# libsnappy-dev has, and given the target name its own CMake package uses.
find_package(PkgConfig REQUIRED)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
find_package(BZip2 REQUIRED)
find_package(OpenSSL REQUIRED)
find_library(SNAPPY_LIBRARY snappy REQUIRED)
find_path(SNAPPY_INCLUDE_DIR snappy-c.h REQUIRED)
if(NOT TARGET Snappy::snappy)
  add_library(Snappy::snappy UNKNOWN IMPORTED)
  set_target_properties(Snappy::snappy PROPERTIES
    IMPORTED_LOCATION "${SNAPPY_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SNAPPY_INCLUDE_DIR}")
endif()
