/* ||b - a|| / ||a|| of two vectors.  Shared by tests/test_pc_backend.c and tests/test_pc_tensor.c. */
#ifndef H2ULV_TESTS_RELDIFF_H
#define H2ULV_TESTS_RELDIFF_H
#include <petscvec.h>

static inline PetscErrorCode RelDiff(Vec a, Vec b, PetscReal *d)
{
  Vec       w;
  PetscReal na, nw;

  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(a, &w));
  PetscCall(VecWAXPY(w, -1.0, a, b));
  PetscCall(VecNorm(w, NORM_2, &nw));
  PetscCall(VecNorm(a, NORM_2, &na));
  *d = nw / na;
  PetscCall(VecDestroy(&w));
  PetscFunctionReturn(0);
}
#endif
