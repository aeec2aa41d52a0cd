#include "kernels.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>

namespace srl {

namespace {

// ---------------------------------------------------------------------------------------------
// Work splitting
// ---------------------------------------------------------------------------------------------

// Below these sizes a kernel runs on the calling thread only (a parallel loop costs ~1 µs).
constexpr double kMinParallelMacs = 96.0 * 1024;
constexpr size_t kMinParallelElems = 16 * 1024;
// Element-wise loops are handed out in chunks of this many floats.
constexpr size_t kElemChunk = 8 * 1024;
// Chunks per thread for row-partitioned kernels (dynamic balancing granularity).
constexpr int kChunksPerThread = 8;

inline int ceilDiv(size_t a, size_t b) { return static_cast<int>((a + b - 1) / b); }

/**
 * Row bound b(t) of part t of T over `rows` rows whose costs are nnz (from the CSR/CSC pointer)
 * plus `rowCost` per row: the first row r with ptr[r] + rowCost*r >= total*t/T.
 */
inline int rowBound(const int* ptr, int rows, double rowCost, int T, int t) {
  if (t <= 0) return 0;
  if (t >= T) return rows;
  double total = ptr[rows] + rowCost * rows;
  double target = total * t / T;
  int lo = 0, hi = rows;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (ptr[mid] + rowCost * mid < target) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** Runs fn(begin, end) over [0, n) in element chunks (multiples of 64), in parallel when large. */
template <class F>
void forElements(Workspace& ws, size_t n, size_t minParallel, F&& fn) {
  const int chunks = ceilDiv(n, kElemChunk);
  ws.pool.parallelFor(chunks, n >= minParallel, [&](int c, int) {
    const size_t b = size_t(c) * kElemChunk;
    fn(b, std::min(n, b + kElemChunk));
  });
}

// ---------------------------------------------------------------------------------------------
// Epilogue
// ---------------------------------------------------------------------------------------------

inline vf applyAct(vf v, Act act) {
  switch (act) {
    case Act::Relu: return vrelu(v);
    case Act::Tanh: return vtanh(v);
    default: return v;
  }
}

inline vf applyAux(vf v, const float* aux, AuxOp op) {
  switch (op) {
    case AuxOp::ReluGrad: return vrelu_mask(vloadu(aux), v);
    case AuxOp::TanhGrad: {
      vf y = vloadu(aux);
      return v * (1.0f - y * y);
    }
    case AuxOp::Mask: return vloadu(aux) != vzero() ? v : vzero();
    default: return v;
  }
}

// ---------------------------------------------------------------------------------------------
// Dense GEMM: register tile of MR rows × NR vectors, A packed k-major ([K][MR]) per row block.
// ---------------------------------------------------------------------------------------------

#if defined(__AVX512F__)
constexpr int MR = 12;
constexpr int NR = 2;
#else
constexpr int MR = 6;
constexpr int NR = 2;
#endif

using TileFn = void (*)(int K, const float* a, ptrdiff_t astep, const float* B, ptrdiff_t ldb,
                        float* C, ptrdiff_t ldc, const float* bias, const Epilogue& ep,
                        const float* aux);

template <int R, int J>
void gemmTile(int K, const float* a, ptrdiff_t astep, const float* B, ptrdiff_t ldb, float* C,
              ptrdiff_t ldc, const float* bias, const Epilogue& ep, const float* aux) {
  vf acc[R][J];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    vf b0 = bias ? vset1(bias[r]) : vzero();
#pragma GCC unroll 4
    for (int j = 0; j < J; ++j) acc[r][j] = b0;
  }
  for (int k = 0; k < K; ++k) {
    vf bv[J];
#pragma GCC unroll 4
    for (int j = 0; j < J; ++j) bv[j] = vload(B + j * VW);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      vf av = vset1(a[r]);
#pragma GCC unroll 4
      for (int j = 0; j < J; ++j) acc[r][j] = vfma(av, bv[j], acc[r][j]);
    }
    a += astep;
    B += ldb;
  }
  const Act act = ep.act;
  const AuxOp op = aux ? ep.auxOp : AuxOp::None;
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < J; ++j) {
      vf v = applyAct(acc[r][j], act);
      if (op != AuxOp::None) v = applyAux(v, aux + r * ep.ldaux + j * VW, op);
      vstore(C + r * ldc + j * VW, v);
    }
  }
}

template <size_t... Is>
constexpr std::array<TileFn, MR * NR> makeTileTable(std::index_sequence<Is...>) {
  return {{&gemmTile<static_cast<int>(Is / NR) + 1, static_cast<int>(Is % NR) + 1>...}};
}
constexpr std::array<TileFn, MR * NR> kTileTable = makeTileTable(std::make_index_sequence<MR * NR>{});

