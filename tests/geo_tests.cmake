# MATH2 and PCH2ULV without coordinates (-mat_h2_geometry matrix): standard problems whose points are
# hidden and whose order is shuffled, against MATDENSE of the same matrix (product to 10 x rtol,
# memory at most 2 x the tree from the points, FGMRES + PCH2ULV to 1e-10, 2 processes against 1)
h2ulv_program(. test_geo)
foreach(p sphere-laplace ball-matern)
  h2ulv_test(geo_${p}_entries 1 test_geo -problem ${p} -n 4096 -mat_h2_rtol 1e-8 -source entries)
  h2ulv_test(geo_${p}_dense_np2 2 test_geo -problem ${p} -n 4096 -mat_h2_rtol 1e-8 -source dense)
endforeach()
