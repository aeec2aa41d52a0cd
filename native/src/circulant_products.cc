#include "circulant_products.h"

#include <algorithm>
#include <cstring>

#include "circulant_detail.h"
#include "real_fft_kernels.h"

namespace srl {
namespace detail {

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

}  // namespace detail
}  // namespace srl
