#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "kernels/bulk_copy.cuh"
#include "kernels/cooperative_launch.cuh"
#include "kernels/cuda_status.cuh"
#include "kernels/decode_program.cuh"
#include "kernels/decode_program_trace.cuh"
#include "kernels/element.cuh"
#include "kernels/gate_activation.cuh"
#include "kernels/hyena_featurize_step.cuh"
#include "kernels/hyena_long.cuh"

namespace evo2::kernels {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kConsumerWarps = 16;
constexpr int kConsumers = 32 * kConsumerWarps;
constexpr int kThreads = kConsumers + 32;  // + the producer warp
constexpr int kStages = 3;
constexpr int kMaxRowsPerStage = kConsumerWarps;
constexpr int kModes = kHyenaLongModes;
// Shared memory the kernel asks for (the H100's opt-in maximum is 227 KiB per block).
constexpr int kSmemBytes = 224 * 1024;
// What the stages leave for the input row, the partial sums and the per-CTA results.
constexpr int kInputBytesMax = 24 * 1024;
constexpr int kResultFloatsMax = 1024;
// A normed input row is read once into registers: at most this many values per consumer.
constexpr int kNormedValuesPerThread = 16;
constexpr int kStageBytes =
    ((kSmemBytes - kInputBytesMax - 4 * kResultFloatsMax - 2 * kMaxRowsPerStage * 4 - 256) /
     kStages) &
    ~127;

// The 16 consumer warps only (the producer warp never joins): named barrier 1.
__device__ __forceinline__ void ConsumerSync() {
  asm volatile("bar.sync 1, %0;" ::"n"(kConsumers) : "memory");
}

// ---- the schedule both roles walk ----

// This CTA's rows of an op's weight matrix: one or two contiguous runs (kGatedStore: its l1
// rows, then the same outputs' l2 rows). `units` are outputs (channels for kHyenaStep).
struct CtaRows {
  int64_t unit0 = 0;
  int units = 0;
  int64_t first[2] = {0, 0};
  int count[2] = {0, 0};
  int runs = 1;
};

__device__ __forceinline__ CtaRows RowsOf(const DecodeOp& op) {
  const bool hyena = op.output == DecodeOpOutput::kHyenaStep;
  const int64_t units = hyena ? op.out / 3 : op.out;
  const int64_t u0 = units * blockIdx.x / gridDim.x;
  const int64_t u1 = units * (blockIdx.x + 1) / gridDim.x;
  CtaRows r;
  r.unit0 = u0;
  r.units = static_cast<int>(u1 - u0);
  const int per = hyena ? 3 : 1;
  r.first[0] = u0 * per;
  r.count[0] = r.units * per;
  if (op.output == DecodeOpOutput::kGatedStore) {
    r.runs = 2;
    r.first[1] = op.out + u0;
    r.count[1] = r.units;
  }
  return r;
}

// Bytes of one weight row: 2 per bf16 weight, 1 per E4M3 code.
__device__ __host__ __forceinline__ int64_t RowBytes(const DecodeOp& op) {
  return static_cast<int64_t>(op.in) * (op.w_inv_scale != nullptr ? 1 : 2);
}

__device__ __forceinline__ int RowsPerStage(const DecodeOp& op) {
  return min(kMaxRowsPerStage, static_cast<int>(kStageBytes / RowBytes(op)));
}

// Warps per row in a stage of n rows: the largest power of two with n·w ≤ 16.
__device__ __forceinline__ int WarpsPerRow(int n) {
  int w = 1;
  while (2 * w * n <= kConsumerWarps) w *= 2;
  return w;
}

// Where the producer is in a segment's stages: op, run, first row of the next stage. The
// consumers walk the same order with nested loops (op → run → stage).
struct StageCursor {
  int op = 0, run = 0, row = 0;
};
struct StageBytes {
  const char* src = nullptr;
  uint32_t bytes = 0;
};

// The weight bytes of the cursor's stage, and advances it; false past the last stage.
__device__ bool NextStage(const DecodeSegment& seg, StageCursor& c, StageBytes& out) {
  while (c.op < seg.n_ops) {
    const DecodeOp& op = seg.ops[c.op];
    const CtaRows rows = RowsOf(op);
    if (c.run < rows.runs && c.row < rows.count[c.run]) {
      const int n = min(RowsPerStage(op), rows.count[c.run] - c.row);
      const int64_t row_bytes = RowBytes(op);
      out.src = static_cast<const char*>(op.w) + (rows.first[c.run] + c.row) * row_bytes;
      out.bytes = static_cast<uint32_t>(n * row_bytes);
      c.row += n;
      return true;
    }
    c.row = 0;
    if (++c.run >= rows.runs) {
      c.run = 0;
      ++c.op;
    }
  }
  return false;
}

// ---- consumer parts ----

// Every 128-byte line of [p, p + bytes) into this SM's L1, the lines dealt round-robin over the
// consumers; `line` counts the lines dealt so far (the same in every thread).
__device__ __forceinline__ void PrefetchL1(const void* p, int64_t bytes, int64_t& line) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{127};
  const auto lines = static_cast<int64_t>(
      (reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(bytes) - first + 127) / 128);
  for (int64_t l = (threadIdx.x - line % kConsumers + kConsumers) % kConsumers; l < lines;
       l += kConsumers)
    asm volatile("prefetch.global.L1 [%0];" ::"l"(first + 128 * l));
  line += lines;
}

