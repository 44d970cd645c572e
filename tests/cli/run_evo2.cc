#include "run_evo2.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

namespace evo2::testing {

Evo2Process::Evo2Process(const std::vector<std::string>& args) {
  static std::atomic<int> counter{0};
  const auto base = std::filesystem::temp_directory_path() /
                    ("evo2_cli_run_" + std::to_string(::getpid()) + "_" +
                     std::to_string(counter++));
  out_path_ = base.string() + ".out";
  err_path_ = base.string() + ".err";
  pid_ = ::fork();
  if (pid_ == 0) {
    const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(err, 2);
    std::vector<char*> argv;
    std::string binary = EVO2_CLI_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
}

RunResult Evo2Process::Wait() {
  RunResult result;
  int status = 0;
  ::waitpid(pid_, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = ReadFileBytes(out_path_);
  result.err = ReadFileBytes(err_path_);
  std::filesystem::remove(out_path_);
  std::filesystem::remove(err_path_);
  return result;
}

RunResult RunEvo2(const std::vector<std::string>& args) { return Evo2Process(args).Wait(); }

}  // namespace evo2::testing
