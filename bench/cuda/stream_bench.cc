// How fast the decode program's way of reading weights can go, without the model
// (kernels/weight_stream_probe.cuh; a program, not a test): one CTA per SM streams rows through
// a ring of shared-memory stages by bulk async copies while 16 warps take their dot products,
// with ops of a 1B / 7B decode step's sizes, against a wide grid of plain loads (the copy rate).
// Rows per op split: the ring alone; a grid barrier between ops (as in the program); and rows
// claimed in stage-sized chunks from a counter per op (the fast CTAs take more of them).
//
// The buffer (4 GiB by default, far above the L2) is read whole per launch; median of 5
// launches after one warm-up; GB/s counts every byte once.
//
// --in-flight caps the copies in flight below the stage count (0: one per stage), so that landed
// stages wait in the ring while the consumers pause.
//
//   evo2_stream_bench [--gib 4] [--stages 3,6] [--in-flight 0]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "bench/cuda/bench_check.h"
#include "kernels/weight_stream_probe.cuh"

namespace {

using evo2::bench::Alloc;
using evo2::bench::Check;
using evo2::kernels::StreamProbe;
using evo2::kernels::StreamProbeMode;

struct OpShape {
  const char* name;
  int32_t row_bytes;  // one bf16 weight row: 2·K
  int64_t op_bytes;   // one op's weight matrix
};

// The decode step's products: 1B in_proj (5 760 × 1 920) and l3 (1 920 × 5 120); 7B in_proj
// (12 288 × 4 096).
constexpr OpShape kShapes[] = {
    {"1B in_proj, K=1920, 22 MB per op", 2 * 1920, int64_t{5760} * 2 * 1920},
    {"1B l3, K=5120, 20 MB per op", 2 * 5120, int64_t{1920} * 2 * 5120},
    {"7B in_proj, K=4096, 101 MB per op", 2 * 4096, int64_t{12288} * 2 * 4096},
};

const char* ModeName(StreamProbeMode m) {
  switch (m) {
    case StreamProbeMode::kPlainLoads:
      return "plain loads (no ring)";
    case StreamProbeMode::kRing:
      return "ring, no barrier";
    case StreamProbeMode::kRingBarrier:
      return "ring + grid barrier per op";
    case StreamProbeMode::kRingClaimed:
      return "ring + barrier, claimed chunks";
  }
  return "?";
}

float MedianMs(const StreamProbe& p, cudaEvent_t e0, cudaEvent_t e1) {
  Check(evo2::kernels::LaunchWeightStreamProbe(p, nullptr), "warm-up");
  Check(cudaDeviceSynchronize(), "warm-up");
  std::vector<float> ms;
  for (int r = 0; r < 5; ++r) {
    Check(cudaEventRecord(e0), "event");
    Check(evo2::kernels::LaunchWeightStreamProbe(p, nullptr), "probe");
    Check(cudaEventRecord(e1), "event");
    Check(cudaEventSynchronize(e1), "probe");
    float t = 0.f;
    Check(cudaEventElapsedTime(&t, e0, e1), "event");
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  double gib = 4;
  std::vector<int> stage_counts = {3, 6};
  std::vector<int> in_flight_counts = {0};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--gib" && i + 1 < argc) {
      gib = std::atof(argv[++i]);
    } else if ((a == "--stages" || a == "--in-flight") && i + 1 < argc) {
      std::vector<int>& list = a == "--stages" ? stage_counts : in_flight_counts;
      list.clear();
      for (const auto& s : absl::StrSplit(argv[++i], ','))
        list.push_back(std::atoi(std::string(s).c_str()));
    } else {
      std::fprintf(stderr, "usage: %s [--gib 4] [--stages 3,6] [--in-flight 0,2]\n", argv[0]);
      return 2;
    }
  }
  cudaDeviceProp prop{};
  Check(cudaGetDeviceProperties(&prop, 0), "device");
  const auto bytes = static_cast<int64_t>(gib * (int64_t{1} << 30));
  char* w = static_cast<char*>(Alloc(static_cast<size_t>(bytes)));
  Check(cudaMemset(w, 0x3c, static_cast<size_t>(bytes)), "fill");
  auto* counters = static_cast<unsigned long long*>(
      Alloc(sizeof(unsigned long long) * evo2::kernels::kStreamProbeCounters));
  auto* sums = static_cast<float*>(Alloc(sizeof(float) * prop.multiProcessorCount));
  cudaEvent_t e0, e1;
  Check(cudaEventCreate(&e0), "event");
  Check(cudaEventCreate(&e1), "event");

  std::printf("device: %s, %d SMs, %.1f GiB read per launch\n\n", prop.name,
              prop.multiProcessorCount, gib);
  std::printf(
      "| ops | split | stages | ms | GB/s | µs per op |\n| --- | --- | --- | --- | --- | --- |\n");
  for (const OpShape& shape : kShapes) {
    StreamProbe p;
    p.w = w;
    p.row_bytes = shape.row_bytes;
    p.op_bytes = shape.op_bytes;
    p.n_ops = static_cast<int32_t>(
        std::min<int64_t>(bytes / shape.op_bytes, evo2::kernels::kStreamProbeMaxOps));
    p.counters = counters;
    p.sums = sums;
    const double read = static_cast<double>(p.op_bytes) * p.n_ops;
    const auto row = [&](const std::string& stages, const std::string& in_flight, float ms) {
      std::printf("| %s | %s | %s | %s | %.3f | %.0f | %.2f |\n", shape.name, ModeName(p.mode),
                  stages.c_str(), in_flight.c_str(), ms, read / ms / 1e6, 1e3 * ms / p.n_ops);
      std::fflush(stdout);
    };
    p.mode = StreamProbeMode::kPlainLoads;
    row("", "", MedianMs(p, e0, e1));
    for (const StreamProbeMode mode :
         {StreamProbeMode::kRing, StreamProbeMode::kRingBarrier, StreamProbeMode::kRingClaimed}) {
      for (const int stages : stage_counts) {
        for (const int in_flight : in_flight_counts) {
          if (in_flight > stages) continue;
          p.mode = mode;
          p.stages = stages;
          p.in_flight = in_flight;
          row(std::to_string(stages), in_flight == 0 ? "all" : std::to_string(in_flight),
              MedianMs(p, e0, e1));
        }
      }
    }
  }
  return 0;
}
