#include <cuda_bf16.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/ssd_scan.cuh"

namespace evo2::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kL = kSsdChunk;

// Leading dimension of a shared-memory tile row of `n` floats: a multiple of 4 (16-byte vector
// reads) plus 4, so that column-wise (transposing) stores hit 8 banks instead of one.
__host__ __device__ constexpr int TileLd(int n) { return (n + 3) / 4 * 4 + 4; }

__host__ __device__ constexpr size_t Align256(size_t bytes) { return (bytes + 255) / 256 * 256; }

// Scratch layout (ssd_scan.cuh SsdScanWorkspaceBytes).
struct Scratch {
  float* states;  // [batch, chunks, heads, P, N]
  float* dt;      // [batch, heads, seq]  Δ
  float* acum;    // [batch, heads, seq]  within-chunk cumulative Δ·A
  float* cdecay;  // [batch, heads, chunks]  a at the chunk's last position
};

Scratch Carve(void* base, int64_t batch, int64_t seq, int64_t heads, int64_t P, int64_t N) {
  const int64_t chunks = (seq + kL - 1) / kL;
  char* p = static_cast<char*>(base);
  Scratch s;
  s.states = reinterpret_cast<float*>(p);
  p += Align256(static_cast<size_t>(batch * chunks * heads * P * N) * sizeof(float));
  s.dt = reinterpret_cast<float*>(p);
  p += Align256(static_cast<size_t>(batch * heads * seq) * sizeof(float));
  s.acum = reinterpret_cast<float*>(p);
  p += Align256(static_cast<size_t>(batch * heads * seq) * sizeof(float));
  s.cdecay = reinterpret_cast<float*>(p);
  return s;
}

// Which part of a product is structurally zero (the causal mask of the chunk's quadratic form).
enum class Causal {
  kNone,
  kUpperZero,  // out[m][n] is not needed for n > m: whole tiles above the diagonal skip the sums
  kKUpToM,     // A[k][m] = 0 for k > m: the sum for row m stops at k = m
};

// out[m][n] = Σ_k A[k·lda + m] · Bt[k·ldb + n] over a block's threads in 4×4 register tiles,
// handing each (m < M, n < N) to f(m, n, value). Both tiles are k-major in shared memory, with
// lda, ldb multiples of 4 and rows readable up to the next multiple of 4 of M and N (the extra
// lanes only feed results that are discarded). kUpperZero hands 0 for tiles wholly above the
// diagonal (f applies the mask itself).
template <Causal kCausal = Causal::kNone, typename F>
__device__ __forceinline__ void TileProduct(const float* A, int lda, const float* Bt, int ldb,
                                            int K, int M, int N, F&& f) {
  const int mt = (M + 3) / 4, nt = (N + 3) / 4;
  for (int tile = threadIdx.x; tile < mt * nt; tile += blockDim.x) {
    const int m0 = (tile / nt) * 4, n0 = (tile % nt) * 4;
    float acc[4][4] = {};
    int k_end = K;
    if (kCausal == Causal::kUpperZero && n0 > m0 + 3) k_end = 0;
    if (kCausal == Causal::kKUpToM) k_end = min(K, m0 + 4);
    for (int k = 0; k < k_end; ++k) {
      const float4 a = *reinterpret_cast<const float4*>(A + k * lda + m0);
      const float4 b = *reinterpret_cast<const float4*>(Bt + k * ldb + n0);
      const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (m0 + i < M && n0 + j < N) f(m0 + i, n0 + j, acc[i][j]);
      }
    }
  }
}

