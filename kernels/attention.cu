#include "kernels/attention.cuh"

#include <cuda_bf16.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_status.cuh"
#include "kernels/element.cuh"
#include "kernels/mma.cuh"

namespace evo2::kernels {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

// bf16 tensor-core kernels. Block = 4 warps = 64 query rows (16 per warp); key tiles of 64.
// Fragment layouts: kernels/mma.cuh.
constexpr int kWarps = 4;
constexpr int kBlockM = 16 * kWarps;
constexpr int kBlockN = 64;

// ---------------------------------------------------------------------------------------------
// K and V both staged row-major with 16-byte stores, and the mma B fragments fetched with
// ldmatrix (x4: two 8-column tiles per instruction); V's fragments with ldmatrix.trans (the
// first version transposed V element-wise into shared memory and was bank-conflict bound,
// kernels/NOTES.md; removed). kStages = 2 (v3, default) double-buffers the K/V tiles with
// cp.async; kStages = 1 (v2) loads, waits and computes in turn.
// Rows are 16-byte aligned and padded by 8 elements so the 8 rows of one ldmatrix matrix fall
// in distinct bank groups.

// cp.async: 16 bytes global -> shared, zero-filled when src_bytes is 0 (keys past the end).
__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem, int src_bytes) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(gmem),
               "r"(src_bytes));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

template <int D, int kStages>
constexpr size_t V2SharedBytes() {
  return static_cast<size_t>(kStages) * 2 * kBlockN * (D + 8) * sizeof(__nv_bfloat16);
}

// kStages = 1: load a K/V tile, barrier, compute (version 2). kStages = 2: the next tile's K/V
// are fetched with cp.async into the other buffer while this one is computed (version 3).
// Three blocks per multiprocessor (≤ 170 registers): 12 warps to hide the tile loads.
template <int D, int kStages>
__global__ void __launch_bounds__(kWarps * 32, 3)
    FlashAttentionBf16V2Kernel(const __nv_bfloat16* __restrict__ q,
                               const __nv_bfloat16* __restrict__ k,
                               const __nv_bfloat16* __restrict__ v, __nv_bfloat16* __restrict__ out,
                               int heads, int kv_heads, int q_len, int kv_len, int q_offset,
                               int key_end, float scale_log2) {
  // Dynamic shared memory: [stage][K | V][kBlockN][D + 8] bf16.
  extern __shared__ __align__(16) unsigned char smem_raw[];
  using Row = __nv_bfloat16[D + 8];
  Row* const smem_rows = reinterpret_cast<Row*>(smem_raw);
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int g = lane / 4;
  const int i4 = lane % 4;
  const int m_tile = gridDim.x - 1 - blockIdx.x;
  const int h = blockIdx.y;
  const int b = blockIdx.z;
  const int64_t head_off = (static_cast<int64_t>(b) * heads + h) * q_len * D;
  // GQA: query head h reads KV head h / (heads / kv_heads) (consecutive heads share one).
  const int64_t kv_off = (static_cast<int64_t>(b) * kv_heads + h / (heads / kv_heads)) * kv_len * D;
  const __nv_bfloat16* qh = q + head_off;
  const __nv_bfloat16* kh = k + kv_off;
  const __nv_bfloat16* vh = v + kv_off;
  const int row0 = m_tile * kBlockM + warp * 16 + g;

  uint32_t q_frag[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int row = row0 + ((r & 1) ? 8 : 0);
      const int col = kk * 16 + 2 * i4 + ((r & 2) ? 8 : 0);
      q_frag[kk][r] =
          row < q_len ? *reinterpret_cast<const uint32_t*>(qh + static_cast<int64_t>(row) * D + col)
                      : 0u;
    }
  }
  float o_acc[D / 8][4];
#pragma unroll
  for (int dn = 0; dn < D / 8; ++dn)
