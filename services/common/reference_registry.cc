#include "reference_registry.h"

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"

namespace evo2::svc {

absl::Status CheckReferenceName(const std::string& name) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("reference name '", name.substr(0, 80), "' must be 1..64 characters"));
  }
  for (unsigned char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reference name '", name, "' may hold only letters, digits, '.', '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status RegisterReference(RedisConnection& redis, const JobKeys& keys,
                               const std::string& model, const std::string& name,
                               const std::string& description) {
  RETURN_IF_ERROR(CheckReferenceName(name));
  return redis.Command({"HSET", keys.References(model), name, description}).status();
}

absl::StatusOr<std::map<std::string, std::string>> RegisteredReferences(RedisConnection& redis,
                                                                        const JobKeys& keys,
                                                                        const std::string& model) {
  ASSIGN_OR_RETURN(RedisReply r, redis.Command({"HGETALL", keys.References(model)}));
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    out[r.elements[i].AsString()] = r.elements[i + 1].AsString();
  }
  return out;
}

}  // namespace evo2::svc