// v2: the sum of two products into the same registers (the inter-chunk and the within-chunk
// term of phase 3): out[m][n] = Σ_{k<K1} A1[k][m]·B1[k][n] + Σ_{k<K2, k≤m} A2[k][m]·B2[k][n],
// A2 causal as Causal::kKUpToM. Same layout rules as TileProduct.
template <typename F>
__device__ __forceinline__ void TileProductPair(const float* A1, int lda1, const float* B1,
                                                int ldb1, int K1, const float* A2, int lda2,
                                                const float* B2, int ldb2, int K2, int M, int N,
                                                F&& f) {
  const int mt = (M + 3) / 4, nt = (N + 3) / 4;
  for (int tile = threadIdx.x; tile < mt * nt; tile += blockDim.x) {
    const int m0 = (tile / nt) * 4, n0 = (tile % nt) * 4;
    float acc[4][4] = {};
    auto accumulate = [&](const float* A, int lda, const float* Bt, int ldb, int k_end) {
      for (int k = 0; k < k_end; ++k) {
        const float4 a = *reinterpret_cast<const float4*>(A + k * lda + m0);
        const float4 b = *reinterpret_cast<const float4*>(Bt + k * ldb + n0);
        const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
      }
    };
    accumulate(A1, lda1, B1, ldb1, K1);
    accumulate(A2, lda2, B2, ldb2, min(K2, m0 + 4));
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (m0 + i < M && n0 + j < N) f(m0 + i, n0 + j, acc[i][j]);
      }
    }
  }
}

// v2: dst fills from global memory with kBatch loads in flight per thread: every thread issues
// its kBatch loads (value(i)) before its first shared-memory store (store(i, v)). v1's loops kept
// one load in flight per thread, which left the fills latency-bound (kernels/NOTES.md).
template <int kBatch = 8, typename Value, typename Store>
__device__ __forceinline__ void BatchedFill(int n, Value&& value, Store&& store) {
  for (int base = threadIdx.x; base < n; base += kBatch * blockDim.x) {
    float v[kBatch];
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      const int i = base + j * blockDim.x;
      v[j] = i < n ? value(i) : 0.f;
    }
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      const int i = base + j * blockDim.x;
      if (i < n) store(i, v[j]);
    }
  }
}

__device__ __forceinline__ float Softplus(float v) { return v > 20.f ? v : log1pf(expf(v)); }

// Phase 1, one block per (chunk, head, sequence): Δ, cumulative log-decay, chunk state
// S_c[p, n] = Σ_t exp(a_end − a_t) Δ_t x_t[p] B_t[n].
template <typename T, SsdScanVariant kVariant>
__global__ void __launch_bounds__(kThreads)
    SsdChunkStateKernel(SsdScanArgs<T> args, Scratch scratch, int chunks) {
  extern __shared__ __align__(16) float smem[];
  const int c = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int P = static_cast<int>(args.head_dim), N = static_cast<int>(args.state_size);
  const int heads = static_cast<int>(args.heads);
  const int g = h / (heads / static_cast<int>(args.groups));
  const int64_t seq = args.seq;
  const int t0 = c * kL;
  const int len = static_cast<int>(seq - t0 < kL ? seq - t0 : kL);
  const int ldx = TileLd(P), ldb = TileLd(N);
  float* xw = smem;            // [L, ldx]  weighted x (k = t, m = p)
  float* bs = xw + kL * ldx;   // [L, ldb]  B (k = t, n)
  float* dts = bs + kL * ldb;  // [L]  Δ
  float* acs = dts + kL;       // [L]  cumulative Δ·A
  const int64_t row0 = b * seq + t0;

  if (threadIdx.x < kL) {
    const int t = threadIdx.x;
    float d = 0.f;
    if (t < len) d = Softplus(ToFloat(args.dt_raw[(row0 + t) * args.ld_dt + h]) + args.dt_bias[h]);
    dts[t] = d;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    // Sequential prefix sum: 64 adds, a fixed order (the result does not depend on the launch).
    const float a_h = args.A[h];
    float acc = 0.f;
    for (int t = 0; t < kL; ++t) {
      acc += dts[t] * a_h;
      acs[t] = acc;
    }
  }
  __syncthreads();
  const int64_t ws_row = (static_cast<int64_t>(b) * heads + h) * seq + t0;
  if (threadIdx.x < len) {
    scratch.dt[ws_row + threadIdx.x] = dts[threadIdx.x];
    scratch.acum[ws_row + threadIdx.x] = acs[threadIdx.x];
  }
  if (threadIdx.x == 0)
    scratch.cdecay[(static_cast<int64_t>(b) * heads + h) * chunks + c] = acs[len - 1];
  const float a_end = acs[len - 1];
  auto x_weighted = [&](int i) {
    const int t = i / ldx, p = i % ldx;
    float v = 0.f;
    if (t < len && p < P)
      v = ToFloat(args.x[(row0 + t) * args.ld_x + h * P + p]) * expf(a_end - acs[t]) * dts[t];
    return v;
  };
  auto b_value = [&](int i) {
    const int t = i / ldb, n = i % ldb;
    return t < len && n < N ? ToFloat(args.B[(row0 + t) * args.ld_bc + g * N + n]) : 0.f;
  };
  if constexpr (kVariant == SsdScanVariant::kV2) {
    BatchedFill(kL * ldx, x_weighted, [&](int i, float v) { xw[i] = v; });
    BatchedFill(kL * ldb, b_value, [&](int i, float v) { bs[i] = v; });
  } else {
    for (int i = threadIdx.x; i < kL * ldx; i += blockDim.x) xw[i] = x_weighted(i);
    for (int i = threadIdx.x; i < kL * ldb; i += blockDim.x) bs[i] = b_value(i);
  }
  __syncthreads();
  float* out = scratch.states + ((static_cast<int64_t>(b) * chunks + c) * heads + h) * P * N;
  TileProduct(xw, ldx, bs, ldb, kL, P, N, [&](int p, int n, float v) { out[p * N + n] = v; });
}

