/* Tensor-core arithmetic of single-precision factors (-pc_h2ulv_tensor_cores), checked on any
   machine: the host backend emulates the tensor cores' rounding (src/core/backend/tensor.hpp).
   Four factorizations of one MATH2 with the same tolerance: double, single, single with corrected
   TF32 GEMMs, single with plain TF32 GEMMs.  Each is applied to one random vector and used by FGMRES
   or Richardson on the true residual (-refine: the double-precision refinement of the
   single-precision solve) on A x = b, and the program checks
     - ||y_corrected - y_single|| / ||y_single|| <= -max_corrected (default 1e-6), and at most
       -max_corrected_ratio (default 2) times ||y_single - y_double|| / ||y_double||: the correction
       gives what FP32 factors give, to their own rounding;
     - ||y_plain - y_single|| >= -min_ratio (default 10) times that: plain TF32 is visibly worse;
     - the refinement converges to -ksp_rtol with the corrected factors in no more iterations than with the
       FP32 ones, and the residual b - A x of every converged solve is within 10 ksp_rtol.
   The difference of the single-precision factors from the double ones is printed for scale.
   Options: -problem <name> -n <N> -rtol <factorization tolerance> -backend host|cuda (cuda without a
   device falls back to the host's emulation) -refine fgmres|richardson -max_corrected
   -max_corrected_ratio -min_ratio -ksp_rtol.
   Exit code 0 and "PASS" when every check holds. */
#include <h2ulv.h>
#include "reldiff.h"

static const char *const modes[] = {"double", "single", "corrected", "plain"};

static PetscErrorCode SetUpPC(Mat A, int mode, PCH2ULVBackendType be, PetscReal rtol, PC *pc, PetscLogDouble *t)
{
  PetscLogDouble t0, t1;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsSetValue(NULL, "-pc_h2ulv_precision", mode ? "single" : "double"));
  PetscCall(PetscOptionsSetValue(NULL, "-pc_h2ulv_tensor_cores", mode == 2 ? "corrected" : mode == 3 ? "plain" : "off"));
  PetscCall(PCCreate(PETSC_COMM_WORLD, pc));
  PetscCall(PCSetOperators(*pc, A, A));
  PetscCall(PCSetType(*pc, PCH2ULV));
  PetscCall(PCSetFromOptions(*pc));
  PetscCall(PCH2ULVSetBackend(*pc, be, PETSC_FALSE));
  PetscCall(PCH2ULVSetTolerance(*pc, rtol, 0));
  PetscCall(PetscTime(&t0));
  PetscCall(PCSetUp(*pc));
  PetscCall(PetscTime(&t1));
  *t = t1 - t0;
  PetscCall(PetscOptionsClearValue(NULL, "-pc_h2ulv_precision"));
  PetscCall(PetscOptionsClearValue(NULL, "-pc_h2ulv_tensor_cores"));
  PetscFunctionReturn(0);
}

