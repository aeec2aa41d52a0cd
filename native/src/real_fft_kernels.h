// Batched radix-2 real FFT kernels of the block-circulant layer (private; plan and packed
// spectrum layout in real_fft.h). Data are feature-major, so every "point" of a transform is a
// tile of NV vectors (NV·VW samples, one signal per lane) and each butterfly is NV vector
// operations:
// - cfft: in-place iterative decimation-in-time complex FFT of length m = n/2;
// - rfftTile: real DFT of length n as a complex FFT of the even / odd samples z[q] = x[2q] +
//   i·x[2q+1] followed by the split step X[k] = E[k] + w^k O[k] (w = exp(−2πi / n));
// - irfftTile: the inverse (unsplit step, inverse complex FFT), scaled, with a fused epilogue
//   (bias, activation, aux gradient factor) per output row.
#pragma once

#include <cstddef>

#include "kernels.h"
#include "real_fft.h"

namespace srl {
namespace detail {

/**
 * In-place iterative decimation-in-time complex FFT of length m on bit-reversed input; point q
 * at zr + q·ld, zi + q·ld. Forward: exp(−2πi·) kernel; inverse: exp(+2πi·), unnormalised.
 */
template <int NV>
void cfft(const RealFftPlan& p, float* zr, float* zi, ptrdiff_t ld, bool inverse) {
  const int m = p.m;
  // len = 2: twiddle 1
  if (m >= 2) {
    for (int s = 0; s < m; s += 2) {
      float* ar = zr + s * ld;
      float* ai = zi + s * ld;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const int o = v * VW;
        const vf xr = vload(ar + ld + o), xi = vload(ai + ld + o), yr = vload(ar + o), yi = vload(ai + o);
        vstore(ar + ld + o, yr - xr);
        vstore(ai + ld + o, yi - xi);
        vstore(ar + o, yr + xr);
        vstore(ai + o, yi + xi);
      }
    }
  }
  for (int len = 4; len <= m; len <<= 1) {
    const int half = len >> 1, step = m / len;
    for (int q = 0; q < half; ++q) {
      const vf wr = vset1(p.twr[q * step]);
      const vf wi = vset1(inverse ? -p.twi[q * step] : p.twi[q * step]);
      for (int s = q; s < m; s += len) {
        float* ar = zr + s * ld;
        float* ai = zi + s * ld;
        float* br = ar + half * ld;
        float* bi = ai + half * ld;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          const int o = v * VW;
          const vf xr = vload(br + o), xi = vload(bi + o);
          const vf tr = xr * wr - xi * wi, ti = xr * wi + xi * wr;
          const vf yr = vload(ar + o), yi = vload(ai + o);
          vstore(br + o, yr - tr);
          vstore(bi + o, yi - ti);
          vstore(ar + o, yr + tr);
          vstore(ai + o, yi + ti);
        }
      }
    }
  }
}

/**
 * Packed real DFT of length n of NV·VW signals: input sample t at in + t·ldi, output plane p at
 * out + p·ldo (planes as described in real_fft.h). scratch: n·NV·VW floats.
 */
template <int NV>
void rfftTile(const RealFftPlan& p, const float* in, ptrdiff_t ldi, float* out, ptrdiff_t ldo, float* scratch) {
  const int m = p.m;
  constexpr ptrdiff_t ld = NV * VW;
  float* zr = scratch;
  float* zi = scratch + m * ld;
  for (int q = 0; q < m; ++q) {
    const float* e = in + (2 * q) * ldi;
    const float* o = e + ldi;
    float* dr = zr + p.rev[q] * ld;
    float* di = zi + p.rev[q] * ld;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      vstore(dr + v * VW, vload(e + v * VW));
      vstore(di + v * VW, vload(o + v * VW));
    }
  }
  cfft<NV>(p, zr, zi, ld, false);
  // Split: E[k] = (Z[k] + conj Z[m−k]) / 2, O[k] = (Z[k] − conj Z[m−k]) / 2i,
  // X[k] = E[k] + w^k O[k], X[m−k] = conj(E[k] − w^k O[k]), w = exp(−2πi / n).
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const vf a = vload(zr + v * VW), b = vload(zi + v * VW);
    vstore(out + v * VW, a + b);
    vstore(out + ldo + v * VW, a - b);
  }
  const vf half = vset1(0.5f);
  for (int k = 1; 2 * k <= m; ++k) {
    const int kk = m - k;
    const vf wr = vset1(p.wr[k]), wi = vset1(p.wi[k]);
    float* xk = out + (2 * k) * ldo;
    float* xkk = out + (2 * kk) * ldo;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int o = v * VW;
      const vf ar = vload(zr + k * ld + o), ai = vload(zi + k * ld + o);
      const vf br = vload(zr + kk * ld + o), bi = vload(zi + kk * ld + o);
      const vf er = (ar + br) * half, ei = (ai - bi) * half;
      const vf orr = (ai + bi) * half, oi = (br - ar) * half;
      const vf pr = wr * orr - wi * oi, pi = wr * oi + wi * orr;
      vstore(xk + o, er + pr);
      vstore(xk + ldo + o, ei + pi);
      if (kk != k) {
        vstore(xkk + o, er - pr);
        vstore(xkk + ldo + o, pi - ei);
      }
    }
  }
}

