// Core (Node-API free) multi-layer perceptron of the native engine.
//
// Parameters live in one 64-byte aligned block shared with JavaScript (zero-copy views):
// per layer `weight [out,in]`, `bias [out]`, `weightGrad [out,in]`, `biasGrad [out]`,
// `mask [out,in]`. Activations are cached feature-major (`[features][bpad]`, bpad = batch
// rounded up to the SIMD width) so that the batch is the vector dimension of every kernel.
// Masked layers below a density threshold run on sparse index structures (CSR for the forward
// pass and SDDMM weight gradients, CSC for input gradients; a packed N:M index instead of CSR when
// the mask is exactly N:M along the input dimension) rebuilt only when the mask changes, and on
// copies of their active weights packed in CSR and CSC order (Mlp::weightsWritten).
// Layers declared block-circulant (setBlockCirculant; W kept exactly block-circulant by the
// caller) run on the FFT kernels of circulant_layer.h from a batch size on
// (defaultCirculantFftMinBatch), and their weight gradient is the folded (diagonal-summed)
// gradient at every entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels.h"

namespace srl {

class CirculantLayer;

/**
 * Default smallest batch at which a block-circulant layer with block size b runs on the FFT
 * kernels: `train` for forward + backward (the path of `forward`), else for `predict`. Below it
 * the dense / sparse kernels run on the materialised W (plus the native fold in backward), which
 * agree up to rounding. From the crossovers measured on a 256×256 layer with 2 threads (AVX-512,
 * machine shared with another job; ratio FFT / (dense + fold) for forward + backward with dx,
 * FFT / dense for predict):
 *   b = 2:  train 2.26 (batch 1), 1.40 (32), 1.09 (64), 0.89 (128), 0.86 (256) → 128;
 *           predict 1.62 (1) … 1.13 (128), 1.03 (256) → never
 *   b = 4:  train 1.23 (1), 1.02–1.06 (8–16), 0.86–0.95 (24), 0.90–1.00 (32), 0.73 (48),
 *           0.63 (256) → 32; predict 0.65–0.94 at every batch → 1
 *   b ≥ 8:  train ≤ 0.69, predict ≤ 0.61 at every batch from 1 → 1
 * @returns INT_MAX for "never"
 */
int defaultCirculantFftMinBatch(int blockSize, bool train);

/**
 * Defaults of EngineContext::gatheredMaxDensity / gatheredMinWeights: the gathered (O(nnz)) Adam
 * and Polyak updates pay where the dense [out, in] arrays no longer stay in cache and few of their
 * cache lines hold an active entry. One TD3 update (bench/width.ts, static ERK, AVX-512, 2 threads,
 * machine shared with two training runs), gathered / dense updates: 256-256 at 95 % 1.25 (at
 * 99 % 0.77); 1024-1024 at 90 % 1.22, 95 % 0.91, 99 % 0.41; 2048-2048 at 90 % 1.14, 95 % 0.97,
 * 99 % 0.99 (there the sparse products dominate). ERK gives the 2nd hidden layer of a critic a
 * density of 0.079 / 0.033 / 0.006 at 90 / 95 / 99 % (1024) and 0.090 / 0.039 / 0.006 (2048).
 */
constexpr double kGatheredUpdateMaxDensity = 0.05;
constexpr size_t kGatheredUpdateMinWeights = size_t(1) << 18;

/** A 64-byte aligned float block, shared by the C++ owner and JavaScript views. */
struct FloatBlock {
  explicit FloatBlock(size_t n);
  ~FloatBlock();
  FloatBlock(const FloatBlock&) = delete;
  FloatBlock& operator=(const FloatBlock&) = delete;
  float* data = nullptr;
  size_t floats = 0;
  size_t bytes() const { return floats * sizeof(float); }
};

/** Per-engine state: thread pool and scratch buffers shared by all networks of the engine. */
struct EngineContext {
  EngineContext(int threads, double sparseThreshold, int circulantFftMinBatch = 0,
                double gatheredMaxDensity = kGatheredUpdateMaxDensity, size_t gatheredMinWeights = kGatheredUpdateMinWeights)
      : ws(threads), sparseThreshold(sparseThreshold), circulantFftMinBatch(circulantFftMinBatch),
        gatheredMaxDensity(gatheredMaxDensity), gatheredMinWeights(gatheredMinWeights) {}
  Workspace ws;
  /** Density at or below which masked layers use the sparse kernels. */
  double sparseThreshold;
  /** Batch from which block-circulant layers use the FFT kernels; 0: defaultCirculantFftMinBatch. */
  int circulantFftMinBatch;
  /**
   * Sparse-kernel layers with at least gatheredMinWeights weights (out·in) and a density at most
   * gatheredMaxDensity run Adam and Polyak on their active entries only (Mlp::gatheredIndex).
   */
  double gatheredMaxDensity;
  size_t gatheredMinWeights;
  int fftMinBatch(int blockSize, bool train) const {
    return circulantFftMinBatch > 0 ? circulantFftMinBatch : defaultCirculantFftMinBatch(blockSize, train);
  }
  AlignedBuffer xT;      // predict: transposed input
  AlignedBuffer ping;    // predict: layer outputs / backward: gradients
  AlignedBuffer pong;
  AlignedBuffer rowAct;  // backward: activations in row-major [batch][inPad] for dense dW
  AlignedBuffer dwPad;   // backward: dW with padded rows when in % VW != 0
  AlignedBuffer circVec; // backward: vector gradients of a block-circulant layer
};

/**
 * Immutable sparse index of a mask (shared between networks with the same mask).
 *
 * Layers at or below the density threshold run on the sparse kernels (an exact N:M mask counts at
 * its nominal density N/M, whatever its trailing partial group keeps). When the mask is exactly
 * N:M along the input dimension for some M in {2, 4, 8, 16, 32} (smallest such M; every full
 * group of M consecutive inputs of every output row has the same count N < M, the trailing
 * partial group min(N, its length)), the forward pass and the masked weight gradient run on the
 * packed N:M index (`nm`, kernels.h NmIndex: NVIDIA 2:4 layout, Mishra et al. 2021,
 * arXiv 2104.08378) instead of CSR — detected by setMask, no caller change; the input gradient
 * keeps the CSC gather (an N:M scatter kernel accumulating blocks of input groups in L1 measured
 * 1.07× (2:4) – 1.33× (1:4) its time). Results are bitwise those of the CSR kernels.
 */
struct SparseIndex {
  int nnz = 0;
  bool useSparse = false;          // density below the threshold: sparse kernels are used
  std::vector<int> rowPtr, colIdx, rowWofs;  // CSR (out rows); wofs = o*in + i
  std::vector<int> colPtr, colRow;   // CSC (in columns)
  std::vector<int> rowToCol;         // CSC position of CSR entry j
  bool isNm = false;               // useSparse and the mask is exactly N:M (nm valid)
  NmIndex nm;                      // points into nmIdx
  std::vector<uint8_t> nmIdx;      // [out][nm.k] in-group indices
};

/**
 * Detects an exact N:M pattern of a 0/1 mask [out, in] along the input dimension (see
 * SparseIndex) for M = 2, 4, …, maxM (the smallest M that fits); fills n, m, groups, tail, k.
 * @returns false when no M fits (or N would be 0 or M)
 */
bool detectNm(const float* mask, int out, int in, int maxM, NmIndex& nm);

/** Float offsets of one layer's arrays inside the parameter block. */
struct LayerLayout {
  int in = 0, out = 0;
  size_t weight = 0, bias = 0, weightGrad = 0, biasGrad = 0, mask = 0;
};

/** Default density at or below which masked layers use the sparse kernels. */
constexpr double kSparseDensityThreshold = 0.5;

class Mlp {
 public:
  /**
   * @param sizes `[in, h1, ..., out]`, at least 2 entries, all >= 1.
   * Weights, biases and gradients start at zero; no masks.
   */
  Mlp(std::shared_ptr<EngineContext> ctx, std::vector<int> sizes, Act hidden, Act output);
  ~Mlp();

