// Compute kernels of the native engine: dense GEMM with fused epilogues, sparse row-gather
// products (CSR SpMM for forward, CSC for input gradients), SDDMM for masked weight gradients,
// their packed N:M variants (NmIndex: spmmNm, sddmmNm), transposes and element-wise optimizer
// updates. All kernels are float32 and deterministic: every
// output element is produced by exactly one thread with a fixed summation order, so results do
// not depend on the thread count.
//
// Layout conventions: activations are kept feature-major ("transposed", [features][bpad]) with the
// batch padded to a multiple of VW, so the batch is the SIMD dimension of every kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "simd.h"
#include "thread_pool.h"

namespace srl {

enum class Act : int { Linear = 0, Relu = 1, Tanh = 2 };

/** How an auxiliary matrix (same indexing as the output) multiplies the result. */
enum class AuxOp : int {
  None = 0,
  ReluGrad = 1,  // keep where aux > 0 (aux = relu output)
  TanhGrad = 2,  // times 1 - aux^2 (aux = tanh output)
  Mask = 3,      // keep where aux != 0 (aux = 0/1 mask)
};

/** Fused epilogue of a GEMM / SpMM output block: out = aux∘act(acc + bias). */
struct Epilogue {
  const float* bias = nullptr;  // indexed by output row; null = no bias
  Act act = Act::Linear;
  const float* aux = nullptr;   // indexed like the output with leading dimension ldaux
  ptrdiff_t ldaux = 0;
  AuxOp auxOp = AuxOp::None;
};

/** A 64-byte aligned float buffer that only grows. Contents are not preserved on growth. */
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  /** Ensures room for n floats; returns the (possibly new) pointer. */
  float* ensure(size_t n) {
    if (n > cap_) {
      std::free(data_);
      size_t bytes = (n * sizeof(float) + kAlign - 1) / kAlign * kAlign;
      data_ = static_cast<float*>(std::aligned_alloc(kAlign, bytes));
      if (!data_) {
        cap_ = 0;
        throw std::bad_alloc();
      }
      cap_ = n;
    }
    return data_;
  }
  float* data() const { return data_; }
  size_t capacity() const { return cap_; }
  /** Frees the memory. */
  void release() {
    std::free(data_);
    data_ = nullptr;
    cap_ = 0;
  }

 private:
  float* data_ = nullptr;
  size_t cap_ = 0;
};

/** Thread pool plus per-thread scratch used by the kernels. One per engine. */
class Workspace {
 public:
  explicit Workspace(int threads) : pool(threads), pack(threads) {
    for (auto& p : pack) p.reset(new AlignedBuffer());
  }
  ThreadPool pool;
  std::vector<std::unique_ptr<AlignedBuffer>> pack;  // per-thread GEMM packing buffers
  int threads() const { return pool.size(); }
};

/**
 * C[M,N] = epi(A[M,K] · B[K,N]). A(m,k) = A[m*rsa + k*csa] (any strides). B and C are row-major
 * with leading dimensions ldb / ldc; N, ldb, ldc must be multiples of VW and B, C aligned.
 * Epilogue aux (if any) is indexed like C; bias by row m.
 */
void gemm(Workspace& ws, int M, int N, int K, const float* A, ptrdiff_t rsa, ptrdiff_t csa,
          const float* B, ptrdiff_t ldb, float* C, ptrdiff_t ldc, const Epilogue& ep);

/**
 * Row-gather sparse product: for every output row r in [0, rows):
 *   out[r][0:bpad] = epi( Σ_{j ∈ [ptr[r], ptr[r+1])} vals[j] · S[idx[j]][0:bpad] ).
 * With a CSR index of a weight (idx = column, vals = the active weights packed in CSR order)
 * this is the forward Yᵀ = W·Xᵀ; with a CSC index (idx = row o, vals packed in CSC order) it is
 * the input gradient Wᵀ·dZᵀ. Packed values are read in sequence: gathering them from the dense
 * [out, in] array (one cache line per active entry at low density) measured 2.7× slower at
 * 2048×2048, density 0.01, batch 256 (1.5× at 1024×1024, 0.05).
 * S and out are feature-major with leading dimensions lds / ldo (multiples of VW, aligned).
 */
