// The engine's subcommands of the single `evo2` binary (services/cli/evo2_main.cc):
//   evo2 predict  drop-in for `python -m bionemo.evo2.run.predict` (docs/spec/predict-cli.md §1)
//   evo2 layers   the capturable layer names of a model (for --embedding-layers)
//   evo2 score-variants  VCF + reference -> delta log-likelihoods (docs/variant-scoring.md)
//   evo2 generate prompted DNA generation with cached-state decoding (evo2/generate.h)
// A failing command prints one line "evo2 <cmd>: error: ..." on stderr and throws
// CLI::RuntimeError(exit code), which CLI11_PARSE turns into the process exit status.
#pragma once

#include "CLI/CLI.hpp"

namespace evo2::cli {

void AddPredictCommand(CLI::App& app);
void AddLayersCommand(CLI::App& app);
void AddScoreVariantsCommand(CLI::App& app);
void AddGenerateCommand(CLI::App& app);

}  // namespace evo2::cli