#pragma unroll
    for (int r = 0; r < 4; ++r) o_acc[dn][r] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY};
  float l_run[2] = {0.f, 0.f};
  // This lane's ldmatrix row within a 16×16 block: matrices 0..3 = (rows 0-7 | 8-15) × (cols
  // 0-7 | 8-15), in the order each use below needs.
  const int lm_row = lane & 7;
  const int lm_sel_a = (lane >> 3) & 1;  // second matrix of a pair
  const int lm_sel_b = lane >> 4;        // second pair

  // Query row r (absolute position q_offset + r) sees keys 0 … q_offset + r: this block needs
  // key tiles up to its last row's, and never keys past the last query (q_offset + q_len − 1).
  const int q_pos0 = q_offset + m_tile * kBlockM;  // absolute position of the block's row 0
  const int last_key = min(q_pos0 + kBlockM - 1, key_end - 1);  // key_end = q_offset + q_len
  const int last_tile = last_key / kBlockN;
  constexpr int kVecPerRow = D / 8;
  auto issue_async = [&](int tile, int stage) {
    Row* ks = smem_rows + (stage * 2) * kBlockN;
    Row* vs = smem_rows + (stage * 2 + 1) * kBlockN;
    for (int idx = threadIdx.x; idx < kBlockN * kVecPerRow; idx += kWarps * 32) {
      const int r = idx / kVecPerRow;
      const int c8 = (idx - r * kVecPerRow) * 8;
      const int key = tile * kBlockN + r;
      const bool ok = key < key_end;
      const int64_t off = ok ? static_cast<int64_t>(key) * D + c8 : 0;
      CpAsync16(&ks[r][c8], kh + off, ok ? 16 : 0);
      CpAsync16(&vs[r][c8], vh + off, ok ? 16 : 0);
    }
    CpAsyncCommit();
  };
  if constexpr (kStages == 2) issue_async(0, 0);
  for (int n_tile = 0; n_tile <= last_tile; ++n_tile) {
    const int key0 = n_tile * kBlockN;
    const int stage = kStages == 2 ? (n_tile & 1) : 0;
    Row* const k_s = smem_rows + (stage * 2) * kBlockN;
    Row* const v_s = smem_rows + (stage * 2 + 1) * kBlockN;
    if constexpr (kStages == 1) {
      __syncthreads();
      for (int idx = threadIdx.x; idx < kBlockN * kVecPerRow; idx += kWarps * 32) {
        const int r = idx / kVecPerRow;
        const int c8 = (idx - r * kVecPerRow) * 8;
        const int key = key0 + r;
        uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
        if (key < key_end) {
          kv = *reinterpret_cast<const uint4*>(kh + static_cast<int64_t>(key) * D + c8);
          vv = *reinterpret_cast<const uint4*>(vh + static_cast<int64_t>(key) * D + c8);
        }
        *reinterpret_cast<uint4*>(&k_s[r][c8]) = kv;
        *reinterpret_cast<uint4*>(&v_s[r][c8]) = vv;
      }
      __syncthreads();
    } else {
      if (n_tile < last_tile) {
        issue_async(n_tile + 1, stage ^ 1);  // that buffer was released by the last barrier
        CpAsyncWait<1>();                    // this tile's group has landed
      } else {
        CpAsyncWait<0>();
      }
      __syncthreads();
    }

    float s_acc[kBlockN / 8][4];
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt)
#pragma unroll
      for (int r = 0; r < 4; ++r) s_acc[nt][r] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int ntp = 0; ntp < kBlockN / 16; ++ntp) {
        // Matrices: (keys +0-7, d +0-7) (keys +0-7, d +8-15) (keys +8-15, d +0-7) (keys +8-15, d +8-15)
        // = b0, b1 of key tile 2·ntp, then b0, b1 of key tile 2·ntp + 1.
        uint32_t bk[4];
        LdMatrixX4(bk, &k_s[ntp * 16 + lm_row + lm_sel_b * 8][kk * 16 + lm_sel_a * 8]);
        MmaBf16(s_acc[2 * ntp], q_frag[kk], bk[0], bk[1]);
        MmaBf16(s_acc[2 * ntp + 1], q_frag[kk], bk[2], bk[3]);
      }
    }
    // key0 relative to the queries' positions, so the mask below compares with the row index.
    const int rel0 = key0 - q_offset;
    const bool diagonal = rel0 + kBlockN - 1 > m_tile * kBlockM;
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        float sc = s_acc[nt][r] * scale_log2;
        if (diagonal) {
          const int key = rel0 + nt * 8 + 2 * i4 + (r & 1);
          const int row = row0 + ((r & 2) ? 8 : 0);
          if (key > row) sc = -INFINITY;
        }
        s_acc[nt][r] = sc;
        tile_max[r >> 1] = fmaxf(tile_max[r >> 1], sc);
      }
    }
    float alpha[2];
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      tile_max[hr] = fmaxf(tile_max[hr], __shfl_xor_sync(0xffffffffu, tile_max[hr], 1));
      tile_max[hr] = fmaxf(tile_max[hr], __shfl_xor_sync(0xffffffffu, tile_max[hr], 2));
      const float m_new = fmaxf(m_run[hr], tile_max[hr]);
      alpha[hr] = exp2f(m_run[hr] - m_new);
      m_run[hr] = m_new;
      l_run[hr] *= alpha[hr];
    }
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const float p = exp2f(s_acc[nt][r] - m_run[r >> 1]);
        s_acc[nt][r] = p;
        l_run[r >> 1] += p;
      }
    }