void spmm(Workspace& ws, int rows, const int* ptr, const int* idx, const float* vals,
          const float* S, ptrdiff_t lds, int bpad, float* out, ptrdiff_t ldo, const Epilogue& ep);

/**
 * Sampled dense-dense product for masked weight gradients: for each active (o, i) of a CSR
 * index, dW[o*in + i] = Σ_b DZ[o][b] · S[i][b] over b in [0, bpad). Other entries untouched.
 * With `packed`, entry j is written to packed[j] (CSR order) instead, and dW is not touched.
 */
void sddmm(Workspace& ws, int rows, int in, const int* ptr, const int* idx, const float* DZ,
           ptrdiff_t lddz, const float* S, ptrdiff_t lds, int bpad, float* dW, float* packed = nullptr);

/**
 * One layer at batch 1 (acting in the env loop): y[o] = act(bias[o] + Σ_i W[o·in + i]·x[i]) for
 * o < out, W row-major [out, in]. With a CSR index (`ptr` not null: row o's entries
 * [ptr[o], ptr[o+1]), column idx[j], weight vals[j] packed in CSR order) only the active weights are read; else the
 * dense row (inactive weights of a masked layer are 0). Runs on the calling thread: for one
 * sample the thread pool's hand-off and the batch padding to VW cost more than the product.
 * Bit-identical to the batched kernels (`gemm`, `spmm`) for the same sample: the same fma chain
 * from the bias in ascending input order, the same activation functions.
 */
void gemv(int out, int in, const float* W, const float* x, const float* bias, Act act, const int* ptr,
          const int* idx, const float* vals, float* y);

/** dst[c][r] = src[r][c] for r < rows, c < cols. */
void transpose(Workspace& ws, const float* src, ptrdiff_t lds, int rows, int cols, float* dst,
               ptrdiff_t ldd);

/** out[r] = Σ_c A[r][c] for c < cols (cols a multiple of VW, A aligned rows). */
void rowSums(Workspace& ws, const float* A, ptrdiff_t lda, int rows, int cols, float* out);

/** p[i] = mask[i] != 0 ? p[i] : 0 (mask may be null: no-op). */
void applyMask(Workspace& ws, float* p, const float* mask, size_t n);

/** Copies n floats. */
void copy(Workspace& ws, float* dst, const float* src, size_t n);

/** Sets n floats to 0. */
void zero(Workspace& ws, float* dst, size_t n);

/** t = t·(1−τ) + o·τ, then t = mask != 0 ? t : 0 when mask is given. */
void polyak(Workspace& ws, float* t, const float* o, const float* mask, size_t n, float tau);

/** Scalars of one Adam step (PyTorch `torch.optim.Adam`, float32 arithmetic). */
struct AdamScalars {
  float beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, weightDecay;
  float negStepSize;       // −lr / (1 − β1^t)
  float biasCorr2Sqrt;     // sqrt(1 − β2^t)
};

/**
 * One Adam step on n parameters with gradient g, moments m, v; when mask is given the gradient
 * is masked first and the parameter masked after.
 */
void adam(Workspace& ws, float* p, const float* g, float* m, float* v, const float* mask, size_t n,
          const AdamScalars& s);

/**
 * Adam at the active entries of a sparse layer only (O(nnz) instead of O(out·in)): for j < nnz,
 * entry w = wofs[j] (CSR order) of the parameter p and gradient g, with compact moments m[j], v[j].
 * The same vector arithmetic as `adam` on gathered lanes, so every updated entry is bitwise what
 * the dense masked step computes there; inactive entries are not touched (the dense step keeps
 * them at p = 0, and at m = v = 0 when they are 0 already: the caller's condition for using it).
 * With rowVals (the layer's current weights packed in CSR order, so rowVals[j] = p[wofs[j]]), p is
 * read from it instead of the dense array, and the new values are written to p, rowVals[j] and
 * colVals[rowToCol[j]] (the CSC-order copy), keeping both packed copies current. With gradVals
 * (the gradient packed in CSR order, as `sddmm` writes it) g is read from it instead.
 */
