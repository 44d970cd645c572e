// The generate side of the `evo2` client: `evo2 submit --generate` flags (the same names and
// defaults as `evo2 generate`), the TOKENS_GENERATED event line of `watch`, and a generate
// job's results as FASTA (the record names `evo2 generate` writes).
#pragma once

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "evo2/v1/jobs.pb.h"
#include "evo2/v1/results.pb.h"

namespace evo2::client {

struct GenerateFlags {
  bool generate = false;
  int64_t max_new_tokens = 100;
  double temperature = 1.0;
  int top_k = 0;
  double top_p = 1.0;
  uint64_t seed = 0;
  int num_samples = 1;
  std::string alphabet = "ACGT";
};

void AddGenerateFlags(CLI::App* cmd, GenerateFlags* flags);
// Sets request.generation when --generate was given (the server validates the values).
void ApplyGenerateFlags(const GenerateFlags& flags, evo2::v1::SubmitJobRequest& request);

// "tokens  NAME[_sampleJ]  @FIRST  BASES" for a TOKENS_GENERATED event.
std::string TokensEventLine(const evo2::v1::JobEvent& event);

// FASTA of a generate job's record: one entry per sample, named as `evo2 generate` names them
// (the record name, with _sampleJ appended when the prompt has several samples), 80 columns.
std::string GeneratedFasta(const evo2::v1::RecordResult& record);

}  // namespace evo2::client
