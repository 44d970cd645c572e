#include "cuda/engine_group/halo_plan.h"

#include <algorithm>

namespace evo2::cuda {

HaloLayout MakeHaloLayout(int64_t chunk_tokens, int64_t halo) {
  HaloLayout h;
  h.Lc = chunk_tokens;
  h.halo = halo;
  h.tail = std::min(chunk_tokens, halo);
  h.reach = halo == 0 ? 0 : (halo + chunk_tokens - 1) / chunk_tokens;
  h.front = h.reach == 0 ? 0 : (h.reach - 1) * chunk_tokens + h.tail - halo;
  h.region = h.front + halo + chunk_tokens;
  return h;
}

HaloPlan MakeHaloPlan(const parallel::SequenceSplit& split, int rank, const HaloLayout& h) {
  HaloPlan plan;
  if (h.reach == 0) return plan;
  const int nc = split.num_chunks();
  const std::vector<int>& mine = split.ChunksOf(rank);
  auto tag = [nc](int from_chunk, int to_chunk) { return int64_t{from_chunk} * nc + to_chunk; };
  for (size_t j = 0; j < mine.size(); ++j) {
    const int i = mine[j];
    for (int64_t k = i + 1; k <= std::min<int64_t>(nc - 1, i + h.reach); ++k)
      plan.sends.push_back({.peer = split.Owner(static_cast<int>(k)),
                            .tag = tag(i, static_cast<int>(k)),
                            .local_row = static_cast<int64_t>(j) * h.Lc + h.Lc - h.tail,
                            .rows = h.tail});
    const int k = i;  // as a receiver
    for (int64_t from = std::max<int64_t>(0, k - h.reach); from < k; ++from)
      plan.recvs.push_back({.peer = split.Owner(static_cast<int>(from)),
                            .tag = tag(static_cast<int>(from), k),
                            .chunk_index = static_cast<int>(j),
                            .region_row = (from - k + h.reach) * h.Lc,
                            .rows = h.tail});
  }
  auto by_tag = [](const HaloMessage& x, const HaloMessage& y) { return x.tag < y.tag; };
  std::sort(plan.sends.begin(), plan.sends.end(), by_tag);
  std::sort(plan.recvs.begin(), plan.recvs.end(), by_tag);
  return plan;
}

}  // namespace evo2::cuda
