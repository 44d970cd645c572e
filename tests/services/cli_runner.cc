#include "cli_runner.h"

#include <atomic>

#include "absl/strings/str_cat.h"

namespace evo2::testing {

std::unique_ptr<ChildProcess> StartCli(ServiceCluster& cluster, std::vector<std::string> args,
                                       const std::filesystem::path& log,
                                       const std::string& server) {
  // A subcommand's options follow the subcommand's name.
  std::vector<std::string> argv = {EVO2_CLI_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(),
              {"--server", server.empty() ? cluster.api_target() : server, "--api-key", kKeyAlpha});
  auto p = ChildProcess::Spawn(argv, {}, log);
  return p.ok() ? std::move(*p) : nullptr;
}

CliResult RunCli(ServiceCluster& cluster, std::vector<std::string> args,
                 const std::string& server) {
  static std::atomic<int> runs{0};
  const auto log = cluster.redis().dir() / absl::StrCat("cli", runs++, ".log");
  auto p = StartCli(cluster, std::move(args), log, server);
  CliResult r;
  if (p == nullptr) return r;
  r.exit_code = p->Wait(std::chrono::seconds(60));
  r.output = p->Log();
  return r;
}

}  // namespace evo2::testing
