#include "circulant_fold.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "circulant_detail.h"

namespace srl {

using detail::forRanges;
using detail::isPow2;
using detail::kMinParallelWork;

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
