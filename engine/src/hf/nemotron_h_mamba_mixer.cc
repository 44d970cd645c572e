#include "hf/nemotron_h_mamba_mixer.h"

#include <algorithm>
#include <cmath>

#include "hf/nemotron_h_rms_norm.h"
#include "ops/linear.h"
#include "ops/vectorize.h"

namespace evo2::hf {

namespace {

constexpr int kLanes = 8;
// State rows (p) per scan task: the rows of one head share Δ, B and C of a step.
constexpr int64_t kRowsPerTask = 8;

// Scans rows [p0, p1) of head h over `steps` positions:
//   σ[p, n] ← decay_s · σ[p, n] + (Δ_s · x̂_s[p]) · B_s[n]
//   y_s[p]  = Σ_n σ[p, n] · C_s[n] + D · x̂_s[p]
// x̂ = xbc + h·P (row stride ld), B = xbc + b_off, C = xbc + c_off; dt/decay stride n_h; y row
// stride di. The dot product keeps 8 lane sums (fixed order, so the result does not depend on
// the CPU) and adds them at the end.
EVO2_VECTORIZE void ScanHeadRows(const float* xbc, int64_t ld, int64_t x_off, int64_t b_off,
                                 int64_t c_off, const float* dt, const float* decay, int64_t nh,
                                 int64_t h, float D, int64_t steps, int64_t p0, int64_t p1,
                                 int64_t N, float* state, float* y, int64_t di) {
  const int64_t full = N / kLanes * kLanes;
  for (int64_t s = 0; s < steps; ++s) {
    const float* row = xbc + s * ld;
    const float* x = row + x_off;
    const float* B = row + b_off;
    const float* C = row + c_off;
    const float delta = dt[s * nh + h];
    const float a = decay[s * nh + h];
    float* ys = y + s * di;
    for (int64_t p = p0; p < p1; ++p) {
      float* st = state + p * N;
      const float dbx = delta * x[p];
      float acc[kLanes] = {};
      for (int64_t n0 = 0; n0 < full; n0 += kLanes) {
        for (int l = 0; l < kLanes; ++l) {
          const float v = a * st[n0 + l] + dbx * B[n0 + l];
          st[n0 + l] = v;
          acc[l] += v * C[n0 + l];
        }
      }
      float sum = 0;
      for (int l = 0; l < kLanes; ++l) sum += acc[l];
      for (int64_t n = full; n < N; ++n) {
        st[n] = a * st[n] + dbx * B[n];
        sum += st[n] * C[n];
      }
      ys[p] = sum + D * x[p];
    }
  }
}

}  // namespace

int64_t MambaMixer::ScratchFloats(int64_t S) const {
  const NemotronHConfig& c = config_;
  const int64_t chunk = std::min(S, chunk_tokens_);
  return chunk * c.InProjRows() + (c.conv_kernel - 1 + 2 * chunk) * c.ConvChannels() +
         2 * chunk * c.mamba_num_heads + chunk * c.MambaInner() +
         c.mamba_num_heads * c.mamba_head_dim * c.ssm_state_size;
}

void MambaMixer::ConvSilu(const NemotronHMambaWeights& w, int64_t rows, ops::ThreadPool& pool) {
  const int64_t C = config_.ConvChannels(), K = config_.conv_kernel;
  pool.ParallelFor(rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* out = xbc_.data() + r * C;
      // Window row r + k holds time t0 + r − (K−1) + k; tap k = K−1 is the current position.
      for (int64_t c = 0; c < C; ++c) {
        float acc = w.conv_bias[c];
        for (int64_t k = 0; k < K; ++k) acc += w.conv_weight[c * K + k] * window_[(r + k) * C + c];
        out[c] = acc / (1.0f + std::exp(-acc));  // SiLU
      }
    }
  });
}

void MambaMixer::StepSizes(const NemotronHMambaWeights& w, int64_t rows, ops::ThreadPool& pool) {
  const int64_t nh = config_.mamba_num_heads, R = config_.InProjRows();
  const int64_t dt_off = R - nh;
  pool.ParallelFor(rows, 64, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      for (int64_t h = 0; h < nh; ++h) {
        const float v = proj_[r * R + dt_off + h] + w.dt_bias[h];
        // softplus as PyTorch computes it (threshold 20: the identity above it).
        const float delta = v > 20.0f ? v : std::log1p(std::exp(v));
        dt_[r * nh + h] = delta;
        decay_[r * nh + h] = std::exp(delta * w.A[h]);
      }
    }
  });
}

