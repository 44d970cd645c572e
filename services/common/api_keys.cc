#include "api_keys.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "evo2/status_macros.h"
#include "hashing.h"

namespace evo2::svc {

bool ApiKeyRegistry::ValidTenant(const std::string& t) {
  if (t.empty() || t.size() > 64) return false;
  for (char c : t) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

absl::Status ApiKeyRegistry::Add(const std::string& tenant, const std::string& sha256_hex) {
  if (!ValidTenant(tenant)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tenant '", tenant, "': must be 1..64 characters of [A-Za-z0-9_.-]"));
  }
  if (sha256_hex.size() != 64 ||
      sha256_hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("tenant '", tenant, "': key hash must be 64 lowercase hex digits"));
  }
  by_hash_[sha256_hex] = tenant;
  return absl::OkStatus();
}

absl::Status ApiKeyRegistry::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("api key file '", path, "': cannot open"));
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    absl::string_view s = absl::StripAsciiWhitespace(line);
    if (s.empty() || s[0] == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(s, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 2 || !absl::StartsWith(parts[1], "sha256:")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "api key file '", path, "' line ", lineno, ": expected '<tenant> sha256:<hex>'"));
    }
    absl::Status st = Add(parts[0], parts[1].substr(7));
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("api key file '", path, "' line ", lineno, ": ", st.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ApiKeyRegistry::LoadEnvList(const std::string& list) {
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    auto eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      return absl::InvalidArgumentError("EVO2_API_KEYS: expected 'tenant=key[,tenant=key...]'");
    }
    RETURN_IF_ERROR(Add(std::string(absl::StripAsciiWhitespace(item.substr(0, eq))),
                        Sha256Hex(std::string(absl::StripAsciiWhitespace(item.substr(eq + 1))))));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ApiKeyRegistry::Authenticate(const std::string& key) const {
  if (key.empty()) {
    return absl::UnauthenticatedError(
        "missing API key: send 'authorization: Bearer <key>' or 'x-api-key: <key>'");
  }
  // Lookup by the key's hash: the map compares hashes, never the secret itself.
  auto it = by_hash_.find(Sha256Hex(key));
  if (it == by_hash_.end()) return absl::UnauthenticatedError("unknown API key");
  return it->second;
}

}  // namespace evo2::svc
