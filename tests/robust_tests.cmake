# Robustness: changed values reach the factorization, singular and inconsistent input fail clearly
h2ulv_program(. test_robust)
# A <- A + 2 (A + I) after a first solve: the re-solve uses the new values (dense reference)
h2ulv_test(robust_axpy_np1 1 test_robust -case axpy -n 2048)
h2ulv_test(robust_axpy_np2 2 test_robust -case axpy -n 2048)
h2ulv_test(robust_axpy_solvertype 1 test_robust -case axpy -n 2048 -pc_type cholesky -pc_factor_mat_solver_type h2ulv)
h2ulv_test(robust_axpy_solvertype_np2 2 test_robust -case axpy -n 2048 -pc_type cholesky -pc_factor_mat_solver_type h2ulv)
# every point twice: a zero pivot, KSP_DIVERGED_PC_FAILED
h2ulv_test(robust_duplicate_np1 1 test_robust -case duplicate -n 2000)
h2ulv_test(robust_duplicate_np2 2 test_robust -case duplicate -n 2000)
