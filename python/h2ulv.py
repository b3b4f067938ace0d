"""h2ulv for petsc4py: MATH2 ("h2") matrices and the PCH2ULV ("h2ulv") factorization from Python.

    from petsc4py import PETSc
    import h2ulv                       # loads libh2ulv.so into petsc4py's PETSc and registers the types

    A = h2ulv.kernel_matrix(points, "laplace", diag=1e3)   # points: (n_local, dim) numpy array
    ksp = PETSc.KSP().create(); ksp.setOperators(A); ksp.setType("preonly")
    ksp.getPC().setType("h2ulv"); ksp.setFromOptions(); ksp.solve(b, x)
    logdet = h2ulv.pc_logdet(ksp.getPC())

Every option of the C library works through PETSc.Options (-mat_h2_*, -pc_h2ulv_*); MATH2 and
PCH2ULV are ordinary petsc4py Mat and PC objects, so KSP, SLEPc (slepc4py) and the rest of
petsc4py take them.  The library is found from the environment variable H2ULV_LIBRARY, else next
to this file (`make install` puts it in <libdir>/python3/dist-packages and the library in <libdir>),
else in the source tree's build/ (python/../build/libh2ulv.so).  Errors of the C library raise PETSc.Error with its code.
"""
import ctypes
import os

import numpy as np
from petsc4py import PETSc

__all__ = ["library", "kernel_matrix", "entries_matrix", "dense_matrix", "problem_matrix", "set_coordinates",
           "set_builtin_kernel", "set_entries", "set_tolerance", "mat_info", "pc_logdet",
           "pc_logabsdet", "pc_inertia", "pc_info", "KERNELS"]

KERNELS = ["none", "laplace", "yukawa", "gaussian", "exponential", "matern32", "matern52", "imq"]

_Int = ctypes.c_int32  # PetscInt of Debian's PETSc (32-bit indices)
_Real = ctypes.c_double
_Obj = ctypes.c_void_p
_ENTRIES_FN = ctypes.CFUNCTYPE(ctypes.c_int, _Int, ctypes.POINTER(_Int), _Int, ctypes.POINTER(_Int),
                               ctypes.POINTER(_Real), _Int, ctypes.c_void_p)


class _MatH2Info(ctypes.Structure):
    _fields_ = [("levels", _Int), ("maxrank", _Int), ("leafrank", _Real), ("nnear", _Int), ("nfar", _Int),
                ("bytes", _Real), ("time_tree", _Real), ("time_basis", _Real), ("time_values", _Real),
                ("mult_flops", _Real), ("rtol", _Real), ("checkerr", _Real)]


def _find_library():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("H2ULV_LIBRARY", ""),
                  os.path.join(here, "..", "..", "libh2ulv.so"),  # installed: <libdir>/python3/dist-packages
                  os.path.join(here, "..", "build", "libh2ulv.so")]      # the source tree's build/
    for c in candidates:
        if c and os.path.exists(c):
            return os.path.abspath(c)
    raise ImportError("h2ulv: libh2ulv.so not found; set H2ULV_LIBRARY to its path (looked in: %s)"
                      % ", ".join(c for c in candidates if c))


def _load():
    lib = ctypes.CDLL(_find_library(), mode=ctypes.RTLD_GLOBAL)
    sigs = {
        "H2ULVInitializePackage": [],
        "MatH2SetCoordinates": [_Obj, _Int, ctypes.POINTER(_Real)],
        "MatH2SetBuiltinKernel": [_Obj, ctypes.c_int, _Real, _Real, _Real, _Real],
        "MatH2SetEntries": [_Obj, _ENTRIES_FN, ctypes.c_void_p],
        "MatH2SetTolerance": [_Obj, _Real, _Int],
        "MatH2GetInfo": [_Obj, ctypes.POINTER(_MatH2Info)],
        "PCH2ULVGetLogDeterminant": [_Obj, ctypes.POINTER(_Real)],
        "PCH2ULVGetLogAbsDeterminant": [_Obj, ctypes.POINTER(_Real), ctypes.POINTER(_Int)],
        "PCH2ULVGetInertia": [_Obj, ctypes.POINTER(_Int), ctypes.POINTER(_Int), ctypes.POINTER(_Int)],
        "PCH2ULVGetInfo": [_Obj, ctypes.POINTER(_Real), ctypes.POINTER(_Real)],
        "H2ULVProblemCreate": [ctypes.c_char_p, _Int, _Int, ctypes.POINTER(ctypes.c_void_p)],
        "H2ULVProblemDestroy": [ctypes.POINTER(ctypes.c_void_p)],
        "H2ULVProblemSetUpMat": [ctypes.c_void_p, _Obj],
    }
    for name, args in sigs.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, ctypes.c_int
    return lib


