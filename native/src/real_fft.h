// Radix-2 real FFT of the native engine's block-circulant layer (circulant_layer.h): own
// implementation, a complex FFT of length b/2 plus a split step, O(b log b) per transform. This
// header holds the plan (twiddles and bit reversal, real_fft.cc); the batched transforms on
// tiles of NV·VW signals are in the private header real_fft_kernels.h. b must be a power of two
// >= 2.
//
// Spectra are stored "packed", b real planes per block: plane 0 = Re X[0], plane 1 = Re X[b/2]
// (both purely real for real input), planes 2k, 2k+1 = Re, Im X[k] for k = 1 .. b/2 − 1.
#pragma once

#include <vector>

namespace srl {

/** Twiddles and permutation of a radix-2 real FFT of length n (a power of two >= 2). */
struct RealFftPlan {
  explicit RealFftPlan(int n);
  int n = 0;              // transform length b
  int m = 0;              // n / 2: length of the underlying complex FFT
  std::vector<int> rev;   // bit reversal of [0, m)
  std::vector<float> twr, twi;  // exp(−2πi q / m), q < max(1, m/2)
  std::vector<float> wr, wi;    // exp(−2πi k / n), k <= m (split step)
};

}  // namespace srl
