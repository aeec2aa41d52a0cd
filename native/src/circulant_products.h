// Frequency-domain products of the block-circulant layer's FFT path (private). Per block,
// y_i = Σ_j C_ij x_j is a circular cross-correlation, so with packed real DFTs (real_fft.h,
// k = 0..b/2)
//     forward        Y_i[k]    = Σ_j conj(Cf_ij[k]) · X_j[k],
//     input grad     DX_j[k]   = Σ_i Cf_ij[k] · DY_i[k],
//     weight grad    dCf_ij[k] = Σ_batch conj(DY_i[k]) · X_j[k],
// each followed by one inverse FFT per block. The product of one block pair costs 2b − 2 real
// multiply-adds per sample (b² for the direct product); pruned blocks are skipped (their Cf is
// zero and the entry lists leave them out). Also the batched forward transforms (spectra) of
// feature-major block signals, circulant_products.cc.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "kernels.h"
#include "real_fft.h"

namespace srl {
namespace detail {

/**
 * Frequency-domain product of R output blocks on one batch tile: for every packed plane p and
 * row r < R,
 *   out_r,p = Σ_e op(Cf_p[blk_e + r·rstride]) · S_p[src_e]      (op = conj when CONJ)
 * over n entries; Cf plane p at cf + p·ldc (indexed by block), S plane p of block s at
 * S + p·lds + s·ldb (NV vectors), out plane p of row r at out + r·ldr + p·ldo. Cf is zero on
 * pruned blocks, so an entry may cover pruned blocks of some rows.
 */
template <int NV, int R, bool CONJ>
void macTile(int b, const float* cf, ptrdiff_t ldc, const int* blk, const int* src, int n, ptrdiff_t rstride,
             const float* S, ptrdiff_t lds, ptrdiff_t ldb, float* out, ptrdiff_t ldo, ptrdiff_t ldr) {
  {
    // The two real planes (DC and Nyquist) together.
    vf acc0[R][NV], acc1[R][NV];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc0[r][v] = acc1[r][v] = vzero();
    const float* c0 = cf;
    const float* c1 = cf + ldc;
    const float* s0 = S;
    const float* s1 = S + lds;
    for (int e = 0; e < n; ++e) {
      vf w0[R], w1[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        w0[r] = vset1(c0[blk[e] + r * rstride]);
        w1[r] = vset1(c1[blk[e] + r * rstride]);
      }
      const ptrdiff_t off = src[e] * ldb;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const vf x0 = vload(s0 + off + v * VW), x1 = vload(s1 + off + v * VW);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          acc0[r][v] = vfma(w0[r], x0, acc0[r][v]);
          acc1[r][v] = vfma(w1[r], x1, acc1[r][v]);
        }
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        vstore(out + r * ldr + v * VW, acc0[r][v]);
        vstore(out + r * ldr + ldo + v * VW, acc1[r][v]);
      }
  }
  for (int p = 2; p < b; p += 2) {
    vf accR[R][NV], accI[R][NV];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) accR[r][v] = accI[r][v] = vzero();
    const float* cr = cf + p * ldc;
    const float* ci = cr + ldc;
    const float* sr = S + p * lds;
    const float* si = sr + lds;
    for (int e = 0; e < n; ++e) {
      // CONJ: (wr − i·ci)(xr + i·xi); else (wr + i·ci)(xr + i·xi), written with wi = ∓ci.
      vf wr[R], wi[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        wr[r] = vset1(cr[blk[e] + r * rstride]);
        const float c = ci[blk[e] + r * rstride];
        wi[r] = vset1(CONJ ? c : -c);
      }
      const ptrdiff_t off = src[e] * ldb;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const vf xr = vload(sr + off + v * VW), xi = vload(si + off + v * VW);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          accR[r][v] = vfma(wr[r], xr, vfma(wi[r], xi, accR[r][v]));
          accI[r][v] = vfma(wr[r], xi, vfma(-wi[r], xr, accI[r][v]));
        }
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        vstore(out + r * ldr + p * ldo + v * VW, accR[r][v]);
        vstore(out + r * ldr + (p + 1) * ldo + v * VW, accI[r][v]);
      }
  }
}

