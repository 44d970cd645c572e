#include "ops/working_memory.h"

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace evo2::ops {

int64_t AvailableMemoryBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t kb = 0;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return -1;
}

absl::Status CheckWorkingMemory(int64_t tokens, int64_t need_bytes) {
  const int64_t avail = AvailableMemoryBytes();
  if (avail <= 0 || need_bytes <= avail) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "Forward: ", tokens, " tokens need about ", need_bytes >> 20,
      " MiB of working memory on the cpu backend but only ", avail >> 20, " MiB are available"));
}

}  // namespace evo2::ops