/**
 * Epilogue of irfftTile for output row t: act(v + bias[t]), then times aux' (AuxOp of
 * kernels.h; aux row t at aux + t·ldaux, NV vectors). bias / aux null: none.
 */
struct TileEpi {
  const float* bias = nullptr;
  Act act = Act::Linear;
  const float* aux = nullptr;
  ptrdiff_t ldaux = 0;
  AuxOp op = AuxOp::None;
};

/**
 * Inverse of rfftTile, scaled: output sample t (t < rows) at out + t·ldo is
 * epi(scale · Σ_{k<n} X[k] exp(+2πi k t / n)). With scale = 1/n this is the inverse DFT.
 * scratch: n·NV·VW floats.
 */
template <int NV>
void irfftTile(const RealFftPlan& p, const float* in, ptrdiff_t ldi, float* out, ptrdiff_t ldo, int rows,
               const TileEpi& ep, float scale, float* scratch) {
  const int m = p.m;
  constexpr ptrdiff_t ld = NV * VW;
  float* zr = scratch;
  float* zi = scratch + m * ld;
  // Unsplit (unnormalised): E = X[k] + conj X[m−k], O = conj(w^k) (X[k] − conj X[m−k]),
  // Z[k] = E + iO, Z[m−k] = conj E + i conj O; then an inverse complex FFT of length m gives
  // n·x[2q] + i·n·x[2q+1].
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const vf a = vload(in + v * VW), b = vload(in + ldi + v * VW);
    vstore(zr + v * VW, a + b);  // rev[0] = 0
    vstore(zi + v * VW, a - b);
  }
  for (int k = 1; 2 * k <= m; ++k) {
    const int kk = m - k;
    const vf wr = vset1(p.wr[k]), wi = vset1(p.wi[k]);
    const float* xk = in + (2 * k) * ldi;
    const float* xkk = in + (2 * kk) * ldi;
    float* dkr = zr + p.rev[k] * ld;
    float* dki = zi + p.rev[k] * ld;
    float* dkkr = zr + p.rev[kk] * ld;
    float* dkki = zi + p.rev[kk] * ld;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int o = v * VW;
      const vf ar = vload(xk + o), ai = vload(xk + ldi + o);
      const vf br = vload(xkk + o), bi = -vload(xkk + ldi + o);
      const vf er = ar + br, ei = ai + bi, qr = ar - br, qi = ai - bi;
      const vf orr = wr * qr + wi * qi, oi = wr * qi - wi * qr;
      vstore(dkr + o, er - oi);
      vstore(dki + o, ei + orr);
      if (kk != k) {
        vstore(dkkr + o, er + oi);
        vstore(dkki + o, orr - ei);
      }
    }
  }
  cfft<NV>(p, zr, zi, ld, true);
  const vf sc = vset1(scale);
  for (int t = 0; t < rows; ++t) {
    const float* src = (t & 1 ? zi : zr) + (t >> 1) * ld;
    const vf bv = vset1(ep.bias ? ep.bias[t] : 0.0f);
    float* dst = out + t * ldo;
    vf r[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) r[v] = vfma(vload(src + v * VW), sc, bv);
    if (ep.act == Act::Relu) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) r[v] = vrelu(r[v]);
    } else if (ep.act == Act::Tanh) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) r[v] = vtanh(r[v]);
    }
    if (ep.op == AuxOp::ReluGrad) {
      const float* a = ep.aux + t * ep.ldaux;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) r[v] = vrelu_mask(vload(a + v * VW), r[v]);
    } else if (ep.op == AuxOp::TanhGrad) {
      const float* a = ep.aux + t * ep.ldaux;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const vf y = vload(a + v * VW);
        r[v] = r[v] * (1.0f - y * y);
      }
    }
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) vstore(dst + v * VW, r[v]);
  }
}

}  // namespace detail
}  // namespace srl