// What the op reads besides its input row and weights and nobody writes during the launch (the
// norm scale; this CTA's channels' Hyena filters and state, which only this CTA touches), into
// L1 while the CTA waits at the grid barrier: under the weight stream a read that misses L2
// waits behind it, and the epilogue's reads depend on each other.
__device__ void PrefetchSideData(const DecodeOp& op, const CtaRows& rows) {
  int64_t line = 0;
  if (op.input == DecodeOpInput::kNormedResidual) PrefetchL1(op.norm_scale, 2 * op.in, line);
  if (op.output != DecodeOpOutput::kHyenaStep || rows.units <= 0) return;
  const HyenaStepArgs& h = op.hyena;
  const int64_t H = op.out / 3, c0 = rows.unit0, nc = rows.units;
  PrefetchL1(h.short_taps + 9 * c0, 36 * nc, line);
  for (int slot = 0; slot < 2; ++slot)
    PrefetchL1(static_cast<const bf16*>(h.proj_tail) + slot * 3 * H + 3 * c0, 6 * nc, line);
  if (h.fir_taps != nullptr) {
    const int64_t per_group = H / h.groups;
    const int64_t g0 = c0 / per_group, g1 = (c0 + nc - 1) / per_group;
    PrefetchL1(h.fir_taps + g0 * h.taps, 4 * (g1 - g0 + 1) * h.taps, line);
    for (int64_t slot = 0; slot < h.taps - 1; ++slot)
      PrefetchL1(static_cast<const bf16*>(h.fir_tail) + slot * H + c0, 2 * nc, line);
    if (h.skip_d != nullptr) PrefetchL1(h.skip_d + c0, 4 * nc, line);
  } else {
    for (int m = 0; m < kModes; ++m) PrefetchL1(h.modal + m * H + c0, 4 * nc, line);
    PrefetchL1(h.log_poles + kModes * c0, 4 * kModes * nc, line);
    PrefetchL1(h.residues + kModes * c0, 4 * kModes * nc, line);
    PrefetchL1(h.skip_d + c0, 4 * nc, line);
  }
}

__device__ __forceinline__ float ConsumerSum(float v, float* red) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  ConsumerSync();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < kConsumerWarps; ++w) total += red[w];
  ConsumerSync();  // red is reused
  return total;
}