// Phase 2: σ_in(0) = 0, σ_in(c+1) = exp(a_end(c))·σ_in(c) + S_c, in place over the chunk
// states; one thread per (sequence, head, p, n), coalesced along (p, n).
__global__ void SsdStatePassingKernel(Scratch scratch, int64_t batch, int64_t heads, int64_t PN,
                                      int chunks) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= batch * heads * PN) return;
  const int64_t b = i / (heads * PN), h = (i / PN) % heads, e = i % PN;
  const float* decay = scratch.cdecay + (b * heads + h) * chunks;
  float carry = 0.f;
  for (int c = 0; c < chunks; ++c) {
    float* s = scratch.states + ((b * chunks + c) * heads + h) * PN + e;
    const float own = *s;
    *s = carry;
    carry = expf(decay[c]) * carry + own;
  }
}

// Phase 3, one block per (chunk, head, sequence):
//   y_t = Σ_{s≤t} (C_t·B_s) exp(a_t − a_s) Δ_s x_s + exp(a_t) σ_in C_t + D x_t.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    SsdChunkOutputKernelV1(SsdScanArgs<T> args, Scratch scratch, int chunks) {
  extern __shared__ __align__(16) float smem[];
  const int c = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int P = static_cast<int>(args.head_dim), N = static_cast<int>(args.state_size);
  const int heads = static_cast<int>(args.heads);
  const int g = h / (heads / static_cast<int>(args.groups));
  const int64_t seq = args.seq;
  const int t0 = c * kL;
  const int len = static_cast<int>(seq - t0 < kL ? seq - t0 : kL);
  const int ldl = TileLd(kL), ldp = TileLd(P);
  const int ld_shared = max(ldl, ldp);
  float* ct = smem;                // [N, ldl]  Cᵀ (k = n, m = t)
  float* bt = ct + N * ldl;        // [N, ld_shared]  Bᵀ (k = n, s), later σ_inᵀ (k = n, p)
  float* mt = bt + N * ld_shared;  // [L, ldl]  masked, decayed scores (k = s, m = t)
  float* xs = mt + kL * ldl;       // [L, ldp]  x (k = s, p)
  float* ys = xs + kL * ldp;       // [L, ldp]  inter-chunk term
  float* dts = ys + kL * ldp;      // [L]
  float* acs = dts + kL;           // [L]
  const int64_t row0 = b * seq + t0;
  const int64_t ws_row = (static_cast<int64_t>(b) * heads + h) * seq + t0;

  if (threadIdx.x < kL) {
    const bool in = threadIdx.x < len;
    dts[threadIdx.x] = in ? scratch.dt[ws_row + threadIdx.x] : 0.f;
    acs[threadIdx.x] = in ? scratch.acum[ws_row + threadIdx.x] : 0.f;
  }
  // Cᵀ and Bᵀ: consecutive threads take consecutive n (coalesced global reads).
  for (int i = threadIdx.x; i < kL * N; i += blockDim.x) {
    const int t = i / N, n = i % N;
    const bool in = t < len;
    const int64_t at = (row0 + t) * args.ld_bc + g * N + n;
    ct[n * ldl + t] = in ? ToFloat(args.C[at]) : 0.f;
    bt[n * ld_shared + t] = in ? ToFloat(args.B[at]) : 0.f;
  }
  for (int i = threadIdx.x; i < kL * ldp; i += blockDim.x) {
    const int t = i / ldp, p = i % ldp;
    xs[i] = t < len && p < P ? ToFloat(args.x[(row0 + t) * args.ld_x + h * P + p]) : 0.f;
  }
  __syncthreads();
  // Scores G[t, s] = C_t·B_s, masked to s ≤ t and weighted by exp(a_t − a_s)·Δ_s.
  TileProduct<Causal::kUpperZero>(ct, ldl, bt, ld_shared, N, kL, kL, [&](int t, int s, float v) {
    mt[s * ldl + t] = s <= t ? v * expf(acs[t] - acs[s]) * dts[s] : 0.f;
  });
  __syncthreads();
  // σ_inᵀ over Bᵀ's tile (Bᵀ is no longer needed).
  const float* state =
      scratch.states + ((static_cast<int64_t>(b) * chunks + c) * heads + h) * P * N;
  for (int i = threadIdx.x; i < N * ld_shared; i += blockDim.x) bt[i] = 0.f;
  __syncthreads();
  for (int i = threadIdx.x; i < P * N; i += blockDim.x) {
    const int p = i / N, n = i % N;
    bt[n * ld_shared + p] = state[i];
  }
  __syncthreads();
  TileProduct(ct, ldl, bt, ld_shared, N, kL, P,
              [&](int t, int p, float v) { ys[t * ldp + p] = expf(acs[t]) * v; });
  __syncthreads();
  const float d_h = args.D[h];
  TileProduct<Causal::kKUpToM>(mt, ldl, xs, ldp, kL, len, P, [&](int t, int p, float v) {
    args.y[(row0 + t) * args.ld_y + h * P + p] = v + ys[t * ldp + p] + d_h * xs[t * ldp + p];
  });
}

