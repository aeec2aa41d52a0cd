// Portable SIMD helpers built on GCC/Clang vector extensions.
//
// The vector width follows the compile target (`-march=native`): 16 floats with AVX-512,
// 8 with AVX/AVX2, 4 otherwise. All kernels are written against `vf`, so the same source
// compiles to zmm, ymm or xmm code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || defined(__AVX__) || defined(__SSE2__)
// GCC 12 reports false -Wmaybe-uninitialized warnings inside its own intrinsics headers
// (_mm512_undefined_ps); they are not about this code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace srl {

#if defined(__AVX512F__)
constexpr int VW = 16;
constexpr const char* kSimdName = "avx512";
#elif defined(__AVX2__)
constexpr int VW = 8;
constexpr const char* kSimdName = "avx2";
#elif defined(__AVX__)
constexpr int VW = 8;
constexpr const char* kSimdName = "avx";
#else
constexpr int VW = 4;
constexpr const char* kSimdName = "sse";
#endif

/** Alignment (bytes) of every internal buffer and of every array in a parameter block. */
constexpr size_t kAlign = 64;
/** Alignment in floats. */
constexpr int kAlignFloats = static_cast<int>(kAlign / sizeof(float));

typedef float vf __attribute__((vector_size(VW * 4), may_alias));
typedef float vfu __attribute__((vector_size(VW * 4), may_alias, aligned(4)));
typedef int32_t vi __attribute__((vector_size(VW * 4), may_alias));

/** Aligned vector load (`p` must be aligned to VW*4 bytes). */
static inline vf vload(const float* p) { return *reinterpret_cast<const vf*>(p); }
/** Unaligned vector load. */
static inline vf vloadu(const float* p) { return *reinterpret_cast<const vfu*>(p); }
/** Aligned vector store. */
static inline void vstore(float* p, vf v) { *reinterpret_cast<vf*>(p) = v; }
/** Unaligned vector store. */
static inline void vstoreu(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }
/** Broadcast of a scalar. */
static inline vf vset1(float s) { return vf{} + s; }
static inline vf vzero() { return vf{}; }
/** relu(x): 0 where x < 0, else x (NaN propagates, as in PyTorch). */
static inline vf vrelu(vf x) { return x < vzero() ? vzero() : x; }
/** 1 where x > 0, else 0 (derivative of relu given its output). */
static inline vf vrelu_mask(vf y, vf g) { return y > vzero() ? g : vzero(); }

/** a*b + c with a single rounding where the target has FMA. */
static inline vf vfma(vf a, vf b, vf c) {
#if defined(__AVX512F__)
  return _mm512_fmadd_ps(a, b, c);
#elif defined(__FMA__) && defined(__AVX__)
  return _mm256_fmadd_ps(a, b, c);
#else
  return a * b + c;
#endif
}

/** Element-wise square root. */
static inline vf vsqrt(vf a) {
#if defined(__AVX512F__)
  return _mm512_sqrt_ps(a);
#elif defined(__AVX__)
  return _mm256_sqrt_ps(a);
#else
  return _mm_sqrt_ps(a);
#endif
}

/** Round `n` up to a multiple of `m`. */
static inline int roundUp(int n, int m) { return (n + m - 1) / m * m; }

/** Horizontal sum of one vector. */
static inline float vhsum(vf v) {
#if defined(__AVX512F__)
  v = v + _mm512_shuffle_f32x4(v, v, 0x4E);
  v = v + _mm512_shuffle_f32x4(v, v, 0xB1);
  v = v + _mm512_permute_ps(v, 0x4E);
  v = v + _mm512_permute_ps(v, 0xB1);
  return _mm512_cvtss_f32(v);
#else
  float t[VW];
  std::memcpy(t, &v, sizeof t);
  float s = 0.0f;
  for (int i = 0; i < VW; ++i) s += t[i];
  return s;
#endif
}

/**
 * exp(x) for x in [-87, 88] (Cephes `expf` polynomial, ~1 ulp). Inputs outside are clamped.
 */
static inline vf vexp(vf x) {
  x = x > vset1(88.3762626647949f) ? vset1(88.3762626647949f) : x;
  x = x < vset1(-87.3365478515625f) ? vset1(-87.3365478515625f) : x;
  vf fx = x * 1.44269504088896341f + 0.5f;
  // floor(fx) for either sign: truncate, then subtract 1 where truncation rounded up.
  vi ti = __builtin_convertvector(fx, vi);
  vf tf = __builtin_convertvector(ti, vf);
  vi gt = tf > fx;  // -1 where tf > fx
  ti = ti + gt;
  tf = __builtin_convertvector(ti, vf);
  x = x - tf * 0.693359375f;
  x = x - tf * -2.12194440e-4f;
  vf z = x * x;
  vf y = vset1(1.9875691500E-4f);
  y = y * x + 1.3981999507E-3f;
  y = y * x + 8.3334519073E-3f;
  y = y * x + 4.1665795894E-2f;
  y = y * x + 1.6666665459E-1f;
  y = y * x + 5.0000001201E-1f;
  y = y * z + x + 1.0f;
  vi e = (ti + 127) << 23;
  return y * (vf)e;
}

/** tanh(x), Cephes `tanhf` scheme (~2 ulp): odd polynomial for |x| < 0.625, else via exp. */
static inline vf vtanh(vf x) {
  vf ax = x < vzero() ? -x : x;
  vf e = vexp(ax + ax);
  vf big = 1.0f - 2.0f / (e + 1.0f);
  big = x < vzero() ? -big : big;
  vf z = x * x;
  vf p = vset1(-5.70498872745E-3f);
  p = p * z + 2.06390887954E-2f;
  p = p * z - 5.37397155531E-2f;
  p = p * z + 1.33314422036E-1f;
  p = p * z - 3.33332819422E-1f;
  vf small = x + x * z * p;
  return ax > vset1(0.625f) ? big : small;
}

}  // namespace srl
