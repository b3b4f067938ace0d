# CUDA backend of the batched dense operations (src/core/backend/cuda.cu: cuBLAS + cuSOLVER).
# Optional: built when a CUDA compiler is found (nvcc on PATH, CUDACXX, or CMAKE_CUDA_COMPILER) and
# H2ULV_ENABLE_CUDA is ON.  The build never needs a GPU; whether a device is usable is decided at
# run time (cudaBackendAvailable), and without one the factory falls back to the host backend.
#
# Architectures: default sm_80 (A100) and sm_90 (H100/H200) only, to keep the compile short on
# small CI machines; CUDA 13 supports sm_75 and newer.  Override with -DCMAKE_CUDA_ARCHITECTURES=...
# (e.g. 90 for an H100-only build, or "native").
option(H2ULV_ENABLE_CUDA "Build the CUDA (cuBLAS/cuSOLVER) backend when a CUDA compiler is found" ON)
set(H2ULV_HAVE_CUDA_BACKEND OFF)

if(H2ULV_ENABLE_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit)
    if(CUDAToolkit_FOUND AND TARGET CUDA::cudart AND TARGET CUDA::cublas AND TARGET CUDA::cusolver)
      target_sources(h2ulv PRIVATE ${CMAKE_SOURCE_DIR}/src/core/backend/cuda.cu)
      # h2ulv was created before CUDA was enabled, so its CUDA_ARCHITECTURES is not initialized
      set_target_properties(h2ulv PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}"
                            CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF
                            CUDA_RUNTIME_LIBRARY Shared)  # one cudart: the shared one CUDA::cudart and cuBLAS use
      target_link_libraries(h2ulv PRIVATE CUDA::cudart CUDA::cublas CUDA::cusolver)
      target_compile_definitions(h2ulv PRIVATE H2ULV_HAVE_CUDA)
      set(H2ULV_HAVE_CUDA_BACKEND ON)
      message(STATUS "CUDA backend: ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, CUDA toolkit ${CUDAToolkit_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
    else()
      message(STATUS "CUDA backend: OFF (a CUDA compiler was found, but not the toolkit's cudart/cuBLAS/cuSOLVER libraries)")
    endif()
  else()
    message(STATUS "CUDA backend: OFF (no CUDA compiler found; set CUDACXX or put nvcc on PATH)")
  endif()
else()
  message(STATUS "CUDA backend: OFF (H2ULV_ENABLE_CUDA=OFF)")
endif()