// x̂ [in] bf16 into shared memory. Activations written by other CTAs in this launch are read
// through L2 (__ldcg): this SM's L1 may hold an older copy.
__device__ void FormInput(const DecodeOp& op, bf16* xhat, float* red) {
  const int K = op.in;
  if (op.input == DecodeOpInput::kNormedResidual) {
    const float* x = static_cast<const float*>(op.x);
    const bf16* scale = static_cast<const bf16*>(op.norm_scale);
    // One read of the residual (in registers across the reduction): each read is a trip to L2.
    float v[kNormedValuesPerThread];
    float ss = 0.f;
#pragma unroll
    for (int j = 0; j < kNormedValuesPerThread; ++j) {
      const int k = threadIdx.x + j * kConsumers;
      v[j] = k < K ? __ldcg(x + k) : 0.f;
      ss += v[j] * v[j];
    }
    const float inv = 1.f / (sqrtf(ConsumerSum(ss, red) / static_cast<float>(K)) + op.eps);
#pragma unroll
    for (int j = 0; j < kNormedValuesPerThread; ++j) {
      const int k = threadIdx.x + j * kConsumers;
      if (k < K) xhat[k] = FromFloat<bf16>(ToFloat(scale[k]) * (v[j] * inv));
    }
  } else {
    const unsigned short* x = static_cast<const unsigned short*>(op.x);
    unsigned short* dst = reinterpret_cast<unsigned short*>(xhat);
    for (int k = threadIdx.x; k < K; k += kConsumers) dst[k] = __ldcg(x + k);
  }
  ConsumerSync();
}

__device__ __forceinline__ float Dot8(const uint4& w, const uint4& x, float acc) {
  const bf16* we = reinterpret_cast<const bf16*>(&w);
  const bf16* xe = reinterpret_cast<const bf16*>(&x);
#pragma unroll
  for (int e = 0; e < 8; ++e) acc = fmaf(ToFloat(xe[e]), ToFloat(we[e]), acc);
  return acc;
}

// 16 E4M3 codes against x̂[16c, 16c + 16) (two 16-byte chunks of bf16).
__device__ __forceinline__ float Dot16E4M3(const uint4& w, const uint4& x0, const uint4& x1,
                                           float acc) {
  const auto* codes = reinterpret_cast<const __nv_fp8x2_storage_t*>(&w);
  const bf16* xa = reinterpret_cast<const bf16*>(&x0);
  const bf16* xb = reinterpret_cast<const bf16*>(&x1);
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    const float2 f = __half22float2(__half2(__nv_cvt_fp8x2_to_halfraw2(codes[e], __NV_E4M3)));
    const bf16* xe = e < 4 ? xa + 2 * e : xb + 2 * (e - 4);  // exact: E4M3 ⊂ fp16
    acc = fmaf(ToFloat(xe[0]), f.x, acc);
    acc = fmaf(ToFloat(xe[1]), f.y, acc);
  }
  return acc;
}

// One stage of n rows in shared memory: warp (row, part) sums its share of the row's 16-byte
// chunks, loading 8 chunks per lane before their FMAs.
__device__ __forceinline__ void StageDots(const char* rows, int n, const DecodeOp& op,
                                          const bf16* xhat, float* partial) {
  constexpr int kDepth = 8;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int parts = WarpsPerRow(n);
  if (warp >= n * parts) return;
  const int row = warp / parts, part = warp % parts;
  const bool e4m3 = op.w_inv_scale != nullptr;
  const int chunks = static_cast<int>(RowBytes(op) / 16);
  const int c0 = part * chunks / parts, c1 = (part + 1) * chunks / parts;
  const uint4* w = reinterpret_cast<const uint4*>(rows + row * RowBytes(op));
  const uint4* x = reinterpret_cast<const uint4*>(xhat);
  float acc = 0.f;
  for (int c = c0 + lane; c < c1; c += 32 * kDepth) {
    uint4 wv[kDepth];
#pragma unroll
    for (int u = 0; u < kDepth; ++u)
      wv[u] = c + 32 * u < c1 ? w[c + 32 * u] : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int u = 0; u < kDepth; ++u) {
      const int cu = c + 32 * u;
      if (cu >= c1) break;
      acc = e4m3 ? Dot16E4M3(wv[u], x[2 * cu], x[2 * cu + 1], acc) : Dot8(wv[u], x[cu], acc);
    }
  }
  for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (lane == 0) partial[warp] = acc;
}

