# PCH2ULV: accuracy against PETSc MATDENSE + LAPACK, exactness, iteration counts, log-determinant
h2ulv_program(. test_pc)
target_link_libraries(test_pc PRIVATE lapack)

# direct solver (-ksp_type preonly), tol 1e-8: solution error <= 1e-5 on the well-conditioned problems
foreach(p sphere-laplace cube-yukawa sc22-sphere)
  h2ulv_test(pc_preonly_${p} 1 test_pc -problem ${p} -n 4096 -ksp_type preonly -max_err 1e-5)
endforeach()
# nonsymmetric: LU pivots, and the transposed solve
# a direct solve never builds the operator's bases and values (-mat_h2_defer): KSPView shows them unbuilt
h2ulv_test(pc_preonly_deferred 1 test_pc -problem sphere-laplace -n 4096 -ksp_type preonly -max_err 1e-5 -ksp_view)
set_tests_properties(pc_preonly_deferred PROPERTIES PASS_REGULAR_EXPRESSION "bases and values not built yet.*PASS")
h2ulv_test(pc_preonly_sphere-laplace-ns 1 test_pc -pc_h2ulv_root_size 0 -problem sphere-laplace-ns -n 4096 -ksp_type preonly -max_err 1e-5 -logdet -max_logdet_err 1e-8)
h2ulv_test(pc_transpose_sphere-laplace-ns 1 test_pc -pc_h2ulv_root_size 0 -problem sphere-laplace-ns -n 2048 -ksp_type preonly -transpose -max_err 1e-5)
# (root_size 0: the whole tree through the ULV levels; the default stops at a dense top block,
#  which at these sizes leaves only a level or two)
# preconditioned GMRES with the MATH2 operator: residual 1e-10 in <= 10 / <= 30 iterations
h2ulv_test(pc_gmres_sphere-laplace 1 test_pc -problem sphere-laplace -n 4096 -ksp_type gmres -ksp_rtol 1e-10 -max_its 10 -max_res 1e-8)
h2ulv_test(pc_gmres_cube-yukawa 1 test_pc -problem cube-yukawa -n 4096 -ksp_type gmres -ksp_rtol 1e-10 -max_its 10 -max_res 1e-8)
h2ulv_test(pc_gmres_ball-matern 1 test_pc -problem ball-matern -n 4096 -ksp_type gmres -ksp_rtol 1e-10 -max_its 30 -max_res 1e-7)
h2ulv_test(pc_fgmres_cube-gaussian 1 test_pc -problem cube-gaussian -n 2048 -ksp_type fgmres -ksp_rtol 1e-10 -max_its 30 -max_res 1e-6)
# log-determinant at tol 1e-10 on ball-matern: relative error <= 1e-8
h2ulv_test(pc_logdet_ball-matern 1 test_pc -pc_h2ulv_root_size 0 -problem ball-matern -n 4096 -mat_h2_rtol 1e-10 -mat_h2_max_rank 4096 -ksp_type preonly -logdet -max_logdet_err 1e-8)
# exactness: weak admissibility (theta = 0, HSS: nothing is dropped) and a tight tolerance
h2ulv_test(pc_exact_hss 1 test_pc -pc_h2ulv_root_size 0 -problem cube-yukawa -n 2048 -mat_h2_theta 0 -mat_h2_rtol 1e-12 -mat_h2_max_rank 2048 -mat_h2_samples 100000 -pc_h2ulv_samples 100000 -ksp_type preonly -max_err 1e-11)
h2ulv_test(pc_exact_fullrank 1 test_pc -pc_h2ulv_root_size 0 -problem sphere-laplace -n 1024 -mat_h2_rtol 1e-14 -ksp_type preonly -max_err 1e-11)
# the same acceptance checks at N = 16384 (about a minute each: the LAPACK reference dominates);
# ball-matern's preconditioner at 1e-6 (1e-4 does not resolve this kernel's conditioning; README)
foreach(p sphere-laplace cube-yukawa sc22-sphere)
  h2ulv_test(pc16k_preonly_${p} 1 test_pc -problem ${p} -n 16384 -ksp_type preonly -max_err 1e-5)
