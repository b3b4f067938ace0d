# Kokkos backend (filled in by the Kokkos backend work)
