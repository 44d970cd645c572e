#include "idempotency_key.h"

#include <random>

#include "absl/strings/str_format.h"

namespace evo2::client {

std::string NewIdempotencyKey() {
  std::random_device rd;  // /dev/urandom on Linux
  std::string key = "evo2-";
  for (int i = 0; i < 4; ++i) absl::StrAppendFormat(&key, "%08x", rd());
  return key;
}

}  // namespace evo2::client
