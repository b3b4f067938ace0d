# Sourced on a GPU machine, from the repository root, to use a bundle made by tests/device/bundle.sh:
#   source tests/device/unbundle.sh [.devbundle/bundle.tar.xz]
# Unpacks build-device/ and devlibs/, copies the OpenMPI/PMIx plugin trees to their absolute paths
# where nothing is there yet, and sets LD_LIBRARY_PATH (devlibs/compat only for the C++/OpenMP
# runtimes the machine lacks) and the OpenMPI settings for a process started without mpiexec.
_bundle=${1:-.devbundle/bundle.tar.xz}
if [ -f "$_bundle" ]; then
  if command -v xz >/dev/null; then
    xz -dc "$_bundle" | tar -xf - || echo "unbundle: could not unpack $_bundle"
  else # no xz-utils: Python's tarfile reads .tar.xz too
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(".")' "$_bundle" || echo "unbundle: could not unpack $_bundle"
  fi
  if [ -d devlibs/root ]; then
    (cd devlibs/root && find . -type d | while read -r d; do mkdir -p "/$d" 2>/dev/null; done
     find . ! -type d | while read -r f; do [ -e "/$f" ] || cp -a "$f" "/$f" 2>/dev/null; done)
  fi
  _ld="$PWD/build-device:$PWD/devlibs/lib"
  for _l in libstdc++.so.6 libgcc_s.so.1 libgomp.so.1; do
    if ! ldconfig -p 2>/dev/null | grep -q "$_l (libc6,x86-64)"; then _ld="$_ld:$PWD/devlibs/compat"; break; fi
  done
  for _c in /usr/local/cuda/lib64 /usr/local/cuda/lib; do [ -d "$_c" ] && _ld="$_ld:$_c"; done
  export LD_LIBRARY_PATH="$_ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # CUDA libraries elsewhere (e.g. only in Python's nvidia-* wheels): add the folders that hold them
  for _m in $(ldd build-device/bench/bench_pc 2>/dev/null | awk '$3 == "not" {print $1}'); do
    _f=$(find /usr/local /opt /usr/lib /usr/lib64 -name "$_m" 2>/dev/null | head -1)
    if [ -n "$_f" ]; then export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$_f")"; else echo "unbundle: $_m not found"; fi
  done
  export OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_plm_rsh_agent=false
  echo "unbundle: $_bundle unpacked; LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
else
  echo "unbundle: no $_bundle"
fi
unset _bundle _ld _l _c _m _f
