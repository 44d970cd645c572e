// `evo2 submit|status|watch|results|cancel|list`: the job service from the command line.
// Server and key come from --server/--api-key or EVO2_SERVER/EVO2_API_KEY.
#pragma once

#include "CLI/CLI.hpp"

namespace evo2::client {

void AddClientCommands(CLI::App& app);

}  // namespace evo2::client