endforeach()
h2ulv_test(pc16k_preonly_sphere-laplace-ns 1 test_pc -problem sphere-laplace-ns -n 16384 -ksp_type preonly -max_err 1e-5)
h2ulv_test(pc16k_gmres_sphere-laplace 1 test_pc -problem sphere-laplace -n 16384 -ksp_type gmres -ksp_rtol 1e-10 -max_its 10 -max_res 1e-8)
h2ulv_test(pc16k_gmres_cube-yukawa 1 test_pc -problem cube-yukawa -n 16384 -ksp_type gmres -ksp_rtol 1e-10 -max_its 10 -max_res 1e-8)
h2ulv_test(pc16k_gmres_ball-matern 1 test_pc -problem ball-matern -n 16384 -pc_h2ulv_rtol 1e-6 -ksp_type gmres -ksp_rtol 1e-10 -max_its 30 -max_res 1e-7)
# a rank cap that binds: capped bases (the WARNING, and the solution misses the error bound against
# LAPACK) unless -pc_h2ulv_root_size_capped factors the top levels densely where the cap would bind
h2ulv_test(pc_root_capped_off 1 test_pc -problem sphere-laplace -n 8192 -pc_h2ulv_rtol 1e-6 -pc_h2ulv_max_rank 110 -ksp_type preonly -max_err 3e-5 -ksp_view)
set_tests_properties(pc_root_capped_off PROPERTIES PASS_REGULAR_EXPRESSION "WARNING: [0-9]+ cell\\(s\\) reached the rank cap.*FAILED")
h2ulv_test(pc_root_capped 1 test_pc -problem sphere-laplace -n 8192 -pc_h2ulv_rtol 1e-6 -pc_h2ulv_max_rank 110 -pc_h2ulv_root_size_capped 7000 -ksp_type preonly -max_err 3e-5 -ksp_view)
set_tests_properties(pc_root_capped PROPERTIES PASS_REGULAR_EXPRESSION "where the bases would have reached the rank cap.*PASS" FAIL_REGULAR_EXPRESSION "WARNING|FAILED")
h2ulv_test(pc_root_capped_negative 1 test_pc -problem sphere-laplace -n 512 -pc_h2ulv_root_size_capped -3)
set_tests_properties(pc_root_capped_negative PROPERTIES PASS_REGULAR_EXPRESSION "-pc_h2ulv_root_size_capped must be non-negative, got -3")
# -log_view: every kind of batched operation is an event with its flops (PCH2ULVBat*), and the
# setup's flops are the batches' (not counted twice)
h2ulv_test(pc_log_view 1 test_pc -problem sphere-laplace -n 2048 -ksp_type gmres -ksp_rtol 1e-10 -max_its 10 -max_res 1e-8 -log_view)
set_tests_properties(pc_log_view PROPERTIES PASS_REGULAR_EXPRESSION "PASS.*PCH2ULVSetup +1 1\\.0 [0-9.e+-]+ 1\\.0 ([0-9.]+e\\+[0-9]+).*PCH2ULVBatGemm +[1-9][0-9]* 1\\.0 [0-9.e+-]+ 1\\.0 [1-9].*PCH2ULVBatPotrf +[1-9][0-9]* 1\\.0 [0-9.e+-]+ 1\\.0 [1-9]")
# progress lines: one per level of the MATH2 bases and of the PC's setup
h2ulv_test(pc_monitor 1 test_pc -problem sphere-laplace -n 4096 -ksp_type gmres -ksp_rtol 1e-10 -max_its 10 -max_res 1e-8 -mat_h2_monitor -pc_h2ulv_monitor)
set_tests_properties(pc_monitor PROPERTIES FAIL_REGULAR_EXPRESSION "ERROR|FAILED" PASS_REGULAR_EXPRESSION "MATH2 bases: level 5 of 5\\.\\.1 \\(the leaves\\)[^\n]*\nMATH2 bases: level 4 of 5\\.\\.1, [0-9.]+ s; about [0-9.]+ s left.*PCH2ULV setup: level 5 of 5\\.\\.1 \\(the leaves\\)[^\n]*\nPCH2ULV setup: level 4 of 5\\.\\.1, [0-9.]+ s; about.*CONVERGED_RTOL.*\nPASS")
# single-precision factors, double-precision refinement with FGMRES and with Richardson (true residual)
h2ulv_test(pc_single_fgmres 1 test_pc -problem sphere-laplace -n 4096 -pc_h2ulv_precision single -ksp_type fgmres -ksp_rtol 1e-10 -max_its 10 -max_res 1e-8)
h2ulv_test(pc_single_richardson 1 test_pc -problem cube-yukawa -n 4096 -pc_h2ulv_precision single -ksp_type richardson -ksp_norm_type unpreconditioned -ksp_rtol 1e-10 -max_its 10 -max_res 1e-8)
# Schur variants and fill-in modes still give a working preconditioner
foreach(v diag near1)
  h2ulv_test(pc_schur_${v} 1 test_pc -pc_h2ulv_root_size 0 -problem sphere-laplace -n 2048 -pc_h2ulv_schur ${v} -ksp_type gmres -ksp_rtol 1e-10 -max_its 30 -max_res 1e-8)
