// Tensor-core arithmetic of single-precision GEMMs (docs/accuracy.md, "Tensor cores").
//
// A tensor core multiplies TF32 operands (FP32's 8-bit exponent, 10 of its 23 mantissa bits), forms
// the products exactly and accumulates them in FP32 rounded toward zero; the GEMM's epilogue
// (alpha, beta) is FP32 rounded to nearest.  Two ways to use it:
//  - plain: one tensor-core GEMM; the operands lose 13 bits (relative error about 2^-11 per
//    operand) and the accumulation over k has a bias toward zero;
//  - corrected (Ootomo and Yokota 2022): each operand split as x = hi + lo, hi = tf32(x),
//    lo = tf32(x - hi), so hi + lo carries 21 bits of x; the product is hi*hi + (lo*hi + hi*lo)
//    (lo*lo, about 2^-22 relative, dropped), three tensor-core products per step of kTensorChunk
//    along k (one mma instruction); each step's main term hi*hi is added to an FP32 accumulator
//    outside the tensor core, rounded to nearest, so the rounding toward zero acts on
//    kTensorChunk products only (the corrections, 2^-11 smaller, accumulate on the tensor core).
//    The result agrees with an FP32 GEMM to FP32's rounding.  What the chunk does (sphere-laplace
//    N = 4096, single-precision factors, PCApply against FP32 factors, FP32 against double 6.7e-7):
//    chunk 1: 6.9e-7, 8: 7.6e-7, 32: 1.2e-6, the whole k (the three products as three GEMMs):
//    3.6e-6; plain TF32: 6.7e-4.
// The CUDA backend runs these on the tensor cores; the host backend emulates them bit for bit in
// the operands and in the rounding direction (FP32 BLAS with the rounding mode set), so the
// numerics are checked on any machine.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define H2ULV_HOST_DEVICE __host__ __device__
#else
#define H2ULV_HOST_DEVICE
#endif

namespace h2ulv {

enum class TensorMode { Off, Plain, Corrected };
inline const char *tensorModeName(TensorMode m)
{
  return m == TensorMode::Plain ? "plain TF32" : m == TensorMode::Corrected ? "corrected TF32 (3 products)" : "off";
}

// the length of k over which the corrected main term accumulates toward zero: the k of one TF32
// mma instruction (m16n16k8), which the CUDA kernel issues per step
constexpr int kTensorChunk = 8;

// x rounded to TF32: to nearest, ties away from zero (as the device's conversion); Inf and NaN kept
H2ULV_HOST_DEVICE inline float tf32Round(float x)
{
#if defined(__CUDA_ARCH__)
  uint32_t u = __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
#endif
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  std::memcpy(&x, &u, sizeof u);
  return x;
#endif
}
// the corrected mode's split: hi + lo = x to about 2^-22 relative, both TF32
H2ULV_HOST_DEVICE inline void tf32Split(float x, float &hi, float &lo)
{
  hi = tf32Round(x);
  lo = tf32Round(x - hi);
}

} // namespace h2ulv