// The Hyena mixer step of channel c (hyena_step.cuh), one warp per channel: lane 0 runs the
// featurizer (hyena_featurize_step.cuh), the lanes share the FIR taps or the 16 modes.
// p[3] = the projections, already rounded to bf16.
__device__ void HyenaChannelStep(const DecodeOp& op, int64_t c, int t, const float* p) {
  const int lane = threadIdx.x & 31;
  const int64_t H = op.out / 3;
  float q = 0.f, a = 0.f;
  if (lane == 0) {
    FeaturizeStep<bf16>([&](int r) { return FromFloat<bf16>(p[r]); }, op.hyena.short_taps,
                        static_cast<bf16*>(op.hyena.proj_tail), 0, static_cast<int>(c),
                        static_cast<int>(H), t, q, a);
  }
  q = __shfl_sync(0xffffffffu, q, 0);
  a = __shfl_sync(0xffffffffu, a, 0);
  bf16* out = static_cast<bf16*>(op.y);
  if (op.hyena.fir_taps != nullptr) {
    const int K = static_cast<int>(op.hyena.taps), n = K - 1;
    bf16* tail = static_cast<bf16*>(op.hyena.fir_tail) + c;
    const float* h = op.hyena.fir_taps + (c / (H / op.hyena.groups)) * K;
    float acc = 0.f;
    for (int k = 1 + lane; k < K; k += 32) {
      const int tau = t - k;
      if (tau >= 0) acc = fmaf(h[k], ToFloat(tail[static_cast<int64_t>(tau % n) * H]), acc);
    }
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    __syncwarp();  // every lane has read slot t mod n (a[t − n]) before it is overwritten
    if (lane == 0) {
      acc = fmaf(h[0], a, acc);
      tail[static_cast<int64_t>(t % n) * H] = FromFloat<bf16>(a);
      const float d = op.hyena.skip_d != nullptr ? op.hyena.skip_d[c] : 0.f;
      out[c] = FromFloat<bf16>(q * Round<bf16>(acc + d * a));
    }
  } else {
    float y = 0.f;
    if (lane < kModes) {
      float* s = op.hyena.modal + static_cast<int64_t>(lane) * H + c;
      const float sn = fmaf(expf(op.hyena.log_poles[c * kModes + lane]), *s, a);
      *s = sn;
      y = op.hyena.residues[c * kModes + lane] * sn;
    }
    for (int off = 16; off > 0; off >>= 1) y += __shfl_xor_sync(0xffffffffu, y, off);
    if (lane == 0) {
      const float gated = Round<bf16>(Round<bf16>(y) + Round<bf16>(op.hyena.skip_d[c] * a)) * q;
      out[c] = FromFloat<bf16>(gated);
    }
  }
}

// What the op does with this CTA's sums res[run][row].
__device__ void Epilogue(const DecodeOp& op, const CtaRows& rows, const float* res, int stride,
                         int t) {
  const int tid = threadIdx.x;
  switch (op.output) {
    case DecodeOpOutput::kStore: {
      bf16* y = static_cast<bf16*>(op.y) + rows.first[0];
      for (int i = tid; i < rows.count[0]; i += kConsumers) y[i] = FromFloat<bf16>(res[i]);
      break;
    }
    case DecodeOpOutput::kResidualAdd: {
      float* x = static_cast<float*>(op.y) + rows.first[0];
      const bf16* bias = static_cast<const bf16*>(op.bias);
      for (int i = tid; i < rows.count[0]; i += kConsumers) {
        const float b = bias != nullptr ? ToFloat(bias[rows.first[0] + i]) : 0.f;
        x[i] = (__ldcg(x + i) + res[i]) + b;
      }
      break;
    }
    case DecodeOpOutput::kGatedStore: {
      bf16* y = static_cast<bf16*>(op.y) + rows.unit0;
      for (int i = tid; i < rows.units; i += kConsumers) {
        const float l1 = GateActivation<bf16>(Round<bf16>(res[i]), op.gelu != 0);
        y[i] = FromFloat<bf16>(l1 * Round<bf16>(res[stride + i]));
      }
      break;
    }
    case DecodeOpOutput::kHyenaStep: {
      for (int i = tid >> 5; i < rows.units; i += kConsumerWarps) {
        const float p[3] = {Round<bf16>(res[3 * i]), Round<bf16>(res[3 * i + 1]),
                            Round<bf16>(res[3 * i + 2])};
        HyenaChannelStep(op, rows.unit0 + i, t, p);
      }
      break;
    }
  }
}

struct SharedLayout {
  char* stage[kStages];
  bf16* xhat;
  float* partial;  // [2][kMaxRowsPerStage] (double-buffered across stages)
  float* res;      // [2][stride]
  float* red;      // [kConsumerWarps]
  uint64_t* full;  // [kStages]
  uint64_t* empty;
};

