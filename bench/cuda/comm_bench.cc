// Collective bandwidth of the CUDA engine group's communicators (a program, not a test):
// all-reduce (fp32 sum, in place) and all-gather of 1–256 MB per rank, in-process ranks sharing
// GPU 0 and, where ≥ 2 GPUs are present, NCCL over the first 2, 4 and 8 GPUs. One line per
// (implementation, ranks, op, size): the median over 5 timed batches after warm-up of the
// host wall time per collective (every rank thread enqueues the batch, then waits for its
// stream), and the bandwidths in the nccl-tests convention:
//   algbw = S / t   (S = bytes per rank)
//   busbw = algbw · 2(n−1)/n (all-reduce), algbw · (n−1) (all-gather, per rank's share)
// busbw is what the links must carry and compares to the link rate (NVLink on H100: ~450 GB/s
// per direction); on one GPU the ranks share its memory, so the in-process figures measure
// HBM copies and the reduction kernel, the cost a one-GPU decomposition pays per collective.
// They feed the multi-GPU scaling model: t_comm(S) ≈ S / busbw per collective.
//
//   evo2_comm_bench [--min-kb 1024] [--max-mb 256] [--ranks 2,4] [--no-nccl] [--no-in-process]
// (--min-kb 4 adds the small sizes where latency, not bandwidth, dominates: CP halo exchanges.)
#include <cuda_runtime.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/cuda/bench_check.h"
#include "cuda/in_process_device_communicator.h"
#include "cuda/nccl_communicator.h"

namespace {

using evo2::cuda::DeviceCommunicator;
using Comms = std::vector<std::unique_ptr<DeviceCommunicator>>;
using Clock = std::chrono::steady_clock;

using evo2::bench::Check;

enum class Op { kAllReduce, kAllGather };

// Median seconds per collective of `bytes` per rank.
double TimeCollective(Comms& comms, Op op, int64_t bytes) {
  const int n = static_cast<int>(comms.size());
  // Enough collectives per batch that launch and rendezvous overheads average out.
  const int per_batch = static_cast<int>(std::clamp<int64_t>((int64_t{1} << 30) / bytes, 4, 50));
  constexpr int kBatches = 5;
  std::barrier sync(n);
  std::vector<double> batch_seconds(kBatches);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      DeviceCommunicator& comm = *comms[static_cast<size_t>(r)];
      Check(cudaSetDevice(comm.device()), "cudaSetDevice");
      cudaStream_t stream = nullptr;
      Check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
      void* send = nullptr;
      void* recv = nullptr;
      Check(cudaMalloc(&send, static_cast<size_t>(bytes)), "cudaMalloc");
      Check(cudaMemset(send, 0, static_cast<size_t>(bytes)), "cudaMemset");  // sums stay 0
      if (op == Op::kAllGather)
        Check(cudaMalloc(&recv, static_cast<size_t>(bytes) * n), "cudaMalloc");
      auto run = [&](int times) {
        for (int i = 0; i < times; ++i) {
          if (op == Op::kAllReduce) {
            Check(comm.AllReduceSum(static_cast<float*>(send), bytes / 4, stream), "AllReduceSum");
          } else {
            Check(comm.AllGather(send, recv, bytes, stream), "AllGather");
          }
        }
        Check(cudaStreamSynchronize(stream), "sync");
      };
      run(2);  // warm-up (scratch allocation, NCCL connections)
      for (int b = 0; b < kBatches; ++b) {
        sync.arrive_and_wait();
        const auto t0 = Clock::now();
        run(per_batch);
        sync.arrive_and_wait();
        if (r == 0) {
          batch_seconds[static_cast<size_t>(b)] =
              std::chrono::duration<double>(Clock::now() - t0).count() / per_batch;
        }
      }
      Check(comm.Check(), "Check");
      cudaFree(send);
      if (recv != nullptr) cudaFree(recv);
      cudaStreamDestroy(stream);
    });
  }
  for (auto& t : threads) t.join();
  std::sort(batch_seconds.begin(), batch_seconds.end());
  return batch_seconds[kBatches / 2];
}

void Sweep(const char* impl, Comms& comms, int64_t min_bytes, int64_t max_bytes) {
  const int n = static_cast<int>(comms.size());
  for (Op op : {Op::kAllReduce, Op::kAllGather}) {
    for (int64_t bytes = min_bytes; bytes <= max_bytes; bytes *= 2) {
      const double t = TimeCollective(comms, op, bytes);
      const double algbw = static_cast<double>(bytes) / t / 1e9;
      const double busbw = op == Op::kAllReduce ? algbw * 2.0 * (n - 1) / n : algbw * (n - 1);
      std::printf(
          "impl=%s ranks=%d op=%s mb_per_rank=%lld time_us=%.1f algbw_GBps=%.1f "
          "busbw_GBps=%.1f\n",
          impl, n, op == Op::kAllReduce ? "all_reduce" : "all_gather",
          static_cast<long long>(bytes >> 10), t * 1e6, algbw, busbw);
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int64_t max_mb = 256, min_kb = 1024;
  std::vector<int> rank_counts = {2, 4};
  bool nccl = true, in_process = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--max-mb" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &max_mb)) {
      ++i;
    } else if (a == "--min-kb" && i + 1 < argc && absl::SimpleAtoi(argv[i + 1], &min_kb) &&
               min_kb >= 4) {
      ++i;
    } else if (a == "--ranks" && i + 1 < argc) {
      rank_counts.clear();
      for (absl::string_view part : absl::StrSplit(argv[++i], ',')) {
        int v = 0;
        if (!absl::SimpleAtoi(part, &v) || v < 1) {
          std::fprintf(stderr, "--ranks: bad count '%s'\n", std::string(part).c_str());
          return 2;
        }
        rank_counts.push_back(v);
      }
    } else if (a == "--no-nccl") {
      nccl = false;
    } else if (a == "--no-in-process") {
      in_process = false;
    } else {
      std::fprintf(
          stderr,
          "usage: %s [--min-kb 1024] [--max-mb 256] [--ranks 2,4] [--no-nccl] [--no-in-process]\n",
          argv[0]);
      return 2;
    }
  }
  int gpus = 0;
  Check(cudaGetDeviceCount(&gpus), "cudaGetDeviceCount");
  if (gpus == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  Check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf("device=\"%s\" gpus=%d nccl=%s\n", prop.name, gpus,
              evo2::cuda::NcclVersion().c_str());
  const int64_t max_bytes = max_mb << 20;
  if (in_process) {
    for (int n : rank_counts) {
      auto comms = evo2::cuda::MakeInProcessDeviceCommunicators(std::vector<int>(n, 0));
      Check(comms.status(), "MakeInProcessDeviceCommunicators");
      Sweep("in_process_gpu0", *comms, min_kb << 10, max_bytes);
    }
  }
  if (nccl) {
    if (gpus < 2) std::printf("nccl: skipped, %d GPU present (one rank per GPU)\n", gpus);
    for (int n = 2; n <= gpus; n *= 2) {
      std::vector<int> devices;
      for (int d = 0; d < n; ++d) devices.push_back(d);
      auto group = evo2::cuda::MakeNcclDeviceGroup(devices, n, 1);
      Check(group.status(), "MakeNcclDeviceGroup");
      Sweep("nccl", group->tp, min_kb << 10, max_bytes);
    }
  }
  return 0;
}
