#include "parallel/cp_halo.h"

#include <algorithm>

#include "evo2/status_macros.h"

namespace evo2::parallel {

absl::Status ChunksWithHalo(const SequenceSplit& split, Communicator& cp, const float* local,
                            int64_t width, int64_t halo, std::vector<std::vector<float>>& out) {
  const int rank = cp.rank();
  const int64_t Lc = split.chunk_tokens();
  const int nc = split.num_chunks();
  const std::vector<int>& mine = split.ChunksOf(rank);
  // Each message is the tail of one chunk: its last `tail` rows.
  const int64_t tail = std::min(Lc, halo);
  const int reach = halo == 0 ? 0 : static_cast<int>((halo + Lc - 1) / Lc);  // chunks back
  auto tag = [nc](int from_chunk, int to_chunk) { return int64_t{from_chunk} * nc + to_chunk; };

  // Sends: the tail of each local chunk i to the owners of chunks i+1..i+reach. Receives: for
  // each local chunk k, the tails of chunks k−reach..k−1. Both sorted by tag (NCCL pairs a
  // peer's messages by order).
  std::vector<SendSpec> sends;
  std::vector<RecvSpec> recvs;
  std::vector<std::vector<float>> tails;  // received tails, parallel to recvs
  for (size_t j = 0; j < mine.size(); ++j) {
    const int i = mine[j];
    const float* chunk_tail = local + (static_cast<int64_t>(j) * Lc + Lc - tail) * width;
    for (int k = i + 1; k <= std::min(nc - 1, i + reach); ++k) {
      sends.push_back(SendSpec{.peer = split.Owner(k),
                               .tag = tag(i, k),
                               .data = {chunk_tail, static_cast<size_t>(tail * width)}});
    }
  }
  for (int k : mine) {
    for (int i = std::max(0, k - reach); i < k; ++i) tails.emplace_back(tail * width);
  }
  size_t t = 0;
  for (int k : mine) {
    for (int i = std::max(0, k - reach); i < k; ++i, ++t) {
      recvs.push_back(RecvSpec{.peer = split.Owner(i), .tag = tag(i, k), .data = tails[t]});
    }
  }
  auto by_tag = [](const auto& x, const auto& y) { return x.tag < y.tag; };
  std::sort(sends.begin(), sends.end(), by_tag);
  std::sort(recvs.begin(), recvs.end(), by_tag);  // the spans keep pointing at tails[t]
  if (cp.size() > 1) RETURN_IF_ERROR(cp.Exchange(sends, recvs));

  out.resize(mine.size());
  t = 0;
  for (size_t j = 0; j < mine.size(); ++j) {
    const int k = mine[j];
    std::vector<float>& buf = out[j];
    buf.assign(static_cast<size_t>((halo + Lc) * width), 0.0f);  // zeros before position 0
    for (int i = std::max(0, k - reach); i < k; ++i, ++t) {
      // Rows of chunk i at positions [max(i·Lc + Lc − tail, k·Lc − halo), (i+1)·Lc).
      const int64_t first = std::max(int64_t{i} * Lc + Lc - tail, int64_t{k} * Lc - halo);
      for (int64_t p = first; p < int64_t{i + 1} * Lc; ++p) {
        const int64_t src_row = p - (int64_t{i} * Lc + Lc - tail);
        const int64_t dst_row = p - (int64_t{k} * Lc - halo);
        std::copy_n(tails[t].data() + src_row * width, width, buf.data() + dst_row * width);
      }
    }
    std::copy_n(local + static_cast<int64_t>(j) * Lc * width, Lc * width,
                buf.data() + halo * width);
  }
  return absl::OkStatus();
}

}  // namespace evo2::parallel
