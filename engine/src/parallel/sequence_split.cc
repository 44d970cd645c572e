#include "parallel/sequence_split.h"

#include <algorithm>

namespace evo2::parallel {

SequenceSplit::SequenceSplit(int64_t tokens, int cp)
    : tokens_(tokens), cp_(cp), num_chunks_(cp == 1 ? 1 : 2 * cp) {
  chunk_ = std::max<int64_t>(1, (tokens + num_chunks_ - 1) / num_chunks_);
  chunks_of_.resize(static_cast<size_t>(cp));
  for (int r = 0; r < cp; ++r) {
    chunks_of_[static_cast<size_t>(r)] =
        num_chunks_ == 1 ? std::vector<int>{0} : std::vector<int>{r, 2 * cp - 1 - r};
  }
}

int SequenceSplit::Owner(int chunk) const {
  if (num_chunks_ == 1) return 0;
  return chunk < cp_ ? chunk : 2 * cp_ - 1 - chunk;
}

const std::vector<int>& SequenceSplit::ChunksOf(int rank) const {
  return chunks_of_[static_cast<size_t>(rank)];
}

int64_t SequenceSplit::Position(int rank, int64_t row) const {
  const int chunk = ChunksOf(rank)[static_cast<size_t>(row / chunk_)];
  return chunk * chunk_ + row % chunk_;
}

}  // namespace evo2::parallel
