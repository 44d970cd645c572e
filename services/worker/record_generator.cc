#include "record_generator.h"

#include <chrono>
#include <vector>

#include "absl/strings/str_cat.h"
#include "evo2/generate.h"
#include "evo2/status_macros.h"
#include "evo2/tokenizer.h"

namespace evo2::svc {

absl::StatusOr<evo2::v1::RecordResult> GenerateRecord(evo2::Model& model,
                                                      const evo2::v1::JobInput& job, int64_t index,
                                                      const std::atomic<bool>* cancelled,
                                                      const TokenPublisher& publish) {
  const auto t0 = std::chrono::steady_clock::now();
  const evo2::v1::SequenceRecord& rec = job.records(static_cast<int>(index));
  const evo2::v1::GenerationOptions& g = job.generation();
  TokenizerOptions tok;
  tok.keep_case = job.options().keep_case();
  const std::vector<std::vector<int32_t>> prompt = {Tokenize(rec.sequence(), tok)};
  GenerateOptions o;
  o.max_new_tokens = g.max_new_tokens();
  o.num_samples = g.num_samples();
  o.batch_size = g.num_samples();  // the record's samples share one prefill and decode together
  o.sampling.temperature = g.temperature();
  o.sampling.top_k = g.top_k();
  o.sampling.top_p = g.top_p();
  o.sampling.seed = g.seed();
  o.sampling.alphabet = g.alphabet();
  o.cancelled = cancelled;
  o.prompt_index_offset = static_cast<size_t>(index);

  // Bases drawn but not yet published, per sample.
  std::vector<evo2::v1::GeneratedTokens> pending(static_cast<size_t>(g.num_samples()));
  absl::Time last_publish = absl::Now();
  auto flush = [&]() -> absl::Status {
    for (evo2::v1::GeneratedTokens& p : pending) {
      if (p.bases().empty()) continue;
      RETURN_IF_ERROR(publish(p));
      p.set_first_index(p.first_index() + static_cast<int64_t>(p.bases().size()));
      p.clear_bases();
      p.clear_log_probs();
    }
    last_publish = absl::Now();
    return absl::OkStatus();
  };
  for (int s = 0; s < g.num_samples(); ++s) pending[static_cast<size_t>(s)].set_sample(s);
  TokenSink sink = [&](const GeneratedToken& t) -> absl::Status {
    evo2::v1::GeneratedTokens& p = pending[static_cast<size_t>(t.sample)];
    p.mutable_bases()->push_back(static_cast<char>(t.token));
    p.add_log_probs(t.log_prob);
    // Publish after the step's last sample, when the interval has passed or at the end.
    if (t.sample + 1 == g.num_samples() &&
        (t.index + 1 == g.max_new_tokens() || absl::Now() - last_publish >= kPublishInterval)) {
      return flush();
    }
    return absl::OkStatus();
  };
  ASSIGN_OR_RETURN(std::vector<GeneratedSequence> seqs, Generate(model, prompt, o, sink));

  evo2::v1::RecordResult out;
  out.set_record_index(index);
  out.set_record_name(rec.name());
  out.set_num_tokens(static_cast<int64_t>(prompt[0].size()) + g.max_new_tokens() * g.num_samples());
  for (const GeneratedSequence& s : seqs) {
    evo2::v1::GeneratedSequence* gs = out.add_generated();
    gs->set_sample(s.sample);
    gs->set_bases(std::string(s.tokens.begin(), s.tokens.end()));
    for (float lp : s.log_probs) gs->add_log_probs(lp);
  }
  out.set_forward_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return out;
}

}  // namespace evo2::svc