#pragma unroll
    for (int dn = 0; dn < D / 8; ++dn) {
      o_acc[dn][0] *= alpha[0];
      o_acc[dn][1] *= alpha[0];
      o_acc[dn][2] *= alpha[1];
      o_acc[dn][3] *= alpha[1];
    }
#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk) {
      const uint32_t a[4] = {PackBf16(s_acc[2 * kk][0], s_acc[2 * kk][1]),
                             PackBf16(s_acc[2 * kk][2], s_acc[2 * kk][3]),
                             PackBf16(s_acc[2 * kk + 1][0], s_acc[2 * kk + 1][1]),
                             PackBf16(s_acc[2 * kk + 1][2], s_acc[2 * kk + 1][3])};
#pragma unroll
      for (int dnp = 0; dnp < D / 16; ++dnp) {
        // Transposed matrices: (keys +0-7, d +0-7) (keys +8-15, d +0-7) (keys +0-7, d +8-15)
        // (keys +8-15, d +8-15) = b0, b1 of d tile 2·dnp, then b0, b1 of d tile 2·dnp + 1.
        uint32_t bv[4];
        LdMatrixX4Trans(bv, &v_s[kk * 16 + lm_row + lm_sel_a * 8][dnp * 16 + lm_sel_b * 8]);
        MmaBf16(o_acc[2 * dnp], a, bv[0], bv[1]);
        MmaBf16(o_acc[2 * dnp + 1], a, bv[2], bv[3]);
      }
    }
    if constexpr (kStages == 2) __syncthreads();  // all warps done with this stage
  }

#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    l_run[hr] += __shfl_xor_sync(0xffffffffu, l_run[hr], 1);
    l_run[hr] += __shfl_xor_sync(0xffffffffu, l_run[hr], 2);
  }
  const int64_t out_stride = static_cast<int64_t>(heads) * D;
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    const int row = row0 + hr * 8;
    if (row >= q_len) continue;
    const float inv = 1.f / l_run[hr];
    __nv_bfloat16* dst = out + (static_cast<int64_t>(b) * q_len + row) * out_stride + h * D;
