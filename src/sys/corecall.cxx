#include "h2ulvimpl.h"

#include <stdexcept>
#include <string>

/* the PETSc error code of each kind of core error (src/core/error.hpp) */
static PetscErrorCode MapError(h2ulv::ErrorKind kind)
{
  switch (kind) {
  case h2ulv::ERR_MEMORY: return PETSC_ERR_MEM;
  case h2ulv::ERR_SUPPORT: return PETSC_ERR_SUP;
  case h2ulv::ERR_ARG: return PETSC_ERR_ARG_WRONG;
  case h2ulv::ERR_NUMERIC: return PETSC_ERR_FP;
  case h2ulv::ERR_LIB: return PETSC_ERR_LIB;
  case h2ulv::ERR_INTERNAL: return PETSC_ERR_PLIB;
  case h2ulv::ERR_USER: return PETSC_ERR_USER;
  }
  return PETSC_ERR_PLIB;
}

PetscErrorCode H2ULVCallCore(MPI_Comm comm, PetscBool collective, const std::function<void()> &f)
{
  std::string    msg;
  PetscErrorCode code = 0;

  PetscFunctionBegin;
  try {
    f();
  } catch (const h2ulv::Error &e) {
    msg  = e.what();
    code = MapError(e.kind);
  } catch (const std::bad_alloc &) {
    msg  = "out of memory in the h2ulv numerical core (a smaller problem, more processes, or a looser tolerance)";
    code = PETSC_ERR_MEM;
  } catch (const std::length_error &e) { /* a std::vector larger than it can be */
    msg  = std::string("an allocation too large for this machine in the h2ulv numerical core (") + e.what() + ")";
    code = PETSC_ERR_MEM;
  } catch (const std::exception &e) {
    msg  = e.what();
    code = PETSC_ERR_LIB;
  }
  if (collective) {
    PetscMPIInt mine = code ? 1 : 0, any = 0;
    PetscCallMPI(MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm));
    if (any && !code) {
      code = PETSC_ERR_PLIB;
      msg  = "the H2 computation failed on another process (see its error message)";
    }
  }
  PetscCheck(!code, PETSC_COMM_SELF, code, "%s", msg.c_str());
  PetscFunctionReturn(0);
}