// Phase 3, v2: the same function with 17 KB less shared memory per block (two blocks per SM at
// P = 64, N = 128): Cᵀ is scaled by exp(a_t) in place once the scores are done, and the
// inter-chunk term (Cᵀ·σ_inᵀ) and the within-chunk term (scores·x) are summed in the same
// registers instead of through a tile; fills keep 8 loads in flight per thread.
template <typename T>
__global__ void __launch_bounds__(kThreads, 2)
    SsdChunkOutputKernelV2(SsdScanArgs<T> args, Scratch scratch, int chunks) {
  extern __shared__ __align__(16) float smem[];
  const int c = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int P = static_cast<int>(args.head_dim), N = static_cast<int>(args.state_size);
  const int heads = static_cast<int>(args.heads);
  const int g = h / (heads / static_cast<int>(args.groups));
  const int64_t seq = args.seq;
  const int t0 = c * kL;
  const int len = static_cast<int>(seq - t0 < kL ? seq - t0 : kL);
  const int ldl = TileLd(kL), ldp = TileLd(P);
  const int ld_shared = max(ldl, ldp);
  float* ct = smem;                // [N, ldl]  Cᵀ (k = n, m = t), then exp(a_t)·Cᵀ
  float* bt = ct + N * ldl;        // [N, ld_shared]  Bᵀ (k = n, s), later σ_inᵀ (k = n, p)
  float* mt = bt + N * ld_shared;  // [L, ldl]  masked, decayed scores (k = s, m = t)
  float* xs = mt + kL * ldl;       // [L, ldp]  x (k = s, p)
  float* dts = xs + kL * ldp;      // [L]
  float* acs = dts + kL;           // [L]
  const int64_t row0 = b * seq + t0;
  const int64_t ws_row = (static_cast<int64_t>(b) * heads + h) * seq + t0;

  if (threadIdx.x < kL) {
    const bool in = threadIdx.x < len;
    dts[threadIdx.x] = in ? scratch.dt[ws_row + threadIdx.x] : 0.f;
    acs[threadIdx.x] = in ? scratch.acum[ws_row + threadIdx.x] : 0.f;
  }
  // Cᵀ and Bᵀ: consecutive threads take consecutive n (coalesced global reads).
  auto bc_value = [&](const T* m, int i) {
    const int t = i / N, n = i % N;
    return t < len ? ToFloat(m[(row0 + t) * args.ld_bc + g * N + n]) : 0.f;
  };
  BatchedFill(
      kL * N, [&](int i) { return bc_value(args.C, i); },
      [&](int i, float v) { ct[(i % N) * ldl + i / N] = v; });
  BatchedFill(
      kL * N, [&](int i) { return bc_value(args.B, i); },
      [&](int i, float v) { bt[(i % N) * ld_shared + i / N] = v; });
  BatchedFill(
      kL * ldp,
      [&](int i) {
        const int t = i / ldp, p = i % ldp;
        return t < len && p < P ? ToFloat(args.x[(row0 + t) * args.ld_x + h * P + p]) : 0.f;
      },
      [&](int i, float v) { xs[i] = v; });
  __syncthreads();
  // Scores G[t, s] = C_t·B_s, masked to s ≤ t and weighted by exp(a_t − a_s)·Δ_s.
  TileProduct<Causal::kUpperZero>(ct, ldl, bt, ld_shared, N, kL, kL, [&](int t, int s, float v) {
    mt[s * ldl + t] = s <= t ? v * expf(acs[t] - acs[s]) * dts[s] : 0.f;
  });
  __syncthreads();
  // σ_inᵀ over Bᵀ's tile (zeros beyond P), and Cᵀ[n][t] ← exp(a_t)·Cᵀ[n][t].
  const float* state =
      scratch.states + ((static_cast<int64_t>(b) * chunks + c) * heads + h) * P * N;
  for (int i = threadIdx.x; i < N * ld_shared; i += blockDim.x) bt[i] = 0.f;
  for (int i = threadIdx.x; i < N * kL; i += blockDim.x) {
    const int n = i / kL, t = i % kL;
    ct[n * ldl + t] *= expf(acs[t]);
  }
  __syncthreads();
  BatchedFill(
      P * N, [&](int i) { return state[i]; },
      [&](int i, float v) { bt[(i % N) * ld_shared + i / N] = v; });
  __syncthreads();
  const float d_h = args.D[h];
  TileProductPair(ct, ldl, bt, ld_shared, N, mt, ldl, xs, ldp, kL, len, P,
                  [&](int t, int p, float v) {
                    args.y[(row0 + t) * args.ld_y + h * P + p] = v + d_h * xs[t * ldp + p];
                  });
}

