#include "parallel/cp_long_filter.h"

#include <cmath>
#include <vector>

#include "evo2/status_macros.h"

namespace evo2::parallel {

absl::Status HyenaLongFilterContextParallel(const SequenceSplit& split, Communicator& cp,
                                            const float* a, int64_t H, const cpu::ModalFilter& f,
                                            float* y, ops::ThreadPool& pool) {
  const int64_t Lc = split.chunk_tokens();
  const int64_t M = f.modes;
  const int per_rank = split.chunks_per_rank();
  const int64_t state = H * M;  // one chunk's end state [H, M]
  // 1. Every local chunk from a zero state: y⁰ and e.  end [per_rank, H, M]
  std::vector<double> end(static_cast<size_t>(per_rank * state));
  for (int j = 0; j < per_rank; ++j) {
    cpu::HyenaLongFilterModal(a + j * Lc * H, Lc, H, f, y + j * Lc * H, pool,
                              end.data() + j * state);
  }
  if (split.num_chunks() == 1) return absl::OkStatus();
  // 2. The scan over ranks: all end states, then S_{k−1} for each local chunk k by folding
  //    chunks 0..k−1 in order.  all [CP, per_rank, H, M]
  std::vector<double> all(static_cast<size_t>(cp.size()) * end.size());
  RETURN_IF_ERROR(cp.AllGather(std::span<const double>(end), std::span<double>(all)));
  auto end_of = [&](int chunk) {
    const int owner = split.Owner(chunk);
    const int j = split.ChunksOf(owner)[0] == chunk ? 0 : 1;
    return all.data() + (owner * per_rank + j) * state;
  };
  std::vector<double> decay(static_cast<size_t>(state));  // p^Lc
  for (int64_t i = 0; i < state; ++i) decay[i] = std::pow(f.pole[i], static_cast<double>(Lc));
  const std::vector<int>& mine = split.ChunksOf(cp.rank());
  for (int j = 0; j < per_rank; ++j) {
    const int k = mine[j];
    if (k == 0) continue;  // starts from zero: nothing to correct
    std::vector<double> s0(static_cast<size_t>(state), 0.0);
    for (int i = 0; i < k; ++i) {
      const double* e = end_of(i);
      for (int64_t n = 0; n < state; ++n) s0[n] = decay[n] * s0[n] + e[n];
    }
    // 3. y_t += Σ_n R_n p_n^{t+1} s0_n, carried as g ← p ⊙ g from g = s0.
    float* yc = y + j * Lc * H;
    pool.ParallelFor(H, 8, [&](int64_t c0, int64_t c1) {
      std::vector<double> g(static_cast<size_t>(M));
      for (int64_t c = c0; c < c1; ++c) {
        const double* p = f.pole.data() + c * M;
        const double* r = f.residue.data() + c * M;
        std::copy_n(s0.data() + c * M, M, g.data());
        for (int64_t t = 0; t < Lc; ++t) {
          double acc = 0;
          for (int64_t n = 0; n < M; ++n) {
            g[n] *= p[n];
            acc += r[n] * g[n];
          }
          yc[t * H + c] += static_cast<float>(acc);
        }
      }
    });
  }
  return absl::OkStatus();
}

}  // namespace evo2::parallel
