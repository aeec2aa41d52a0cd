// Block-circulant linear layer of the native engine (CirCNN, Ding et al. 2017, MICRO; used by GST,
// Lee et al. 2021, arXiv 2101.09650). Layout as in src/sparse/block-circulant.ts: a weight
// W [out, in] is zero-padded virtually to multiples of the block size b and tiled into
// outBlocks × inBlocks blocks; block (i, j) is defined by c_ij ∈ R^b with
//     W[i·b + r, j·b + s] = c_ij[(s − r) mod b],
// vectors are stored [outBlocks, inBlocks, b] and a block mask g is [outBlocks, inBlocks]
// (0 = pruned block: contributes nothing and gets a zero gradient).
//
// Two implementations of y[batch, out] = x[batch, in] · W_effᵀ + bias and its backward pass:
// - Direct: W_eff is materialised (circulant_fold.h) and the dense GEMM kernels of kernels.h run
//   on it, O(b²) per block and sample.
// - FFT: per block y_i = Σ_j C_ij x_j is a circular cross-correlation, so with real DFTs
//   (k = 0..b/2)  Y_i[k] = Σ_j conj(Cf_ij[k]) · X_j[k]; backward DX_j[k] = Σ_i Cf_ij[k] · DY_i[k]
//   and dCf_ij[k] = Σ_batch conj(DY_i[k]) · X_j[k], each followed by one inverse FFT per block.
//   Own radix-2 real FFT (a complex FFT of length b/2 plus a split step; real_fft.h,
//   real_fft_kernels.h), O(b log b) per transform, vectorised over the batch (data
//   feature-major, [features][bpad]); pruned blocks are skipped in the frequency-domain products
//   (circulant_products.h). b must be a power of two >= 2. Spectra are stored packed (layout in
//   real_fft.h).
//
// Both paths run on the engine's thread pool and are deterministic (fixed summation orders).
// Implementation: circulant_layer.cc.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "kernels.h"
#include "mlp.h"
#include "real_fft.h"

namespace srl {

class CirculantLayer {
 public:
  enum class Method : int { Direct = 0, Fft = 1 };

  /**
   * @throws std::invalid_argument unless out, in, blockSize >= 1, and for Method::Fft unless
   *   blockSize is a power of two >= 2.
   */
  CirculantLayer(std::shared_ptr<EngineContext> ctx, int out, int in, int blockSize, Method method);

  int out() const { return out_; }
  int in() const { return in_; }
  int blockSize() const { return b_; }
  int outBlocks() const { return ob_; }
  int inBlocks() const { return ib_; }
  Method method() const { return method_; }
  /** Length of the vectors array: outBlocks · inBlocks · b. */
  size_t vectorLength() const { return size_t(ob_) * ib_ * b_; }
  size_t blockCount() const { return size_t(ob_) * ib_; }

  /**
   * y[batch][out] = x[batch][in] · W_effᵀ + bias; caches what backward needs (the vectors and
   * mask are read now; later changes to them do not affect backward).
   * @param blockMask [outBlocks][inBlocks] 0/1 or null (all blocks active)
   * @param bias [out] or null (no bias)
   */
  void forward(const float* x, int batch, const float* vectors, const float* blockMask,
               const float* bias, float* y);
  bool hasCache() const { return cacheBatch_ > 0; }
  int cachedBatch() const { return cacheBatch_; }
  /**
   * Gradients for dy[batch][out] of the cached forward: dVectors [outBlocks][inBlocks][b]
   * (0 on pruned blocks), dBias [out] = Σ_batch dy, dx[batch][in] when dx is not null.
   * @throws std::logic_error without a preceding forward
   */
  void backward(const float* dy, float* dx, float* dVectors, float* dBias);
  /** Frees the cached activations and scratch. */
  void releaseCache();

  // Feature-major entry points of the engine's MLP (mlp.cc; Method::Fft only). Data are
  // [features][bpad] with bpad a multiple of VW; no layout conversions.

