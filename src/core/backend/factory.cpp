// The backend factory: which backends this build has, which are usable at run time, and the
// fallback rule (an unusable kind falls back to the host backend unless it was demanded).
#include "backend.hpp"

#include "../dense.hpp"

#include <string>

namespace h2ulv {

const char *backendName(BackendKind k)
{
  switch (k) {
  case BackendKind::Host: return "host";
  case BackendKind::Cuda: return "cuda";
  case BackendKind::Kokkos: return "kokkos";
  }
  return "?";
}

bool backendCompiled(BackendKind k)
{
  switch (k) {
  case BackendKind::Host: return true;
  case BackendKind::Cuda:
#if defined(H2ULV_HAVE_CUDA)
    return true;
#else
    return false;
#endif
  case BackendKind::Kokkos:
#if defined(H2ULV_HAVE_KOKKOS)
    return true;
#else
    return false;
#endif
  }
  return false;
}

bool backendAvailable(BackendKind k, std::string *why)
{
  if (!backendCompiled(k)) {
    if (why) *why = std::string("the ") + backendName(k) + " backend was not compiled into this build of h2ulv";
    return false;
  }
#if defined(H2ULV_HAVE_CUDA)
  if (k == BackendKind::Cuda) return cudaBackendAvailable(why);
#endif
  return true;
}

template <typename T>
std::unique_ptr<Backend<T>> makeBackend(const BackendRequest &req, std::string *note)
{
  if (note) note->clear();
  if (req.kind == BackendKind::Host) return makeHostBackend<T>(req);
  std::string why;
  if (backendAvailable(req.kind, &why)) {
    try {
#if defined(H2ULV_HAVE_CUDA)
      if (req.kind == BackendKind::Cuda) return makeCudaBackend<T>(req);
#endif
#if defined(H2ULV_HAVE_KOKKOS)
      if (req.kind == BackendKind::Kokkos) return makeKokkosBackend<T>(req);
#endif
    } catch (const Error &e) {
      why = e.what();
    }
  }
  if (req.required) throw Error(ERR_SUPPORT, std::string("the ") + backendName(req.kind) + " backend was demanded but is not usable: " + why);
  if (note) *note = std::string("the ") + backendName(req.kind) + " backend is not usable (" + why + "): using the host backend";
  return makeHostBackend<T>(req);
}

template std::unique_ptr<Backend<double>> makeBackend<double>(const BackendRequest &, std::string *);
template std::unique_ptr<Backend<float>> makeBackend<float>(const BackendRequest &, std::string *);

} // namespace h2ulv