size_t ChunkStateSmemBytes(int64_t P, int64_t N) {
  return static_cast<size_t>(kL * TileLd(static_cast<int>(P)) + kL * TileLd(static_cast<int>(N)) +
                             2 * kL) *
         sizeof(float);
}

size_t ChunkOutputSmemBytes(int64_t P, int64_t N, SsdScanVariant variant) {
  const int ldl = TileLd(kL), ldp = TileLd(static_cast<int>(P));
  const int tiles_of_x = variant == SsdScanVariant::kV2 ? 1 : 2;  // v1 also holds the inter term
  return static_cast<size_t>(N * ldl + N * std::max(ldl, ldp) + kL * ldl + tiles_of_x * kL * ldp +
                             2 * kL) *
         sizeof(float);
}

template <typename T, SsdScanVariant kVariant>
absl::Status LaunchChunkStates(const SsdScanArgs<T>& a, const Scratch& scratch, dim3 grid,
                               size_t smem, cudaStream_t stream) {
  CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(SsdChunkStateKernel<T, kVariant>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(smem)));
  SsdChunkStateKernel<T, kVariant>
      <<<grid, kThreads, smem, stream>>>(a, scratch, static_cast<int>(grid.x));
  RETURN_IF_LAUNCH_FAILED("ssd_scan chunk states");
  return absl::OkStatus();
}

}  // namespace

size_t SsdScanWorkspaceBytes(int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                             int64_t state_size) {
  const int64_t chunks = (seq + kL - 1) / kL;
  return Align256(static_cast<size_t>(batch * chunks * heads * head_dim * state_size) *
                  sizeof(float)) +
         2 * Align256(static_cast<size_t>(batch * heads * seq) * sizeof(float)) +
         Align256(static_cast<size_t>(batch * heads * chunks) * sizeof(float));
}

