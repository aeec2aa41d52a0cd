// Internals shared by the block-circulant files of the native engine (real_fft.cc,
// circulant_products.cc, circulant_layer.cc, circulant_fold.cc); not part of any public header.
// Batch tiling of the FFT-path kernels, the parallel-work thresholds and the small dispatch
// helpers, all in srl::detail.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels.h"

namespace srl {
namespace detail {

// Batch tile of the FFT-path kernels, in vectors (64 samples with AVX-512, 32 with AVX2).
constexpr int kTileVecs = 4;
constexpr int kTileFloats = kTileVecs * VW;
// Below this many multiply-adds a step runs on the calling thread only.
constexpr double kMinParallelWork = 96.0 * 1024;

inline bool isPow2(int n) { return n >= 1 && (n & (n - 1)) == 0; }

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

}  // namespace detail
}  // namespace srl
