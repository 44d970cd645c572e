#include "cuda/record_batch.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::cuda {

std::vector<std::pair<size_t, size_t>> GroupByRowBudget(
    std::span<const std::vector<int32_t>> sequences, int64_t max_rows) {
  std::vector<std::pair<size_t, size_t>> groups;
  size_t start = 0;
  while (start < sequences.size()) {
    size_t end = start;
    int64_t max_len = 0;
    while (end < sequences.size()) {
      const int64_t len = std::max<int64_t>(max_len, static_cast<int64_t>(sequences[end].size()));
      if (end > start && len * static_cast<int64_t>(end - start + 1) > max_rows) break;
      max_len = len;
      ++end;
    }
    groups.emplace_back(start, end);
    start = end;
  }
  return groups;
}

absl::StatusOr<CapturePlan> PlanCaptures(const ModelConfig& config, const ForwardOptions& options,
                                         const char* backend) {
  CapturePlan plan;
  std::set<int> blocks;
  for (const std::string& name : options.layers) {
    ASSIGN_OR_RETURN(auto tap, ParseLayerName(config, name));
    if (tap.point == LayerTap::Point::kBlockOutput) {
      plan.names_by_block[tap.block] = name;
      blocks.insert(tap.block);
    } else if (tap.point == LayerTap::Point::kEmbedding) {
      plan.names_by_block[-1] = name;
      blocks.insert(-1);
    } else if (tap.point == LayerTap::Point::kFinalNorm) {
      plan.final_norm_names.push_back(name);
    } else {
      return absl::UnimplementedError(
          absl::StrCat("layer '", name, "': the ", backend,
                       " backend captures block outputs, the embedding and the final norm only"));
    }
  }
  for (int b : options.hidden_after_blocks) {
    if (b < 0 || b >= config.num_layers)
      return absl::InvalidArgumentError(absl::StrCat("hidden_after_blocks: block ", b,
                                                     " out of range [0, ", config.num_layers, ")"));
    blocks.insert(b);
  }
  plan.blocks.assign(blocks.begin(), blocks.end());
  return plan;
}

absl::StatusOr<PackedRecords> PackRecords(std::span<const std::vector<int32_t>> sequences,
                                          int64_t vocab, int32_t pad_id) {
  PackedRecords p;
  p.batch = static_cast<int64_t>(sequences.size());
  for (const auto& s : sequences) p.seq = std::max<int64_t>(p.seq, static_cast<int64_t>(s.size()));
  const int64_t rows = p.batch * p.seq;
  p.tokens.assign(static_cast<size_t>(rows), pad_id);
  p.targets.assign(static_cast<size_t>(rows), -1);
  for (int64_t b = 0; b < p.batch; ++b) {
    const auto& seq = sequences[static_cast<size_t>(b)];
    for (size_t t = 0; t < seq.size(); ++t) {
      if (seq[t] < 0 || seq[t] >= vocab)
        return absl::InvalidArgumentError(absl::StrCat(
            "record ", b, ": token ", seq[t], " at position ", t, " is outside [0, ", vocab, ")"));
      const size_t row = static_cast<size_t>(b * p.seq) + t;
      p.tokens[row] = seq[t];
      if (t + 1 < seq.size()) p.targets[row] = seq[t + 1];
    }
  }
  return p;
}

std::vector<ForwardResult> UnpackRecords(std::span<const std::vector<int32_t>> sequences,
                                         int64_t seq, int64_t hidden, int64_t vocab,
                                         const ForwardOptions& options, const CapturePlan& plan,
                                         const PassOutputs& out) {
  std::vector<ForwardResult> results(sequences.size());
  const size_t H = static_cast<size_t>(hidden), V = static_cast<size_t>(vocab);
  for (size_t b = 0; b < sequences.size(); ++b) {
    const size_t len = sequences[b].size();
    const size_t row0 = b * static_cast<size_t>(seq);
    ForwardResult& res = results[b];
    if (options.log_probs && len > 1)
      res.log_probs.assign(out.log_probs.begin() + row0, out.log_probs.begin() + row0 + len - 1);
    if (options.logits)
      res.logits.assign(out.logits.begin() + row0 * V, out.logits.begin() + (row0 + len) * V);
    auto rows_of = [&](const std::vector<float>& all) {
      return std::vector<float>(all.begin() + row0 * H, all.begin() + (row0 + len) * H);
    };
    for (int blk : options.hidden_after_blocks) res.hidden[blk] = rows_of(out.by_block.at(blk));
    for (const auto& [blk, name] : plan.names_by_block)
      res.layers[name] = rows_of(out.by_block.at(blk));
    for (const std::string& name : plan.final_norm_names)
      res.layers[name] = rows_of(out.final_norm);
  }
  return results;
}

namespace {

absl::StatusOr<std::vector<ForwardResult>> RunOnePass(
    const ModelConfig& config, std::span<const std::vector<int32_t>> sequences,
    const ForwardOptions& options, int32_t pad_id, const PassRunner& run) {
  const int64_t H = config.hidden_size, V = config.vocab_size;
  ASSIGN_OR_RETURN(const CapturePlan plan, PlanCaptures(config, options, "cuda"));
  ASSIGN_OR_RETURN(const PackedRecords packed, PackRecords(sequences, V, pad_id));
  if (packed.seq == 0) return std::vector<ForwardResult>(sequences.size());  // only empty records
  const size_t R = static_cast<size_t>(packed.batch * packed.seq);

  PassOutputs out;
  RunRequest req;
  req.batch = packed.batch;
  req.seq = packed.seq;
  req.tokens_host = packed.tokens.data();
  req.cancelled = options.cancelled;
  if (options.log_probs) {
    out.log_probs.resize(R);
    req.targets_host = packed.targets.data();
    req.log_probs_host = out.log_probs.data();
  }
  if (options.logits) {
    out.logits.resize(R * static_cast<size_t>(V));
    req.logits_host = out.logits.data();
  }
  if (!plan.final_norm_names.empty()) {
    out.final_norm.resize(R * static_cast<size_t>(H));
    req.final_norm_host = out.final_norm.data();
  }
  req.skip_head = !options.log_probs && !options.logits && plan.final_norm_names.empty();
  for (int b : plan.blocks) {
    std::vector<float>& buf = out.by_block[b];
    buf.resize(R * static_cast<size_t>(H));
    req.hidden_host[b] = buf.data();
  }
  RETURN_IF_ERROR(run(req));
  return UnpackRecords(sequences, packed.seq, H, V, options, plan, out);
}

}  // namespace

absl::StatusOr<std::vector<ForwardResult>> RunRecords(
    const ModelConfig& config, std::span<const std::vector<int32_t>> sequences,
    const ForwardOptions& options, int32_t pad_id, int64_t max_rows, const PassRunner& run) {
  std::vector<ForwardResult> results;
  results.reserve(sequences.size());
  for (const auto& [begin, end] : GroupByRowBudget(sequences, max_rows)) {
    ASSIGN_OR_RETURN(
        auto part, RunOnePass(config, sequences.subspan(begin, end - begin), options, pad_id, run));
    for (auto& r : part) results.push_back(std::move(r));
  }
  return results;
}

}  // namespace evo2::cuda