__device__ SharedLayout Carve(char* smem, int stride) {
  SharedLayout s;
  char* p = smem;
  for (int i = 0; i < kStages; ++i, p += kStageBytes) s.stage[i] = p;
  s.xhat = reinterpret_cast<bf16*>(p);
  p += kInputBytesMax;
  s.res = reinterpret_cast<float*>(p);
  p += 2 * stride * sizeof(float);
  s.partial = reinterpret_cast<float*>(p);
  p += 2 * kMaxRowsPerStage * sizeof(float);
  s.red = reinterpret_cast<float*>(p);
  p += kConsumerWarps * sizeof(float);
  p = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(p) + 7) & ~uintptr_t{7});
  s.full = reinterpret_cast<uint64_t*>(p);
  s.empty = s.full + kStages;
  return s;
}

__global__ void __launch_bounds__(kThreads, 1)
    DecodeProgramKernel(const __grid_constant__ DecodeSegment seg, int stride) {
  extern __shared__ __align__(128) char smem[];
  const SharedLayout s = Carve(smem, stride);
  if (threadIdx.x == 0) {
    for (int i = 0; i < kStages; ++i) {
      BarrierInit(&s.full[i], 1);   // the producer's expect-bytes arrival (+ the copy's bytes)
      BarrierInit(&s.empty[i], 1);  // one consumer arrival once the stage is read
    }
    FenceBarrierInit();
  }
  __syncthreads();

  if (threadIdx.x >= kConsumers) {  // the producer warp: one lane streams the weights
    if (threadIdx.x != kConsumers) return;
    StageCursor cursor;
    StageBytes next;
    for (uint32_t use = 0; NextStage(seg, cursor, next); ++use) {
      const int st = static_cast<int>(use % kStages);
      if (use >= kStages) BarrierWait(&s.empty[st], ((use / kStages) - 1) & 1);
      BarrierExpectBytes(&s.full[st], next.bytes);
      BulkCopy(s.stage[st], next.src, next.bytes, &s.full[st]);
    }
    return;
  }

  PhaseClock phases;
  const int t = *seg.position;
  uint32_t use = 0;
  __shared__ DecodeOp op_copy[2];
  static_assert(sizeof(DecodeOp) % 4 == 0);
  for (int i = 0; i < seg.n_ops; ++i) {
    // The consumers read the op from shared memory: a kernel parameter indexed at run time is
    // read through the constant cache, which the segment (up to 48 ops) may overflow.
    // Two copies, so that writing op i cannot race with the epilogue of op i − 1.
    const auto* src = reinterpret_cast<const uint32_t*>(&seg.ops[i]);
    auto* dst = reinterpret_cast<uint32_t*>(&op_copy[i & 1]);
    for (int w = threadIdx.x; w < static_cast<int>(sizeof(DecodeOp) / 4); w += kConsumers)
      dst[w] = src[w];
    ConsumerSync();  // the copy is complete
    const DecodeOp& op = op_copy[i & 1];
    const CtaRows rows = RowsOf(op);
    PrefetchSideData(op, rows);
    if (i > 0) {  // grid barrier: op i reads what every CTA wrote in op i − 1
      if (threadIdx.x == 0) GridArriveAndWait(seg.barrier);
      ConsumerSync();
    }
    phases.Mark(DecodePhase::kBarrier);
    FormInput(op, s.xhat, s.red);
    phases.Mark(DecodePhase::kInput);
    const int n = RowsPerStage(op);
#pragma unroll
    for (int run = 0; run < 2; ++run) {  // unrolled: rows.first / count stay in registers
      if (run >= rows.runs) break;
      for (int r = 0; r < rows.count[run]; r += n, ++use) {
        const int st = static_cast<int>(use % kStages);
        const int cnt = min(n, rows.count[run] - r);
        float* partial = s.partial + (use & 1) * kMaxRowsPerStage;
        BarrierWait(&s.full[st], (use / kStages) & 1);
        phases.Mark(DecodePhase::kStageWait);
        StageDots(s.stage[st], cnt, op, s.xhat, partial);
        ConsumerSync();
        if (threadIdx.x == 0) BarrierArrive(&s.empty[st]);  // the stage may be refilled
        if (threadIdx.x < cnt) {
          const int parts = WarpsPerRow(cnt);
          float sum = 0.f;
          for (int p = 0; p < parts; ++p) sum += partial[threadIdx.x * parts + p];
          if (op.w_inv_scale != nullptr)
            sum *= op.w_inv_scale[rows.first[run] + r + threadIdx.x];  // one scale per row
          s.res[run * stride + r + threadIdx.x] = sum;
        }
        phases.Mark(DecodePhase::kDots);
      }
    }
    ConsumerSync();  // every row's sum is in res
    phases.Mark(DecodePhase::kLastSync);
    Epilogue(op, rows, s.res, stride, t);
    if (op.output == DecodeOpOutput::kHyenaStep)  // constant phases keep the sums in registers
      phases.Mark(DecodePhase::kHyenaEpilogue);
    else
      phases.Mark(DecodePhase::kOtherEpilogue);
  }
  phases.Flush();
}

}  // namespace