/* FGMRES or Richardson on A x = b with pc: iterations, whether it converged, ||b - A x|| / ||b|| */
static PetscErrorCode Solve(Mat A, PC pc, KSPType type, Vec b, PetscReal rtol, PetscInt *its, PetscBool *conv, PetscReal *res)
{
  KSP                ksp;
  Vec                x, r;
  PetscReal          nb, nr;
  KSPConvergedReason reason;

  PetscFunctionBeginUser;
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetType(ksp, type));
  PetscCall(KSPSetNormType(ksp, KSP_NORM_UNPRECONDITIONED)); /* Richardson: the true residual */
  PetscCall(KSPSetPC(ksp, pc));
  PetscCall(KSPSetTolerances(ksp, rtol, PETSC_DEFAULT, PETSC_DEFAULT, 50));
  PetscCall(VecDuplicate(b, &x));
  PetscCall(VecDuplicate(b, &r));
  PetscCall(KSPSolve(ksp, b, x));
  PetscCall(KSPGetIterationNumber(ksp, its));
  PetscCall(KSPGetConvergedReason(ksp, &reason));
  *conv = (PetscBool)(reason > 0);
  PetscCall(MatMult(A, x, r));
  PetscCall(VecAYPX(r, -1.0, b));
  PetscCall(VecNorm(r, NORM_2, &nr));
  PetscCall(VecNorm(b, NORM_2, &nb));
  *res = nr / nb;
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&r));
  PetscCall(KSPDestroy(&ksp));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  char               name[64] = "sphere-laplace", bname[16] = "host", refine[16] = "fgmres";
  PetscInt           N = 4096, its[4];
  PetscReal          rtol = 1e-7, maxcorr = 1e-6, maxcratio = 2, minratio = 10, krtol = 1e-10, d[4], res[4];
  PetscBool          ok = PETSC_TRUE, conv[4];
  PCH2ULVBackendType be = PCH2ULV_BACKEND_HOST;
  H2ULVProblem       prob;
  Mat                A;
  Vec                b, y[4];
  PC                 pc[4];
  PetscRandom        rnd;
  PetscLogDouble     ts[4];

  PetscCall(PetscInitialize(&argc, &argv, NULL, "PCH2ULV: tensor-core single precision, corrected and plain, against FP32 factors"));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-problem", name, sizeof(name), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-backend", bname, sizeof(bname), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-refine", refine, sizeof(refine), NULL));
  PetscCheck(!strcmp(refine, "fgmres") || !strcmp(refine, "richardson"), PETSC_COMM_WORLD, PETSC_ERR_ARG_UNKNOWN_TYPE, "-refine must be fgmres or richardson, got %s", refine);
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &N, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-rtol", &rtol, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_corrected", &maxcorr, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-max_corrected_ratio", &maxcratio, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-min_ratio", &minratio, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-ksp_rtol", &krtol, NULL));
  if (!strcmp(bname, "cuda")) be = PCH2ULV_BACKEND_CUDA;
  else PetscCheck(!strcmp(bname, "host"), PETSC_COMM_WORLD, PETSC_ERR_ARG_UNKNOWN_TYPE, "-backend must be host or cuda, got %s", bname);
  PetscCall(H2ULVProblemCreate(name, N, 0, &prob));
  PetscCall(H2ULVProblemCreateH2(prob, PETSC_COMM_WORLD, PETSC_DECIDE, &A));
  PetscCall(MatCreateVecs(A, &b, NULL));
  PetscCall(PetscRandomCreate(PETSC_COMM_WORLD, &rnd));
  PetscCall(PetscRandomSetSeed(rnd, 7));
  PetscCall(PetscRandomSeed(rnd));
  PetscCall(VecSetRandom(b, rnd));

  for (int m = 0; m < 4; m++) {
    PetscCall(SetUpPC(A, m, be, rtol, &pc[m], &ts[m]));
    PetscCall(VecDuplicate(b, &y[m]));
    PetscCall(PCApply(pc[m], b, y[m]));
  }
  PetscCall(RelDiff(y[0], y[1], &d[1]));
  PetscCall(RelDiff(y[1], y[2], &d[2]));
  PetscCall(RelDiff(y[1], y[3], &d[3]));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s N=%" PetscInt_FMT ", factorization tolerance %g\n", name, N, (double)rtol));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PCApply: single vs double %.3e; corrected TF32 vs single %.3e; plain TF32 vs single %.3e (%.1f times the corrected)\n", (double)d[1], (double)d[2], (double)d[3], (double)(d[3] / PetscMax(d[2], PETSC_SMALL * PETSC_SMALL))));
  for (int m = 0; m < 4; m++) {
    PetscCall(Solve(A, pc[m], refine, b, krtol, &its[m], &conv[m], &res[m]));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-9s setup %.3f s; %s to %g: %s in %" PetscInt_FMT " iterations, residual %.2e\n", modes[m], ts[m], refine, (double)krtol, conv[m] ? "converged" : "NOT converged", its[m], (double)res[m]));
    if (conv[m] && res[m] > 10 * krtol) ok = PETSC_FALSE;
  }
  PetscCall(PCView(pc[2], PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(PCView(pc[3], PETSC_VIEWER_STDOUT_WORLD));
  if (!(d[2] <= maxcorr && d[2] <= maxcratio * d[1])) {
    ok = PETSC_FALSE;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL: corrected TF32 differs from the FP32 factors by %.3e: more than %g, or more than %g times their own difference from double (%.3e)\n", (double)d[2], (double)maxcorr, (double)maxcratio, (double)d[1]));
  }
  if (!(d[3] >= minratio * d[2])) {
    ok = PETSC_FALSE;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL: plain TF32 (%.3e) is not %g times farther from the FP32 factors than corrected TF32 (%.3e)\n", (double)d[3], (double)minratio, (double)d[2]));
  }
  if (!conv[0] || !conv[1] || !conv[2] || its[2] > its[1]) {
    ok = PETSC_FALSE;
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL: %s with the corrected factors took %" PetscInt_FMT " iterations (FP32 factors: %" PetscInt_FMT "), or a solve did not converge\n", refine, its[2], its[1]));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, ok ? "PASS\n" : "FAIL\n"));

  for (int m = 0; m < 4; m++) {
    PetscCall(PCDestroy(&pc[m]));
    PetscCall(VecDestroy(&y[m]));
  }
  PetscCall(VecDestroy(&b));
  PetscCall(PetscRandomDestroy(&rnd));
  PetscCall(MatDestroy(&A));
  PetscCall(H2ULVProblemDestroy(&prob));
  PetscCall(PetscFinalize());
  return ok ? 0 : 1;
}