endforeach()
h2ulv_test(pc_fillin_nearfield 1 test_pc -pc_h2ulv_root_size 0 -problem sphere-laplace -n 2048 -pc_h2ulv_fillin nearfield -ksp_type gmres -ksp_rtol 1e-10 -max_its 30 -max_res 1e-8)
# refactorization after MatShift reuses the tree and bases; the shifted system is solved correctly
h2ulv_test(pc_refactor_shift 1 test_pc -problem ball-matern -n 2048 -shift 0.5 -ksp_type gmres -ksp_rtol 1e-10 -max_its 30 -max_res 1e-8)
# the same with the kernel blocks not kept (evaluated again by the refactorization)
h2ulv_test(pc_refactor_shift_nokeep 1 test_pc -problem ball-matern -n 2048 -shift 0.5 -pc_h2ulv_keep_kernel_mb 0 -pc_h2ulv_root_size 0 -ksp_type gmres -ksp_rtol 1e-10 -max_its 30 -max_res 1e-8)
# bad input: clear errors or failed reasons
h2ulv_program(. test_pc_badinput)
# (-malloc_dump: a failed setup leaks nothing)
h2ulv_test(pc_badinput 1 test_pc_badinput)
# the same on two processes: a failed pivot on one process fails the PC on both (no hang)
h2ulv_test(pc_badinput_np2 2 test_pc_badinput)
# the factorization on the matrix's own tree (theta 2) instead of its own (theta 1)
h2ulv_test(pc_matrix_tree 1 test_pc -problem sphere-laplace -n 2048 -pc_h2ulv_theta -1 -ksp_type preonly -max_err 1e-5)
# an unmodified dense PETSc program: PCSetCoordinates + -pc_type h2ulv, the plugin loaded with -dll_append
add_executable(test_pc_dense test_pc_dense.c)
target_link_libraries(test_pc_dense PRIVATE PkgConfig::PETSC MPI::MPI_C m)
h2ulv_test(pc_dense_dll 1 test_pc_dense -dll_append $<TARGET_FILE:h2ulv> -pc_type h2ulv -ksp_type gmres -ksp_rtol 1e-10 -max_err 1e-8)
# the same unmodified program on two processes (MATMPIDENSE Pmat, distributed factorization)
h2ulv_test(pc_dense_dll_np2 2 test_pc_dense -dll_append $<TARGET_FILE:h2ulv> -pc_type h2ulv -ksp_type gmres -ksp_rtol 1e-10 -max_err 1e-8)
h2ulv_test(pc_dense_preonly_dll 1 test_pc_dense -dll_append $<TARGET_FILE:h2ulv> -pc_type h2ulv -ksp_type preonly -max_err 1e-5)
# the same factorization through PETSc's factorization PCs (MatSolverType h2ulv)
h2ulv_test(pc_solvertype_cholesky 1 test_pc -problem sphere-laplace -n 2048 -pc_type cholesky -pc_factor_mat_solver_type h2ulv -pc_h2ulv_rtol 1e-4 -ksp_type gmres -ksp_rtol 1e-10 -max_its 10 -max_res 1e-8)
h2ulv_test(pc_solvertype_lu_ns 1 test_pc -problem sphere-laplace-ns -n 2048 -pc_type lu -pc_factor_mat_solver_type h2ulv -ksp_type preonly -max_err 1e-5)
# the backends of the batched dense operations: the same factorization on the Kokkos backend equals
# the host backend's (PCApply, PCApplyTranspose, PCMatApply, log det, inertia), and solves the
# standard problems against LAPACK like the host backend
h2ulv_program(. test_pc_backend)
if(H2ULV_HAVE_KOKKOS_BACKEND)
  h2ulv_test(pc_backend_kokkos_sym 1 test_pc_backend -problem sphere-laplace -n 2048 -backend kokkos -required)
  h2ulv_test(pc_backend_kokkos_ns 1 test_pc_backend -problem sphere-laplace-ns -n 2048 -backend kokkos -required -pc_h2ulv_root_size 0)
  h2ulv_test(pc_backend_kokkos_single 1 test_pc_backend -problem cube-yukawa -n 2048 -backend kokkos -required -pc_h2ulv_precision single -max_diff 1e-4 -max_logdet_diff 1e-5)
  # Debian's Serial Kokkos: the items of a batch over 2 host threads give the host backend's answer
  h2ulv_test(pc_backend_kokkos_threads 1 test_pc_backend -problem sphere-laplace -n 2048 -backend kokkos -required)
  set_tests_properties(pc_backend_kokkos_threads PROPERTIES ENVIRONMENT "${H2ULV_TEST_ENV};OMP_NUM_THREADS=2" PROCESSORS 2)
  h2ulv_test(pc_kokkos_gmres_ball-matern 1 test_pc -problem ball-matern -n 2048 -pc_h2ulv_backend kokkos -pc_h2ulv_backend_required -ksp_type gmres -ksp_rtol 1e-10 -max_its 30 -max_res 1e-7)
  h2ulv_test(pc_kokkos_preonly_ns 1 test_pc -pc_h2ulv_root_size 0 -problem sphere-laplace-ns -n 2048 -pc_h2ulv_backend kokkos -pc_h2ulv_backend_required -ksp_type preonly -transpose -max_err 1e-5)
