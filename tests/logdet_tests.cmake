# log det of the operator from a loose factorization: the factors' log det plus the stochastic
# Lanczos correction (PCH2ULVGetLogDeterminantCorrection) within 3 standard errors of the dense
# LAPACK value and (N = 8192, where the factors' error is well above the standard error) closer to
# it than the factors' own; the halves of the solve (PCApplySymmetricLeft/Right)
h2ulv_program(. test_logdet_slq)
target_link_libraries(test_logdet_slq PRIVATE lapack)
h2ulv_test(logdet_slq_matern_np1 1 test_logdet_slq -problem ball-matern -n 8192 -mat_h2_rtol 1e-10 -pc_h2ulv_rtol 1e-4 -pc_h2ulv_logdet_probes 256 -pc_h2ulv_logdet_view -closer)
h2ulv_test(logdet_slq_matern_np2 2 test_logdet_slq -problem ball-matern -n 4096 -mat_h2_rtol 1e-10 -pc_h2ulv_rtol 1e-4 -pc_h2ulv_logdet_probes 64 -pc_h2ulv_logdet_view -serial)
# a factorization with LU pivots has no symmetric halves: a clear error, not a wrong estimate
add_test(NAME logdet_slq_lu_error COMMAND $<TARGET_FILE:test_logdet_slq> -n 2048 -mat_h2_rtol 1e-8 -pc_h2ulv_rtol 1e-4 -pc_h2ulv_factorization lu)
set_tests_properties(logdet_slq_lu_error PROPERTIES ENVIRONMENT "${H2ULV_TEST_ENV}" TIMEOUT 120
  PASS_REGULAR_EXPRESSION "PCApplySymmetricLeft/Right of PCH2ULV need M = F F\\^T")
# a negative definite matrix (its negative is factorized): the halves carry the sign, F^-1 A F^-T
# is still symmetric and the corrected log|det| within the error bar; its diagonal dominates, so the
# leaves' bases come from the far field alone and the solve corrects for the dropped couplings
# (-pc_h2ulv_cross_correction): the halves are those of the uncorrected factors (1e-5 from PCApply)
h2ulv_test(logdet_slq_negdef_np1 1 test_logdet_slq -problem sc22-sphere -n 4096 -mat_h2_rtol 1e-10 -pc_h2ulv_rtol 1e-4 -pc_h2ulv_logdet_probes 64 -halves_tol 1e-3)
h2ulv_test(logdet_slq_negdef_uncorrected 1 test_logdet_slq -problem sc22-sphere -n 4096 -mat_h2_rtol 1e-10 -pc_h2ulv_rtol 1e-4 -pc_h2ulv_logdet_probes 64 -pc_h2ulv_cross_correction 0)
