# Looks for the CUDA runtime and NCCL; defines AIMASS_HAVE_NCCL and the target aimass_nccl_deps.
# The NCCL backend is compiled only when both are found, and left out cleanly otherwise.
set(AIMASS_HAVE_NCCL OFF)
if(AIMASS_WITH_NCCL)
  set(_cuda_roots "$ENV{CUDA_HOME}" /usr/local/cuda)
  find_path(AIMASS_NCCL_INCLUDE_DIR nccl.h PATHS ${_cuda_roots} PATH_SUFFIXES include NO_DEFAULT_PATH)
  find_library(AIMASS_NCCL_LIBRARY nccl PATHS ${_cuda_roots} PATH_SUFFIXES lib lib64 NO_DEFAULT_PATH)
  find_path(AIMASS_CUDART_INCLUDE_DIR cuda_runtime_api.h PATHS ${_cuda_roots} PATH_SUFFIXES include
            NO_DEFAULT_PATH)
  find_library(AIMASS_CUDART_LIBRARY cudart PATHS ${_cuda_roots} PATH_SUFFIXES lib64 lib
               NO_DEFAULT_PATH)
  if(AIMASS_NCCL_INCLUDE_DIR AND AIMASS_NCCL_LIBRARY AND AIMASS_CUDART_INCLUDE_DIR
     AND AIMASS_CUDART_LIBRARY)
    set(AIMASS_HAVE_NCCL ON)
    add_library(aimass_nccl_deps INTERFACE)
    target_include_directories(aimass_nccl_deps SYSTEM INTERFACE ${AIMASS_NCCL_INCLUDE_DIR}
                                                                 ${AIMASS_CUDART_INCLUDE_DIR})
    target_link_libraries(aimass_nccl_deps INTERFACE ${AIMASS_NCCL_LIBRARY} ${AIMASS_CUDART_LIBRARY})
    message(STATUS "aimass: NCCL backend enabled (${AIMASS_NCCL_LIBRARY})")
  else()
    message(STATUS "aimass: CUDA/NCCL not found, NCCL backend left out")
  endif()
endif()