endif()
# CUDA: without a usable device the PC falls back to the host backend and says why; demanded with
# -pc_h2ulv_backend_required it is a clear error.  (On a GPU machine both run on the device.)
h2ulv_test(pc_backend_cuda_fallback 1 test_pc_backend -problem sphere-laplace -n 2048 -backend cuda)
set_tests_properties(pc_backend_cuda_fallback PROPERTIES PASS_REGULAR_EXPRESSION "PASS \\[fallback to host\\]|PASS \\[cuda\\]")
add_test(NAME pc_backend_cuda_required COMMAND $<TARGET_FILE:test_pc_backend> -problem sphere-laplace -n 1024 -backend cuda -required)
set_tests_properties(pc_backend_cuda_required PROPERTIES ENVIRONMENT "${H2ULV_TEST_ENV}" PROCESSORS 1 TIMEOUT 300
                     PASS_REGULAR_EXPRESSION "backend was demanded but is not usable|PASS \\[cuda\\]")
# tensor-core single precision, emulated by the host backend: corrected TF32 GEMMs give the FP32
# factors' solve to 1e-6 and their FGMRES iterations, plain TF32 is at least 10 times farther off
h2ulv_program(. test_pc_tensor)
h2ulv_test(pc_tensor_cores 1 test_pc_tensor -problem sphere-laplace -n 4096)
# the same through five levels of bases (a small dense root): corrected within twice the FP32
# factors' own difference from double
h2ulv_test(pc_tensor_cores_levels 1 test_pc_tensor -problem sphere-laplace -n 4096 -pc_h2ulv_root_size 512 -max_corrected 1e-5)
# refinement by Richardson on the true residual, a volume kernel
h2ulv_test(pc_tensor_cores_richardson 1 test_pc_tensor -problem cube-yukawa -n 4096 -refine richardson)
# sketched fill-in generators (a Gaussian sketch of n_i columns instead of all of A_ik A_kk^-1):
# still a direct solver at tol 1e-8, and a working preconditioner
h2ulv_test(pc_sketch_preonly 1 test_pc -problem sphere-laplace -n 4096 -pc_h2ulv_fillin_sketch 1 -ksp_type preonly -max_err 1e-5)
h2ulv_test(pc_sketch_gmres_ns 1 test_pc -problem sphere-laplace-ns -n 4096 -pc_h2ulv_fillin_sketch 0.5 -pc_h2ulv_root_size 0 -ksp_type gmres -ksp_rtol 1e-10 -max_its 10 -max_res 1e-8)
# the defaults that set the cost of a solve: MAT_SYMMETRIC after assembly gives one basis; without
# -pc_h2ulv_rtol a direct solve is tight and GMRES takes the loose tolerance; a given one wins
# (-mat_h2_threads 2: the user kernel called from two threads, its default)
h2ulv_program(. test_pc_defaults)
h2ulv_test(pc_defaults_np1 1 test_pc_defaults -n 2048 -max_err 1e-6 -mat_h2_threads 2)
h2ulv_test(pc_defaults_np2 2 test_pc_defaults -n 2048 -max_err 1e-6)
# what the factorization's tolerance is relative to, on a matrix whose diagonal dominates (sc22-sphere,
# kappa ~ 1, through the ULV levels): relative to each cell's diagonal dominance margin (the default)
# the direct solve is within rtol of LAPACK's (4.0e-10 at 1e-8); relative to each block alone
# (-pc_h2ulv_rtol_diagonal 0) it resolves the off-diagonal part too (8.7e-14, at 4.4 times the flops)
h2ulv_test(pc_rtol_diagonal 1 test_pc -pc_h2ulv_root_size 0 -problem sc22-sphere -n 8192 -ksp_type preonly -max_err 1e-8 -ksp_view)
set_tests_properties(pc_rtol_diagonal PROPERTIES PASS_REGULAR_EXPRESSION "diagonal dominance margin.*PASS" FAIL_REGULAR_EXPRESSION "FAILED")
h2ulv_test(pc_rtol_block 1 test_pc -pc_h2ulv_root_size 0 -problem sc22-sphere -n 8192 -ksp_type preonly -max_err 2e-10 -pc_h2ulv_rtol_diagonal 0 -ksp_view)
set_tests_properties(pc_rtol_block PROPERTIES PASS_REGULAR_EXPRESSION "each block alone.*PASS" FAIL_REGULAR_EXPRESSION "FAILED")
# a negative definite matrix (sc22-sphere: 1/r with diagonal -1e6): its negative is factorized with
# Cholesky; the solve, |det| and its sign (N odd and even), the inertia (all negative) against LAPACK,
# through the ULV levels (root_size 0) and 2 processes
foreach(n 4096 4095)
  h2ulv_test(pc_negdef_${n} 1 test_pc -pc_h2ulv_root_size 0 -problem sc22-sphere -n ${n} -ksp_type preonly -max_err 1e-5 -logdet -max_logdet_err 1e-8 -inertia -ksp_view)
  set_tests_properties(pc_negdef_${n} PROPERTIES PASS_REGULAR_EXPRESSION "the negative of the matrix.*PASS" FAIL_REGULAR_EXPRESSION "LU used|FAILED")
