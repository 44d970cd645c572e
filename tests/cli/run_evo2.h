// Runs the real `evo2` binary with arguments and captures its exit status, stdout and stderr.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace evo2::testing {

struct RunResult {
  int exit_code = -1;  // -1 when the process did not exit normally
  std::string out;
  std::string err;
};

RunResult RunEvo2(const std::vector<std::string>& args);

// Starts the binary without waiting; Wait() collects the result.
class Evo2Process {
 public:
  explicit Evo2Process(const std::vector<std::string>& args);
  int pid() const { return pid_; }
  RunResult Wait();

 private:
  int pid_ = -1;
  std::string out_path_;
  std::string err_path_;
};


}  // namespace evo2::testing
