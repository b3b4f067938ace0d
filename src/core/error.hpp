// The numerical core's one error type.  The core throws h2ulv::Error with a kind and a message that
// names the cause; it never prints or aborts.  The PETSc layer calls the core only through
// H2ULVCallCore (src/sys/corecall.cxx), which turns the kind into the PETSc error code below, and a
// std::bad_alloc or std::length_error into PETSC_ERR_MEM, so no exception unwinds through PETSc.
#pragma once

#include <stdexcept>
#include <string>

namespace h2ulv {

enum ErrorKind {
  ERR_MEMORY,   // an allocation that cannot be made (PETSC_ERR_MEM)
  ERR_SUPPORT,  // a capability this build or this device does not have (PETSC_ERR_SUP)
  ERR_ARG,      // an argument or option out of range (PETSC_ERR_ARG_WRONG)
  ERR_NUMERIC,  // a zero or non-positive pivot, a non-finite value (PETSC_ERR_FP)
  ERR_LIB,      // BLAS, LAPACK, cuBLAS, cuSOLVER, Kokkos or MPI reported a failure (PETSC_ERR_LIB)
  ERR_INTERNAL, // an inconsistency in the core itself (PETSC_ERR_PLIB)
  ERR_USER      // a user callback returned an error (PETSC_ERR_USER)
};

struct Error : std::runtime_error {
  ErrorKind kind;
  Error(ErrorKind k, const std::string &m) : std::runtime_error(m), kind(k) { }
};

} // namespace h2ulv