/**
 * Weight-spectrum gradients of RI blocks (i0 + r, j), r < RI, of one entry: for every packed
 * plane, dCf_r,p = Σ over nvec sample vectors of op(DY_r,p) · X_p, op = conj (complex planes).
 * DY plane p of row r at dy + p·ldd + r·ldr, X plane p at x + p·ldx; results go to
 * dcf[p·ldc + blk0 + r·rstride] for the rows whose block is active (others stay untouched).
 */
template <int RI>
void dcfEntry(int b, const float* dy, ptrdiff_t ldd, ptrdiff_t ldr, const float* x, ptrdiff_t ldx, int nvec,
              float* dcf, ptrdiff_t ldc, int blk0, ptrdiff_t rstride, const unsigned char* active) {
  {
    vf a0[RI], a1[RI];
#pragma GCC unroll 4
    for (int r = 0; r < RI; ++r) a0[r] = a1[r] = vzero();
    for (int v = 0; v < nvec; ++v) {
      const vf x0 = vload(x + v * VW), x1 = vload(x + ldx + v * VW);
#pragma GCC unroll 4
      for (int r = 0; r < RI; ++r) {
        a0[r] = vfma(vload(dy + r * ldr + v * VW), x0, a0[r]);
        a1[r] = vfma(vload(dy + ldd + r * ldr + v * VW), x1, a1[r]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RI; ++r) {
      const int blk = blk0 + r * rstride;
      if (!active[blk]) continue;
      dcf[blk] = vhsum(a0[r]);
      dcf[ldc + blk] = vhsum(a1[r]);
    }
  }
  for (int p = 2; p < b; p += 2) {
    vf rr[RI], ri[RI], ir[RI], ii[RI];
#pragma GCC unroll 4
    for (int r = 0; r < RI; ++r) rr[r] = ri[r] = ir[r] = ii[r] = vzero();
    const float* dr = dy + p * ldd;
    const float* di = dr + ldd;
    const float* xr = x + p * ldx;
    const float* xi = xr + ldx;
    for (int v = 0; v < nvec; ++v) {
      const vf c = vload(xr + v * VW), d = vload(xi + v * VW);
#pragma GCC unroll 4
      for (int r = 0; r < RI; ++r) {
        const vf a = vload(dr + r * ldr + v * VW), bb = vload(di + r * ldr + v * VW);
        rr[r] = vfma(a, c, rr[r]);
        ii[r] = vfma(bb, d, ii[r]);
        ri[r] = vfma(a, d, ri[r]);
        ir[r] = vfma(bb, c, ir[r]);
      }
    }
    // conj(a + i·bb)(c + i·d) = (ac + bb·d) + i(ad − bb·c)
#pragma GCC unroll 4
    for (int r = 0; r < RI; ++r) {
      const int blk = blk0 + r * rstride;
      if (!active[blk]) continue;
      dcf[p * ldc + blk] = vhsum(rr[r] + ii[r]);
      dcf[(p + 1) * ldc + blk] = vhsum(ri[r] - ir[r]);
    }
  }
}

/**
 * Batched packed real FFTs (inverse = false) of `blocks` signals of length b stored
 * feature-major: block k's sample t at in + (k·b + t)·ldf, its spectrum plane p written to
 * out + (p·blocks + k)·ldf; every row has `cols` floats (a multiple of VW). Input rows
 * k·b + t >= validRows are read as zero (the rows need not exist).
 */
void spectra(Workspace& ws, const RealFftPlan& plan, std::vector<std::unique_ptr<AlignedBuffer>>& scratch,
             const float* in, float* out, int blocks, ptrdiff_t ldf, int cols, int validRows);

}  // namespace detail
}  // namespace srl
