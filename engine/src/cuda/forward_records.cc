#include "cuda/forward_records.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::cuda {
namespace {

constexpr int32_t kPadId = 1;

// One padded batch of all `sequences` through `run`.
absl::StatusOr<std::vector<ForwardResult>> RunRecords(
    const ModelConfig& config, std::span<const std::vector<int32_t>> sequences,
    const ForwardOptions& options, const DevicePass& run) {
  const int64_t B = static_cast<int64_t>(sequences.size());
  const int64_t H = config.hidden_size, V = config.vocab_size;
  int64_t S = 0;
  for (const auto& s : sequences) S = std::max<int64_t>(S, static_cast<int64_t>(s.size()));
  std::vector<ForwardResult> results(sequences.size());
  if (S == 0) return results;  // only empty records: nothing to compute

  // Which activations to bring back: hidden_after_blocks and the supported layer names.
  std::map<int, std::string> names_by_block;  // block (-1 = embedding) -> requested name
  std::vector<std::string> final_norm_names;
  for (const std::string& name : options.layers) {
    ASSIGN_OR_RETURN(auto tap, ParseLayerName(config, name));
    if (tap.point == LayerTap::Point::kBlockOutput) {
      names_by_block[tap.block] = name;
    } else if (tap.point == LayerTap::Point::kEmbedding) {
      names_by_block[-1] = name;
    } else if (tap.point == LayerTap::Point::kFinalNorm) {
      final_norm_names.push_back(name);
    } else {
      return absl::UnimplementedError(
          absl::StrCat("layer '", name,
                       "': the cuda backend captures block outputs, the embedding and the "
                       "final norm only"));
    }
  }
  std::map<int, std::vector<float>> hidden_buffers;
  for (int b : options.hidden_after_blocks) {
    if (b < 0 || b >= config.num_layers)
      return absl::InvalidArgumentError(absl::StrCat("hidden_after_blocks: block ", b,
                                                     " out of range [0, ", config.num_layers, ")"));
    hidden_buffers[b];
  }
  for (const auto& [b, name] : names_by_block) hidden_buffers[b];

  const int64_t R = B * S;
  std::vector<int32_t> tokens(R, kPadId), targets(R, -1);
  for (int64_t b = 0; b < B; ++b) {
    const auto& seq = sequences[b];
    for (size_t t = 0; t < seq.size(); ++t) {
      if (seq[t] < 0 || seq[t] >= V)
        return absl::InvalidArgumentError(absl::StrCat(
            "record ", b, ": token ", seq[t], " at position ", t, " is outside [0, ", V, ")"));
      tokens[b * S + t] = seq[t];
      if (t + 1 < seq.size()) targets[b * S + t] = seq[t + 1];
    }
  }
  RunRequest req;
  req.batch = B;
  req.seq = S;
  req.tokens_host = tokens.data();
  req.cancelled = options.cancelled;
  std::vector<float> lp, logits, final_norm;
  if (options.log_probs) {
    lp.resize(R);
    req.targets_host = targets.data();
    req.log_probs_host = lp.data();
  }
  if (options.logits) {
    logits.resize(static_cast<size_t>(R) * V);
    req.logits_host = logits.data();
  }
  if (!final_norm_names.empty()) {
    final_norm.resize(static_cast<size_t>(R) * H);
    req.final_norm_host = final_norm.data();
  }
  req.skip_head = !options.log_probs && !options.logits && final_norm_names.empty();
  for (auto& [b, buf] : hidden_buffers) {
    buf.resize(static_cast<size_t>(R) * H);
    req.hidden_host[b] = buf.data();
  }
  RETURN_IF_ERROR(run(req));

  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = static_cast<int64_t>(sequences[b].size());
    ForwardResult& res = results[b];
    const size_t row0 = static_cast<size_t>(b * S);
    if (options.log_probs && len > 1)
      res.log_probs.assign(lp.begin() + row0, lp.begin() + row0 + len - 1);
    if (options.logits)
      res.logits.assign(logits.begin() + row0 * V, logits.begin() + (row0 + len) * V);
    auto rows_of = [&](const std::vector<float>& all) {
      return std::vector<float>(all.begin() + row0 * H, all.begin() + (row0 + len) * H);
    };
    for (int blk : options.hidden_after_blocks) res.hidden[blk] = rows_of(hidden_buffers[blk]);
    for (const auto& [blk, name] : names_by_block) res.layers[name] = rows_of(hidden_buffers[blk]);
    for (const std::string& name : final_norm_names) res.layers[name] = rows_of(final_norm);
  }
  return results;
}

}  // namespace

absl::StatusOr<std::vector<ForwardResult>> ForwardRecords(
    const ModelConfig& config, std::span<const std::vector<int32_t>> sequences,
    const ForwardOptions& options, const DevicePass& run) {
  std::vector<ForwardResult> out;
  size_t start = 0;
  while (start < sequences.size()) {
    // Greedy group: add records while batch·max_len stays under the row budget.
    size_t end = start;
    int64_t max_len = 0;
    while (end < sequences.size()) {
      const int64_t len = std::max<int64_t>(max_len, static_cast<int64_t>(sequences[end].size()));
      if (end > start && len * static_cast<int64_t>(end - start + 1) > kMaxBatchRows) break;
      max_len = len;
      ++end;
    }
    ASSIGN_OR_RETURN(auto part,
                     RunRecords(config, sequences.subspan(start, end - start), options, run));
    for (auto& r : part) out.push_back(std::move(r));
    start = end;
  }
  return out;
}

}  // namespace evo2::cuda
