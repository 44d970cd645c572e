// PredictionWriter: stages every output file in a hidden directory inside the output directory
// and moves them into place at the end (docs/spec/predict-cli.md §1.3 for names and contents).
#include "evo2/prediction_writer.h"

#include <unistd.h>

#include <fstream>
#include <random>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/npy.h"
#include "evo2/safe_file_name.h"
#include "evo2/safetensors.h"
#include "evo2/status_macros.h"
#include "evo2/tokenizer.h"
#include "evo2/torch_pt.h"
#include "predict/prediction_tensors.h"

namespace evo2 {

using predict::HostArray;
using predict::NamedArrays;

struct PredictionWriter::Impl {
  PredictionWriterOptions options;
  std::filesystem::path staging;                // absolute
  std::vector<std::filesystem::path> staged;    // relative to staging, in write order
  std::vector<NamedArrays> batches;             // epoch mode, until Finish()
  std::set<std::string> npy_stems;              // npy mode: record file stems in use
  int64_t batch_count = 0;
  bool finished = false;

  std::string Stem(std::optional<int64_t> batch_idx) const {
    std::string stem = absl::StrCat("predictions__rank_", options.global_rank, "__dp_rank_",
                                    options.dp_rank);
    if (batch_idx) absl::StrAppend(&stem, "__batch_", *batch_idx);
    return stem;
  }
  absl::Status WriteTensors(const std::filesystem::path& relative_stem, NamedArrays arrays);
  absl::Status WriteNpyRecords(std::vector<RecordScore> scores, std::span<const int64_t> seq_idx);
  absl::Status Stage(const std::filesystem::path& relative) {
    std::error_code ec;
    std::filesystem::create_directories((staging / relative).parent_path(), ec);
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot create ", (staging / relative).parent_path().string(), ": ", ec.message()));
    }
    staged.push_back(relative);
    return absl::OkStatus();
  }
};

absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view name) {
  if (name == "pt") return OutputFormat::kPt;
  if (name == "safetensors") return OutputFormat::kSafetensors;
  if (name == "npy") return OutputFormat::kNpy;
  return absl::InvalidArgumentError(absl::StrCat("unknown output format '", std::string(name),
                                                 "' (expected pt, safetensors or npy)"));
}

PredictionWriter::PredictionWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PredictionWriter::~PredictionWriter() {
  if (impl_ && !impl_->finished && !impl_->staging.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(impl_->staging, ignored);
  }
}

absl::StatusOr<std::unique_ptr<PredictionWriter>> PredictionWriter::Create(
    PredictionWriterOptions options) {
  if (options.output_dir.empty()) {
    return absl::InvalidArgumentError("--output-dir is required");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.output_dir, ec);
  if (ec || !std::filesystem::is_directory(options.output_dir)) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create output directory ", options.output_dir.string(), ": ",
                     ec ? ec.message() : std::string("a file of that name exists")));
  }
  auto impl = std::make_unique<Impl>();
  std::random_device rd;
  impl->staging = std::filesystem::absolute(options.output_dir) /
                  absl::StrCat(".evo2-predict.partial-", ::getpid(), "-", rd() % 1000000);
  std::filesystem::create_directory(impl->staging, ec);
  if (ec) {
    return absl::PermissionDeniedError(absl::StrCat("output directory ",
                                                    options.output_dir.string(),
                                                    " is not writable: ", ec.message()));
  }
  impl->options = std::move(options);
  return std::unique_ptr<PredictionWriter>(new PredictionWriter(std::move(impl)));
}

absl::Status PredictionWriter::Impl::WriteTensors(const std::filesystem::path& relative_stem,
                                                  NamedArrays arrays) {
  std::filesystem::path relative = relative_stem;
  relative += options.format == OutputFormat::kSafetensors ? ".safetensors" : ".pt";
  RETURN_IF_ERROR(Stage(relative));
  NamedTensors tensors = predict::ToNamedTensors(std::move(arrays));
  if (options.format == OutputFormat::kSafetensors) {
    // "format": "pt" lets safetensors' torch loader hand back torch tensors.
    return WriteSafetensors(staging / relative, tensors, {{"format", "pt"}});
  }
  return WriteTorchPt(staging / relative, tensors);
}