void MambaMixer::Scan(const NemotronHMambaWeights& w, int64_t rows, ops::ThreadPool& pool) {
  const NemotronHConfig& c = config_;
  const int64_t nh = c.mamba_num_heads, P = c.mamba_head_dim, N = c.ssm_state_size;
  const int64_t G = c.n_groups, di = c.MambaInner(), C = c.ConvChannels();
  const int64_t heads_per_group = nh / G;
  const int64_t blocks_per_head = (P + kRowsPerTask - 1) / kRowsPerTask;
  pool.ParallelFor(nh * blocks_per_head, 1, [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t h = task / blocks_per_head;
      const int64_t p0 = (task % blocks_per_head) * kRowsPerTask;
      const int64_t p1 = std::min(P, p0 + kRowsPerTask);
      const int64_t g = h / heads_per_group;  // consecutive heads share a B/C group
      ScanHeadRows(xbc_.data(), C, h * P, di + g * N, di + G * N + g * N, dt_.data(),
                   decay_.data(), nh, h, w.D[h], rows, p0, p1, N, state_.data() + h * P * N,
                   y_.data() + h * P, di);
    }
  });
}

void MambaMixer::SaveState(MambaState& state) const {
  const int64_t C = config_.ConvChannels(), K = config_.conv_kernel;
  state.conv_tail.assign(window_.begin(), window_.begin() + (K - 1) * C);
  state.ssm = state_;
}

void MambaMixer::Run(const NemotronHMambaWeights& w, const float* u, int64_t S, float* out,
                     ops::ThreadPool& pool, MambaState* state) {
  const NemotronHConfig& c = config_;
  const int64_t H = c.hidden_size, di = c.MambaInner(), C = c.ConvChannels();
  const int64_t R = c.InProjRows(), K = c.conv_kernel, nh = c.mamba_num_heads;
  const int64_t chunk = std::min(S, chunk_tokens_);
  proj_.resize(static_cast<size_t>(chunk * R));
  // Positions before the first token are zeros (causal padding).
  window_.assign(static_cast<size_t>((K - 1 + chunk) * C), 0.0f);
  xbc_.resize(static_cast<size_t>(chunk * C));
  dt_.resize(static_cast<size_t>(chunk * nh));
  decay_.resize(static_cast<size_t>(chunk * nh));
  y_.resize(static_cast<size_t>(chunk * di));
  state_.assign(static_cast<size_t>(nh * c.mamba_head_dim * c.ssm_state_size), 0.0f);
  if (state != nullptr && !state->conv_tail.empty()) {
    std::copy(state->conv_tail.begin(), state->conv_tail.end(), window_.begin());
    state_ = state->ssm;
  }

  for (int64_t t0 = 0; t0 < S; t0 += chunk) {
    const int64_t rows = std::min(chunk, S - t0);
    // 1. p = W_in·u.
    ops::Linear(u + t0 * H, rows, H, H, w.in_proj.data(), R, nullptr, proj_.data(), R);
    // 2. conv window = previous K−1 raw xBC rows ‖ this chunk's; conv + SiLU.
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(proj_.data() + r * R + di, C, window_.data() + (K - 1 + r) * C);
    }
    ConvSilu(w, rows, pool);
    // 4–6. Δ, exp(Δ·A), selective scan.
    StepSizes(w, rows, pool);
    Scan(w, rows, pool);
    // 7. gated group RMSNorm with z = p[0 : d_inner].
    const int64_t group_size = di / c.n_groups;
    pool.ParallelFor(rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        GatedGroupRmsNormRow(y_.data() + r * di, proj_.data() + r * R, di, group_size,
                             w.norm.data(), c.eps);
      }
    });
    // 8. out = W_out·v.
    ops::Linear(y_.data(), rows, di, di, w.out_proj.data(), H, nullptr, out + t0 * H, H);
    // Keep the last K−1 raw rows for the next chunk's window (source lies after the target).
    std::copy(window_.begin() + rows * C, window_.begin() + (rows + K - 1) * C, window_.begin());
  }
  if (state != nullptr) SaveState(*state);
}

}  // namespace evo2::hf