library = _load()


def _call(name, *args):
    """calls the C function name; a nonzero PETSc error code raises PETSc.Error"""
    ierr = getattr(library, name)(*args)
    if ierr:
        raise PETSc.Error(ierr)


_call("H2ULVInitializePackage")


def _handle(obj):
    return _Obj(obj.handle)


def _new_h2(n_local, comm):
    A = PETSc.Mat().create(comm=comm)
    A.setSizes(((n_local, PETSc.DECIDE), (n_local, PETSc.DECIDE)))
    A.setType("h2")
    return A


def _assemble(A, symmetric):
    if symmetric:
        A.setOption(PETSc.Mat.Option.SYMMETRIC, True)
    A.setFromOptions()
    A.assemble()
    return A


def set_coordinates(A, points):
    """MatH2SetCoordinates: the points of A's local rows, an (n_local, dim) array, dim 1..3"""
    x = np.ascontiguousarray(points, dtype=np.float64)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    _call("MatH2SetCoordinates", _handle(A), x.shape[1], x.ctypes.data_as(ctypes.POINTER(_Real)))


def set_builtin_kernel(A, kernel, scale=1.0, param=1.0, diag=PETSc.DEFAULT, nugget=0.0):
    """MatH2SetBuiltinKernel: kernel is one of KERNELS (see the C manual page for scale, param, diag)"""
    if kernel not in KERNELS[1:]:
        raise ValueError("h2ulv: kernel must be one of %s, got %r" % (", ".join(KERNELS[1:]), kernel))
    _call("MatH2SetBuiltinKernel", _handle(A), KERNELS.index(kernel), scale, param, diag, nugget)


def set_entries(A, block):
    """MatH2SetEntries with a vectorised Python function: block(rows, cols) gets two int arrays of
    global indices and returns the len(rows) x len(cols) array of entries A[rows][:, cols].  An
    exception in block is reported as a PETSc error of the operation that asked for the entries."""
    def entries(m, rows, n, cols, out, ld, ctx):
        try:
            r = np.ctypeslib.as_array(rows, shape=(m,)) if m else np.zeros(0, dtype=np.int32)
            c = np.ctypeslib.as_array(cols, shape=(n,)) if n else np.zeros(0, dtype=np.int32)
            vals = np.asarray(block(r, c), dtype=np.float64)
            if vals.shape != (m, n):
                raise ValueError("h2ulv: the entries function returned shape %s for a %d x %d block" % (vals.shape, m, n))
            if m and n:
                o = np.ctypeslib.as_array(out, shape=(n, ld))  # column-major, leading dimension ld
                o[:, :m] = vals.T
            return 0
        except Exception as e:  # noqa: BLE001 -- any failure of the user's function becomes a PETSc error
            PETSc.Sys.Print("h2ulv: the entries function failed: %r" % (e,), comm=PETSc.COMM_SELF)
            return 83  # PETSC_ERR_USER
    fn = _ENTRIES_FN(entries)
    A.setAttr("h2ulv_entries", fn)  # keeps the callback alive as long as the matrix
    _call("MatH2SetEntries", _handle(A), fn, None)


def set_tolerance(A, rtol, maxrank=PETSc.DEFAULT):
    """MatH2SetTolerance: the relative compression tolerance and the rank cap"""
    _call("MatH2SetTolerance", _handle(A), rtol, maxrank)


def kernel_matrix(points, kernel, scale=1.0, param=1.0, diag=PETSc.DEFAULT, nugget=0.0, rtol=None, comm=None):
    """An assembled MATH2 of a built-in kernel on the points of this process's rows ((n_local, dim) array)"""
    x = np.asarray(points, dtype=np.float64)
    A = _new_h2(x.shape[0], comm)
    set_coordinates(A, x)
    set_builtin_kernel(A, kernel, scale, param, diag, nugget)
    if rtol is not None:
        set_tolerance(A, rtol)
    return _assemble(A, True)


