#include "mlp.h"

#include "circulant_fold.h"
#include "circulant_layer.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace srl {

namespace {

std::atomic<uint64_t> gMaskStamp{0};

size_t alignUp(size_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

std::shared_ptr<const SparseIndex> buildIndex(const float* mask, int out, int in, double threshold) {
  auto idx = std::make_shared<SparseIndex>();
  const size_t total = size_t(out) * in;
  int nnz = 0;
  for (size_t i = 0; i < total; ++i) nnz += mask[i] != 0.0f;
  idx->nnz = nnz;
  idx->useSparse = double(nnz) <= threshold * double(total);
  // An exact N:M mask counts at its nominal density N/M: a trailing partial group (e.g. 23 inputs
  // at 2:4 keep 12/23) does not push it onto the dense kernels (the N:M kernels measured faster
  // than dense in every direction at 2:4 there).
  NmIndex nmProbe;
  if (!idx->useSparse && threshold > 0.0 && detectNm(mask, out, in, 32, nmProbe) &&
      double(nmProbe.n) <= threshold * double(nmProbe.m))
    idx->useSparse = true;
  if (!idx->useSparse) return idx;
  idx->rowPtr.resize(out + 1);
  idx->colIdx.resize(nnz);
  idx->rowWofs.resize(nnz);
  idx->colPtr.assign(in + 1, 0);
  idx->colRow.resize(nnz);
  idx->rowToCol.resize(nnz);
  int j = 0;
  for (int o = 0; o < out; ++o) {
    idx->rowPtr[o] = j;
    const float* m = mask + size_t(o) * in;
    for (int i = 0; i < in; ++i) {
      if (m[i] != 0.0f) {
        idx->colIdx[j] = i;
        idx->rowWofs[j] = o * in + i;
        ++idx->colPtr[i + 1];
        ++j;
      }
    }
  }
  idx->rowPtr[out] = j;
  for (int i = 0; i < in; ++i) idx->colPtr[i + 1] += idx->colPtr[i];
  if (detectNm(mask, out, in, 32, idx->nm)) {
    const NmIndex& nm = idx->nm;
    idx->nmIdx.resize(size_t(out) * nm.k);
    for (int o = 0; o < out; ++o) {
      // CSR columns of row o are ascending: entry q of the row is in group q / N (tail last).
      uint8_t* d = idx->nmIdx.data() + size_t(o) * nm.k;
      const int* c = idx->colIdx.data() + idx->rowPtr[o];
      for (int q = 0; q < nm.k; ++q) d[q] = static_cast<uint8_t>(c[q] - (q / nm.n) * nm.m);
    }
    idx->nm.idx = idx->nmIdx.data();
    idx->isNm = true;
  }
  std::vector<int> fill(idx->colPtr.begin(), idx->colPtr.end() - 1);
  for (int o = 0; o < out; ++o) {
    for (int p = idx->rowPtr[o]; p < idx->rowPtr[o + 1]; ++p) {
      const int i = idx->colIdx[p];
      const int q = fill[i]++;
      idx->colRow[q] = o;  // rows ascending within each column
      idx->rowToCol[p] = q;
    }
  }
  return idx;
}

}  // namespace

bool detectNm(const float* mask, int out, int in, int maxM, NmIndex& nm) {
  for (int M = 2; M <= maxM && M <= 255; M *= 2) {
    if (in < M) break;
    int N = 0;
    for (int i = 0; i < M; ++i) N += mask[i] != 0.0f;
    if (N <= 0 || N >= M) continue;
    const int G = in / M, L = in % M, tail = std::min(N, L);
    bool ok = true;
    for (int o = 0; o < out && ok; ++o) {
      const float* r = mask + size_t(o) * in;
      for (int g = 0; g <= G && ok; ++g) {
        const int len = g < G ? M : L, want = g < G ? N : tail;
        int c = 0;
        for (int i = 0; i < len; ++i) c += r[g * M + i] != 0.0f;
        ok = c == want;
      }
    }
    if (!ok) continue;
    nm.n = N;
    nm.m = M;
    nm.groups = G;
    nm.tail = tail;
    nm.k = G * N + tail;
    return true;
  }
  return false;
}

namespace {

AuxOp gradOpFor(Act act) {
  switch (act) {
    case Act::Relu: return AuxOp::ReluGrad;
    case Act::Tanh: return AuxOp::TanhGrad;
    default: return AuxOp::None;
  }
}

}  // namespace

int defaultCirculantFftMinBatch(int blockSize, bool train) {
  if (blockSize <= 2) return train ? 128 : std::numeric_limits<int>::max();
  if (blockSize == 4) return train ? 32 : 1;
  return 1;
}

FloatBlock::FloatBlock(size_t n) : floats(n) {
  size_t bytes = std::max<size_t>(1, (n * sizeof(float) + kAlign - 1) / kAlign) * kAlign;
  data = static_cast<float*>(std::aligned_alloc(kAlign, bytes));
  if (!data) throw std::bad_alloc();
  std::memset(data, 0, bytes);
}

FloatBlock::~FloatBlock() { std::free(data); }

// ---------------------------------------------------------------------------------------------

Mlp::Mlp(std::shared_ptr<EngineContext> ctx, std::vector<int> sizes, Act hidden, Act output)
    : ctx_(std::move(ctx)), sizes_(std::move(sizes)), hidden_(hidden), output_(output) {
  if (sizes_.size() < 2) throw std::invalid_argument("an MLP needs at least 2 layer sizes");
  for (int s : sizes_)
    if (s < 1) throw std::invalid_argument("layer sizes must be >= 1");
  const int L = static_cast<int>(sizes_.size()) - 1;
  layout_.resize(L);
  layers_.resize(L);
  size_t off = 0;
  for (int k = 0; k < L; ++k) {
    LayerLayout& l = layout_[k];
    l.in = sizes_[k];
    l.out = sizes_[k + 1];
    const size_t w = size_t(l.in) * l.out;
    l.weight = off; off = alignUp(off + w);
    l.bias = off; off = alignUp(off + l.out);
    l.weightGrad = off; off = alignUp(off + w);
    l.biasGrad = off; off = alignUp(off + l.out);
    l.mask = off; off = alignUp(off + w);
  }
  block_ = std::make_shared<FloatBlock>(off);
}

Mlp::~Mlp() = default;

void Mlp::layerForward(int k, const float* inT, float* outT, int batch, int bpad, bool train) {
  const LayerLayout& l = layout_[k];
  const LayerState& st = layers_[k];
  if (usesCirculantFft(k, batch, train)) {
    st.circ->forwardFeatureMajor(inT, batch, bpad, weight(k), st.blockMask.empty() ? nullptr : st.blockMask.data(),
                                 bias(k), actOf(k), outT, train);
    return;
  }
  Epilogue ep;
  ep.bias = bias(k);
  ep.act = actOf(k);
  const SparseIndex* idx = layers_[k].index.get();
  if (idx && idx->isNm) {
    spmmNm(ctx_->ws, l.out, idx->nm, packedWeights(k).first, inT, bpad, bpad, outT, bpad, ep);
  } else if (idx && idx->useSparse) {
    spmm(ctx_->ws, l.out, idx->rowPtr.data(), idx->colIdx.data(), packedWeights(k).first, inT, bpad, bpad,
         outT, bpad, ep);
  } else {
    gemm(ctx_->ws, l.out, bpad, l.in, weight(k), l.in, 1, inT, bpad, outT, bpad, ep);
  }
}

void Mlp::runLayers(const float* xT, int batch, int bpad, float* const* outs, bool train) {
  const float* cur = xT;
  for (int k = 0; k < numLayers(); ++k) {
    layerForward(k, cur, outs[k], batch, bpad, train);
    cur = outs[k];
  }
}

namespace {
/** xT[in][bpad] = transpose(x[batch][in]) with zero padding columns. */
void inputToFeatureMajor(Workspace& ws, const float* x, int batch, int in, int bpad, float* xT) {
  transpose(ws, x, in, batch, in, xT, bpad);
  if (bpad > batch)
    for (int i = 0; i < in; ++i) std::memset(xT + size_t(i) * bpad + batch, 0, (bpad - batch) * sizeof(float));
}
}  // namespace

void Mlp::predict(const float* x, int batch, float* y) {
  if (batch <= 0) return;
  if (batch == 1 && predictOne(x, y)) return;
  const int bpad = roundUp(batch, VW);
  int width = 0;
  for (int s : sizes_) width = std::max(width, s);
  const size_t cap = size_t(width) * bpad;
  float* xT = ctx_->xT.ensure(size_t(inFeatures()) * bpad);
  float* bufs[2] = {ctx_->ping.ensure(cap), ctx_->pong.ensure(cap)};
  inputToFeatureMajor(ctx_->ws, x, batch, inFeatures(), bpad, xT);
  std::vector<float*> outs(numLayers());
  for (int k = 0; k < numLayers(); ++k) outs[k] = bufs[k & 1];
  runLayers(xT, batch, bpad, outs.data(), false);
  transpose(ctx_->ws, outs.back(), bpad, outFeatures(), batch, y, outFeatures());
}

bool Mlp::predictOne(const float* x, float* y) {
  for (int k = 0; k < numLayers(); ++k)
    if (usesCirculantFft(k, 1, false)) return false;
  int width = 0;
  for (int s : sizes_) width = std::max(width, s);
  float* bufs[2] = {ctx_->ping.ensure(2 * size_t(width)), nullptr};
  bufs[1] = bufs[0] + width;
  const float* cur = x;
  for (int k = 0; k < numLayers(); ++k) {
    const LayerLayout& l = layout_[k];
    const SparseIndex* idx = layers_[k].index.get();
    const bool sparse = idx && idx->useSparse;
    float* out = k + 1 == numLayers() ? y : bufs[k & 1];
    gemv(l.out, l.in, weight(k), cur, bias(k), actOf(k), sparse ? idx->rowPtr.data() : nullptr,
         sparse ? idx->colIdx.data() : nullptr, sparse ? packedWeights(k).first : nullptr, out);
    cur = out;
  }
  return true;
}

void Mlp::forward(const float* x, int batch, float* y) {
  if (batch <= 0) {
    cacheBatch_ = 0;
    return;
  }
  const int bpad = roundUp(batch, VW);
  const int L = numLayers();
  cacheOffsets_.resize(L + 1);
  size_t total = 0;
  for (int k = 0; k <= L; ++k) {
    cacheOffsets_[k] = total;
    total += size_t(sizes_[k]) * bpad;
  }
  float* base = cache_.ensure(total);
  inputToFeatureMajor(ctx_->ws, x, batch, inFeatures(), bpad, base);
  std::vector<float*> outs(L);
  for (int k = 0; k < L; ++k) outs[k] = base + cacheOffsets_[k + 1];
  cacheBatch_ = 0;  // invalid while being rewritten
  runLayers(base, batch, bpad, outs.data(), true);
  cacheBatch_ = batch;
  cacheBpad_ = bpad;
  transpose(ctx_->ws, outs.back(), bpad, outFeatures(), batch, y, outFeatures());
}

void Mlp::backward(const float* gy, bool denseGrad, float* dx, bool paramGrad) {
  if (cacheBatch_ <= 0) throw std::logic_error("backward called without a preceding forward");
  if (!paramGrad && !dx) return;
  Workspace& ws = ctx_->ws;
  const int batch = cacheBatch_, bpad = cacheBpad_, L = numLayers();
  int width = 0;
  for (int s : sizes_) width = std::max(width, s);
  const size_t cap = size_t(width) * bpad;
  float* dz = ctx_->ping.ensure(cap);
  float* dzPrev = ctx_->pong.ensure(cap);
  float* const base = cache_.data();
  auto act = [&](int k) { return base + cacheOffsets_[k]; };  // activation k (0 = input), [size][bpad]

  // dZ_L = gy ⊙ act'(y), feature-major with zero padding columns.
  const int out = outFeatures();
  inputToFeatureMajor(ws, gy, batch, out, bpad, dz);
  const AuxOp outOp = gradOpFor(output_);
  if (outOp != AuxOp::None) {
    const float* y = act(L);
    for (int o = 0; o < out; ++o) {
      float* d = dz + size_t(o) * bpad;
      const float* yy = y + size_t(o) * bpad;
      for (int b = 0; b < bpad; b += VW) {
        vf g = vload(d + b), a = vload(yy + b);
        vstore(d + b, outOp == AuxOp::ReluGrad ? vrelu_mask(a, g) : g * (1.0f - a * a));
      }
    }
  }

  for (int k = L - 1; k >= 0; --k) {
    const LayerLayout& l = layout_[k];
    const LayerState& st = layers_[k];
    const SparseIndex* idx = st.index.get();
    const float* hin = act(k);  // [in][bpad]
    float* dW = weightGrad(k);
    const bool circulant = st.circB > 0;
    const bool fft = usesCirculantFft(k, batch, true);
    const unsigned char* blockActive = st.blockActive.empty() ? nullptr : st.blockActive.data();
    const bool needDx = k > 0 || dx;

    // Epilogue of dH_{k-1} = Wᵀ dZ_k: times act'(H_{k-1}) for hidden layers.
    Epilogue dxEp;
    if (k > 0) {
      dxEp.auxOp = gradOpFor(hidden_);
      if (dxEp.auxOp != AuxOp::None) {
        dxEp.aux = hin;
        dxEp.ldaux = bpad;
      }
    }

    if (paramGrad) rowSums(ws, dz, bpad, l.out, bpad, biasGrad(k));

    if (fft) {
      // Block-circulant layer on the FFT: input gradient and vector gradients in one pass,
      // then the folded gradient written to every entry of its diagonal.
      float* dv = paramGrad ? ctx_->circVec.ensure(size_t(st.circ->vectorLength())) : nullptr;
      st.circ->backwardFeatureMajor(dz, needDx ? dzPrev : nullptr, dxEp.aux, dxEp.auxOp, dv);
      if (paramGrad) {
        materializeCirculant(ws, dv, l.out, l.in, st.circB, blockActive, dW);
        layers_[k].gradZeroStamp = 0;
        layers_[k].gradPackedValid = layers_[k].gradDenseStale = false;
      }
      if (!needDx) break;
      std::swap(dz, dzPrev);
      continue;
    }

    if (paramGrad) {
      // Block-circulant layers fold the (masked) gradient below: denseGrad does not apply.
      const bool layerDense = denseGrad && !circulant;
      LayerState& ls = layers_[k];
      ls.gradPackedValid = ls.gradDenseStale = false;
      if (idx && idx->useSparse && !layerDense) {
        // Inactive entries: zeroed once per mask, then left at 0 (only active ones are written).
        if (st.gradZeroStamp != st.maskStamp) zero(ws, dW, size_t(l.out) * l.in);
        // Gathered layers: the gradient in CSR order only (syncWeightGrad scatters it on demand).
        float* packed = nullptr;
        if (gatheredIndex(k)) {
          ls.gradVals.resize(size_t(idx->nnz));
          ls.gradIndex = st.index;
          packed = ls.gradVals.data();
          ls.gradPackedValid = ls.gradDenseStale = true;
        }
        if (idx->isNm)
          sddmmNm(ws, l.out, l.in, idx->nm, dz, bpad, hin, bpad, bpad, dW, packed);
        else
          sddmm(ws, l.out, l.in, idx->rowPtr.data(), idx->colIdx.data(), dz, bpad, hin, bpad, bpad, dW, packed);
        ls.gradZeroStamp = circulant ? 0 : st.maskStamp;
      } else {
        ls.gradZeroStamp = 0;
        const int inPad = roundUp(l.in, VW);
        float* hRow = ctx_->rowAct.ensure(size_t(batch) * inPad);
        transpose(ws, hin, bpad, l.in, batch, hRow, inPad);
        if (inPad > l.in)
          for (int b = 0; b < batch; ++b)
            std::memset(hRow + size_t(b) * inPad + l.in, 0, (inPad - l.in) * sizeof(float));
        const bool maskGrad = st.masked && !layerDense;
        Epilogue ep;
        if (inPad == l.in) {
          if (maskGrad) {
            ep.aux = mask(k);
            ep.ldaux = l.in;
            ep.auxOp = AuxOp::Mask;
          }
          gemm(ws, l.out, inPad, batch, dz, bpad, 1, hRow, inPad, dW, l.in, ep);
        } else {
          float* pad = ctx_->dwPad.ensure(size_t(l.out) * inPad);
          gemm(ws, l.out, inPad, batch, dz, bpad, 1, hRow, inPad, pad, inPad, ep);
          const float* m = maskGrad ? mask(k) : nullptr;
          for (int o = 0; o < l.out; ++o) {
            const float* src = pad + size_t(o) * inPad;
            float* dst = dW + size_t(o) * l.in;
            if (m) {
              const float* mm = m + size_t(o) * l.in;
              for (int i = 0; i < l.in; ++i) dst[i] = mm[i] != 0.0f ? src[i] : 0.0f;
            } else {
              std::memcpy(dst, src, l.in * sizeof(float));
            }
          }
        }
      }
      if (circulant) foldCirculantInPlace(ws, dW, l.out, l.in, st.circB, blockActive);
    }

    if (!needDx) break;
    // Input gradient: the CSC gather also for N:M masks (an N:M scatter kernel accumulating
    // blocks of input groups in L1 measured 1.07× (2:4) – 1.33× (1:4) the CSC time).
    if (idx && idx->useSparse) {
      spmm(ws, l.in, idx->colPtr.data(), idx->colRow.data(), packedWeights(k).second, dz, bpad, bpad,
           dzPrev, bpad, dxEp);
    } else {
      gemm(ws, l.in, bpad, l.out, weight(k), 1, l.in, dz, bpad, dzPrev, bpad, dxEp);
    }
    std::swap(dz, dzPrev);
  }
  if (dx) transpose(ws, dz, bpad, inFeatures(), batch, dx, inFeatures());
}

void Mlp::setMask(int k, const float* m) {
  LayerState& st = layers_[k];
  const LayerLayout& l = layout_[k];
  const size_t n = size_t(l.out) * l.in;
  if (!m) {
    st.masked = false;
    st.maskStamp = 0;
    st.index.reset();
    updateBlockMask(k);
    return;
  }
  float* dst = mask(k);
  for (size_t i = 0; i < n; ++i) dst[i] = m[i] != 0.0f ? 1.0f : 0.0f;
  st.masked = true;
  st.maskStamp = ++gMaskStamp;
  st.index = buildIndex(dst, l.out, l.in, ctx_->sparseThreshold);
  applyMask(ctx_->ws, weight(k), dst, n);
  st.weightZeroStamp = st.maskStamp;
  updateBlockMask(k);
}

std::pair<float*, float*> Mlp::packedWeights(int k) {
  LayerState& st = layers_[k];
  const SparseIndex* idx = st.index.get();
  if (!idx || !idx->useSparse) return {nullptr, nullptr};
  if (st.packedStamp != st.maskStamp) {
    const size_t nnz = size_t(idx->nnz);
    st.rowVals.resize(nnz);
    st.colVals.resize(nnz);
    gatherFloats(ctx_->ws, weight(k), idx->rowWofs.data(), st.rowVals.data(), nnz);
    scatterFloats(ctx_->ws, st.rowVals.data(), idx->rowToCol.data(), st.colVals.data(), nnz);
    st.packedStamp = st.maskStamp;
  }
  return {st.rowVals.data(), st.colVals.data()};
}

void Mlp::syncWeightGrad(int k) {
  LayerState& st = layers_[k];
  if (!st.gradDenseStale) return;
  scatterFloats(ctx_->ws, st.gradVals.data(), st.gradIndex->rowWofs.data(), weightGrad(k), size_t(st.gradIndex->nnz));
  st.gradDenseStale = false;
}

std::pair<const float*, const float*> Mlp::currentPackedWeights(int k) const {
  const LayerState& st = layers_[k];
  if (!st.index || !st.index->useSparse || st.packedStamp != st.maskStamp) return {nullptr, nullptr};
  return {st.rowVals.data(), st.colVals.data()};
}

std::shared_ptr<const SparseIndex> Mlp::gatheredIndex(int k) const {
  const LayerState& st = layers_[k];
  if (!st.index || !st.index->useSparse || st.circB != 0) return nullptr;
  const size_t n = size_t(layout_[k].out) * layout_[k].in;
  if (n < ctx_->gatheredMinWeights || double(st.index->nnz) > ctx_->gatheredMaxDensity * double(n)) return nullptr;
  return st.index;
}

void Mlp::updateBlockMask(int k) {
  LayerState& st = layers_[k];
  st.blockMask.clear();
  st.blockActive.clear();
  if (st.circB == 0 || !st.masked) return;
  // A block is active when any of its mask entries is (the contract: whole blocks).
  const LayerLayout& l = layout_[k];
  const int b = st.circB, ob = (l.out + b - 1) / b, ib = (l.in + b - 1) / b;
  st.blockActive.assign(size_t(ob) * ib, 0);
  const float* m = mask(k);
  for (int row = 0; row < l.out; ++row) {
    unsigned char* a = st.blockActive.data() + size_t(row / b) * ib;
    const float* mr = m + size_t(row) * l.in;
    for (int col = 0; col < l.in; ++col)
      if (mr[col] != 0.0f) a[col / b] = 1;
  }
  st.blockMask.assign(st.blockActive.begin(), st.blockActive.end());
}

void Mlp::setBlockCirculant(int k, int b) {
  LayerState& st = layers_[k];
  if (b == 0) {
    if (st.circB == 0) return;
    st.circB = 0;
    st.circ.reset();
    updateBlockMask(k);
    cacheBatch_ = 0;
    return;
  }
  if (b < 2 || (b & (b - 1)) != 0)
    throw std::invalid_argument("block size b must be a power of two >= 2, got b = " + std::to_string(b));
  if (st.circB == b) return;
  const LayerLayout& l = layout_[k];
  st.circ = std::make_shared<CirculantLayer>(ctx_, l.out, l.in, b, CirculantLayer::Method::Fft);
  st.circB = b;
  updateBlockMask(k);
  cacheBatch_ = 0;
}

void Mlp::applyMasks() {
  for (int k = 0; k < numLayers(); ++k) {
    layers_[k].packedStamp = 0;
    if (layers_[k].masked)
      applyMask(ctx_->ws, weight(k), mask(k), size_t(layout_[k].out) * layout_[k].in);
  }
}

void Mlp::shareMask(int k, const Mlp& o) {
  LayerState& st = layers_[k];
  const LayerState& os = o.layers_[k];
  if (!os.masked) {
    const bool was = st.masked;
    st.masked = false;
    st.maskStamp = 0;
    st.index.reset();
    if (was) updateBlockMask(k);
    return;
  }
  if (st.masked && st.maskStamp == os.maskStamp) return;
  copy(ctx_->ws, mask(k), o.mask(k), size_t(layout_[k].out) * layout_[k].in);
  st.masked = true;
  st.maskStamp = os.maskStamp;
  st.index = os.index;
  updateBlockMask(k);
}

void Mlp::copyFrom(const Mlp& o) {
  if (&o == this) return;
  for (int k = 0; k < numLayers(); ++k) {
    const LayerLayout& l = layout_[k];
    copy(ctx_->ws, weight(k), o.weight(k), size_t(l.out) * l.in);
    std::memcpy(bias(k), o.bias(k), l.out * sizeof(float));
    shareMask(k, o);
    LayerState& st = layers_[k];
    st.weightZeroStamp = 0;
    st.packedStamp = 0;
    const auto [row, col] = o.currentPackedWeights(k);
    if (row && st.index == o.layers_[k].index) {
      st.rowVals.assign(row, row + st.index->nnz);
      st.colVals.assign(col, col + st.index->nnz);
      st.packedStamp = st.maskStamp;
    }
  }
}

void Mlp::polyakFrom(const Mlp& o, float tau) {
  for (int k = 0; k < numLayers(); ++k) {
    const LayerLayout& l = layout_[k];
    if (&o != this) shareMask(k, o);
    LayerState& st = layers_[k];
    const std::shared_ptr<const SparseIndex> gi = gatheredIndex(k);
    if (gi && st.weightZeroStamp == st.maskStamp) {
      const auto [row, col] = packedWeights(k);
      polyakGathered(ctx_->ws, weight(k), o.weight(k), gi->rowWofs.data(), size_t(gi->nnz), tau,
                     o.currentPackedWeights(k).first, row, col, gi->rowToCol.data());
    } else {
      polyak(ctx_->ws, weight(k), o.weight(k), st.masked ? mask(k) : nullptr, size_t(l.out) * l.in, tau);
      st.weightZeroStamp = st.masked ? st.maskStamp : 0;
      st.packedStamp = 0;
    }
    polyak(ctx_->ws, bias(k), o.bias(k), nullptr, l.out, tau);
  }
}

void Mlp::releaseCache() {
  cacheBatch_ = 0;
  cacheOffsets_.clear();
  cache_.release();
  for (LayerState& st : layers_)
    if (st.circ) st.circ->releaseCache();
}

// ---------------------------------------------------------------------------------------------

Adam::Adam(std::shared_ptr<Mlp> mlp) : mlp_(std::move(mlp)), gathered_(mlp_->numLayers()) {
  const int L = mlp_->numLayers();
  offsets_.resize(L);
  size_t off = 0;
  for (int k = 0; k < L; ++k) {
    const LayerLayout& l = mlp_->layout(k);
    const size_t w = size_t(l.in) * l.out;
    Offsets& o = offsets_[k];
    o.mWeight = off; off = alignUp(off + w);
    o.vWeight = off; off = alignUp(off + w);
    o.mBias = off; off = alignUp(off + l.out);
    o.vBias = off; off = alignUp(off + l.out);
  }
  block_ = std::make_shared<FloatBlock>(off);
}

void Adam::step(double t, double lr, double beta1, double beta2, double eps, double weightDecay) {
  Mlp& net = *mlp_;
  const double bc1 = 1.0 - std::pow(beta1, t);
  const double bc2 = 1.0 - std::pow(beta2, t);
  AdamScalars s;
  s.beta1 = static_cast<float>(beta1);
  s.beta2 = static_cast<float>(beta2);
  s.oneMinusBeta1 = static_cast<float>(1.0 - beta1);
  s.oneMinusBeta2 = static_cast<float>(1.0 - beta2);
  s.eps = static_cast<float>(eps);
  s.weightDecay = static_cast<float>(weightDecay);
  s.negStepSize = static_cast<float>(-(lr / bc1));
  s.biasCorr2Sqrt = static_cast<float>(std::sqrt(bc2));
  Workspace& ws = net.context().ws;
  float* st = block_->data;
  for (int k = 0; k < net.numLayers(); ++k) {
    const LayerLayout& l = net.layout(k);
    const Offsets& o = offsets_[k];
    const size_t n = size_t(l.out) * l.in;
    float* m = st + o.mWeight;
    float* v = st + o.vWeight;
    Gathered& g = gathered_[k];
    const std::shared_ptr<const SparseIndex> gi = net.gatheredIndex(k);
    const uint64_t stamp = net.maskStamp(k);
    if (g.index && (!gi || g.stamp != stamp)) toDense(k);
    if (gi && !g.index && g.denseStamp != stamp) {
      const float* mask = net.mask(k);
      if (zeroWhereMasked(m, mask, n) && zeroWhereMasked(v, mask, n)) {
        const size_t nnz = size_t(gi->nnz);
        gatherFloats(ws, m, gi->rowWofs.data(), g.m.ensure(nnz), nnz);
        gatherFloats(ws, v, gi->rowWofs.data(), g.v.ensure(nnz), nnz);
        g.index = gi;
        g.stamp = stamp;
      } else {
        g.denseStamp = stamp;
      }
    }
    const float* gradVals = g.index == gi ? net.packedWeightGrad(k) : nullptr;
    if (g.index && !gradVals) net.syncWeightGrad(k);
    if (g.index) {
      const auto [row, col] = net.packedWeights(k);
      adamGathered(ws, net.weight(k), net.weightGrad(k), g.index->rowWofs.data(), g.m.data(), g.v.data(),
                   size_t(g.index->nnz), s, row, col, g.index->rowToCol.data(), gradVals);
    } else {
      net.syncWeightGrad(k);
      adam(ws, net.weight(k), net.weightGrad(k), m, v, net.masked(k) ? net.mask(k) : nullptr, n, s);
      net.weightsWritten(k);
    }
    adam(ws, net.bias(k), net.biasGrad(k), st + o.mBias, st + o.vBias, nullptr, l.out, s);
  }
}

void Adam::toDense(int k) {
  Gathered& g = gathered_[k];
  if (!g.index) return;
  const Offsets& o = offsets_[k];
  Workspace& ws = mlp_->context().ws;
  const size_t nnz = size_t(g.index->nnz);
  scatterFloats(ws, g.m.data(), g.index->rowWofs.data(), block_->data + o.mWeight, nnz);
  scatterFloats(ws, g.v.data(), g.index->rowWofs.data(), block_->data + o.vWeight, nnz);
  g.index.reset();
}

void Adam::flush() {
  for (int k = 0; k < int(gathered_.size()); ++k) {
    toDense(k);
    gathered_[k].denseStamp = 0;
  }
}

}  // namespace srl
