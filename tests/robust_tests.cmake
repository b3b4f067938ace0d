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
# processes given different options (an MPMD job, the second process with one option changed):
# an error naming the option on every process, never a hang, a crash or a silently wrong answer
set(_mismatch "pc_h2ulv_precision=single" "mat_h2_leaf_size=64" "mat_h2_storage=jit" "pc_h2ulv_root_size=0" "mat_h2_theta=1.5" "mat_h2_rtol=1e-6")
foreach(m ${_mismatch})
  string(REPLACE "=" ";" _kv ${m})
  list(GET _kv 0 _opt)
  list(GET _kv 1 _val)
  add_test(NAME robust_mismatch_${_opt}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 1 $<TARGET_FILE:test_robust> -case mismatch -n 2000 -expect ${_opt}
                   : ${MPIEXEC_NUMPROC_FLAG} 1 $<TARGET_FILE:test_robust> -case mismatch -n 2000 -expect ${_opt} -${_opt} ${_val})
  set_tests_properties(robust_mismatch_${_opt} PROPERTIES ENVIRONMENT "${H2ULV_TEST_ENV}" PROCESSORS 2 TIMEOUT 120
                       FAIL_REGULAR_EXPRESSION "FAILED")
endforeach()
# a problem that cannot fit under the address-space limit: PETSC_ERR_MEM, not an abort
add_test(NAME robust_memory COMMAND sh -c "ulimit -v 3000000 && exec $<TARGET_FILE:test_robust> -case memory -n 100000000 -expect memory")
set_tests_properties(robust_memory PROPERTIES ENVIRONMENT "${H2ULV_TEST_ENV}" PROCESSORS 1 TIMEOUT 120 FAIL_REGULAR_EXPRESSION "FAILED")
# the bases of 10^6 points cannot fit in 4 GB: refused after the pilot build, before the bases (math2pilot.cxx)
add_test(NAME robust_memory_pilot COMMAND sh -c "ulimit -v 4000000 && exec $<TARGET_FILE:test_robust> -case memory -n 1000000 -mat_h2_defer 0 -expect 'pilot build'")
# the bases deferred (the default): the factorization's own check refuses it before any basis is built
add_test(NAME robust_memory_deferred COMMAND sh -c "ulimit -v 4000000 && exec $<TARGET_FILE:test_robust> -case memory -n 1000000 -expect 'leaf near blocks'")
set_tests_properties(robust_memory_pilot robust_memory_deferred PROPERTIES ENVIRONMENT "${H2ULV_TEST_ENV}" PROCESSORS 1 TIMEOUT 300 FAIL_REGULAR_EXPRESSION "FAILED")
# MATH2 declared symmetric on a nonsymmetric kernel: an error at assembly (1 and 2 processes)
add_test(NAME robust_symmetric COMMAND $<TARGET_FILE:test_robust> -case symmetric -n 2048 -mat_h2_symmetric 1 -expect "not symmetric")
add_test(NAME robust_symmetric_np2 COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 $<TARGET_FILE:test_robust> -case symmetric -n 2048 -mat_h2_symmetric 1 -expect "not symmetric")
set_tests_properties(robust_symmetric robust_symmetric_np2 PROPERTIES ENVIRONMENT "${H2ULV_TEST_ENV}" PROCESSORS 2 TIMEOUT 120 FAIL_REGULAR_EXPRESSION "FAILED")
# too few far-field samples: the build's check of the product on 16 rows reports it (1 and 10
# samples, 1 and 2 processes), and the automatic count passes the same check
h2ulv_test(robust_samples_1 1 test_robust -case samples -n 4096 -mat_h2_samples 1)
h2ulv_test(robust_samples_10_np2 2 test_robust -case samples -n 4096 -mat_h2_samples 10)
h2ulv_test(robust_samples_auto 1 test_robust -case samples -n 4096 -mat_h2_check_rows 16)
# PC option values that are refused with the option's name
foreach(o "pc_h2ulv_theta=nan" "pc_h2ulv_keep_kernel_mb=-1" "pc_h2ulv_zeropivot=2")
  string(REPLACE "=" ";" _kv ${o})
  list(GET _kv 0 _opt)
  list(GET _kv 1 _val)
  add_test(NAME robust_option_${_opt} COMMAND $<TARGET_FILE:test_robust> -case options -n 1024 -expect ${_opt} -${_opt} ${_val})
  set_tests_properties(robust_option_${_opt} PROPERTIES ENVIRONMENT "${H2ULV_TEST_ENV}" PROCESSORS 1 TIMEOUT 120 FAIL_REGULAR_EXPRESSION "FAILED")
endforeach()
# PCSetCoordinates() with one point too few on one of two processes: an error on both (no hang)
add_test(NAME robust_coordcount_np2 COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 $<TARGET_FILE:test_robust> -case coordcount -n 1024 -expect "PCSetCoordinates() gave")
set_tests_properties(robust_coordcount_np2 PROPERTIES ENVIRONMENT "${H2ULV_TEST_ENV}" PROCESSORS 2 TIMEOUT 120 FAIL_REGULAR_EXPRESSION "FAILED")
# a user kernel or entry callback that fails inside each MATH2 operation: an error with the
# callback's message on every process, nothing leaked (-malloc_debug -malloc_dump), the matrix usable
# afterwards; stored values and on-the-fly values (-mat_h2_storage jit), 1 and 2 processes
h2ulv_program(. test_callback_fail)
foreach(np 1 2)
  h2ulv_test(robust_callback_fail_np${np} ${np} test_callback_fail -malloc_debug)
  h2ulv_test(robust_callback_fail_jit_np${np} ${np} test_callback_fail -malloc_debug -mat_h2_storage jit)
  set_tests_properties(robust_callback_fail_np${np} robust_callback_fail_jit_np${np} PROPERTIES TIMEOUT 300)
endforeach()
