add_executable(test_eps test_eps.c)
target_link_libraries(test_eps PRIVATE h2ulv PkgConfig::SLEPC PkgConfig::PETSC MPI::MPI_C m)
set(SI -st_type sinvert -st_ksp_type preonly -st_pc_type h2ulv)
foreach(p sphere-laplace ball-matern)
  h2ulv_test(eps_largest_${p} 1 test_eps -problem ${p} -n 4096 -mat_h2_rtol 1e-10 -which largest)
  h2ulv_test(eps_target_${p} 1 test_eps -problem ${p} -n 4096 -mat_h2_rtol 1e-10 -which target ${SI})
endforeach()
h2ulv_test(eps_target_inplace 1 test_eps -problem sphere-laplace -n 4096 -mat_h2_rtol 1e-10 -which target ${SI} -st_matmode inplace)
h2ulv_test(eps_target_split 1 test_eps -problem ball-matern -n 4096 -mat_h2_rtol 1e-6 -which target -split
           -st_type sinvert -st_ksp_type fgmres -st_ksp_rtol 1e-12 -st_pc_type h2ulv)
foreach(p sphere-laplace ball-matern)
  h2ulv_test(eps_interval_${p} 1 test_eps -problem ${p} -n 4096 -mat_h2_rtol 1e-10 -which interval
             -st_type sinvert -st_ksp_type preonly -st_pc_type cholesky -st_pc_factor_mat_solver_type h2ulv -st_pc_h2ulv_root_size 0)
endforeach()
# the same on two processes: shift-and-invert with the distributed PCH2ULV, and spectrum slicing
# with its inertia (MatGetInertia of the h2ulv MatSolverType summed over the processes)
h2ulv_test(eps_target_np2 2 test_eps -problem sphere-laplace -n 2048 -mat_h2_rtol 1e-10 -which target ${SI})
h2ulv_test(eps_interval_np2 2 test_eps -problem sphere-laplace -n 2048 -mat_h2_rtol 1e-10 -which interval
           -st_type sinvert -st_ksp_type preonly -st_pc_type cholesky -st_pc_factor_mat_solver_type h2ulv -st_pc_h2ulv_root_size 0)
