# The petsc4py module python/h2ulv.py (tests/test_petsc4py.py) against numpy, on 1 and 2 processes,
# with Debian's python3 (python3-petsc4py, python3-numpy; `make deps` installs them).  Without
# petsc4py the tests are reported as skipped, with the package to install.
find_program(H2ULV_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(H2ULV_PYTHON)
  execute_process(COMMAND ${H2ULV_PYTHON} -c "import petsc4py, numpy" RESULT_VARIABLE _no_petsc4py OUTPUT_QUIET ERROR_QUIET)
else()
  set(_no_petsc4py 1)
endif()
set(_py_env ${H2ULV_TEST_ENV} "PYTHONPATH=${CMAKE_SOURCE_DIR}/python" "H2ULV_LIBRARY=$<TARGET_FILE:h2ulv>")
foreach(np 1 2)
  if(_no_petsc4py)
    add_test(NAME python_petsc4py_np${np} COMMAND sh -c "echo 'SKIPPED: petsc4py for /usr/bin/python3 is not installed (apt-get install python3-petsc4py python3-numpy)'; exit 77")
  elseif(np EQUAL 1)
    add_test(NAME python_petsc4py_np${np} COMMAND ${H2ULV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_petsc4py.py -n 1200)
  else()
    add_test(NAME python_petsc4py_np${np} COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${MPIEXEC_PREFLAGS}
             ${H2ULV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_petsc4py.py -n 1200)
  endif()
  set_tests_properties(python_petsc4py_np${np} PROPERTIES ENVIRONMENT "${_py_env}" PROCESSORS ${np} TIMEOUT 600
                       SKIP_RETURN_CODE 77 PASS_REGULAR_EXPRESSION "RESULT: PASS|SKIPPED" FAIL_REGULAR_EXPRESSION "FAILED")
endforeach()
# the Gaussian-process example against scikit-learn's GaussianProcessRegressor (python3-sklearn)
if(NOT _no_petsc4py)
  execute_process(COMMAND ${H2ULV_PYTHON} -c "import sklearn" RESULT_VARIABLE _no_sklearn OUTPUT_QUIET ERROR_QUIET)
endif()
if(_no_petsc4py OR _no_sklearn)
  add_test(NAME example_gp_regression_py COMMAND sh -c "echo 'SKIPPED: examples/gp_regression.py needs python3-petsc4py and python3-sklearn'; exit 77")
else()
  add_test(NAME example_gp_regression_py COMMAND ${H2ULV_PYTHON} ${CMAKE_SOURCE_DIR}/examples/gp_regression.py -check 1e-8)
endif()
set_tests_properties(example_gp_regression_py PROPERTIES ENVIRONMENT "${_py_env}" PROCESSORS 1 TIMEOUT 600
                     SKIP_RETURN_CODE 77 PASS_REGULAR_EXPRESSION "RESULT: PASS|SKIPPED" FAIL_REGULAR_EXPRESSION "FAILED")
