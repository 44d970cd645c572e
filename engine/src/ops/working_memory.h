// The CPU backends' guard against forwards that would not fit in host memory: each model
// estimates the bytes one forward needs and asks here before allocating, so a too-long record
// fails with RESOURCE_EXHAUSTED (which record, how much) instead of being killed by the OOM killer.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace evo2::ops {

// MemAvailable from /proc/meminfo in bytes; -1 when unknown.
int64_t AvailableMemoryBytes();

// OK when `need_bytes` fits in MemAvailable (or MemAvailable is unknown); otherwise
// RESOURCE_EXHAUSTED naming the token count and both sizes.
absl::Status CheckWorkingMemory(int64_t tokens, int64_t need_bytes);

}  // namespace evo2::ops