/** P[k*MR + r] = A[r*rsa + k*csa] for r < rows, k < K. */
void packA(const float* A, ptrdiff_t rsa, ptrdiff_t csa, int rows, int K, float* P) {
  if (csa == 1) {
    for (int r = 0; r < rows; ++r) {
      const float* src = A + r * rsa;
      float* dst = P + r;
      for (int k = 0; k < K; ++k) dst[static_cast<ptrdiff_t>(k) * MR] = src[k];
    }
  } else {
    for (int k = 0; k < K; ++k)
      for (int r = 0; r < rows; ++r) P[static_cast<ptrdiff_t>(k) * MR + r] = A[r * rsa + k * csa];
  }
}

// ---------------------------------------------------------------------------------------------
// Sparse row gather (SpMM) and SDDMM
// ---------------------------------------------------------------------------------------------

#if defined(__AVX512F__)
#ifndef SRL_TILE_NV
#define SRL_TILE_NV 16
#endif
constexpr int kTileNV = SRL_TILE_NV;  // batch tile: 16 vectors = 256 samples held in registers (16 measured best)
constexpr int kGroup = 8;    // SDDMM: active columns reduced together
#else
constexpr int kTileNV = 8;
constexpr int kGroup = 4;
#endif

using GatherFn = void (*)(int beg, int end, const int* idx, const float* vals, const float* S,
                          ptrdiff_t lds, float* out, float bias, Act act, const float* aux, AuxOp op);

template <int NV>
void gatherRow(int beg, int end, const int* idx, const float* vals, const float* S, ptrdiff_t lds,
               float* out, float bias, Act act, const float* aux, AuxOp op) {
  vf acc[NV];
  const vf b0 = vset1(bias);
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) acc[v] = b0;
  for (int j = beg; j < end; ++j) {
    const vf w = vset1(vals[j]);
    const float* s = S + static_cast<ptrdiff_t>(idx[j]) * lds;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[v] = vfma(w, vload(s + v * VW), acc[v]);
  }
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) {
    vf x = applyAct(acc[v], act);
    if (op != AuxOp::None) x = applyAux(x, aux + v * VW, op);
    vstore(out + v * VW, x);
  }
}

template <size_t... Is>
constexpr std::array<GatherFn, kTileNV> makeGatherTable(std::index_sequence<Is...>) {
  return {{&gatherRow<static_cast<int>(Is) + 1>...}};
}
constexpr std::array<GatherFn, kTileNV> kGatherTable = makeGatherTable(std::make_index_sequence<kTileNV>{});

// Writes entry j of a row to dst[idx[j]] (dst = the dense dW row) or, when `packed`, to dst[j]
// (dst = the row's packed gradient values).
using SddmmFn = void (*)(int beg, int end, const int* idx, const float* dz, const float* S,
                         ptrdiff_t lds, float* dst, bool accumulate, bool packed);

template <int NV>
void sddmmRow(int beg, int end, const int* idx, const float* dz, const float* S, ptrdiff_t lds,
              float* dWrow, bool accumulate, bool packed) {
  vf d[NV];
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) d[v] = vload(dz + v * VW);
  int j = beg;
  for (; j + kGroup <= end; j += kGroup) {
    const float* s[kGroup];
    vf a[kGroup];
#pragma GCC unroll 8
    for (int g = 0; g < kGroup; ++g) {
      s[g] = S + static_cast<ptrdiff_t>(idx[j + g]) * lds;
      a[g] = vzero();
    }
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) {
#pragma GCC unroll 8
      for (int g = 0; g < kGroup; ++g) a[g] = vfma(d[v], vload(s[g] + v * VW), a[g]);
    }
#pragma GCC unroll 8
    for (int g = 0; g < kGroup; ++g) {
      float r = vhsum(a[g]);
      float& dst = dWrow[packed ? j + g : idx[j + g]];
      dst = accumulate ? dst + r : r;
    }
  }
  for (; j < end; ++j) {
    const float* s = S + static_cast<ptrdiff_t>(idx[j]) * lds;
    vf a0 = vzero();
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) a0 = vfma(d[v], vload(s + v * VW), a0);
    float r = vhsum(a0);
    float& dst = dWrow[packed ? j : idx[j]];
    dst = accumulate ? dst + r : r;
  }
}

template <size_t... Is>
constexpr std::array<SddmmFn, kTileNV> makeSddmmTable(std::index_sequence<Is...>) {
  return {{&sddmmRow<static_cast<int>(Is) + 1>...}};
}
constexpr std::array<SddmmFn, kTileNV> kSddmmTable = makeSddmmTable(std::make_index_sequence<kTileNV>{});

