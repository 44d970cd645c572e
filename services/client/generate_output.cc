#include "generate_output.h"

#include "absl/strings/str_cat.h"

namespace evo2::client {
namespace {

std::string SampleName(const std::string& record, int sample, bool several) {
  return several ? absl::StrCat(record, "_sample", sample) : record;
}

}  // namespace

void AddGenerateFlags(CLI::App* cmd, GenerateFlags* f) {
  cmd->add_flag("--generate", f->generate,
                "Generate continuations of every record (as evo2 generate) instead of scoring");
  cmd->add_option("--max-new-tokens", f->max_new_tokens, "With --generate: bases per sequence")
      ->capture_default_str();
  cmd->add_option("--temperature", f->temperature, "With --generate: 0 = greedy")
      ->capture_default_str();
  cmd->add_option("--top-k", f->top_k, "With --generate: 0 = all")->capture_default_str();
  cmd->add_option("--top-p", f->top_p, "With --generate: 1 = all")->capture_default_str();
  cmd->add_option("--seed", f->seed, "With --generate: random seed")->capture_default_str();
  cmd->add_option("--num-samples", f->num_samples, "With --generate: sequences per record")
      ->capture_default_str();
  cmd->add_option("--alphabet", f->alphabet, "With --generate: bases that may be drawn")
      ->capture_default_str();
}

void ApplyGenerateFlags(const GenerateFlags& f, evo2::v1::SubmitJobRequest& r) {
  if (!f.generate) return;
  evo2::v1::GenerationOptions* g = r.mutable_generation();
  g->set_max_new_tokens(f.max_new_tokens);
  g->set_temperature(f.temperature);
  g->set_top_k(f.top_k);
  g->set_top_p(f.top_p);
  g->set_seed(f.seed);
  g->set_num_samples(f.num_samples);
  g->set_alphabet(f.alphabet);
}

std::string TokensEventLine(const evo2::v1::JobEvent& ev) {
  return absl::StrCat("tokens  ", ev.record_name(), " sample ", ev.tokens().sample(), "  @",
                      ev.tokens().first_index(), "  ", ev.tokens().bases());
}

std::string GeneratedFasta(const evo2::v1::RecordResult& r) {
  std::string out;
  const bool several = r.generated_size() > 1;
  for (const auto& g : r.generated()) {
    absl::StrAppend(&out, ">", SampleName(r.record_name(), g.sample(), several), "\n");
    for (size_t i = 0; i < g.bases().size(); i += 80) {
      absl::StrAppend(&out, g.bases().substr(i, 80), "\n");
    }
  }
  return out;
}

}  // namespace evo2::client
