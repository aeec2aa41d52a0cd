#include "circulant_layer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "circulant_detail.h"
#include "circulant_fold.h"
#include "circulant_products.h"
#include "real_fft_kernels.h"

namespace srl {

using detail::dcfEntry;
using detail::forRanges;
using detail::irfftTile;
using detail::isPow2;
using detail::kMinParallelWork;
using detail::kTileFloats;
using detail::kTileVecs;
using detail::macTile;
using detail::spectra;
using detail::TileEpi;
using detail::withNv;

namespace {

// Output blocks per frequency-domain product tile (they share the loads of the input spectra).
constexpr int kMacRows = 2;
// Output block rows per weight-gradient tile (they share the loads of the input spectra).
constexpr int kDcRows = 4;
static_assert(kDcRows == 4, "the weight-gradient dispatch covers 1..4 rows");

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

}  // namespace

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

}  // namespace srl