#pragma unroll
    for (int dn = 0; dn < D / 8; ++dn) {
      *reinterpret_cast<__nv_bfloat162*>(dst + dn * 8 + 2 * i4) =
          __floats2bfloat162_rn(o_acc[dn][2 * hr] * inv, o_acc[dn][2 * hr + 1] * inv);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// fp32 kernel: one thread per query row, keys staged in shared memory in tiles of 32.
constexpr int kPlainRows = 64;
constexpr int kPlainKeys = 32;

template <int D>
__global__ void __launch_bounds__(kPlainRows)
    PlainAttentionKernel(const float* __restrict__ q, const float* __restrict__ k,
                         const float* __restrict__ v, float* __restrict__ out, int heads,
                         int kv_heads, int q_len, int kv_len, int q_offset, float scale) {
  __shared__ float k_s[kPlainKeys][D];
  __shared__ float v_s[kPlainKeys][D];
  const int h = blockIdx.y;
  const int b = blockIdx.z;
  const int row = blockIdx.x * kPlainRows + threadIdx.x;
  const int64_t head_off = (static_cast<int64_t>(b) * heads + h) * q_len * D;
  const int64_t kv_off = (static_cast<int64_t>(b) * kv_heads + h / (heads / kv_heads)) * kv_len * D;
  float qr[D], acc[D];
#pragma unroll
  for (int i = 0; i < D; ++i) {
    qr[i] = row < q_len ? q[head_off + static_cast<int64_t>(row) * D + i] * scale : 0.f;
    acc[i] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  // Row r (position q_offset + r) sees keys 0 … q_offset + r; none past the last query's.
  const int last_key =
      q_offset + min(q_len - 1, static_cast<int>(blockIdx.x) * kPlainRows + kPlainRows - 1);
  for (int key0 = 0; key0 <= last_key; key0 += kPlainKeys) {
    __syncthreads();
    for (int idx = threadIdx.x; idx < kPlainKeys * D; idx += kPlainRows) {
      const int r = idx / D, c = idx - (idx / D) * D;
      const int key = key0 + r;
      k_s[r][c] = key <= last_key ? k[kv_off + static_cast<int64_t>(key) * D + c] : 0.f;
      v_s[r][c] = key <= last_key ? v[kv_off + static_cast<int64_t>(key) * D + c] : 0.f;
    }
    __syncthreads();
    for (int r = 0; r < kPlainKeys; ++r) {
      const int key = key0 + r;
      if (key > q_offset + row || key > last_key) break;
      float s = 0.f;
#pragma unroll
      for (int i = 0; i < D; ++i) s = fmaf(qr[i], k_s[r][i], s);
      const float m_new = fmaxf(m, s);
      const float alpha = expf(m - m_new);
      const float p = expf(s - m_new);
      l = l * alpha + p;
#pragma unroll
      for (int i = 0; i < D; ++i) acc[i] = fmaf(p, v_s[r][i], acc[i] * alpha);
      m = m_new;
    }
  }
  if (row >= q_len) return;
  float* dst =
      out + (static_cast<int64_t>(b) * q_len + row) * heads * D + static_cast<int64_t>(h) * D;
#pragma unroll
  for (int i = 0; i < D; ++i) dst[i] = acc[i] / l;
}

// The sizes every kernel takes (int: the launcher checks they fit).
struct AttentionDims {
  int heads, kv_heads, q_len, kv_len, q_offset;
};

template <int D, int kStages>
absl::Status LaunchV2(dim3 grid, cudaStream_t stream, const __nv_bfloat16* q,
                      const __nv_bfloat16* k, const __nv_bfloat16* v, __nv_bfloat16* out,
                      const AttentionDims& n, float scale_log2) {
  constexpr size_t bytes = V2SharedBytes<D, kStages>();
  CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(FlashAttentionBf16V2Kernel<D, kStages>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(bytes)));
  FlashAttentionBf16V2Kernel<D, kStages>
      <<<grid, kWarps * 32, bytes, stream>>>(q, k, v, out, n.heads, n.kv_heads, n.q_len, n.kv_len,
                                             n.q_offset, n.q_offset + n.q_len, scale_log2);
  return absl::OkStatus();
}

template <int D>
absl::Status LaunchBf16(AttentionVariant variant, dim3 grid, cudaStream_t stream,
                        const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
                        __nv_bfloat16* out, const AttentionDims& n, float scale_log2) {
  switch (variant) {
    case AttentionVariant::kMmaLdmatrix:
      return LaunchV2<D, 1>(grid, stream, q, k, v, out, n, scale_log2);
    default:
      return LaunchV2<D, 2>(grid, stream, q, k, v, out, n, scale_log2);
  }
}

absl::Status CheckShape(const void* q, const void* k, const void* v, const void* out, int64_t batch,
                        int64_t heads, int64_t kv_heads, int64_t q_len, int64_t kv_len,
                        int64_t q_offset, int64_t head_dim) {
  if (q == nullptr || k == nullptr || v == nullptr || out == nullptr)
    return absl::InvalidArgumentError("attention: null pointer");
  if (batch < 0 || heads <= 0 || q_len < 0 || kv_len > (1 << 30) || batch > 65535 || heads > 65535)
    return absl::InvalidArgumentError(absl::StrCat(
        "attention: bad shape B=", batch, " heads=", heads, " S=", q_len, " keys=", kv_len));
  if (q_offset < 0 || kv_len < q_offset + q_len)
    return absl::InvalidArgumentError(absl::StrCat("attention: ", q_len, " queries at offset ",
                                                   q_offset, " need at least ", q_offset + q_len,
                                                   " keys, got ", kv_len));
  if (kv_heads <= 0 || heads % kv_heads != 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "attention: ", heads, " query heads are not a multiple of ", kv_heads, " KV heads"));
  if (head_dim != 16 && head_dim != 32 && head_dim != 64 && head_dim != 128)
    return absl::UnimplementedError(
        absl::StrCat("attention: head dim ", head_dim, " is not compiled (16, 32, 64, 128)"));
  return absl::OkStatus();
}

}  // namespace

