// API keys → tenants. Keys are stored only as SHA-256 hashes (the key file holds hashes; keys
// given in the environment are hashed on load and the plain text is not kept).
//
// Key file (one entry per line, '#' comments):      <tenant> sha256:<64 hex digits>
// Environment (EVO2_API_KEYS), comma-separated:     <tenant>=<plain key>
// `evo2-api --hash-key KEY` prints the file line's hash part for a key.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace evo2::svc {

class ApiKeyRegistry {
 public:
  absl::Status LoadFile(const std::string& path);
  absl::Status LoadEnvList(const std::string& list);  // "tenant=key,tenant2=key2"
  absl::Status Add(const std::string& tenant, const std::string& sha256_hex);

  // Tenant of a presented key; UNAUTHENTICATED when unknown or empty.
  absl::StatusOr<std::string> Authenticate(const std::string& presented_key) const;
  size_t size() const { return by_hash_.size(); }

  // Tenant names: 1..64 of [A-Za-z0-9_.-] (they become part of Redis keys).
  static bool ValidTenant(const std::string& tenant);

 private:
  std::map<std::string, std::string> by_hash_;  // sha256 hex → tenant
};

}  // namespace evo2::svc