void adamGathered(Workspace& ws, float* p, const float* g, const int* wofs, float* m, float* v, size_t nnz,
                  const AdamScalars& s, float* rowVals = nullptr, float* colVals = nullptr,
                  const int* rowToCol = nullptr, const float* gradVals = nullptr);

/**
 * Polyak averaging at the active entries only: t[w] = t[w]·(1−τ) + o[w]·τ for w = wofs[j], j < nnz;
 * bitwise `polyak` there. Inactive entries untouched (the masked dense update keeps them at 0).
 * oRowVals / rowVals, when given, are o's / t's weights packed in CSR order (read instead of the
 * dense arrays); the new values are then also written to rowVals[j] and colVals[rowToCol[j]].
 */
void polyakGathered(Workspace& ws, float* t, const float* o, const int* wofs, size_t nnz, float tau,
                    const float* oRowVals = nullptr, float* rowVals = nullptr, float* colVals = nullptr,
                    const int* rowToCol = nullptr);

/** dst[j] = src[idx[j]] for j < n. */
void gatherFloats(Workspace& ws, const float* src, const int* idx, float* dst, size_t n);

/** dst[idx[j]] = src[j] for j < n. */
void scatterFloats(Workspace& ws, const float* src, const int* idx, float* dst, size_t n);

/** True when a[i] == 0 at every i < n with mask[i] == 0. */
bool zeroWhereMasked(const float* a, const float* mask, size_t n);

/**
 * Packed N:M index of a weight W[rows, in] whose mask is N:M along the input dimension: every
 * full group of M consecutive inputs of every output row holds exactly N active entries, the
 * trailing partial group (in % M inputs) exactly `tail` = min(N, in % M). Per row, K = G·N + tail
 * entries (G = in / M full groups), entry q of group g at input g·M + idx[row·K + g·N + q]
 * (uint8, ascending within the group) — the compressed layout of the NVIDIA 2:4 sparse tensor
 * cores (values + 2-bit in-group indices; Mishra et al. 2021, "Accelerating Sparse Deep Neural
 * Networks", arXiv 2104.08378): the values packed [rows][k] (the layer's CSR-order packed values)
 * and one byte per index. No row pointers, no offsets.
 */
struct NmIndex {
  int n = 0, m = 0;          // N active of every M
  int groups = 0, tail = 0;  // full groups per row; active entries of the partial group
  int k = 0;                 // entries per row: groups·n + tail
  const uint8_t* idx = nullptr;  // [rows][k]
};

/**
 * N:M forward Yᵀ[rows][bpad] = epi(W·Xᵀ): out[r] = epi(Σ_{q < k} vals[r·k + q]·S[i_q]) over the
 * active inputs i_q of row r (ascending), vals the packed values [rows][k].
 * Uses the structure: the entries of every row are split at fixed offsets into blocks of input
 * groups (32 inputs), and all rows take one block before the next, so its 32 rows of S stay in L1
 * (the partial sums wait in `out`; measured 0.75× (2:4) – 0.86× (1:4) the CSR time at batch 256;
 * unblocked below N/M = 1/4, where it did not pay).
 * Same summation order as `spmm` on the CSR index of the same mask (bitwise equal results).
 */
void spmmNm(Workspace& ws, int rows, const NmIndex& nm, const float* vals, const float* S,
            ptrdiff_t lds, int bpad, float* out, ptrdiff_t ldo, const Epilogue& ep);

/**
 * N:M SDDMM: dW[o·in + i] = Σ_b DZ[o][b]·S[i][b] at the active (o, i), blocked over input groups
 * like spmmNm (S rows of a block in L1); bitwise equal to `sddmm`. With `packed`, entry q of row
 * r is written to packed[r·k + q] (the CSR order of an N:M mask) instead of dW.
 */
void sddmmNm(Workspace& ws, int rows, int in, const NmIndex& nm, const float* DZ, ptrdiff_t lddz,
             const float* S, ptrdiff_t lds, int bpad, float* dW, float* packed = nullptr);

}  // namespace srl