template <>
absl::Status LaunchCausalGqaAttentionAtOffset<__nv_bfloat16>(
    const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v, __nv_bfloat16* out,
    int64_t batch, int64_t heads, int64_t kv_heads, int64_t q_len, int64_t kv_len, int64_t q_offset,
    int64_t head_dim, cudaStream_t stream, AttentionVariant variant) {
  RETURN_IF_ERROR(
      CheckShape(q, k, v, out, batch, heads, kv_heads, q_len, kv_len, q_offset, head_dim));
  if (batch == 0 || q_len == 0) return absl::OkStatus();
  const dim3 grid(static_cast<unsigned>((q_len + kBlockM - 1) / kBlockM),
                  static_cast<unsigned>(heads), static_cast<unsigned>(batch));
  const float scale_log2 = kLog2e / std::sqrt(static_cast<float>(head_dim));
  const AttentionDims n{static_cast<int>(heads), static_cast<int>(kv_heads),
                        static_cast<int>(q_len), static_cast<int>(kv_len),
                        static_cast<int>(q_offset)};
  switch (head_dim) {
    case 16:
      RETURN_IF_ERROR(LaunchBf16<16>(variant, grid, stream, q, k, v, out, n, scale_log2));
      break;
    case 32:
      RETURN_IF_ERROR(LaunchBf16<32>(variant, grid, stream, q, k, v, out, n, scale_log2));
      break;
    case 64:
      RETURN_IF_ERROR(LaunchBf16<64>(variant, grid, stream, q, k, v, out, n, scale_log2));
      break;
    default:
      RETURN_IF_ERROR(LaunchBf16<128>(variant, grid, stream, q, k, v, out, n, scale_log2));
      break;
  }
  RETURN_IF_LAUNCH_FAILED("attention bf16");
  return absl::OkStatus();
}

template <>
absl::Status LaunchCausalGqaAttentionAtOffset<float>(
    const float* q, const float* k, const float* v, float* out, int64_t batch, int64_t heads,
    int64_t kv_heads, int64_t q_len, int64_t kv_len, int64_t q_offset, int64_t head_dim,
    cudaStream_t stream, AttentionVariant /*variant: one fp32 kernel*/) {
  RETURN_IF_ERROR(
      CheckShape(q, k, v, out, batch, heads, kv_heads, q_len, kv_len, q_offset, head_dim));
  if (batch == 0 || q_len == 0) return absl::OkStatus();
  const dim3 grid(static_cast<unsigned>((q_len + kPlainRows - 1) / kPlainRows),
                  static_cast<unsigned>(heads), static_cast<unsigned>(batch));
  const float scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  const int hh = static_cast<int>(heads), kv = static_cast<int>(kv_heads);
  const int ql = static_cast<int>(q_len), kl = static_cast<int>(kv_len);
  const int q0 = static_cast<int>(q_offset);
  switch (head_dim) {
    case 16:
      PlainAttentionKernel<16>
          <<<grid, kPlainRows, 0, stream>>>(q, k, v, out, hh, kv, ql, kl, q0, scale);
      break;
    case 32:
      PlainAttentionKernel<32>
          <<<grid, kPlainRows, 0, stream>>>(q, k, v, out, hh, kv, ql, kl, q0, scale);
      break;
    case 64:
      PlainAttentionKernel<64>
          <<<grid, kPlainRows, 0, stream>>>(q, k, v, out, hh, kv, ql, kl, q0, scale);
      break;
    default:
      PlainAttentionKernel<128>
          <<<grid, kPlainRows, 0, stream>>>(q, k, v, out, hh, kv, ql, kl, q0, scale);
      break;
  }
  RETURN_IF_LAUNCH_FAILED("attention fp32");
  return absl::OkStatus();
}

template <typename T>
absl::Status LaunchCausalGqaAttention(const T* q, const T* k, const T* v, T* out, int64_t batch,
                                      int64_t heads, int64_t kv_heads, int64_t seq,
                                      int64_t head_dim, cudaStream_t stream,
                                      AttentionVariant variant) {
  return LaunchCausalGqaAttentionAtOffset<T>(q, k, v, out, batch, heads, kv_heads, seq, seq,
                                             /*q_offset=*/0, head_dim, stream, variant);
}

template <typename T>
absl::Status LaunchCausalAttention(const T* q, const T* k, const T* v, T* out, int64_t batch,
                                   int64_t heads, int64_t seq, int64_t head_dim,
                                   cudaStream_t stream, AttentionVariant variant) {
  return LaunchCausalGqaAttention<T>(q, k, v, out, batch, heads, heads, seq, head_dim, stream,
                                     variant);
}

#define EVO2_INSTANTIATE(T)                                                                    \
  template absl::Status LaunchCausalGqaAttention<T>(const T*, const T*, const T*, T*, int64_t, \
                                                    int64_t, int64_t, int64_t, int64_t,        \
                                                    cudaStream_t, AttentionVariant);           \
  template absl::Status LaunchCausalAttention<T>(const T*, const T*, const T*, T*, int64_t,    \
                                                 int64_t, int64_t, int64_t, cudaStream_t,      \
                                                 AttentionVariant);
EVO2_INSTANTIATE(float)
EVO2_INSTANTIATE(__nv_bfloat16)
#undef EVO2_INSTANTIATE

}  // namespace evo2::kernels
