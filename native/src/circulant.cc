#include "circulant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <type_traits>

namespace srl {

namespace {

// Batch tile of the FFT-path kernels, in vectors (64 samples with AVX-512, 32 with AVX2).
constexpr int kTileVecs = 4;
constexpr int kTileFloats = kTileVecs * VW;
// Output blocks per frequency-domain product tile (they share the loads of the input spectra).
constexpr int kMacRows = 2;
// Output block rows per weight-gradient tile (they share the loads of the input spectra).
constexpr int kDcRows = 4;
static_assert(kDcRows == 4, "the weight-gradient dispatch covers 1..4 rows");
// Below this many multiply-adds a step runs on the calling thread only.
constexpr double kMinParallelWork = 96.0 * 1024;

bool isPow2(int n) { return n >= 1 && (n & (n - 1)) == 0; }

/** Runs fn(begin, end, thread) over [0, n) split into up to 8·threads contiguous ranges. */
template <class F>
void forRanges(Workspace& ws, int n, bool par, F&& fn) {
  if (n <= 0) return;
  const int chunks = par ? std::min(n, 8 * ws.threads()) : 1;
  ws.pool.parallelFor(chunks, par && chunks > 1, [&](int c, int t) {
    const int b = int(int64_t(n) * c / chunks), e = int(int64_t(n) * (c + 1) / chunks);
    if (b < e) fn(b, e, t);
  });
}

/** Calls f(std::integral_constant<int, nv>) for nv in [1, kTileVecs]. */
template <class F>
void withNv(int nv, F&& f) {
  switch (nv) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    default: f(std::integral_constant<int, 4>{}); break;
  }
}
static_assert(kTileVecs == 4, "withNv dispatches 1..4");

/**
 * dst[rows][bpad] (feature-major) = transpose of src[batch][cols] for the first `cols` rows,
 * zero in rows [cols, rows) and in the padding columns [batch, bpad).
 */
void toFeatureMajor(Workspace& ws, const float* src, int batch, int cols, int rows, int bpad, float* dst) {
  transpose(ws, src, cols, batch, cols, dst, bpad);
  if (bpad > batch)
    for (int i = 0; i < cols; ++i) std::memset(dst + size_t(i) * bpad + batch, 0, (bpad - batch) * sizeof(float));
  if (rows > cols) std::memset(dst + size_t(cols) * bpad, 0, size_t(rows - cols) * bpad * sizeof(float));
}

// ---------------------------------------------------------------------------------------------
// Batched radix-2 FFT on tiles of NV vectors (each "point" of a transform is NV·VW samples)
// ---------------------------------------------------------------------------------------------

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
 * out + p·ldo (planes as described in circulant.h). scratch: n·NV·VW floats.
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
             const float* in, float* out, int blocks, ptrdiff_t ldf, int cols, int validRows) {
  const int nvTotal = cols / VW;
  const int tiles = (nvTotal + kTileVecs - 1) / kTileVecs;
  const int b = plan.n;
  const double work = double(blocks) * cols * b * 4.0;
  forRanges(ws, blocks * tiles, ws.threads() > 1 && work >= kMinParallelWork, [&](int beg, int end, int t) {
    float* z = scratch[t]->ensure(size_t(2) * b * kTileFloats);
    float* padded = z + size_t(b) * kTileFloats;
    for (int item = beg; item < end; ++item) {
      const int k = item / tiles, tile = item % tiles;
      const int v0 = tile * kTileVecs, nv = std::min(kTileVecs, nvTotal - v0);
      const float* src = in + size_t(k) * b * ldf + v0 * VW;
      float* dst = out + size_t(k) * ldf + v0 * VW;
      const int valid = validRows - k * b;
      if (valid >= b) {
        withNv(nv, [&](auto c) { rfftTile<decltype(c)::value>(plan, src, ldf, dst, ptrdiff_t(blocks) * ldf, z); });
        continue;
      }
      // Edge block: the existing rows of the tile, zero-padded to b rows.
      const int w = nv * VW;
      for (int r = 0; r < b; ++r) {
        if (r < valid) std::memcpy(padded + size_t(r) * w, src + r * ldf, w * sizeof(float));
        else std::memset(padded + size_t(r) * w, 0, w * sizeof(float));
      }
      withNv(nv, [&](auto c) { rfftTile<decltype(c)::value>(plan, padded, w, dst, ptrdiff_t(blocks) * ldf, z); });
    }
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------

RealFftPlan::RealFftPlan(int n_) : n(n_), m(n_ / 2) {
  if (n < 2 || !isPow2(n)) throw std::invalid_argument("RealFftPlan: n must be a power of two >= 2");
  int bits = 0;
  while ((1 << bits) < m) ++bits;
  rev.resize(m);
  for (int i = 0; i < m; ++i) {
    int r = 0;
    for (int k = 0; k < bits; ++k)
      if ((i >> k) & 1) r |= 1 << (bits - 1 - k);
    rev[i] = r;
  }
  const double pi = 3.14159265358979323846;
  const int nt = std::max(1, m / 2);
  twr.resize(nt);
  twi.resize(nt);
  for (int q = 0; q < nt; ++q) {
    twr[q] = static_cast<float>(std::cos(-2.0 * pi * q / m));
    twi[q] = static_cast<float>(std::sin(-2.0 * pi * q / m));
  }
  wr.resize(m + 1);
  wi.resize(m + 1);
  for (int k = 0; k <= m; ++k) {
    wr[k] = static_cast<float>(std::cos(-2.0 * pi * k / n));
    wi[k] = static_cast<float>(std::sin(-2.0 * pi * k / n));
  }
}

CirculantLayer::CirculantLayer(std::shared_ptr<EngineContext> ctx, int out, int in, int blockSize, Method method)
    : ctx_(std::move(ctx)), out_(out), in_(in), b_(blockSize), method_(method) {
  if (out < 1 || in < 1 || blockSize < 1) throw std::invalid_argument("out, in and blockSize must be >= 1");
  if (method == Method::Fft && (blockSize < 2 || !isPow2(blockSize)))
    throw std::invalid_argument("the FFT path needs a block size that is a power of two >= 2");
  ob_ = (out + b_ - 1) / b_;
  ib_ = (in + b_ - 1) / b_;
  if (method == Method::Fft) plan_.reset(new RealFftPlan(b_));
  scratch_.resize(ctx_->ws.threads());
  for (auto& s : scratch_) s.reset(new AlignedBuffer());
}

void CirculantLayer::buildActiveLists(const float* mask) {
  const int nb = ob_ * ib_;
  // The lists only change with the mask (usually rarely): keep them when it is the same.
  bool same = listsBuilt_ && active_.size() == size_t(nb);
  for (int k = 0; same && k < nb; ++k) same = active_[k] == (!mask || mask[k] != 0.0f);
  if (same) return;
  listsBuilt_ = false;
  active_.assign(nb, 1);
  if (mask)
    for (int k = 0; k < nb; ++k) active_[k] = mask[k] != 0.0f;
  auto on = [&](int i, int j) { return active_[i * ib_ + j] != 0; };
  activeCount_ = 0;
  for (int k = 0; k < nb; ++k) activeCount_ += active_[k];
  // Groups of `per` consecutive block rows (transpose = false: forward products, weight
  // gradients) or block columns (transpose = true: input gradients): for each group, the
  // entries (block of the group's first row / column, other index) where any member is active.
  auto groups = [&](bool transpose, int per, std::vector<int>& ptr, std::vector<int>& blk, std::vector<int>& src) {
    const int count = transpose ? ib_ : ob_, other = transpose ? ob_ : ib_;
    const int n = (count + per - 1) / per;
    ptr.assign(n + 1, 0);
    blk.clear();
    src.clear();
    blk.reserve(size_t(n) * other);
    src.reserve(size_t(n) * other);
    for (int g = 0; g < n; ++g) {
      const int m0 = g * per, m1 = std::min(count, m0 + per);
      for (int o = 0; o < other; ++o) {
        bool any = false;
        for (int m = m0; m < m1; ++m) any = any || (transpose ? on(o, m) : on(m, o));
        if (!any) continue;
        blk.push_back(transpose ? o * ib_ + m0 : m0 * ib_ + o);
        src.push_back(o);
      }
      ptr[g + 1] = static_cast<int>(blk.size());
    }
  };
  groups(false, kMacRows, fwdPtr_, fwdBlk_, fwdSrc_);
  groups(false, kDcRows, dcPtr_, dcBlk_, dcSrc_);
  groups(true, kMacRows, bwdPtr_, bwdBlk_, bwdSrc_);
  listsBuilt_ = true;
}

void CirculantLayer::forward(const float* x, int batch, const float* vectors, const float* blockMask,
                             const float* bias, float* y) {
  cacheBatch_ = 0;  // invalid while being rewritten
  if (batch <= 0) return;
  const int bpad = roundUp(batch, VW);
  buildActiveLists(blockMask);
  if (method_ == Method::Fft) forwardFft(x, batch, bpad, vectors, bias, y);
  else forwardDirect(x, batch, bpad, vectors, bias, y);
  cacheBatch_ = batch;
  cacheBpad_ = bpad;
}

void CirculantLayer::backward(const float* dy, float* dx, float* dVectors, float* dBias) {
  if (cacheBatch_ <= 0) throw std::logic_error("backward called without a preceding forward");
  if (method_ == Method::Fft) backwardFft(dy, dx, dVectors, dBias);
  else backwardDirect(dy, dx, dVectors, dBias);
}

void CirculantLayer::releaseCache() {
  cacheBatch_ = 0;
  for (AlignedBuffer* a : {&w_, &xRow_, &dW_, &cf_, &specX_, &specDy_, &dcf_, &cT_, &cfInfer_, &specXInfer_, &xT_,
                           &yT_, &dyT_, &dxT_})
    a->release();
  for (auto& s : scratch_) s->release();
}

// ---------------------------------------------------------------------------------------------
// Direct path: materialised W_eff and the dense GEMM kernels
// ---------------------------------------------------------------------------------------------

void CirculantLayer::forwardDirect(const float* x, int batch, int bpad, const float* vectors, const float* bias,
                                   float* y) {
  Workspace& ws = ctx_->ws;
  const int in = in_, out = out_;
  float* W = w_.ensure(size_t(out) * in);
  materializeCirculant(ws, vectors, out, in, b_, active_.data(), W);
  float* xT = xT_.ensure(size_t(in) * bpad);
  toFeatureMajor(ws, x, batch, in, in, bpad, xT);
  float* yT = yT_.ensure(size_t(out) * bpad);
  Epilogue ep;
  ep.bias = bias;
  gemm(ws, out, bpad, in, W, in, 1, xT, bpad, yT, bpad, ep);
  transpose(ws, yT, bpad, out, batch, y, out);
  // x row-major with the row length padded to a multiple of VW (B operand of the dW product).
  const int inPad = roundUp(in, VW);
  float* xr = xRow_.ensure(size_t(batch) * inPad);
  for (int n = 0; n < batch; ++n) {
    std::memcpy(xr + size_t(n) * inPad, x + size_t(n) * in, in * sizeof(float));
    if (inPad > in) std::memset(xr + size_t(n) * inPad + in, 0, (inPad - in) * sizeof(float));
  }
}

void CirculantLayer::backwardDirect(const float* dy, float* dx, float* dVectors, float* dBias) {
  Workspace& ws = ctx_->ws;
  const int batch = cacheBatch_, bpad = cacheBpad_, b = b_, in = in_, out = out_;
  const int inPad = roundUp(in, VW);
  float* dyT = dyT_.ensure(size_t(out) * bpad);
  toFeatureMajor(ws, dy, batch, out, out, bpad, dyT);
  rowSums(ws, dyT, bpad, out, bpad, dBias);
  // dW = dyᵀ · x, [out][inPad]
  float* dW = dW_.ensure(size_t(out) * inPad);
  gemm(ws, out, inPad, batch, dyT, bpad, 1, xRow_.data(), inPad, dW, inPad, Epilogue());
  // dc_ij[t] = Σ_r dW[i·b + r, j·b + (r + t) mod b] over existing entries; 0 on pruned blocks.
  std::memset(dVectors, 0, vectorLength() * sizeof(float));
  forRanges(ws, ob_, ws.threads() > 1 && double(out) * in >= 4 * kMinParallelWork, [&](int i0, int i1, int) {
    for (int i = i0; i < i1; ++i) {
      const int rows = std::min(b, out - i * b);
      for (int j = 0; j < ib_; ++j) {
        if (!active_[i * ib_ + j]) continue;
        float* g = dVectors + (size_t(i) * ib_ + j) * b;
        const int c0 = j * b, cols = std::min(b, in - c0);
        for (int r = 0; r < rows; ++r) {
          const float* src = dW + size_t(i * b + r) * inPad + c0;
          const int first = std::min(r, cols);
          for (int s = 0; s < first; ++s) g[s - r + b] += src[s];
          for (int s = r; s < cols; ++s) g[s - r] += src[s];
        }
      }
    }
  });
  if (dx) {
    // dxᵀ = W_effᵀ · dyᵀ: A(m, k) = W[k·in + m]
    float* dxT = dxT_.ensure(size_t(in) * bpad);
    gemm(ws, in, bpad, out, w_.data(), 1, in, dyT, bpad, dxT, bpad, Epilogue());
    transpose(ws, dxT, bpad, in, batch, dx, in);
  }
}

// ---------------------------------------------------------------------------------------------
// FFT path
// ---------------------------------------------------------------------------------------------

void CirculantLayer::weightSpectra(float* cT, float* cf) {
  Workspace& ws = ctx_->ws;
  const int b = b_, nb = ob_ * ib_, nbPad = roundUp(nb, VW);
  // cT [b][nbPad] holds the vectors (blocks as the vector dimension); zero the padding columns
  // and the pruned blocks, then transform them like any batch of signals.
  for (int t = 0; t < b; ++t) {
    float* row = cT + size_t(t) * nbPad;
    for (int k = nb; k < nbPad; ++k) row[k] = 0.0f;
  }
  for (int k = 0; k < nb; ++k)
    if (!active_[k])
      for (int t = 0; t < b; ++t) cT[size_t(t) * nbPad + k] = 0.0f;
  spectra(ws, *plan_, scratch_, cT, cf, 1, nbPad, nbPad, b);
}

template <bool FWD, class Epi>
void CirculantLayer::productTiles(const float* cf, const float* S, int bpad, float* dstT, Epi&& epi) {
  Workspace& ws = ctx_->ws;
  const RealFftPlan& plan = *plan_;
  const int b = b_, nbPad = roundUp(ob_ * ib_, VW);
  // Members: output block rows (FWD) or input block columns; S holds `sBlocks` block spectra.
  const int members = FWD ? ob_ : ib_, sBlocks = FWD ? ib_ : ob_, limit = FWD ? out_ : in_;
  const ptrdiff_t rstride = FWD ? ib_ : 1;  // Cf block step from one member to the next
  const std::vector<int>& ptr = FWD ? fwdPtr_ : bwdPtr_;
  const int* blk = FWD ? fwdBlk_.data() : bwdBlk_.data();
  const int* src = FWD ? fwdSrc_.data() : bwdSrc_.data();
  const int nvTotal = bpad / VW, tiles = (nvTotal + kTileVecs - 1) / kTileVecs;
  const float scale = 1.0f / b;
  const double work = double(activeCount_) * (2 * b) * bpad + double(members) * b * 5.0 * bpad;
  const int groups = (members + kMacRows - 1) / kMacRows;
  forRanges(ws, groups * tiles, ws.threads() > 1 && work >= kMinParallelWork, [&](int beg, int end, int t) {
    float* spec = threadScratch(t, size_t(kMacRows + 1) * b * kTileFloats);
    float* z = spec + size_t(kMacRows) * b * kTileFloats;
    for (int item = beg; item < end; ++item) {
      // tile-major: consecutive items reuse the same source-spectrum tile (cache)
      const int tile = item / groups, g = item % groups;
      const int v0 = tile * kTileVecs, nv = std::min(kTileVecs, nvTotal - v0);
      const int m0 = g * kMacRows, count = std::min(kMacRows, members - m0);
      const int e0 = ptr[g], n = ptr[g + 1] - e0;
      withNv(nv, [&](auto c) {
        constexpr int NV = decltype(c)::value;
        constexpr ptrdiff_t ld = NV * VW;
        const ptrdiff_t ldr = ptrdiff_t(b) * ld;
        if (count == kMacRows)
          macTile<NV, kMacRows, FWD>(b, cf, nbPad, blk + e0, src + e0, n, rstride, S + v0 * VW,
                                     ptrdiff_t(sBlocks) * bpad, bpad, spec, ld, ldr);
        else
          macTile<NV, 1, FWD>(b, cf, nbPad, blk + e0, src + e0, n, rstride, S + v0 * VW, ptrdiff_t(sBlocks) * bpad,
                              bpad, spec, ld, ldr);
        for (int r = 0; r < count; ++r) {
          const int m = m0 + r;
          irfftTile<NV>(plan, spec + r * ldr, ld, dstT + size_t(m) * b * bpad + v0 * VW, bpad,
                        std::min(b, limit - m * b), epi(m, v0), scale, z);
        }
      });
    }
  });
}

void CirculantLayer::forwardProducts(const float* cf, const float* X, int bpad, const float* bias, Act act,
                                     float* yT) {
  // Y_i = Σ_j conj(Cf_ij) X_j, inverse FFT, + bias, activation; rows beyond `out` are dropped.
  productTiles<true>(cf, X, bpad, yT, [&](int i, int) {
    TileEpi ep;
    ep.bias = bias ? bias + i * b_ : nullptr;
    ep.act = act;
    return ep;
  });
}

void CirculantLayer::backwardCore(const float* dyT, int validRows, float* dxT, const float* aux, AuxOp auxOp,
                                  float* dVectors) {
  Workspace& ws = ctx_->ws;
  const RealFftPlan& plan = *plan_;
  const int bpad = cacheBpad_, b = b_, nb = ob_ * ib_, nbPad = roundUp(nb, VW);
  const int nvTotal = bpad / VW;
  const float scale = 1.0f / b;
  const float* X = specX_.data();
  // Output-gradient spectra DY [b][outBlocks][bpad].
  float* DY = specDy_.ensure(size_t(b) * ob_ * bpad);
  spectra(ws, plan, scratch_, dyT, DY, ob_, bpad, bpad, validRows);

  if (dxT) {
    // DX_j = Σ_i Cf_ij DY_i, inverse FFT, epilogue; rows beyond `in` dropped.
    productTiles<false>(cf_.data(), DY, bpad, dxT, [&](int j, int v0) {
      TileEpi ep;
      if (aux && auxOp != AuxOp::None) {
        ep.aux = aux + size_t(j) * b * bpad + v0 * VW;
        ep.ldaux = bpad;
        ep.op = auxOp;
      }
      return ep;
    });
  }
  if (!dVectors) return;
  const double macWork = double(activeCount_) * (2 * b) * bpad;

  // dCf_ij = Σ_batch conj(DY_i) X_j  ([b][nbPad], zero on pruned blocks), then
  // dc_ij = IDFT(dCf_ij), computed with blocks as the vector dimension.
  float* dcf = dcf_.ensure(size_t(b) * nbPad);
  std::memset(dcf, 0, size_t(b) * nbPad * sizeof(float));
  const ptrdiff_t ldX = ptrdiff_t(ib_) * bpad, ldDY = ptrdiff_t(ob_) * bpad;
  const int dcGroups = (ob_ + kDcRows - 1) / kDcRows;
  forRanges(ws, dcGroups, ws.threads() > 1 && macWork >= kMinParallelWork, [&](int beg, int end, int) {
    for (int g = beg; g < end; ++g) {
      const int i0 = g * kDcRows, rows = std::min(kDcRows, ob_ - i0);
      const float* dy0 = DY + size_t(i0) * bpad;
      for (int e = dcPtr_[g]; e < dcPtr_[g + 1]; ++e) {
        const int blk0 = dcBlk_[e], j = dcSrc_[e];
        const float* x0 = X + size_t(j) * bpad;
        switch (rows) {
          case 1: dcfEntry<1>(b, dy0, ldDY, bpad, x0, ldX, nvTotal, dcf, nbPad, blk0, ib_, active_.data()); break;
          case 2: dcfEntry<2>(b, dy0, ldDY, bpad, x0, ldX, nvTotal, dcf, nbPad, blk0, ib_, active_.data()); break;
          case 3: dcfEntry<3>(b, dy0, ldDY, bpad, x0, ldX, nvTotal, dcf, nbPad, blk0, ib_, active_.data()); break;
          default: dcfEntry<4>(b, dy0, ldDY, bpad, x0, ldX, nvTotal, dcf, nbPad, blk0, ib_, active_.data()); break;
        }
      }
    }
  });
  float* dcT = cT_.ensure(size_t(b) * nbPad);
  const int nbv = nbPad / VW, nbTiles = (nbv + kTileVecs - 1) / kTileVecs;
  forRanges(ws, nbTiles, ws.threads() > 1 && double(nbPad) * b * 5.0 >= kMinParallelWork, [&](int beg, int end, int t) {
    float* z = threadScratch(t, size_t(b) * kTileFloats);
    for (int tile = beg; tile < end; ++tile) {
      const int v0 = tile * kTileVecs, nv = std::min(kTileVecs, nbv - v0);
      withNv(nv, [&](auto c) {
        irfftTile<decltype(c)::value>(plan, dcf + v0 * VW, nbPad, dcT + v0 * VW, nbPad, b, TileEpi(), scale, z);
      });
    }
  });
  transpose(ws, dcT, nbPad, b, nb, dVectors, b);
}

void CirculantLayer::forwardFft(const float* x, int batch, int bpad, const float* vectors, const float* bias,
                                float* y) {
  Workspace& ws = ctx_->ws;
  const int b = b_, nb = ob_ * ib_, nbPad = roundUp(nb, VW);
  float* cT = cT_.ensure(size_t(b) * nbPad);
  transpose(ws, vectors, b, nb, b, cT, nbPad);
  float* cf = cf_.ensure(size_t(b) * nbPad);
  weightSpectra(cT, cf);
  // Input spectra X [b][inBlocks][bpad] of xᵀ [in][bpad] (rows beyond `in` read as zero).
  float* xT = xT_.ensure(size_t(in_) * bpad);
  toFeatureMajor(ws, x, batch, in_, in_, bpad, xT);
  float* X = specX_.ensure(size_t(b) * ib_ * bpad);
  spectra(ws, *plan_, scratch_, xT, X, ib_, bpad, bpad, in_);
  float* yT = yT_.ensure(size_t(ob_) * b * bpad);
  forwardProducts(cf, X, bpad, bias, Act::Linear, yT);
  transpose(ws, yT, bpad, out_, batch, y, out_);
}

void CirculantLayer::backwardFft(const float* dy, float* dx, float* dVectors, float* dBias) {
  Workspace& ws = ctx_->ws;
  const int batch = cacheBatch_, bpad = cacheBpad_;
  // dy feature-major [out][bpad], bias gradient, then the shared FFT backward.
  float* dyT = dyT_.ensure(size_t(out_) * bpad);
  toFeatureMajor(ws, dy, batch, out_, out_, bpad, dyT);
  rowSums(ws, dyT, bpad, out_, bpad, dBias);
  float* dxT = dx ? dxT_.ensure(size_t(ib_) * b_ * bpad) : nullptr;
  backwardCore(dyT, out_, dxT, nullptr, AuxOp::None, dVectors);
  if (dx) transpose(ws, dxT, bpad, in_, batch, dx, in_);
}

// ---------------------------------------------------------------------------------------------
// Feature-major entry points (the engine's MLP)
// ---------------------------------------------------------------------------------------------

void CirculantLayer::forwardFeatureMajor(const float* xT, int batch, int bpad, const float* weight,
                                         const float* blockMask, const float* bias, Act act, float* yT, bool train) {
  if (method_ != Method::Fft) throw std::logic_error("forwardFeatureMajor needs the FFT method");
  if (train) cacheBatch_ = 0;  // invalid while being rewritten
  if (batch <= 0) return;
  buildActiveLists(blockMask);
  const int b = b_, nbPad = roundUp(ob_ * ib_, VW);
  float* cT = cT_.ensure(size_t(b) * nbPad);
  gatherVectorsT(weight, cT, nbPad);
  float* cf = (train ? cf_ : cfInfer_).ensure(size_t(b) * nbPad);
  weightSpectra(cT, cf);
  float* X = (train ? specX_ : specXInfer_).ensure(size_t(b) * ib_ * bpad);
  spectra(ctx_->ws, *plan_, scratch_, xT, X, ib_, bpad, bpad, in_);
  forwardProducts(cf, X, bpad, bias, act, yT);
  if (train) {
    cacheBatch_ = batch;
    cacheBpad_ = bpad;
  }
}

void CirculantLayer::backwardFeatureMajor(const float* dzT, float* dxT, const float* aux, AuxOp auxOp,
                                          float* dVectors) {
  if (method_ != Method::Fft) throw std::logic_error("backwardFeatureMajor needs the FFT method");
  if (cacheBatch_ <= 0) throw std::logic_error("backward called without a preceding forward");
  backwardCore(dzT, out_, dxT, aux, auxOp, dVectors);
}

void CirculantLayer::gatherVectorsT(const float* W, float* cT, ptrdiff_t ldc) const {
  // c_ij[t] = the first existing entry of diagonal t in row order (extractCirculant): row 0,
  // column t for t < cols; else row b − t, column 0 (t ≥ cols exists only in edge blocks);
  // 0 when that row does not exist either (the diagonal touches only padding: unused).
  const int b = b_;
  for (int i = 0; i < ob_; ++i) {
    const int rows = std::min(b, out_ - i * b);
    for (int j = 0; j < ib_; ++j) {
      const int blk = i * ib_ + j, cols = std::min(b, in_ - j * b);
      const float* w0 = W + size_t(i) * b * in_ + size_t(j) * b;
      for (int t = 0; t < cols; ++t) cT[t * ldc + blk] = w0[t];
      for (int t = cols; t < b; ++t) {
        const int r = b - t;
        cT[t * ldc + blk] = r < rows ? w0[size_t(r) * in_] : 0.0f;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Materialise / fold
// ---------------------------------------------------------------------------------------------

namespace {
/** Zeroes the blocks (i, j) of W [out][in] with active[i·ib + j] == 0, block rows [i0, i1). */
void zeroPrunedBlocks(float* W, int out, int in, int b, const unsigned char* active, int i0, int i1) {
  const int ib = (in + b - 1) / b;
  for (int i = i0; i < i1; ++i) {
    const int rows = std::min(b, out - i * b);
    for (int j = 0; j < ib; ++j) {
      if (active[i * ib + j]) continue;
      const int cols = std::min(b, in - j * b);
      for (int r = 0; r < rows; ++r) std::memset(W + size_t(i * b + r) * in + j * b, 0, cols * sizeof(float));
    }
  }
}
// Per-element work below which the materialise / fold loops run on the calling thread only.
constexpr double kMinParallelMapElems = 48.0 * 1024;

// Row r of a block row with power-of-two block size b (m = b − 1): entry (r, col) lies on
// diagonal t = (col − r) mod b of its block, i.e. at index (col & ~m) | ((col − r) & m) of the
// block row's vectors [inBlocks][b].

/** dst[col] = g[(col & ~m) | ((col − r) & m)] for col < in (materialise one row). */
void rotateRowOut(const float* g, float* dst, int in, int b, int r) {
  const int m = b - 1;
  int col = 0;
  if (b <= VW) {
    vi idx;
    for (int l = 0; l < VW; ++l) idx[l] = (l & ~m) | ((l - r) & m);
    for (; col + VW <= in; col += VW) vstoreu(dst + col, __builtin_shuffle(vloadu(g + col), idx));
  } else {
    for (; col + b <= in; col += b) {
      const float* gj = g + col;
      float* dj = dst + col;
      for (int s = 0; s < r; ++s) dj[s] = gj[s - r + b];
      for (int s = r; s < b; ++s) dj[s] = gj[s - r];
    }
  }
  for (; col < in; ++col) dst[col] = g[(col & ~m) | ((col - r) & m)];
}

/** g[(col & ~m) | ((col − r) & m)] += src[col] for col < in (fold one row). */
void rotateRowIn(const float* src, float* g, int in, int b, int r) {
  const int m = b - 1;
  int col = 0;
  if (b <= VW) {
    vi idx;  // g lane l takes source lane (l & ~m) | ((l + r) & m)
    for (int l = 0; l < VW; ++l) idx[l] = (l & ~m) | ((l + r) & m);
    for (; col + VW <= in; col += VW) vstoreu(g + col, vloadu(g + col) + __builtin_shuffle(vloadu(src + col), idx));
  } else {
    for (; col + b <= in; col += b) {
      float* gj = g + col;
      const float* sj = src + col;
      for (int t = 0; t < b - r; ++t) gj[t] += sj[t + r];
      for (int t = b - r; t < b; ++t) gj[t] += sj[t + r - b];
    }
  }
  for (; col < in; ++col) g[(col & ~m) | ((col - r) & m)] += src[col];
}
}  // namespace

void materializeCirculant(Workspace& ws, const float* vectors, int out, int in, int b, const unsigned char* active,
                          float* W) {
  const int ib = (in + b - 1) / b;
  const int ob = (out + b - 1) / b;
  if (isPow2(b)) {
    forRanges(ws, ob, ws.threads() > 1 && double(out) * in >= kMinParallelMapElems, [&](int i0, int i1, int) {
      for (int i = i0; i < i1; ++i) {
        const float* g = vectors + size_t(i) * ib * b;
        const int rows = std::min(b, out - i * b);
        for (int r = 0; r < rows; ++r) rotateRowOut(g, W + size_t(i * b + r) * in, in, b, r);
      }
      if (active) zeroPrunedBlocks(W, out, in, b, active, i0, i1);
    });
    return;
  }
  // W[i·b + r, j·b + s] = g_ij · c_ij[(s − r) mod b]: per block row two contiguous copies.
  forRanges(ws, out, ws.threads() > 1 && double(out) * in >= 4 * kMinParallelWork, [&](int r0, int r1, int) {
    for (int row = r0; row < r1; ++row) {
      const int i = row / b, r = row - i * b;
      float* wrow = W + size_t(row) * in;
      for (int j = 0; j < ib; ++j) {
        const int c0 = j * b, cols = std::min(b, in - c0);
        float* dst = wrow + c0;
        if (active && !active[i * ib + j]) {
          std::memset(dst, 0, cols * sizeof(float));
          continue;
        }
        const float* c = vectors + (size_t(i) * ib + j) * b;
        if (b < 16) {  // short pieces: a plain loop beats two memcpy calls
          for (int s = 0; s < cols; ++s) {
            const int t = s - r;
            dst[s] = c[t < 0 ? t + b : t];
          }
          continue;
        }
        const int first = std::min(r, cols);  // s < r: t = s − r + b
        std::memcpy(dst, c + (b - r), first * sizeof(float));
        if (cols > r) std::memcpy(dst + r, c, (cols - r) * sizeof(float));
      }
    }
  });
}

void foldCirculantInPlace(Workspace& ws, float* G, int out, int in, int b, const unsigned char* active) {
  const int ob = (out + b - 1) / b, ib = (in + b - 1) / b;
  const bool pow2 = isPow2(b);
  forRanges(ws, ob, ws.threads() > 1 && double(out) * in >= kMinParallelMapElems, [&](int i0, int i1, int) {
    std::vector<float> g(size_t(ib) * b);
    for (int i = i0; i < i1; ++i) {
      const int rows = std::min(b, out - i * b);
      float* base = G + size_t(i) * b * in;
      // g[j·b + t] = Σ_r G[i·b + r, j·b + (r + t) mod b] over existing entries (rows ascending),
      // then written back to every existing entry of its diagonal.
      std::fill(g.begin(), g.end(), 0.0f);
      if (pow2) {
        for (int r = 0; r < rows; ++r) rotateRowIn(base + size_t(r) * in, g.data(), in, b, r);
        for (int r = 0; r < rows; ++r) rotateRowOut(g.data(), base + size_t(r) * in, in, b, r);
        continue;
      }
      for (int j = 0; j < ib; ++j) {
        const int c0 = j * b, cols = std::min(b, in - c0);
        float* gj = g.data() + size_t(j) * b;
        for (int r = 0; r < rows; ++r) {
          const float* src = base + size_t(r) * in + c0;
          const int first = std::min(r, cols);
          for (int s = 0; s < first; ++s) gj[s - r + b] += src[s];
          for (int s = first; s < cols; ++s) gj[s - r] += src[s];
        }
        for (int r = 0; r < rows; ++r) {
          float* dst = base + size_t(r) * in + c0;
          const int first = std::min(r, cols);
          for (int s = 0; s < first; ++s) dst[s] = gj[s - r + b];
          for (int s = first; s < cols; ++s) dst[s] = gj[s - r];
        }
      }
    }
    if (active) zeroPrunedBlocks(G, out, in, b, active, i0, i1);
  });
}

}  // namespace srl