def entries_matrix(points, block, symmetric=False, rtol=None, comm=None):
    """An assembled MATH2 whose entries come from block(rows, cols) (set_entries), on the points of
    this process's rows (they shape the tree and the bases)"""
    x = np.asarray(points, dtype=np.float64)
    A = _new_h2(x.shape[0], comm)
    set_coordinates(A, x)
    set_entries(A, block)
    if rtol is not None:
        set_tolerance(A, rtol)
    return _assemble(A, symmetric)


def dense_matrix(K, points=None, symmetric=True, comm=None):
    """A MATH2 compressed from a dense matrix (MatConvert(dense, MATH2)): K is a dense PETSc.Mat or a
    numpy array of this process's rows (n_local x N); points are those rows' points ((n_local, dim)
    array) or None for the construction from the matrix alone.  The conversion gathers the whole
    dense matrix on every process.  The options (-mat_h2_rtol ...) come from PETSc.Options."""
    if not isinstance(K, PETSc.Mat):
        a = np.asarray(K, dtype=np.float64)
        if a.ndim != 2:
            raise ValueError("h2ulv: dense_matrix needs a 2-d array of this process's rows, got shape %s" % (a.shape,))
        D = PETSc.Mat().createDense(((a.shape[0], PETSc.DECIDE), (PETSc.DECIDE, a.shape[1])), comm=comm)
        D.setUp()
        rs, re = D.getOwnershipRange()
        D.setValues(range(rs, re), range(a.shape[1]), a)
        D.assemble()
    else:
        D = K
    if symmetric:
        D.setOption(PETSc.Mat.Option.SYMMETRIC, True)
    if points is not None:
        set_coordinates(D, points)
    return D.convert("h2")


def problem_matrix(name, N, seed=0, comm=None):
    """The MATH2 of one of the library's standard problems (sphere-laplace, ball-matern, ...; see
    docs/benchmarks in the repository), with PETSc's default row layout"""
    prob = ctypes.c_void_p()
    _call("H2ULVProblemCreate", name.encode(), N, seed, ctypes.byref(prob))
    try:
        A = PETSc.Mat().create(comm=comm)
        A.setSizes(((PETSc.DECIDE, N), (PETSc.DECIDE, N)))
        A.setType("h2")
        A.setUp()
        _call("H2ULVProblemSetUpMat", prob, _handle(A))
        A.setFromOptions()
        A.assemble()
    finally:
        _call("H2ULVProblemDestroy", ctypes.byref(prob))
    return A


def mat_info(A):
    """MatH2GetInfo as a dict (levels, maxrank, leafrank, nnear, nfar, bytes, times, mult_flops, rtol, checkerr)"""
    info = _MatH2Info()
    _call("MatH2GetInfo", _handle(A), ctypes.byref(info))
    return {name: getattr(info, name) for name, _ in _MatH2Info._fields_}


def pc_logdet(pc):
    """log det of the factored operator (PCH2ULVGetLogDeterminant; an error if the determinant is negative)"""
    v = _Real()
    _call("PCH2ULVGetLogDeterminant", _handle(pc), ctypes.byref(v))
    return v.value


def pc_logabsdet(pc):
    """(log|det|, sign) of the factored operator"""
    v, s = _Real(), _Int()
    _call("PCH2ULVGetLogAbsDeterminant", _handle(pc), ctypes.byref(v), ctypes.byref(s))
    return v.value, s.value


def pc_inertia(pc):
    """(negative, zero, positive) eigenvalue counts of the factored symmetric operator"""
    n, z, p = _Int(), _Int(), _Int()
    _call("PCH2ULVGetInertia", _handle(pc), ctypes.byref(n), ctypes.byref(z), ctypes.byref(p))
    return n.value, z.value, p.value


def pc_info(pc):
    """{'bytes': memory of the factorization, 'flops': flops of the factorization}"""
    b, f = _Real(), _Real()
    _call("PCH2ULVGetInfo", _handle(pc), ctypes.byref(b), ctypes.byref(f))
    return {"bytes": b.value, "flops": f.value}