  int numLayers() const { return static_cast<int>(layout_.size()); }
  int inFeatures() const { return sizes_.front(); }
  int outFeatures() const { return sizes_.back(); }
  const std::vector<int>& sizes() const { return sizes_; }
  Act hiddenAct() const { return hidden_; }
  Act outputAct() const { return output_; }
  const LayerLayout& layout(int k) const { return layout_[k]; }
  const std::shared_ptr<FloatBlock>& block() const { return block_; }
  bool masked(int k) const { return layers_[k].masked; }
  bool usesSparseKernels(int k) const { return layers_[k].index && layers_[k].index->useSparse; }
  /** True when layer k runs on the packed N:M kernels (a sparse layer with an exact N:M mask). */
  bool usesNmKernels(int k) const { return usesSparseKernels(k) && layers_[k].index->isNm; }
  /** N and M of layer k's N:M kernels, {0, 0} when it does not use them. */
  std::pair<int, int> nmPattern(int k) const {
    return usesNmKernels(k) ? std::make_pair(layers_[k].index->nm.n, layers_[k].index->nm.m) : std::make_pair(0, 0);
  }
  /** Sparse index of layer k (null when unmasked). */
  const SparseIndex* sparseIndex(int k) const { return layers_[k].index.get(); }
  /**
   * The CSR index over which Adam and Polyak update layer k's weight at its active entries only, or
   * null for the dense update: a layer on the sparse (or N:M) kernels, not block-circulant, with at
   * least EngineContext::gatheredMinWeights weights and density at most gatheredMaxDensity.
   */
  std::shared_ptr<const SparseIndex> gatheredIndex(int k) const;
  /** Identifies the contents of layer k's mask (0: unmasked); changes with every setMask. */
  uint64_t maskStamp(int k) const { return layers_[k].maskStamp; }
  /** Block size of block-circulant layer k, 0 when it is a normal layer. */
  int blockCirculant(int k) const { return layers_[k].circB; }
  /**
   * True when layer k runs on the FFT kernels at this batch (block-circulant, batch large
   * enough): in forward / backward when `train`, else in predict.
   */
  bool usesCirculantFft(int k, int batch, bool train) const {
    return layers_[k].circB > 0 && batch >= ctx_->fftMinBatch(layers_[k].circB, train);
  }
  EngineContext& context() const { return *ctx_; }

