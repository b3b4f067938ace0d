#!/usr/bin/env bash
# Packs a device build and the shared libraries it needs for a GPU machine that has the CUDA
# toolkit (cuBLAS, cuSOLVER) but not Debian's PETSc stack (PETSc, OpenMPI, OpenBLAS, ...), e.g. a
# lent GPU machine with no package registry. Run here, after building:
#   cmake -S . -B build-device -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90
#   make -C build-device -j test_backend test_pc_backend test_pc_tensor bench_pc
#   bash tests/device/bundle.sh                 # -> .devbundle/bundle.tar.xz (a path git ignores)
# and on the GPU machine, from the repository root (tests/device/run.sh does this itself when
# .devbundle/bundle.tar.xz is there):  source tests/device/unbundle.sh
# What is packed: the three programs and libh2ulv (stripped) under build-device/, the uniform-batch
# check compiled here, every library they load except glibc's and CUDA's own (the GPU machine's CUDA
# is used), and OpenMPI's and PMIx's plugin trees with the libraries those load, kept at their
# absolute paths (unbundle.sh copies them there only where nothing is).
set -euo pipefail
BUILD=${1:-build-device}
DEST=${2:-.devbundle}
ML=/usr/lib/x86_64-linux-gnu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/build-device/tests" "$stage/build-device/bench" "$stage/devlibs/lib" "$stage/devlibs/compat" "$stage/devlibs/root"

# the uniform-batch check (its source is embedded in run.sh): compiled here against the build
sed -n "/<<'CPPEOF'$/,/^CPPEOF$/p" tests/device/run.sh | sed '1d;$d' >"$stage/uniform_batch.cpp"
c++ -std=c++17 -O2 -Isrc "$stage/uniform_batch.cpp" -o "$stage/build-device/uniform_batch" -L"$BUILD" -lh2ulv

bins=("$BUILD/tests/test_backend" "$BUILD/tests/test_pc_backend" "$BUILD/tests/test_pc_tensor" "$BUILD/bench/bench_pc")
for b in "${bins[@]}"; do cp "$b" "$stage/build-device/${b#"$BUILD"/}"; done
cp -L "$BUILD/libh2ulv.so.0" "$stage/build-device/libh2ulv.so.0"
ln -s libh2ulv.so.0 "$stage/build-device/libh2ulv.so"
find "$stage/build-device" -type f -perm -u+x -exec strip --strip-unneeded {} + 2>/dev/null || true
strip --strip-unneeded "$stage/build-device/libh2ulv.so.0"

# plugin trees, at their absolute paths
for d in $ML/openmpi $ML/pmix2 /usr/share/openmpi /usr/share/pmix /etc/openmpi /usr/share/hwloc; do
  [ -e "$d" ] || continue
  mkdir -p "$stage/devlibs/root$(dirname "$d")"
  cp -a "$d" "$stage/devlibs/root$d"
done

# every library loaded by the programs and the plugins
skip='^(linux-vdso|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libmvec\.so|libutil\.so|libresolv\.so|ld-linux)'
compat='^(libstdc\+\+\.so|libgcc_s\.so|libgomp\.so)'
objs=("$stage/build-device/uniform_batch" "${bins[@]}" "$BUILD/libh2ulv.so.0")
while IFS= read -r f; do objs+=("$f"); done < <(find $ML/openmpi $ML/pmix2 -name '*.so*' -type f 2>/dev/null)
for o in "${objs[@]}"; do
  LD_LIBRARY_PATH="$BUILD" ldd "$o" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r name path; do
  [[ "$name" =~ $skip ]] && continue
  [[ "$path" == /usr/local/cuda* || "$path" == */libh2ulv.so* ]] && continue # CUDA: the GPU machine's own
  if [[ "$name" =~ $compat ]]; then cp -L "$path" "$stage/devlibs/compat/$name"; else cp -L "$path" "$stage/devlibs/lib/$name"; fi
done
# libraries that are only dlopen'ed (OpenBLAS's LAPACK through the alternatives link)
for l in $ML/libopenblas.so.0 $ML/liblapack.so.3 $ML/libblas.so.3; do
  [ -e "$l" ] && cp -L "$l" "$stage/devlibs/lib/$(basename "$l")"
done

mkdir -p "$DEST"
du -sh "$stage"
tar -C "$stage" -cf - build-device devlibs | xz -T2 -6 >"$DEST/bundle.tar.xz"
ls -l "$DEST/bundle.tar.xz"