template <typename T>
absl::Status LaunchSsdScan(const SsdScanArgs<T>& a, cudaStream_t stream) {
  if (a.x == nullptr || a.B == nullptr || a.C == nullptr || a.dt_raw == nullptr ||
      a.dt_bias == nullptr || a.A == nullptr || a.D == nullptr || a.y == nullptr ||
      a.workspace == nullptr)
    return absl::InvalidArgumentError("ssd_scan: null pointer");
  if (a.batch < 0 || a.seq < 0 || a.heads <= 0 || a.head_dim <= 0 || a.groups <= 0 ||
      a.state_size <= 0 || a.heads % a.groups != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("ssd_scan: bad shape batch=", a.batch, " seq=", a.seq, " heads=", a.heads,
                     " P=", a.head_dim, " groups=", a.groups, " N=", a.state_size,
                     " (heads must be a multiple of groups)"));
  if (a.batch == 0 || a.seq == 0) return absl::OkStatus();
  if (a.ld_x < a.heads * a.head_dim || a.ld_bc < a.groups * a.state_size || a.ld_dt < a.heads ||
      a.ld_y < a.heads * a.head_dim)
    return absl::InvalidArgumentError("ssd_scan: a leading dimension is smaller than its row");
  const int64_t chunks = (a.seq + kL - 1) / kL;
  if (a.heads > 65535 || a.batch > 65535 || chunks > INT32_MAX)
    return absl::InvalidArgumentError(absl::StrCat("ssd_scan: grid too large (heads=", a.heads,
                                                   ", batch=", a.batch, ", chunks=", chunks, ")"));
  const size_t need = SsdScanWorkspaceBytes(a.batch, a.seq, a.heads, a.head_dim, a.state_size);
  if (a.workspace_bytes < need)
    return absl::InvalidArgumentError(
        absl::StrCat("ssd_scan: workspace of ", a.workspace_bytes, " bytes, ", need, " needed"));
  int device = 0, smem_max = 0;
  CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&smem_max, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const size_t smem1 = ChunkStateSmemBytes(a.head_dim, a.state_size);
  const size_t smem3 = ChunkOutputSmemBytes(a.head_dim, a.state_size, a.variant);
  if (std::max(smem1, smem3) > static_cast<size_t>(smem_max))
    return absl::UnimplementedError(absl::StrCat(
        "ssd_scan: head dim ", a.head_dim, " with state size ", a.state_size, " needs ",
        std::max(smem1, smem3), " bytes of shared memory per block; the device allows ", smem_max));
  const Scratch scratch = Carve(a.workspace, a.batch, a.seq, a.heads, a.head_dim, a.state_size);
  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(a.heads),
                  static_cast<unsigned>(a.batch));
  const int nc = static_cast<int>(chunks);

  if (a.variant == SsdScanVariant::kV2) {
    RETURN_IF_ERROR(LaunchChunkStates<T, SsdScanVariant::kV2>(a, scratch, grid, smem1, stream));
  } else {
    RETURN_IF_ERROR(LaunchChunkStates<T, SsdScanVariant::kV1>(a, scratch, grid, smem1, stream));
  }

  const int64_t PN = a.head_dim * a.state_size;
  const int64_t threads_total = a.batch * a.heads * PN;
  SsdStatePassingKernel<<<static_cast<unsigned>((threads_total + 255) / 256), 256, 0, stream>>>(
      scratch, a.batch, a.heads, PN, nc);
  RETURN_IF_LAUNCH_FAILED("ssd_scan state passing");

  auto* output_kernel =
      a.variant == SsdScanVariant::kV2 ? SsdChunkOutputKernelV2<T> : SsdChunkOutputKernelV1<T>;
  CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
      output_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem3)));
  output_kernel<<<grid, kThreads, smem3, stream>>>(a, scratch, nc);
  RETURN_IF_LAUNCH_FAILED("ssd_scan chunk outputs");
  return absl::OkStatus();
}

template absl::Status LaunchSsdScan<float>(const SsdScanArgs<float>&, cudaStream_t);
template absl::Status LaunchSsdScan<__nv_bfloat16>(const SsdScanArgs<__nv_bfloat16>&, cudaStream_t);

}  // namespace evo2::kernels