  /** Inference: y[batch][out] from x[batch][in]; no cache. Batch 1 runs on `gemv` (calling thread). */
  void predict(const float* x, int batch, float* y);
  /** Training forward: like predict but caches activations for backward. */
  void forward(const float* x, int batch, float* y);
  bool hasCache() const { return cacheBatch_ > 0; }
  int cachedBatch() const { return cacheBatch_; }
  /**
   * Back-propagates gy[batch][out] of the cached forward; overwrites weightGrad / biasGrad;
   * writes dx[batch][in] when dx is not null. Inactive positions of masked layers get 0
   * unless denseGrad. Layers on the sparse kernels write only the active entries once their
   * inactive entries are known to be 0 (after the first masked sparse backward with the current
   * mask; any other write path, or a mask change, makes the next one zero the whole gradient):
   * callers must not write non-zeros at inactive weightGrad positions without changing the mask.
   */
  void backward(const float* gy, bool denseGrad, float* dx, bool paramGrad = true);

  /**
   * Declares layer k block-circulant with block size b (a power of two >= 2), or b = 0: a normal
   * layer again. Contract: the caller keeps W exactly block-circulant (layout of circulant_layer.h) and
   * expresses pruned blocks by the mask (whole b×b blocks; a block is active when any of its mask
   * entries is). Then forward / predict (batch >= circulantFftMinBatch) run on the FFT reading
   * c_ij from W, and backward writes the folded gradient Σ-over-diagonal at every entry of the
   * layer's weightGrad (0 in pruned blocks; denseGrad is ignored for the layer). A change
   * invalidates the forward cache.
   * @throws std::invalid_argument on a bad b
   */
  void setBlockCirculant(int k, int b);