// N:M row gather: the CSR gather of gatherRow with the input index computed from the group
// (g·M + in-group index) and the row's packed values w[0..k): same order of the same FMAs, so
// bitwise equal to gatherRow.
using NmGatherFn = void (*)(const uint8_t* id, const NmIndex& nm, int g0, int g1, bool first, bool last,
                            const float* w, const float* S, ptrdiff_t lds, float* out, float bias, Act act,
                            const float* aux, AuxOp op);

/**
 * Groups [g0, g1) of one row (group nm.groups = the partial tail). `first`: start from the bias,
 * else from the partial sums stored in `out`; `last`: apply the epilogue, else store the partial
 * sums. Blocks taken in ascending order give exactly the FMA sequence of the unblocked row.
 */
template <int NV, int NN>
void gatherRowNm(const uint8_t* id, const NmIndex& nm, int g0, int g1, bool first, bool last,
                 const float* w, const float* S, ptrdiff_t lds, float* out, float bias, Act act,
                 const float* aux, AuxOp op) {
  const int N = NN > 0 ? NN : nm.n;
  vf acc[NV];
  const vf b0 = vset1(bias);
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) acc[v] = first ? b0 : vload(out + v * VW);
  auto step = [&](int c, float wc) __attribute__((always_inline)) {
    const vf wv = vset1(wc);
    const float* s = S + static_cast<ptrdiff_t>(c) * lds;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[v] = vfma(wv, vload(s + v * VW), acc[v]);
  };
  const int gFull = std::min(g1, nm.groups);
  int base = g0 * nm.m;
  id += static_cast<ptrdiff_t>(g0) * N;
  w += static_cast<ptrdiff_t>(g0) * N;
  for (int g = g0; g < gFull; ++g, base += nm.m, id += N, w += N) {
#pragma GCC unroll 4
    for (int q = 0; q < N; ++q) step(base + id[q], w[q]);
  }
  if (g1 > nm.groups)
    for (int q = 0; q < nm.tail; ++q) step(base + id[q], w[q]);
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) {
    vf x = acc[v];
    if (last) {
      x = applyAct(x, act);
      if (op != AuxOp::None) x = applyAux(x, aux + v * VW, op);
    }
    vstore(out + v * VW, x);
  }
}

#ifndef SRL_NM_BLOCK
#define SRL_NM_BLOCK 32
#endif
constexpr int kNmBlockInputs = SRL_NM_BLOCK;  // inputs per L1 block of the N:M forward (0: no blocking)
/**
 * Groups per L1 block: kNmBlockInputs inputs when a block holds at least 8 entries of a row
 * (N/M >= 1/4), else one block (at 1:8 the partial sums cost more than the L1 reuse gains:
 * forward measured 1.06–1.11× the unblocked time, 1:4 0.85×, 2:4 0.75×).
 */
inline int nmGroupsPerBlock(const NmIndex& nm, int totalGroups) {
  if (kNmBlockInputs <= 0 || 4 * nm.n < nm.m) return totalGroups;
  return std::max(1, kNmBlockInputs / nm.m);
}
constexpr int kNmSpecial = 3;  // N = runtime, 1, 2
template <size_t... Is>
constexpr std::array<NmGatherFn, kTileNV * kNmSpecial> makeNmGatherTable(std::index_sequence<Is...>) {
  return {{&gatherRowNm<static_cast<int>(Is / kNmSpecial) + 1, static_cast<int>(Is % kNmSpecial)>...}};
}
constexpr std::array<NmGatherFn, kTileNV * kNmSpecial> kNmGatherTable =
    makeNmGatherTable(std::make_index_sequence<kTileNV * kNmSpecial>{});
inline int nmSpecial(int n) { return n <= 2 ? n : 0; }

/** Input columns of the active entries of row r (ascending). */
inline void nmColumns(const NmIndex& nm, int r, int* cols) {
  const uint8_t* id = nm.idx + static_cast<ptrdiff_t>(r) * nm.k;
  int base = 0, j = 0;
  for (int g = 0; g < nm.groups; ++g, base += nm.m)
    for (int q = 0; q < nm.n; ++q, ++j) cols[j] = base + id[j];
  for (int q = 0; q < nm.tail; ++q, ++j) cols[j] = base + id[j];
}


// ---------------------------------------------------------------------------------------------
// Transpose
// ---------------------------------------------------------------------------------------------

