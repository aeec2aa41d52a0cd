// Materialise / fold of block-circulant weights (circulant_layer.h layout): a weight W [out, in]
// tiled into outBlocks × inBlocks blocks of size b, block (i, j) defined by c_ij ∈ R^b with
//     W[i·b + r, j·b + s] = c_ij[(s − r) mod b],
// vectors stored [outBlocks, inBlocks, b]. materializeCirculant builds W from the vectors; fold
// is its adjoint (the diagonal sums of a gradient G, the vector gradient), written back to every
// entry of its diagonal. Power-of-two b uses lane shuffles (b <= VW) or two
// contiguous pieces per block; the result does not depend on the thread count.
#pragma once

#include "kernels.h"

namespace srl {

/**
 * W [out][in] = materialised block-circulant weight of vectors [outBlocks][inBlocks][b]:
 * W[i·b + r, j·b + s] = c_ij[(s − r) mod b], 0 in blocks with active[blk] == 0 (active null:
 * all active).
 */
void materializeCirculant(Workspace& ws, const float* vectors, int out, int in, int b, const unsigned char* active,
                          float* W);
/**
 * In place on G [out][in]: every existing entry of each block diagonal becomes the diagonal's
 * sum, Σ_r G[i·b + r, j·b + (r + t) mod b] (rows ascending), i.e. materialise(fold(G)); blocks
 * with active[blk] == 0 become 0.
 */
void foldCirculantInPlace(Workspace& ws, float* G, int out, int in, int b, const unsigned char* active);

}  // namespace srl