endforeach()
# the solve's correction for the dropped couplings E between the redundant parts of near cells
# (-pc_h2ulv_cross_correction, the default): sc22-sphere's diagonal dominates every level, so its
# bases come from the far field alone (-pc_h2ulv_fillin auto) and the correction takes the direct
# solve from 3.5e-8 (uncorrected) to 2.4e-11 of LAPACK's; the same after a shift (refactorization:
# 3.0e-11, uncorrected 4.4e-8); a nonsymmetric transposed solve with the correction on every level (fillin
# none, shifted to dominance): 2.5e-6 against 5.2e-4 uncorrected
h2ulv_test(pc_cross_sc22 1 test_pc -problem sc22-sphere -n 4096 -ksp_type preonly -pc_h2ulv_rtol 1e-12 -pc_h2ulv_max_rank 64 -pc_h2ulv_root_size 0 -pc_h2ulv_theta 2 -mat_h2_leaf_size 128 -max_err 1e-9)
h2ulv_test(pc_cross_sc22_shift 1 test_pc -problem sc22-sphere -n 4096 -ksp_type preonly -pc_h2ulv_rtol 1e-12 -pc_h2ulv_max_rank 64 -pc_h2ulv_root_size 0 -pc_h2ulv_theta 2 -mat_h2_leaf_size 128 -shift 2e5 -max_err 1e-9)
h2ulv_test(pc_cross_transpose_ns 1 test_pc -problem sphere-laplace-ns -n 4096 -ksp_type preonly -pc_h2ulv_rtol 1e-10 -pc_h2ulv_root_size 0 -pc_h2ulv_fillin none -shift 1000 -transpose -max_err 2e-5)
# a refactorization whose new values take the dominance away from far-field-only leaves (sc22-sphere
# shifted by +1e6: the diagonal becomes 0) fails with a message instead of a wrong solve
h2ulv_test(pc_cross_refactor_guard 1 test_pc -problem sc22-sphere -n 4096 -ksp_type preonly -shift 1e6 -pc_h2ulv_rtol 1e-8 -ksp_view)
set_tests_properties(pc_cross_refactor_guard PROPERTIES PASS_REGULAR_EXPRESSION "no longer make the diagonal block of leaf")
# -pc_h2ulv_theta 0 (the default): the matrix's wider admissibility where the sampled leaves are
# dominated by their diagonal blocks (sc22-sphere: far-field bases, lower ranks), else 1
h2ulv_test(pc_theta_auto_wide 1 test_pc -problem sc22-sphere -n 4096 -ksp_type preonly -pc_h2ulv_rtol 1e-10 -pc_h2ulv_root_size 0 -max_err 1e-9 -ksp_view)
set_tests_properties(pc_theta_auto_wide PROPERTIES PASS_REGULAR_EXPRESSION "admissibility theta 2\\.?: chosen \\(-pc_h2ulv_theta 0\\): the sampled leaves' block rows have sum_k [|][|]A_ik[|][|]_F <= 0\\.001.*PASS" FAIL_REGULAR_EXPRESSION "FAILED")
h2ulv_test(pc_theta_auto_narrow 1 test_pc -problem sphere-laplace -n 4096 -ksp_view)
set_tests_properties(pc_theta_auto_narrow PROPERTIES PASS_REGULAR_EXPRESSION "admissibility theta 1\\.?: chosen \\(-pc_h2ulv_theta 0\\): a sampled leaf's diagonal block has no dominance margin.*PASS" FAIL_REGULAR_EXPRESSION "FAILED")
