# MATH2 operations, bad input and edge cases.  Every program checks against an independent
# reference (MATDENSE with LAPACK/BLAS products, or analytic values) and exits non-zero on failure.
h2ulv_program(. test_ops)
h2ulv_program(. test_badinput)
h2ulv_program(. test_edge)

# MultAdd, GetDiagonal, Shift, DiagonalSet, Scale, Duplicate, AXPY, Copy, ZeroEntries, Norm, Convert,
# MatMatMult, MatH2SetEntries, View on ball-matern and sphere-laplace-ns (leaf 64: a 4-level tree)
h2ulv_test(math2_ops_np1 1 test_ops -n 2000 -mat_h2_rtol 1e-10 -mat_h2_leaf_size 64)
h2ulv_test(math2_ops_np2 2 test_ops -n 2000 -mat_h2_rtol 1e-10 -mat_h2_leaf_size 64)
# the same with process 1 owning no rows
h2ulv_test(math2_ops_np3_emptyrank 3 test_ops -n 1500 -mat_h2_rtol 1e-8 -mat_h2_leaf_size 64 -emptyrank)

# Bad input must give an error with a useful message.  The options-database cases leak PETSc's
# option-parsing memory on each (expected) error, so they run without -malloc_dump.
h2ulv_test(math2_badinput 1 test_badinput -group api)
add_test(NAME math2_badinput_options COMMAND $<TARGET_FILE:test_badinput> -group options -options_left)
set_tests_properties(math2_badinput_options PROPERTIES ENVIRONMENT "${H2ULV_TEST_ENV}" PROCESSORS 1 TIMEOUT 600
                     FAIL_REGULAR_EXPRESSION "There are .*options you set that were not used;There is one unused database option")

# N = 1, N = 5, duplicate points, points on a line / plane, an empty process, unsorted points:
# tight tolerance on one process, a looser one (real compression everywhere) on three
h2ulv_test(math2_edge_np1 1 test_edge -mat_h2_rtol 1e-10)
h2ulv_test(math2_edge_np3 3 test_edge -mat_h2_rtol 1e-6)
# values computed on the fly (-mat_h2_storage jit): every operation, and the automatic fallback
# when the stored values would exceed -mat_h2_memory_limit (MB)
h2ulv_test(math2_ops_jit_np1 1 test_ops -n 2000 -mat_h2_rtol 1e-10 -mat_h2_leaf_size 64 -mat_h2_storage jit)
h2ulv_test(math2_ops_jit_np2 2 test_ops -n 2000 -mat_h2_rtol 1e-10 -mat_h2_leaf_size 64 -mat_h2_storage jit)
h2ulv_test(math2_matvec_jit_ns_np3 3 test_matvec -problem sphere-laplace-ns -n 4096 -mat_h2_rtol 1e-8 -mat_h2_storage jit)
h2ulv_test(math2_storage_auto 1 test_matvec -problem ball-matern -n 4096 -mat_h2_rtol 1e-8 -mat_h2_memory_limit 1 -mat_view ::ascii_info -mat_h2_defer 0)
set_tests_properties(math2_storage_auto PROPERTIES PASS_REGULAR_EXPRESSION "computed on the fly.*PASS")
# a rank cap that stops the compression before the tolerance is reported (-mat_view, -info), and
# the accuracy check (10 rtol) fails with it; with the cap high enough nothing is reported
h2ulv_test(math2_rank_capped 1 test_matvec -problem ball-matern -n 4096 -mat_h2_rtol 1e-10 -mat_h2_max_rank 40 -mat_view ::ascii_info -mat_h2_defer 0)
set_tests_properties(math2_rank_capped PROPERTIES PASS_REGULAR_EXPRESSION "WARNING: [0-9]+ cell\\(s\\) reached the rank cap 40 .*FAILED")
h2ulv_test(math2_rank_not_capped 1 test_matvec -problem ball-matern -n 4096 -mat_h2_rtol 1e-10 -mat_h2_max_rank 4096 -mat_view ::ascii_info -mat_h2_defer 0)
set_tests_properties(math2_rank_not_capped PROPERTIES PASS_REGULAR_EXPRESSION "capped\n.*PASS" FAIL_REGULAR_EXPRESSION "WARNING|FAILED")

# MatView to a binary file and MatLoad: bit-identical products and factorization after the round
# trip, the file loaded on one process against the distributed matrix, damaged and foreign files
h2ulv_program(. test_io)
h2ulv_test(math2_io_np1 1 test_io -prefix math2_io -malloc_debug -malloc_dump)
h2ulv_test(math2_io_np2 2 test_io -prefix math2_io -malloc_debug -malloc_dump)