  /**
   * yT[out][bpad] = act(W_eff · xT + bias) for xT [in][bpad], every column (padding included).
   * The vectors are read from the materialised weight `weight` [out][in], which must be exactly
   * block-circulant: c_ij[t] = its first existing entry of diagonal t in row order (as
   * extractCirculant in src/sparse/block-circulant.ts).
   * @param train keep the spectra for backwardFeatureMajor; false (inference) uses separate
   *   buffers, so a cached training forward stays valid
   * @param blockMask [outBlocks][inBlocks] 0/1 or null (all active)
   * @param bias [out] or null
   */
  void forwardFeatureMajor(const float* xT, int batch, int bpad, const float* weight, const float* blockMask,
                           const float* bias, Act act, float* yT, bool train);
  /**
   * Backward of the cached training forwardFeatureMajor for dzT [out][bpad] = dL/d(pre-activation)
   * (padding columns zero): dxT [in][bpad] (when not null) = Wᵀ dz times the aux epilogue
   * (ReluGrad / TanhGrad with aux [in][bpad], the input activations); dVectors
   * [outBlocks][inBlocks][b] (when not null; 0 on pruned blocks).
   * @throws std::logic_error without a preceding training forward
   */
  void backwardFeatureMajor(const float* dzT, float* dxT, const float* aux, AuxOp auxOp, float* dVectors);
  /** The active flags [outBlocks · inBlocks] of the last forward (valid after one). */
  const unsigned char* activeFlags() const { return active_.data(); }

 private:
  void buildActiveLists(const float* blockMask);
  void forwardDirect(const float* x, int batch, int bpad, const float* vectors, const float* bias, float* y);
  void forwardFft(const float* x, int batch, int bpad, const float* vectors, const float* bias, float* y);
  void backwardDirect(const float* dy, float* dx, float* dVectors, float* dBias);
  void backwardFft(const float* dy, float* dx, float* dVectors, float* dBias);
  /** cf = spectra of the vectors in cT [b][nbPad] (padding columns and pruned blocks zeroed first). */
  void weightSpectra(float* cT, float* cf);
  /** yT rows < out = epilogue(IDFT(Σ_j conj(Cf_ij) X_j)) + bias, act. */
  void forwardProducts(const float* cf, const float* X, int bpad, const float* bias, Act act, float* yT);
  /**
   * Tiled frequency-domain products, then per member m the inverse FFT into dstT rows m·b.. (rows
   * beyond out/in dropped) with the TileEpi that epi(m, v0) returns for batch column v0·VW.
   * FWD: members are output block rows, Y_i = Σ_j conj(Cf_ij) S_j (S = X, [b][inBlocks][bpad]);
   * otherwise input block columns, DX_j = Σ_i Cf_ij S_i (S = DY, [b][outBlocks][bpad]).
   */
  template <bool FWD, class Epi>
  void productTiles(const float* cf, const float* S, int bpad, float* dstT, Epi&& epi);
  /** Shared FFT backward on feature-major dyT (rows >= validRows read as zero). */
  void backwardCore(const float* dyT, int validRows, float* dxT, const float* aux, AuxOp auxOp, float* dVectors);
  /** cT[t·ldc + blk] = c_blk[t] read from a materialised block-circulant W [out][in]. */
  void gatherVectorsT(const float* W, float* cT, ptrdiff_t ldc) const;
  float* threadScratch(int t, size_t n) { return scratch_[t]->ensure(n); }

  std::shared_ptr<EngineContext> ctx_;
  int out_, in_, b_, ob_, ib_;
  Method method_;
  std::unique_ptr<RealFftPlan> plan_;
  std::vector<std::unique_ptr<AlignedBuffer>> scratch_;  // per thread

  // Active blocks of the cached forward: flags, count, and per group of output block rows
  // (fwd: forward products, dc: weight gradients) / input block columns (bwd: input gradients)
  // the entries (block of the group's first member, other index) where any member is active.
  std::vector<int> fwdPtr_, fwdBlk_, fwdSrc_, dcPtr_, dcBlk_, dcSrc_;
  std::vector<int> bwdPtr_, bwdBlk_, bwdSrc_;
  std::vector<unsigned char> active_;  // [outBlocks · inBlocks]
  int activeCount_ = 0;
  bool listsBuilt_ = false;

  int cacheBatch_ = 0, cacheBpad_ = 0;
  // Direct path: W_eff [out][in] and x row-major padded [batch][inPad] (cached), dW scratch.
  AlignedBuffer w_, xRow_, dW_;
  // FFT path: weight spectra [b][nbPad] and input spectra [b][inBlocks][bpad] (cached),
  // output-gradient spectra, dCf and transposed vectors scratch.
  AlignedBuffer cf_, specX_, specDy_, dcf_, cT_;
  // Inference (forwardFeatureMajor with train = false): weight and input spectra.
  AlignedBuffer cfInfer_, specXInfer_;
  // Feature-major scratch.
  AlignedBuffer xT_, yT_, dyT_, dxT_;
};

}  // namespace srl