#if defined(__AVX512F__)
inline void transpose16(const float* src, ptrdiff_t lds, float* dst, ptrdiff_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // r[4i+q], 128-bit lane L = column 4L+q of rows 4i..4i+3.
  for (int q = 0; q < 4; ++q) {
    __m512 u0 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);
    __m512 u1 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xDD);
    __m512 u2 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
    __m512 u3 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xDD);
    _mm512_storeu_ps(dst + (0 + q) * ldd, _mm512_shuffle_f32x4(u0, u2, 0x88));
    _mm512_storeu_ps(dst + (8 + q) * ldd, _mm512_shuffle_f32x4(u0, u2, 0xDD));
    _mm512_storeu_ps(dst + (4 + q) * ldd, _mm512_shuffle_f32x4(u1, u3, 0x88));
    _mm512_storeu_ps(dst + (12 + q) * ldd, _mm512_shuffle_f32x4(u1, u3, 0xDD));
  }
}
constexpr int kTB = 16;
#else
constexpr int kTB = 16;
inline void transpose16(const float* src, ptrdiff_t lds, float* dst, ptrdiff_t ldd) {
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) dst[j * ldd + i] = src[i * lds + j];
}
#endif

void transposeBlock(const float* src, ptrdiff_t lds, int r0, int r1, int c0, int c1, float* dst,
                    ptrdiff_t ldd) {
  for (int r = r0; r < r1; r += kTB) {
    const int rn = std::min(kTB, r1 - r);
    for (int c = c0; c < c1; c += kTB) {
      const int cn = std::min(kTB, c1 - c);
      if (rn == kTB && cn == kTB) {
        transpose16(src + r * lds + c, lds, dst + c * ldd + r, ldd);
      } else {
        for (int i = 0; i < rn; ++i)
          for (int j = 0; j < cn; ++j) dst[(c + j) * ldd + r + i] = src[(r + i) * lds + c + j];
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public kernels
// ---------------------------------------------------------------------------------------------

void gemm(Workspace& ws, int M, int N, int K, const float* A, ptrdiff_t rsa, ptrdiff_t csa,
          const float* B, ptrdiff_t ldb, float* C, ptrdiff_t ldc, const Epilogue& ep) {
  if (M <= 0 || N <= 0) return;
  constexpr int NB = NR * VW;
  const int mb = (M + MR - 1) / MR;
  const int nb = (N + NB - 1) / NB;
  const bool par = ws.threads() > 1 && double(M) * N * std::max(K, 1) >= kMinParallelMacs;
  // Chunk = one row block × a group of column blocks; row blocks alone when there are enough.
  int perGroup = nb;
  if (par) {
    const int desired = kChunksPerThread * ws.threads();
    const int groups = std::min(nb, std::max(1, (desired + mb - 1) / mb));
    perGroup = (nb + groups - 1) / groups;
  }
  const int groups = (nb + perGroup - 1) / perGroup;
  const bool packed = rsa != 1;
  ws.pool.parallelFor(mb * groups, par, [&](int c, int t) {
    const int im = c / groups, g = c % groups;
    const int m0 = im * MR;
    const int rows = std::min(MR, M - m0);
    const float* a;
    ptrdiff_t astep;
    if (packed) {
      float* pack = ws.pack[t]->ensure(static_cast<size_t>(MR) * std::max(K, 1));
      packA(A + m0 * rsa, rsa, csa, rows, K, pack);
      a = pack;
      astep = MR;
    } else {
      a = A + m0;
      astep = csa;
    }
    const int nEnd = std::min(nb, (g + 1) * perGroup);
    for (int in = g * perGroup; in < nEnd; ++in) {
      const int n0 = in * NB;
      const int vecs = std::min(NR, (N - n0) / VW);
      const float* aux = ep.aux ? ep.aux + m0 * ep.ldaux + n0 : nullptr;
      kTileTable[(rows - 1) * NR + (vecs - 1)](K, a, astep, B + n0, ldb, C + m0 * ldc + n0, ldc,
                                               ep.bias ? ep.bias + m0 : nullptr, ep, aux);
    }
  });
}

void spmm(Workspace& ws, int rows, const int* ptr, const int* idx, const float* vals,
          const float* S, ptrdiff_t lds, int bpad, float* out, ptrdiff_t ldo, const Epilogue& ep) {
  if (rows <= 0 || bpad <= 0) return;
  const double rowCost = 2.0;
  const bool par = ws.threads() > 1 && (double(ptr[rows]) + rowCost * rows) * bpad >= kMinParallelMacs;
  const int chunks = par ? std::min(rows, kChunksPerThread * ws.threads()) : 1;
  const int nvTotal = bpad / VW;
  ws.pool.parallelFor(chunks, par, [&](int c, int) {
    const int r0 = rowBound(ptr, rows, rowCost, chunks, c), r1 = rowBound(ptr, rows, rowCost, chunks, c + 1);
    for (int v0 = 0; v0 < nvTotal; v0 += kTileNV) {
      const int nv = std::min(kTileNV, nvTotal - v0);
      const GatherFn fn = kGatherTable[nv - 1];
      const int b0 = v0 * VW;
      for (int r = r0; r < r1; ++r) {
        fn(ptr[r], ptr[r + 1], idx, vals, S + b0, lds, out + r * ldo + b0,
           ep.bias ? ep.bias[r] : 0.0f, ep.act, ep.aux ? ep.aux + r * ep.ldaux + b0 : nullptr,
           ep.aux ? ep.auxOp : AuxOp::None);
      }
    }
  });
}

void sddmm(Workspace& ws, int rows, int in, const int* ptr, const int* idx, const float* DZ,
           ptrdiff_t lddz, const float* S, ptrdiff_t lds, int bpad, float* dW, float* packed) {
  if (rows <= 0 || bpad <= 0) return;
  const double rowCost = 2.0;
  const bool par = ws.threads() > 1 && (double(ptr[rows]) + rowCost * rows) * bpad >= kMinParallelMacs;
  const int chunks = par ? std::min(rows, kChunksPerThread * ws.threads()) : 1;
  const int nvTotal = bpad / VW;
  ws.pool.parallelFor(chunks, par, [&](int c, int) {
    const int r0 = rowBound(ptr, rows, rowCost, chunks, c), r1 = rowBound(ptr, rows, rowCost, chunks, c + 1);
    for (int v0 = 0; v0 < nvTotal; v0 += kTileNV) {
      const int nv = std::min(kTileNV, nvTotal - v0);
      const SddmmFn fn = kSddmmTable[nv - 1];
      const int b0 = v0 * VW;
      for (int r = r0; r < r1; ++r)
        fn(ptr[r], ptr[r + 1], idx, DZ + r * lddz + b0, S + b0, lds,
           packed ? packed : dW + static_cast<ptrdiff_t>(r) * in, v0 > 0, packed != nullptr);
    }
  });
}

void spmmNm(Workspace& ws, int rows, const NmIndex& nm, const float* vals, const float* S,
            ptrdiff_t lds, int bpad, float* out, ptrdiff_t ldo, const Epilogue& ep) {
  if (rows <= 0 || bpad <= 0) return;
  // Every row costs the same: equal row ranges.
  const bool par = ws.threads() > 1 && (double(nm.k) + 2.0) * rows * bpad >= kMinParallelMacs;
  const int chunks = par ? std::min(rows, kChunksPerThread * ws.threads()) : 1;
  const int nvTotal = bpad / VW;
  const int sp = nmSpecial(nm.n);
  const int totalGroups = nm.groups + (nm.tail > 0 ? 1 : 0);
  const int groupsPerBlock = nmGroupsPerBlock(nm, totalGroups);
  ws.pool.parallelFor(chunks, par, [&](int c, int) {
    const int r0 = int(int64_t(rows) * c / chunks), r1 = int(int64_t(rows) * (c + 1) / chunks);
    for (int v0 = 0; v0 < nvTotal; v0 += kTileNV) {
      const int nv = std::min(kTileNV, nvTotal - v0);
      const NmGatherFn fn = kNmGatherTable[(nv - 1) * kNmSpecial + sp];
      const int b0 = v0 * VW;
      // Blocks of input groups whose S rows (kNmBlockInputs × the batch tile) stay in L1 while
      // every row of the chunk takes its entries from them; partial sums wait in `out`.
      for (int g0 = 0; g0 < totalGroups; g0 += groupsPerBlock) {
        const int g1 = std::min(totalGroups, g0 + groupsPerBlock);
        for (int r = r0; r < r1; ++r) {
          fn(nm.idx + static_cast<ptrdiff_t>(r) * nm.k, nm, g0, g1, g0 == 0, g1 == totalGroups,
             vals + static_cast<ptrdiff_t>(r) * nm.k, S + b0, lds, out + r * ldo + b0, ep.bias ? ep.bias[r] : 0.0f, ep.act,
             ep.aux ? ep.aux + r * ep.ldaux + b0 : nullptr, ep.aux ? ep.auxOp : AuxOp::None);
        }
      }
    }
  });
}

void sddmmNm(Workspace& ws, int rows, int in, const NmIndex& nm, const float* DZ, ptrdiff_t lddz,
             const float* S, ptrdiff_t lds, int bpad, float* dW, float* packed) {
  if (rows <= 0 || bpad <= 0) return;
  const bool par = ws.threads() > 1 && (double(nm.k) + 2.0) * rows * bpad >= kMinParallelMacs;
  const int chunks = par ? std::min(rows, kChunksPerThread * ws.threads()) : 1;
  const int nvTotal = bpad / VW;
  const int totalGroups = nm.groups + (nm.tail > 0 ? 1 : 0);
  const int groupsPerBlock = nmGroupsPerBlock(nm, totalGroups);
  ws.pool.parallelFor(chunks, par, [&](int c, int t) {
    const int r0 = int(int64_t(rows) * c / chunks), r1 = int(int64_t(rows) * (c + 1) / chunks);
    // Columns of the rows decoded once into per-thread scratch, then the CSR SDDMM row kernel per
    // block of input groups (S rows of the block stay in L1; every entry is computed once, as in
    // `sddmm`).
    int* cols = reinterpret_cast<int*>(ws.pack[t]->ensure(size_t(std::max(nm.k, 1)) * (r1 - r0)));
    for (int r = r0; r < r1; ++r) nmColumns(nm, r, cols + size_t(r - r0) * nm.k);
    for (int v0 = 0; v0 < nvTotal; v0 += kTileNV) {
      const int nv = std::min(kTileNV, nvTotal - v0);
      const int b0 = v0 * VW;
      const SddmmFn fn = kSddmmTable[nv - 1];
      for (int g0 = 0; g0 < totalGroups; g0 += groupsPerBlock) {
        const int g1 = std::min(totalGroups, g0 + groupsPerBlock);
        const int e0 = g0 * nm.n, e1 = std::min(nm.k, g1 * nm.n);
        for (int r = r0; r < r1; ++r)
          fn(e0, e1, cols + size_t(r - r0) * nm.k, DZ + r * lddz + b0, S + b0, lds,
             packed ? packed + static_cast<ptrdiff_t>(r) * nm.k : dW + static_cast<ptrdiff_t>(r) * in, v0 > 0,
             packed != nullptr);
      }
    }
  });
}

void transpose(Workspace& ws, const float* src, ptrdiff_t lds, int rows, int cols, float* dst,
               ptrdiff_t ldd) {
  if (rows <= 0 || cols <= 0) return;
  const bool par = size_t(rows) * cols >= 2 * kMinParallelElems;
  // Chunks along the source columns (= destination rows), in whole 16-blocks.
  const int blocks = (cols + kTB - 1) / kTB;
  const int chunks = par ? std::min(blocks, kChunksPerThread * ws.threads()) : 1;
  ws.pool.parallelFor(chunks, par, [&](int c, int) {
    const int c0 = int(int64_t(blocks) * c / chunks) * kTB;
    const int c1 = std::min(cols, int(int64_t(blocks) * (c + 1) / chunks) * kTB);
    if (c0 < c1) transposeBlock(src, lds, 0, rows, c0, c1, dst, ldd);
  });
}

void rowSums(Workspace& ws, const float* A, ptrdiff_t lda, int rows, int cols, float* out) {
  const bool par = size_t(rows) * cols >= 2 * kMinParallelElems;
  const int chunks = par ? std::min(rows, kChunksPerThread * ws.threads()) : 1;
  ws.pool.parallelFor(chunks, par, [&](int c, int) {
    const int r0 = int(int64_t(rows) * c / chunks), r1 = int(int64_t(rows) * (c + 1) / chunks);
    for (int r = r0; r < r1; ++r) {
      const float* a = A + r * lda;
      vf s0 = vzero(), s1 = vzero(), s2 = vzero(), s3 = vzero();
      int k = 0;
      for (; k + 4 * VW <= cols; k += 4 * VW) {
        s0 += vload(a + k);
        s1 += vload(a + k + VW);
        s2 += vload(a + k + 2 * VW);
        s3 += vload(a + k + 3 * VW);
      }
      for (; k < cols; k += VW) s0 += vload(a + k);
      out[r] = vhsum((s0 + s1) + (s2 + s3));
    }
  });
}

void applyMask(Workspace& ws, float* p, const float* mask, size_t n) {
  if (!mask) return;
  forElements(ws, n, 2 * kMinParallelElems, [&](size_t b, size_t e) {
    size_t i = b;
    for (; i + VW <= e; i += VW) {
      vf x = vloadu(p + i);
      vstoreu(p + i, vloadu(mask + i) != vzero() ? x : vzero());
    }
    for (; i < e; ++i) p[i] = mask[i] != 0.0f ? p[i] : 0.0f;
  });
}

void copy(Workspace& ws, float* dst, const float* src, size_t n) {
  forElements(ws, n, 4 * kMinParallelElems, [&](size_t b, size_t e) {
    std::memcpy(dst + b, src + b, (e - b) * sizeof(float));
  });
}

void zero(Workspace& ws, float* dst, size_t n) {
  forElements(ws, n, 4 * kMinParallelElems, [&](size_t b, size_t e) {
    std::memset(dst + b, 0, (e - b) * sizeof(float));
  });
}

void polyak(Workspace& ws, float* tp, const float* op, const float* mask, size_t n, float tau) {
  const float keep = 1.0f - tau;
  forElements(ws, n, kMinParallelElems, [&](size_t b, size_t e) {
    size_t i = b;
    const vf vtau = vset1(tau), vkeep = vset1(keep);
    for (; i + VW <= e; i += VW) {
      vf x = vfma(vloadu(op + i), vtau, vloadu(tp + i) * vkeep);
      if (mask) x = vloadu(mask + i) != vzero() ? x : vzero();
      vstoreu(tp + i, x);
    }
    for (; i < e; ++i) {
#if defined(__AVX512F__) || defined(__FMA__)
      float x = std::fma(op[i], tau, tp[i] * keep);  // the vector path's FMA, same operand order
#else
      float x = op[i] * tau + tp[i] * keep;
#endif
      if (mask && mask[i] == 0.0f) x = 0.0f;
      tp[i] = x;
    }
  });
}

namespace {
inline void adamScalar(float& p, float g, float& m, float& v, float msk, bool masked,
                       const AdamScalars& s) {
  if (masked && msk == 0.0f) g = 0.0f;
  if (s.weightDecay != 0.0f) g = g + s.weightDecay * p;
  m = m + s.oneMinusBeta1 * (g - m);
  v = v * s.beta2 + s.oneMinusBeta2 * g * g;
  const float denom = std::sqrt(v) / s.biasCorr2Sqrt + s.eps;
  float np = p + s.negStepSize * (m / denom);
  if (masked && msk == 0.0f) np = 0.0f;
  p = np;
}
}  // namespace

namespace {
/** Vector constants of one Adam step. */
struct AdamVec {
  explicit AdamVec(const AdamScalars& s)
      : b2(vset1(s.beta2)), omb1(vset1(s.oneMinusBeta1)), omb2(vset1(s.oneMinusBeta2)),
        eps(vset1(s.eps)), wd(vset1(s.weightDecay)), nss(vset1(s.negStepSize)),
        bc2(vset1(s.biasCorr2Sqrt)), hasWd(s.weightDecay != 0.0f) {}
  vf b2, omb1, omb2, eps, wd, nss, bc2;
  bool hasWd;
};

/** One vector of Adam (gradient already masked); the single definition used by every path. */
__attribute__((always_inline)) inline void adamCore(vf& pv, vf gv, vf& mv, vf& vv, const AdamVec& c) {
  if (c.hasWd) gv = gv + c.wd * pv;
  mv = mv + c.omb1 * (gv - mv);
  vv = vv * c.b2 + c.omb2 * gv * gv;
  const vf denom = vsqrt(vv) / c.bc2 + c.eps;
  pv = pv + c.nss * (mv / denom);
}
}  // namespace

void adam(Workspace& ws, float* p, const float* g, float* m, float* v, const float* mask, size_t n,
          const AdamScalars& s) {
  forElements(ws, n, kMinParallelElems, [&](size_t b, size_t e) {
    size_t i = b;
    const AdamVec c(s);
    for (; i + VW <= e; i += VW) {
      vf gv = vloadu(g + i);
      vf pv = vloadu(p + i);
      vf active{};
      if (mask) {
        active = vloadu(mask + i);
        gv = active != vzero() ? gv : vzero();
      }
      vf mv = vloadu(m + i);
      vf vv = vloadu(v + i);
      adamCore(pv, gv, mv, vv, c);
      if (mask) pv = active != vzero() ? pv : vzero();
      vstoreu(m + i, mv);
      vstoreu(v + i, vv);
      vstoreu(p + i, pv);
    }
    for (; i < e; ++i) adamScalar(p[i], g[i], m[i], v[i], mask ? mask[i] : 1.0f, mask != nullptr, s);
  });
}


namespace {
/** Runs fn(j0, lanes) over [b, e) in vectors of VW gathered lanes (the last one partial). */
template <class F>
inline void forLanes(size_t b, size_t e, F&& fn) {
  for (size_t j = b; j < e; j += VW) fn(j, int(std::min<size_t>(VW, e - j)));
}
}  // namespace

void adamGathered(Workspace& ws, float* p, const float* g, const int* wofs, float* m, float* v, size_t nnz,
                  const AdamScalars& s, float* rowVals, float* colVals, const int* rowToCol, const float* gradVals) {
  forElements(ws, nnz, kMinParallelElems / 4, [&](size_t b, size_t e) {
    const AdamVec c(s);
    alignas(64) float pb[VW], gb[VW], mb[VW], vb[VW];
    forLanes(b, e, [&](size_t j, int n) {
      for (int q = 0; q < VW; ++q) {
        const bool in = q < n;
        pb[q] = in ? (rowVals ? rowVals[j + q] : p[wofs[j + q]]) : 0.0f;
        gb[q] = in ? (gradVals ? gradVals[j + q] : g[wofs[j + q]]) : 0.0f;
        mb[q] = in ? m[j + q] : 0.0f;
        vb[q] = in ? v[j + q] : 0.0f;
      }
      vf pv = vload(pb), mv = vload(mb), vv = vload(vb);
      adamCore(pv, vload(gb), mv, vv, c);
      vstore(pb, pv);
      vstore(mb, mv);
      vstore(vb, vv);
      for (int q = 0; q < n; ++q) {
        p[wofs[j + q]] = pb[q];
        m[j + q] = mb[q];
        v[j + q] = vb[q];
      }
      if (rowVals) {
        for (int q = 0; q < n; ++q) {
          rowVals[j + q] = pb[q];
          colVals[rowToCol[j + q]] = pb[q];
        }
      }
    });
  });
}

void polyakGathered(Workspace& ws, float* t, const float* o, const int* wofs, size_t nnz, float tau,
                    const float* oRowVals, float* rowVals, float* colVals, const int* rowToCol) {
  forElements(ws, nnz, kMinParallelElems / 4, [&](size_t b, size_t e) {
    const vf vtau = vset1(tau), vkeep = vset1(1.0f - tau);
    alignas(64) float tb[VW], ob[VW];
    forLanes(b, e, [&](size_t j, int n) {
      for (int q = 0; q < VW; ++q) {
        tb[q] = q < n ? (rowVals ? rowVals[j + q] : t[wofs[j + q]]) : 0.0f;
        ob[q] = q < n ? (oRowVals ? oRowVals[j + q] : o[wofs[j + q]]) : 0.0f;
      }
      vstore(tb, vfma(vload(ob), vtau, vload(tb) * vkeep));  // `polyak`'s vector expression
      for (int q = 0; q < n; ++q) t[wofs[j + q]] = tb[q];
      if (rowVals) {
        for (int q = 0; q < n; ++q) {
          rowVals[j + q] = tb[q];
          colVals[rowToCol[j + q]] = tb[q];
        }
      }
    });
  });
}

void gatherFloats(Workspace& ws, const float* src, const int* idx, float* dst, size_t n) {
  forElements(ws, n, kMinParallelElems, [&](size_t b, size_t e) {
    for (size_t j = b; j < e; ++j) dst[j] = src[idx[j]];
  });
}

void scatterFloats(Workspace& ws, const float* src, const int* idx, float* dst, size_t n) {
  forElements(ws, n, kMinParallelElems, [&](size_t b, size_t e) {
    for (size_t j = b; j < e; ++j) dst[idx[j]] = src[j];
  });
}

bool zeroWhereMasked(const float* a, const float* mask, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (mask[i] == 0.0f && a[i] != 0.0f) return false;
  return true;
}

void gemv(int out, int in, const float* W, const float* x, const float* bias, Act act, const int* ptr,
          const int* idx, const float* vals, float* y) {
  // The batched kernels' order for one sample: acc = bias, then one fma per weight in ascending
  // input order (gemmTile; gatherRow for CSR), then the activation; so results are bit-identical.
  alignas(64) float t[16 * 16];
  alignas(64) float a[16];
  constexpr int NV = 16 / VW;
  for (int o0 = 0; o0 < out; o0 += 16) {
    const int on = std::min(16, out - o0);
    vf acc[NV];
    for (int q = 0; q < 16; ++q) a[q] = q < on && bias ? bias[o0 + q] : 0.0f;
    for (int v = 0; v < NV; ++v) acc[v] = vload(a + v * VW);
    if (ptr) {
      for (int v = 0; v < NV; ++v) vstore(a + v * VW, acc[v]);
      for (int q = 0; q < on; ++q) {
        float s = a[q];
        for (int j = ptr[o0 + q]; j < ptr[o0 + q + 1]; ++j) s = std::fma(vals[j], x[idx[j]], s);
        a[q] = s;
      }
      for (int v = 0; v < NV; ++v) acc[v] = vload(a + v * VW);
    } else {
      // 16 outputs per pass; a 16×16 tile of W transposed so that lane q holds output o0 + q
      for (int i0 = 0; i0 < in; i0 += 16) {
        const int inn = std::min(16, in - i0);
        if (on == 16 && inn == 16) {
          transpose16(W + size_t(o0) * in + i0, in, t, 16);
        } else {
          for (int ii = 0; ii < 16; ++ii)
            for (int q = 0; q < 16; ++q) t[ii * 16 + q] = q < on && ii < inn ? W[size_t(o0 + q) * in + i0 + ii] : 0.0f;
        }
        for (int ii = 0; ii < inn; ++ii) {
          const vf xv = vset1(x[i0 + ii]);
          for (int v = 0; v < NV; ++v) acc[v] = vfma(vload(t + ii * 16 + v * VW), xv, acc[v]);
        }
      }
    }
    for (int v = 0; v < NV; ++v) vstore(a + v * VW, applyAct(acc[v], act));
    for (int q = 0; q < on; ++q) y[o0 + q] = a[q];
  }
}

}  // namespace srl