  /**
   * Sets (mask != null, copied and normalised to 0/1) or removes the mask of layer k; W ← W ⊙ M.
   * Rebuilds the sparse index (CSR / CSC, or the packed N:M index when the mask is exactly N:M).
   */
  void setMask(int k, const float* mask);
  void applyMasks();
  /** Copies weights, biases and masks of `o` (same sizes); block-circulant settings stay. */
  void copyFrom(const Mlp& o);
  /**
   * θ ← τ·θ_o + (1−τ)·θ; masks become those of `o`, weights re-masked; block-circulant settings stay.
   * Layers with a gatheredIndex update their active entries only once their inactive weights are
   * known to be 0 (after one masked dense update, or setMask, with the current mask): the same
   * values bit for bit. Dense elsewhere: at 256×256 (L2-resident) a gathered update measured ~3×
   * slower than the vector loop at density 0.1.
   */
  void polyakFrom(const Mlp& o, float tau);
  /** Releases the activation cache (the parameter block stays alive while shared). */
  void releaseCache();

  /**
   * Layers on the sparse kernels read their active weights from copies packed in CSR order
   * (forward, predict) and CSC order (input gradient) instead of the dense [out, in] array, where
   * every active entry of a low-density layer sits on its own cache line (2048×2048 at density
   * 0.01, batch 256: the CSR product measured 2.7× faster on packed values). The engine's own
   * writers keep the copies current (gathered Adam and Polyak write them alongside W) or mark them
   * stale (dense updates, copyFrom, setMask, applyMasks); stale copies are rebuilt from W at their
   * next use. Weights written from outside (the JavaScript views) must be announced with
   * weightsWritten(k) before the next forward / predict / backward / update.
   */
  void weightsWritten(int k) { layers_[k].packedStamp = 0; }
  /** Layer k's packed copies (CSR order, CSC order), rebuilt when stale; {nullptr, nullptr} off the sparse kernels. */
  std::pair<float*, float*> packedWeights(int k);
  /** Layer k's packed copies when current, else {nullptr, nullptr} (nothing rebuilt). */
  std::pair<const float*, const float*> currentPackedWeights(int k) const;

  /**
   * Layers with a gatheredIndex write the weight gradient of a masked backward only in CSR order
   * (packedWeightGrad), where Adam's gathered step reads it, instead of scattering it into the
   * dense [out, in] weightGrad; syncWeightGrad(k) writes it there (the JavaScript view does so
   * before it is handed out). Dense readers of the gradient call it first.
   */
  void syncWeightGrad(int k);
  /** The last backward's weight gradient of layer k in CSR order of gatheredIndex(k), or null. */
  const float* packedWeightGrad(int k) const {
    const LayerState& st = layers_[k];
    return st.gradPackedValid && st.gradIndex == st.index ? st.gradVals.data() : nullptr;
  }
  /** weightGrad of layer k was written from outside: the packed gradient is dropped. */
  void weightGradWritten(int k) { layers_[k].gradPackedValid = false; }

  float* weight(int k) const { return block_->data + layout_[k].weight; }
  float* bias(int k) const { return block_->data + layout_[k].bias; }
  float* weightGrad(int k) const { return block_->data + layout_[k].weightGrad; }
  float* biasGrad(int k) const { return block_->data + layout_[k].biasGrad; }
  float* mask(int k) const { return block_->data + layout_[k].mask; }

 private:
  struct LayerState {
    bool masked = false;
    uint64_t maskStamp = 0;  // identifies mask contents (shared by copies)
    // Sparse-kernel layers: stamp of the mask for which every inactive weightGrad entry is known
    // to be 0 (written by the masked sparse backward); 0 = unknown. Lets backward skip zeroing.
    uint64_t gradZeroStamp = 0;
    // Stamp of the mask for which every inactive weight is known to be 0 (after setMask or a masked
    // dense Polyak update); lets polyakFrom update the active entries only (gatheredIndex).
    uint64_t weightZeroStamp = 0;
    std::shared_ptr<const SparseIndex> index;
    // Active weights packed in CSR / CSC order of `index`, current when packedStamp == maskStamp.
    std::vector<float> rowVals, colVals;
    uint64_t packedStamp = 0;
    // Weight gradient in CSR order of gradIndex (gathered layers): valid, and whether weightGrad lags it.
    std::vector<float> gradVals;
    std::shared_ptr<const SparseIndex> gradIndex;
    bool gradPackedValid = false, gradDenseStale = false;
    // Block-circulant: block size (0 = normal layer), FFT layer with its caches, block mask
    // derived from the element mask ([outBlocks·inBlocks], empty when unmasked).
    int circB = 0;
    std::shared_ptr<CirculantLayer> circ;
    std::vector<float> blockMask;
    std::vector<unsigned char> blockActive;
  };

