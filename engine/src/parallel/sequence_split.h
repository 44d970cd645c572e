// Where the positions of one sequence live under context parallelism (docs/parallelism.md §2).
//
// Zigzag placement (Megatron's, predict-cli.md §3.3): the sequence, right-padded to a multiple
// of 2·CP, is cut into 2·CP chunks of Lc = ceil(S / 2CP) positions; rank r holds chunks r and
// 2CP−1−r, in that order. Causal attention work of chunk k grows with k, so each rank gets one
// cheap and one expensive chunk and the ranks' work is equal. CP = 1 keeps one chunk, unpadded.
// Padding goes at the end, so no real position ever sees it (every mixer is causal).
#pragma once

#include <cstdint>
#include <vector>

namespace evo2::parallel {

class SequenceSplit {
 public:
  SequenceSplit(int64_t tokens, int cp);

  int64_t tokens() const { return tokens_; }       // S, real positions
  int num_chunks() const { return num_chunks_; }   // 1 or 2·CP
  int64_t chunk_tokens() const { return chunk_; }  // Lc
  int64_t padded_tokens() const { return chunk_ * num_chunks_; }
  int Owner(int chunk) const;                        // rank holding `chunk`
  const std::vector<int>& ChunksOf(int rank) const;  // that rank's chunks, in local-row order
  int64_t LocalRows() const { return chunk_ * chunks_per_rank(); }
  int chunks_per_rank() const { return num_chunks_ == 1 ? 1 : 2; }
  // Absolute position of local row `row` of `rank`.
  int64_t Position(int rank, int64_t row) const;

 private:
  int64_t tokens_;
  int cp_;
  int num_chunks_;
  int64_t chunk_;
  std::vector<std::vector<int>> chunks_of_;
};

}  // namespace evo2::parallel
