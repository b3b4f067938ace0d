# MATH2 and PCH2ULV without coordinates (-mat_h2_geometry matrix): standard problems whose points are
# hidden and whose order is shuffled, against MATDENSE of the same matrix (product to 10 x rtol,
# memory at most 2 x the tree from the points, FGMRES + PCH2ULV to 1e-10, 2 processes against 1)
h2ulv_program(. test_geo)
foreach(p sphere-laplace ball-matern)
  h2ulv_test(geo_${p}_entries 1 test_geo -problem ${p} -n 4096 -mat_h2_rtol 1e-8 -source entries)
  h2ulv_test(geo_${p}_dense_np2 2 test_geo -problem ${p} -n 4096 -mat_h2_rtol 1e-8 -source dense)
endforeach()
# a plain PETSc program (not linked against the library) with a MATDENSE Pmat and no coordinates:
# -dll_append and -pc_type h2ulv only
foreach(np 1 2)
  h2ulv_test(geo_pc_dense_dll_np${np} ${np} test_pc_dense -dll_append $<TARGET_FILE:h2ulv> -pc_type h2ulv -ksp_type gmres -ksp_rtol 1e-10 -max_err 1e-8 -no_coordinates)
endforeach()
# the tree from the entries on every standard problem (the points given but not used): the product
# to 10 x rtol, the nonsymmetric one and the negative diagonal of sc22-sphere included; 2 processes
# agree with one to 1e-12
foreach(p cube-yukawa cube-gaussian sphere-laplace-ns)
  h2ulv_test(geo_matvec_${p} 1 test_matvec -problem ${p} -n 4096 -mat_h2_rtol 1e-8 -mat_h2_geometry matrix)
endforeach()
h2ulv_test(geo_matvec_sc22-sphere 1 test_matvec -problem sc22-sphere -n 4096 -mat_h2_rtol 1e-8 -offdiag -mat_h2_geometry matrix)
h2ulv_test(geo_mpi_consistency_np2 2 test_mpi_consistency -n 4096 -mat_h2_rtol 1e-8 -mat_h2_geometry matrix)
# the direct solve at the matrix's tolerance of the exponential kernel without points: the bases'
# sketched pivots are checked on the whole sample (without the check: error 3.9e-6)
foreach(np 1 2)
  h2ulv_test(geo_sketch_checked_np${np} ${np} test_pc_dense -dll_append $<TARGET_FILE:h2ulv> -ksp_type preonly -pc_type cholesky -pc_factor_mat_solver_type h2ulv -no_coordinates -max_err 1e-8)
endforeach()
