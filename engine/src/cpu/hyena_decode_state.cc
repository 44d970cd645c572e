#include "cpu/hyena_decode_state.h"

#include <algorithm>

namespace evo2::cpu {

namespace {

// Ring slot of position τ ≥ 0 in a tail of `n` rows.
inline int64_t Slot(int64_t tau, int64_t n) { return tau % n; }

}  // namespace

HyenaBlockState EmptyBlockState(const BlockWeights& b, int64_t H, int64_t heads_times_dim) {
  HyenaBlockState s;
  if (b.kind == BlockKind::kAttn) {
    s.kv = ops::KvCache(heads_times_dim);
    return s;
  }
  s.proj_tail.assign(static_cast<size_t>(2 * 3 * H), 0.0f);
  if (b.kind == BlockKind::kHcs || b.kind == BlockKind::kHcm) {
    s.fir_tail.assign(static_cast<size_t>((b.hyena.fir_length - 1) * H), 0.0f);
  } else {
    s.modal.assign(static_cast<size_t>(H * b.hyena.modal.modes), 0.0);
  }
  return s;
}

void DeriveHyenaState(const BlockWeights& b, const float* P, const float* a, int64_t S, int64_t H,
                      HyenaBlockState& st, ops::ThreadPool& pool) {
  const int64_t W = 3 * H;
  // Featurizer tail: the last two rows of P (rows before position 0 stay zero).
  for (int64_t r = 0; r < 2; ++r) {
    const int64_t tau = S - 2 + r;
    if (tau >= 0) std::copy_n(P + tau * W, W, st.proj_tail.data() + r * W);
  }
  if (b.kind == BlockKind::kHcs || b.kind == BlockKind::kHcm) {
    const int64_t n = b.hyena.fir_length - 1;
    for (int64_t tau = std::max<int64_t>(0, S - n); tau < S; ++tau) {
      std::copy_n(a + tau * H, H, st.fir_tail.data() + Slot(tau, n) * H);
    }
    return;
  }
  // hcl: run the modal recurrence s ← p·s + a_τ over the prompt, exactly as
  // HyenaLongFilterModal does (same double arithmetic), keeping only the final s.
  const ModalFilter& f = b.hyena.modal;
  const int64_t M = f.modes;
  pool.ParallelFor(H, 8, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double* s = st.modal.data() + c * M;
      const double* p = f.pole.data() + c * M;
      for (int64_t tau = 0; tau < S; ++tau) {
        const double av = a[tau * H + c];
        for (int64_t m = 0; m < M; ++m) s[m] = p[m] * s[m] + av;
      }
    }
  });
}

void DeriveAttentionState(const float* qkv, int64_t S, int64_t heads, int64_t d,
                          HyenaBlockState& st) {
  const int64_t ld = 3 * heads * d;
  st.kv.Reserve(S + 256);
  std::vector<float> k(static_cast<size_t>(heads * d)), v(static_cast<size_t>(heads * d));
  for (int64_t t = 0; t < S; ++t) {
    const float* row = qkv + t * ld;
    for (int64_t h = 0; h < heads; ++h) {  // head h: q, k, v at h·3d, h·3d + d, h·3d + 2d
      std::copy_n(row + h * 3 * d + d, d, k.data() + h * d);
      std::copy_n(row + h * 3 * d + 2 * d, d, v.data() + h * d);
    }
    st.kv.Append(k.data(), v.data());
  }
}

void HyenaStepChannels(const BlockWeights& b, const float* P_t, int64_t t, int64_t H, int64_t c0,
                       int64_t c1, HyenaBlockState& st, float* o) {
  const int64_t W = 3 * H;
  const float* taps = b.hyena.short_filter.data();  // [3H, 3], conv order
  float* p2 = st.proj_tail.data();                  // P[t−2]
  float* p1 = st.proj_tail.data() + W;              // P[t−1]
  for (int64_t c = c0; c < c1; ++c) {
    // Featurizer (hyena_featurizer.cc): f = w2·P_t + w1·P_{t−1} + w0·P_{t−2}, then the tail
    // shifts by one row for these three columns.
    float f[3];
    for (int64_t j = 3 * c, r = 0; r < 3; ++j, ++r) {
      float v = taps[j * 3 + 2] * P_t[j];
      v += taps[j * 3 + 1] * p1[j];
      v += taps[j * 3 + 0] * p2[j];
      f[r] = v;
      p2[j] = p1[j];
      p1[j] = P_t[j];
    }
    const float q = f[0];
    const float av = f[1] * f[2];
    float y = 0;
    switch (b.kind) {
      case BlockKind::kHcs: {  // conv order: tap K−1 weighs a_t, tap k weighs a[t−(K−1)+k]
        const int64_t K = b.hyena.fir_length, n = K - 1;
        const float* w = b.hyena.fir_taps.data();  // [K, H]
        for (int64_t k = 0; k < K - 1; ++k) {
          const int64_t tau = t - (K - 1) + k;
          if (tau >= 0) y += w[k * H + c] * st.fir_tail[Slot(tau, n) * H + c];
        }
        y += w[(K - 1) * H + c] * av;
        st.fir_tail[Slot(t, n) * H + c] = av;
        break;
      }
      case BlockKind::kHcm: {  // impulse order: tap k weighs a[t−k], plus D·a_t
        const int64_t K = b.hyena.fir_length, n = K - 1;
        const float* w = b.hyena.fir_taps.data();  // [K, H]
        y = b.hyena.skip[c] * av;
        y += w[c] * av;
        for (int64_t k = 1; k <= std::min(K - 1, t); ++k) {
          y += w[k * H + c] * st.fir_tail[Slot(t - k, n) * H + c];
        }
        st.fir_tail[Slot(t, n) * H + c] = av;
        break;
      }
      case BlockKind::kHcl: {  // s ← p·s + a_t, y = Σ_n R·s + D·a_t (hyena_long_filter.cc)
        const ModalFilter& mf = b.hyena.modal;
        const int64_t M = mf.modes;
        double* s = st.modal.data() + c * M;
        const double* p = mf.pole.data() + c * M;
        const double* r = mf.residue.data() + c * M;
        double acc = 0;
        for (int64_t m = 0; m < M; ++m) {
          s[m] = p[m] * s[m] + av;
          acc += r[m] * s[m];
        }
        y = static_cast<float>(acc + static_cast<double>(mf.skip[c]) * av);
        break;
      }
      case BlockKind::kAttn:
        break;
    }
    o[c] = y * q;
  }
}

}  // namespace evo2::cpu