absl::Status DecodeProgramAvailable() {
  int device = 0, major = 0, coop = 0, smem = 0;
  CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, device));
  CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (major < 9) return absl::UnimplementedError("decode program: needs sm_90 (bulk async copies)");
  if (coop == 0) return absl::UnimplementedError("decode program: no cooperative launches");
  // The ring and buffers, plus the kernel's two static copies of an op.
  constexpr int kNeeded = kSmemBytes + 2 * static_cast<int>(sizeof(DecodeOp));
  if (smem < kNeeded)
    return absl::UnimplementedError(absl::StrCat("decode program: needs ", kNeeded,
                                                 " bytes of shared memory per block, has ", smem));
  return absl::OkStatus();
}

absl::Status CheckDecodeOp(const DecodeOp& op) {
  if (op.w == nullptr || op.x == nullptr || op.y == nullptr ||
      (op.input == DecodeOpInput::kNormedResidual && op.norm_scale == nullptr))
    return absl::InvalidArgumentError("decode program: null pointer");
  if (op.in <= 0 || op.out <= 0)
    return absl::InvalidArgumentError(
        absl::StrCat("decode program: bad shape in=", op.in, " out=", op.out));
  if (RowBytes(op) % 16 != 0 || op.in % 8 != 0 || reinterpret_cast<uintptr_t>(op.w) % 16 != 0)
    return absl::UnimplementedError(absl::StrCat(
        "decode program: in=", op.in, " (needs 16-byte weight rows and a 16-byte aligned matrix)"));
  if (op.input == DecodeOpInput::kNormedResidual && op.in > kNormedValuesPerThread * kConsumers)
    return absl::UnimplementedError(absl::StrCat("decode program: normed input in=", op.in,
                                                 " above ", kNormedValuesPerThread * kConsumers));
  if (op.in * static_cast<int64_t>(sizeof(bf16)) > kInputBytesMax || RowBytes(op) > kStageBytes)
    return absl::UnimplementedError(absl::StrCat("decode program: in=", op.in, " above ",
                                                 kInputBytesMax / 2, " (one row per stage)"));
  if (op.output == DecodeOpOutput::kHyenaStep) {
    const int64_t H = op.out / 3;
    if (op.out % 3 != 0 || op.hyena.short_taps == nullptr || op.hyena.proj_tail == nullptr)
      return absl::InvalidArgumentError("decode program: Hyena step needs out = 3H and its rings");
    if (op.hyena.fir_taps != nullptr) {
      if (op.hyena.fir_tail == nullptr || op.hyena.taps < 2 || op.hyena.taps > 128 ||
          op.hyena.groups <= 0 || H % op.hyena.groups != 0)
        return absl::InvalidArgumentError(absl::StrCat("decode program: FIR K=", op.hyena.taps,
                                                       " G=", op.hyena.groups, " H=", H));
    } else if (op.hyena.log_poles == nullptr || op.hyena.residues == nullptr ||
               op.hyena.modal == nullptr || op.hyena.skip_d == nullptr) {
      return absl::InvalidArgumentError("decode program: modal step needs poles, residues, D");
    }
  }
  return absl::OkStatus();
}

