#include "real_fft.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "circulant_detail.h"

namespace srl {

using detail::isPow2;

RealFftPlan::RealFftPlan(int n_) : n(n_), m(n_ / 2) {
  if (n < 2 || !isPow2(n)) throw std::invalid_argument("RealFftPlan: n must be a power of two >= 2");
  int bits = 0;
  while ((1 << bits) < m) ++bits;
  rev.resize(m);
  for (int i = 0; i < m; ++i) {
    int r = 0;
    for (int k = 0; k < bits; ++k)
      if ((i >> k) & 1) r |= 1 << (bits - 1 - k);
    rev[i] = r;
  }
  const double pi = 3.14159265358979323846;
  const int nt = std::max(1, m / 2);
  twr.resize(nt);
  twi.resize(nt);
  for (int q = 0; q < nt; ++q) {
    twr[q] = static_cast<float>(std::cos(-2.0 * pi * q / m));
    twi[q] = static_cast<float>(std::sin(-2.0 * pi * q / m));
  }
  wr.resize(m + 1);
  wi.resize(m + 1);
  for (int k = 0; k <= m; ++k) {
    wr[k] = static_cast<float>(std::cos(-2.0 * pi * k / n));
    wi[k] = static_cast<float>(std::sin(-2.0 * pi * k / n));
  }
}

}  // namespace srl