  Act actOf(int k) const { return k + 1 == numLayers() ? output_ : hidden_; }
  /** predict at batch 1 with `gemv` per layer; false (nothing done) when a layer needs the FFT path. */
  bool predictOne(const float* x, float* y);
  void runLayers(const float* xT, int batch, int bpad, float* const* outs, bool train);
  void layerForward(int k, const float* inT, float* outT, int batch, int bpad, bool train);
  void shareMask(int k, const Mlp& o);
  void updateBlockMask(int k);

  std::shared_ptr<EngineContext> ctx_;
  std::vector<int> sizes_;
  Act hidden_, output_;
  std::vector<LayerLayout> layout_;
  std::vector<LayerState> layers_;
  std::shared_ptr<FloatBlock> block_;
  // Forward cache: activations feature-major, actOffsets_[k] for k = 0..L (0 = input).
  AlignedBuffer cache_;
  std::vector<size_t> cacheOffsets_;
  int cacheBatch_ = 0;
  int cacheBpad_ = 0;
};

/**
 * Adam (PyTorch semantics) over all weights and biases of one Mlp.
 *
 * Layers with a gatheredIndex (large and sparse) step their active entries only, O(nnz) instead
 * of O(out·in), with the moments of those entries kept compact (CSR order) between steps, as long
 * as the moments at their inactive entries are 0 (then the dense masked step leaves them 0, and
 * the results are bitwise those of the dense step). That is checked once per mask (and after each
 * flush): static masks, and dynamic ones whose dropped entries' moments were reset, qualify;
 * moments left at dropped entries keep the layer on the dense step. The dense state block is
 * current only after flush(), which writes the compact moments back into it (call it before
 * reading or writing the state through the block; the next step re-checks).
 */
class Adam {
 public:
  explicit Adam(std::shared_ptr<Mlp> mlp);
  const std::shared_ptr<FloatBlock>& block() const { return block_; }
  /** Float offsets of m and v of layer k's weight and bias inside the state block. */
  struct Offsets {
    size_t mWeight, vWeight, mBias, vBias;
  };
  const Offsets& offsets(int k) const { return offsets_[k]; }
  const std::shared_ptr<Mlp>& mlp() const { return mlp_; }
  /**
   * One step with step count t >= 1 (bias corrections use t). Dense over all entries of masked
   * layers (the masked step decays moments left at inactive positions, e.g. written through the
   * views) except the gathered layers (class comment). Skipping the arithmetic of inactive lanes
   * of the dense arrays (AVX-512 compress / expand) measured no faster at density 0.1: the step is
   * bound by memory traffic, and at that density ~80 % of the cache lines hold an active entry.
   */
  void step(double t, double lr, double beta1, double beta2, double eps, double weightDecay);
  /** Writes the compact moments back into the state block; every layer is re-checked at the next step. */
  void flush();
  /** True when layer k's weight took its last step on the gathered path (compact moments). */
  bool gathered(int k) const { return gathered_[k].index != nullptr; }

 private:
  /** Compact moments of one layer's active weights (CSR order of `index`; null: dense step). */
  struct Gathered {
    std::shared_ptr<const SparseIndex> index;
    uint64_t stamp = 0;       // mask stamp of index
    uint64_t denseStamp = 0;  // mask stamp found with non-zero inactive moments: dense, no re-check
    AlignedBuffer m, v;
  };
  void toDense(int k);

  std::shared_ptr<Mlp> mlp_;
  std::shared_ptr<FloatBlock> block_;
  std::vector<Offsets> offsets_;
  std::vector<Gathered> gathered_;
};

}  // namespace srl
