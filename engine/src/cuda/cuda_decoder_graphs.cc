#include "cuda/cuda_decoder_graphs.h"

#include <cstdlib>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::cuda {
namespace {

// Captured step graphs kept at once; a generation uses one (B, KV capacity) at a time, a few
// more cover a caller alternating batch sizes.
constexpr size_t kMaxGraphs = 4;

}  // namespace

DecodeStepGraphs::DecodeStepGraphs() {
  if (const char* v = std::getenv("EVO2_CUDA_DECODE_GRAPHS"); v != nullptr)
    enabled_ = std::string_view(v) != "0";
}

absl::Status DecodeStepGraphs::Run(const BufferVersions& buffers, std::pair<int64_t, int64_t> key,
                                   cudaStream_t stream,
                                   const std::function<absl::Status()>& enqueue,
                                   bool* programmatic) {
  if (buffers != versions_) {  // buffers moved: every captured pointer is stale
    graphs_.clear();
    warmed_.clear();
    versions_ = buffers;
  }
  if (auto it = graphs_.find(key); it != graphs_.end()) {
    RETURN_IF_ERROR(it->second.Launch(stream));
    ++replayed_;
    return absl::OkStatus();
  }
  if (!enabled_ || !warmed_[key]) {
    RETURN_IF_ERROR(enqueue());
    warmed_[key] = true;
    return absl::OkStatus();
  }
  if (graphs_.size() >= kMaxGraphs) graphs_.erase(graphs_.begin());
  auto graph = CaptureGraph(stream, enqueue);
  if (!graph.ok() && programmatic != nullptr && *programmatic) {
    // A driver that captures no programmatic launches: capture plain ones.
    error_ = absl::StrCat("programmatic launches not captured (", graph.status().message(),
                          "); captured without them");
    *programmatic = false;
    graph = CaptureGraph(stream, enqueue);
  }
  if (!graph.ok()) {
    // A step that cannot be captured (a library refusing stream capture) still runs, eagerly;
    // error() says why for the log and the benchmark.
    error_ = std::string(graph.status().message());
    enabled_ = false;
    return enqueue();
  }
  RETURN_IF_ERROR(graph->Launch(stream));
  graphs_.emplace(key, std::move(*graph));
  ++replayed_;
  return absl::OkStatus();
}

}  // namespace evo2::cuda