absl::Status PredictionWriter::Impl::WriteNpyRecords(std::vector<RecordScore> scores,
                                                     std::span<const int64_t> seq_idx) {
  for (size_t i = 0; i < scores.size(); ++i) {
    RecordScore& r = scores[i];
    std::string stem = SafeFileStem(r.name);
    if (!npy_stems.insert(stem).second) {
      stem = absl::StrCat(stem, "__", seq_idx[i]);  // two names mapped to one file name
      npy_stems.insert(stem);
    }
    auto write = [&](const std::string& suffix, const Tensor& t) -> absl::Status {
      const std::filesystem::path relative = stem + suffix;
      RETURN_IF_ERROR(Stage(relative));
      return WriteNpy(staging / relative, t);
    };
    if (options.output_log_prob_seqs) {
      if (options.collapse == LogProbCollapse::kPerToken) {
        const auto n = static_cast<int64_t>(r.per_token.size());
        RETURN_IF_ERROR(write(".log_probs.npy", Tensor::FromFloat32({n}, r.per_token)));
      } else {
        const float v = static_cast<float>(
            options.collapse == LogProbCollapse::kSum ? r.log_prob_sum : r.log_prob_mean);
        if (auto st = write(".log_probs.npy", Tensor::FromFloat32({1}, std::span(&v, 1)));
            !st.ok()) {
          return st;
        }
      }
    } else {
      const int64_t rows = r.num_tokens;  // the record's own rows, no batch padding
      if (auto st = write(".logits.npy",
                          Tensor::FromFloat32({rows, kVocabSize},
                                              std::span(r.logits.data(),
                                                        static_cast<size_t>(rows * kVocabSize))));
          !st.ok()) {
        return st;
      }
    }
    for (const auto& e : r.embeddings) {
      if (auto st = write(absl::StrCat(".hidden_embeddings.", SafeFileStem(e.layer), ".npy"),
                          Tensor::FromFloat32(e.shape, e.values));
          !st.ok()) {
        return st;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status PredictionWriter::AddBatch(std::vector<RecordScore> scores,
                                        std::span<const int64_t> seq_idx, int64_t batch_tokens) {
  Impl& s = *impl_;
  if (s.finished) return absl::FailedPreconditionError("PredictionWriter already finished");
  const int64_t batch_idx = s.batch_count++;
  if (s.options.format == OutputFormat::kNpy) return s.WriteNpyRecords(std::move(scores), seq_idx);
  ASSIGN_OR_RETURN(auto arrays, predict::BuildBatchArrays(scores, seq_idx, batch_tokens, s.options));
  scores.clear();
  if (!s.options.write_per_batch) {
    s.batches.push_back(std::move(arrays));
    return absl::OkStatus();
  }
  HostArray idx;
  idx.dtype = DType::kInt64;
  idx.shape = {1};
  idx.i64 = {batch_idx};
  arrays.emplace_back("batch_idx", std::move(idx));
  std::filesystem::path stem = s.Stem(batch_idx);
  if (s.options.files_per_subdir > 0) {
    // Legacy predict: the first file already goes to subdir_1 (docs/spec/predict-cli.md §1.3).
    stem = std::filesystem::path(absl::StrCat("subdir_", batch_idx / s.options.files_per_subdir + 1)) /
           stem;
  }
  return s.WriteTensors(stem, std::move(arrays));
}

absl::Status PredictionWriter::Finish(std::span<const std::string> sorted_names) {
  Impl& s = *impl_;
  if (s.finished) return absl::FailedPreconditionError("PredictionWriter already finished");
  if (s.options.format != OutputFormat::kNpy && !s.options.write_per_batch && !s.batches.empty()) {
    auto collated = predict::CollateBatches(std::move(s.batches));
    s.batches.clear();  // moved-from either way; cleared before an error returns
    RETURN_IF_ERROR(collated.status());
    RETURN_IF_ERROR(s.WriteTensors(s.Stem(std::nullopt), std::move(*collated)));
  }
  {
    const std::filesystem::path relative = "seq_idx_map.json";
    RETURN_IF_ERROR(s.Stage(relative));
    std::ofstream out(s.staging / relative, std::ios::binary | std::ios::trunc);
    out << PythonJsonDumpSeqIdxMap(sorted_names);
    out.flush();
    if (!out) {
      return absl::DataLossError(
          absl::StrCat("error writing ", (s.staging / relative).string()));
    }
  }
  // Everything is complete on disk: move into place (same file system, so each rename is atomic;
  // seq_idx_map.json goes last).
  for (const std::filesystem::path& relative : s.staged) {
    const std::filesystem::path target = s.options.output_dir / relative;
    std::error_code ec;
    if (relative.has_parent_path()) {
      std::filesystem::create_directories(target.parent_path(), ec);
    }
    if (!ec) std::filesystem::rename(s.staging / relative, target, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot move ", relative.string(), " into ",
                       s.options.output_dir.string(), ": ", ec.message()));
    }
    written_.push_back(relative);
  }
  std::error_code ignored;
  std::filesystem::remove_all(s.staging, ignored);
  s.finished = true;
  return absl::OkStatus();
}

}  // namespace evo2
