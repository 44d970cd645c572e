// Runs the real `evo2` client binary (path from the build as EVO2_CLI_BIN) against a
// ServiceCluster: --server and --api-key are filled in.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "service_harness.h"

namespace evo2::testing {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Starts `evo2 <args> --server <api> --api-key <key>`; output goes to `log`. `server` replaces
// the cluster's API address (e.g. a proxy in front of it).
std::unique_ptr<ChildProcess> StartCli(ServiceCluster& cluster, std::vector<std::string> args,
                                       const std::filesystem::path& log,
                                       const std::string& server = "");
// Runs it to the end (at most 60 s).
CliResult RunCli(ServiceCluster& cluster, std::vector<std::string> args,
                 const std::string& server = "");

}  // namespace evo2::testing
