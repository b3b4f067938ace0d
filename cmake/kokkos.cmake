# Kokkos backend of the batched dense operations (src/core/backend/kokkos.cpp): KokkosBatched
# serial kernels over Kokkos' default execution space.  Built when Kokkos and Kokkos Kernels are
# found; a missing Kokkos just leaves the backend out.
#
# Debian 12 (Trilinos 13.2, Kokkos 3.4): the exported Kokkos::kokkos target carries the include dir
# /usr/lib/include, which does not exist (CMake refuses targets with missing include dirs), and
# a bogus -DKOKKOS_DEPENDENCE link item; the headers are in ${Kokkos_INCLUDE_DIRS}
# (/usr/include/trilinos).  So we use the include dirs and the per-library imported targets named
# by ${Kokkos_LIBRARIES} (trilinos_kokkoscore, ...) instead of Kokkos::kokkos.  The KokkosBatched
# serial kernels are header-only templates: libkokkoskernels (instantiated for double only on
# Debian) is not linked.
option(H2ULV_ENABLE_KOKKOS "Build the Kokkos backend when Kokkos and Kokkos Kernels are found" ON)
set(H2ULV_HAVE_KOKKOS_BACKEND OFF)
if(H2ULV_ENABLE_KOKKOS)
  find_package(Kokkos QUIET)
  find_package(KokkosKernels QUIET)
  if(Kokkos_FOUND AND KokkosKernels_FOUND)
    # the core library: the imported target when Kokkos' config defines one, else the file
    set(_h2ulv_kokkos_libs "")
    foreach(_lib ${Kokkos_LIBRARIES})
      if(_lib MATCHES "kokkoscore$" OR _lib STREQUAL "kokkos")
        if(TARGET ${_lib})
          list(APPEND _h2ulv_kokkos_libs ${_lib})
        else()
          find_library(_h2ulv_kokkoscore_path NAMES ${_lib} HINTS ${Kokkos_LIBRARY_DIRS})
          if(_h2ulv_kokkoscore_path)
            list(APPEND _h2ulv_kokkos_libs ${_h2ulv_kokkoscore_path})
          endif()
        endif()
      endif()
    endforeach()
    # a standalone (non-Trilinos) Kokkos exports only Kokkos::kokkos and Kokkos::kokkoskernels
    if(NOT _h2ulv_kokkos_libs AND TARGET Kokkos::kokkos)
      get_target_property(_h2ulv_kokkos_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
      set(_h2ulv_kokkos_ok TRUE)
      foreach(_d ${_h2ulv_kokkos_inc})
        if(NOT EXISTS "${_d}")
          set(_h2ulv_kokkos_ok FALSE)
        endif()
      endforeach()
      if(_h2ulv_kokkos_ok)
        list(APPEND _h2ulv_kokkos_libs Kokkos::kokkos)
        if(TARGET Kokkos::kokkoskernels)
          list(APPEND _h2ulv_kokkos_libs Kokkos::kokkoskernels) # for its include dirs
        endif()
      endif()
    endif()
    set(_h2ulv_kokkos_inc_dirs "")
    foreach(_d ${Kokkos_INCLUDE_DIRS} ${KokkosKernels_INCLUDE_DIRS})
      if(EXISTS "${_d}")
        list(APPEND _h2ulv_kokkos_inc_dirs ${_d})
      endif()
    endforeach()
    if(_h2ulv_kokkos_libs)
      target_sources(h2ulv PRIVATE ${CMAKE_SOURCE_DIR}/src/core/backend/kokkos.cpp)
      target_include_directories(h2ulv SYSTEM PRIVATE ${_h2ulv_kokkos_inc_dirs})
      target_link_libraries(h2ulv PRIVATE ${_h2ulv_kokkos_libs})
      target_compile_definitions(h2ulv PRIVATE H2ULV_HAVE_KOKKOS)
      set(H2ULV_HAVE_KOKKOS_BACKEND ON)
      message(STATUS "h2ulv: Kokkos backend built (Kokkos ${Kokkos_VERSION}, devices ${Kokkos_DEVICES}; ${_h2ulv_kokkos_libs})")
    else()
      message(STATUS "h2ulv: Kokkos backend not built (Kokkos found, but no usable core library)")
    endif()
  else()
    message(STATUS "h2ulv: Kokkos backend not built (Kokkos or Kokkos Kernels not found)")
  endif()
else()
  message(STATUS "h2ulv: Kokkos backend not built (H2ULV_ENABLE_KOKKOS is OFF)")
endif()
