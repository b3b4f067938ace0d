# PCH2ULV on P processes gives the same answer as on one process (test_pc_mpi): the solution (to
# 1e-10 relative), log|det| and its sign, and the KSP iteration counts of the distributed solve
# against the same matrix solved on PETSC_COMM_SELF; KSPSolveTranspose too on the nonsymmetric
# problem.  Times are for a 2-core machine (each well under a minute).
h2ulv_program(. test_pc_mpi)

# the arithmetic does not depend on the distribution (symmetric lower blocks are always transposes
# of the upper ones, sums in a fixed order), so the solutions agree to the last bit; cube-gaussian
# (condition ~1e7) is in its own test at the same 1e-10 to keep each test short
set(_pc_mpi_wellcond sphere-laplace,cube-yukawa,ball-matern,sc22-sphere,sphere-laplace-ns)

# (pc_mpi_np3 also shifts the matrix and solves again: the refactorization on P processes)
# one process: the program itself (A and A1 the same matrix; shuffle: the mapping of the rows)
h2ulv_test(pc_mpi_np1_shuffle 1 test_pc_mpi -n 2048 -layout shuffle)
# default PC options (at these sizes mostly the gathered dense root block)
h2ulv_test(pc_mpi_np2 2 test_pc_mpi -n 4096 -problem ${_pc_mpi_wellcond})
# -pc_h2ulv_root_size 0: every level through the distributed ULV steps
h2ulv_test(pc_mpi_np2_8192 2 test_pc_mpi -n 8192 -problem sphere-laplace -pc_h2ulv_root_size 0)
h2ulv_test(pc_mpi_np3 3 test_pc_mpi -n 4096 -problem sphere-laplace,sc22-sphere,sphere-laplace-ns -pc_h2ulv_root_size 0 -shift 0.5)
h2ulv_test(pc_mpi_np4 4 test_pc_mpi -n 2048 -problem ${_pc_mpi_wellcond} -pc_h2ulv_root_size 0)
h2ulv_test(pc_mpi_gaussian_np3 3 test_pc_mpi -n 4096 -problem cube-gaussian -pc_h2ulv_root_size 0)
# each process's points scattered over the whole geometry
h2ulv_test(pc_mpi_shuffle_np3 3 test_pc_mpi -n 2048 -layout shuffle -problem ${_pc_mpi_wellcond} -pc_h2ulv_root_size 0)
# process 0 with only 5 rows
h2ulv_test(pc_mpi_few_np4 4 test_pc_mpi -n 2048 -layout few -problem ${_pc_mpi_wellcond} -pc_h2ulv_root_size 0)
# preconditioned GMRES (a loose factorization, so that it iterates): equal iteration counts
h2ulv_test(pc_mpi_gmres_np2 2 test_pc_mpi -n 4096 -problem ball-matern,sphere-laplace-ns -ksp_type gmres -ksp_rtol 1e-10 -pc_h2ulv_rtol 1e-3 -pc_h2ulv_root_size 0)
# more processes than leaves: 300 points, leaf size 128 (2 leaves), 4 processes (2 own no cell)
h2ulv_test(pc_mpi_edge_np4 4 test_pc_mpi -n 300 -mat_h2_leaf_size 128 -pc_h2ulv_root_size 0)
h2ulv_test(pc_mpi_edge_few_np4 4 test_pc_mpi -n 300 -mat_h2_leaf_size 128 -layout few)
# the sketched fill-in generators: their Gaussian matrices are seeded by (level, cell), the same on
# every process
h2ulv_test(pc_mpi_sketch_np3 3 test_pc_mpi -n 2048 -problem sphere-laplace,sphere-laplace-ns -pc_h2ulv_root_size 0 -pc_h2ulv_fillin_sketch 1)