namespace {

// The most result rows any CTA owns in one op and run (× 3 for a Hyena step's channels).
absl::StatusOr<int> ResultStride(const DecodeSegment& segment, int grid) {
  if (segment.n_ops <= 0 || segment.n_ops > kDecodeProgramMaxOps || segment.position == nullptr ||
      segment.barrier == nullptr)
    return absl::InvalidArgumentError(
        absl::StrCat("decode program: bad segment of ", segment.n_ops, " ops"));
  int stride = 0;
  for (int i = 0; i < segment.n_ops; ++i) {
    const DecodeOp& op = segment.ops[i];
    RETURN_IF_ERROR(CheckDecodeOp(op));
    const bool hyena = op.output == DecodeOpOutput::kHyenaStep;
    const int64_t units = hyena ? op.out / 3 : op.out;
    const int64_t per_cta = (units + grid - 1) / grid * (hyena ? 3 : 1);
    if (2 * per_cta > kResultFloatsMax)
      return absl::UnimplementedError(absl::StrCat("decode program: op ", i, ": ", per_cta,
                                                   " output rows per CTA above ",
                                                   kResultFloatsMax / 2));
    stride = std::max<int>(stride, static_cast<int>(per_cta));
  }
  return stride;
}

}  // namespace

absl::Status CheckDecodeSegment(const DecodeSegment& segment) {
  return ResultStride(segment, DeviceSmCount()).status();
}

absl::Status LaunchDecodeProgram(const DecodeSegment& segment, cudaStream_t stream) {
  const int grid = DeviceSmCount();
  if (grid <= 0) return absl::InternalError("decode program: no device");
  ASSIGN_OR_RETURN(const int stride, ResultStride(segment, grid));
  static const cudaError_t attr = cudaFuncSetAttribute(
      DecodeProgramKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
  CUDA_RETURN_IF_ERROR(attr);
  RETURN_IF_ERROR(
      LaunchOnePerSm(DecodeProgramKernel, kThreads, kSmemBytes, stream, segment, stride));
  RETURN_IF_LAUNCH_FAILED("decode_program");
  return absl::OkStatus();
}

bool DecodeProgramTraced() {
#ifdef EVO2_DECODE_PROGRAM_TRACE
  return true;
#else
  return false;
#endif
}

absl::StatusOr<DecodeProgramTrace> TakeDecodeProgramTrace() {
#ifdef EVO2_DECODE_PROGRAM_TRACE
  static_assert(sizeof(g_decode_phase_cycles[0][0]) == sizeof(uint64_t));
  std::vector<uint64_t> cycles(static_cast<size_t>(kDecodeTraceMaxCtas) * kDecodePhaseCount);
  uint64_t wall[2] = {0, 0};
  CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  CUDA_RETURN_IF_ERROR(
      cudaMemcpyFromSymbol(cycles.data(), g_decode_phase_cycles, cycles.size() * sizeof(uint64_t)));
  CUDA_RETURN_IF_ERROR(cudaMemcpyFromSymbol(wall, g_decode_cta0_wall, sizeof(wall)));
  const std::vector<uint64_t> zeros(cycles.size(), 0);
  CUDA_RETURN_IF_ERROR(
      cudaMemcpyToSymbol(g_decode_phase_cycles, zeros.data(), zeros.size() * sizeof(uint64_t)));
  CUDA_RETURN_IF_ERROR(cudaMemcpyToSymbol(g_decode_cta0_wall, zeros.data(), sizeof(wall)));
  const int grid = std::min(DeviceSmCount(), kDecodeTraceMaxCtas);
  DecodeProgramTrace trace;
  for (int p = 0; p < kDecodePhaseCount; ++p) {
    for (int b = 0; b < grid; ++b) {
      const auto c = static_cast<double>(cycles[static_cast<size_t>(b) * kDecodePhaseCount + p]);
      trace.cycles_per_cta[p] += c / grid;
      trace.cycles_max_cta[p] = std::max(trace.cycles_max_cta[p], c);
    }
  }
  trace.cta0_wall_ns = static_cast<double>(wall[0]);
  trace.launches = static_cast<int64_t>(wall[1]);
  return trace;
#else
  return absl::UnimplementedError(
      "decode program: this build does not time phases (configure with "
      "-DEVO2_DECODE_PROGRAM_TRACE=ON)");
#endif
}

}  // namespace evo2::kernels
