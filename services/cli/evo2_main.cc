// `evo2`: one binary, several subcommands. Each Add*Command registers a CLI11 subcommand whose
// callback does the work and throws CLI::RuntimeError(code) on failure.
#include "CLI/CLI.hpp"
#include "client_commands.h"
#include "engine_commands.h"

#if defined(EVO2_WITH_CUDA) && __has_include("evo2/cuda_backend.h")
#include "evo2/cuda_backend.h"
#define EVO2_REGISTER_CUDA 1
#endif

int main(int argc, char** argv) {
#ifdef EVO2_REGISTER_CUDA
  evo2::RegisterCudaBackend();
#endif
  CLI::App app{"evo2: Evo 2 DNA language model inference (engine and job service client)", "evo2"};
  app.require_subcommand(1);
  evo2::cli::AddPredictCommand(app);
  evo2::cli::AddLayersCommand(app);
  evo2::cli::AddScoreVariantsCommand(app);
  evo2::cli::AddGenerateCommand(app);
  evo2::client::AddClientCommands(app);  // submit|status|watch|results|cancel|list
  CLI11_PARSE(app, argc, argv);
  return 0;
}
