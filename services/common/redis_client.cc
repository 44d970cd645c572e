#include "redis_client.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "evo2/status_macros.h"

namespace evo2::svc {
namespace {

timeval DurationToTimeval(absl::Duration d) {
  timeval tv{};
  const int64_t us = absl::ToInt64Microseconds(d);
  tv.tv_sec = static_cast<time_t>(us / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
  return tv;
}

RedisReply Convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

absl::Status ErrorReplyToStatus(const std::string& command, const std::string& err) {
  if (absl::StartsWith(err, "NOSCRIPT")) return absl::NotFoundError(err);
  if (absl::StartsWith(err, "WRONGPASS") || absl::StartsWith(err, "NOAUTH")) {
    return absl::UnauthenticatedError(absl::StrCat("redis ", command, ": ", err));
  }
  if (absl::StartsWith(err, "LOADING") || absl::StartsWith(err, "BUSY") ||
      absl::StartsWith(err, "MASTERDOWN") || absl::StartsWith(err, "TRYAGAIN")) {
    return absl::UnavailableError(absl::StrCat("redis ", command, ": ", err));
  }
  return absl::InternalError(absl::StrCat("redis ", command, ": ", err));
}

std::string Sha1Hex(const std::string& s) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  std::string hex;
  hex.reserve(2 * SHA_DIGEST_LENGTH);
  char buf[3];
  for (unsigned char c : digest) {
    std::snprintf(buf, sizeof(buf), "%02x", c);
    hex += buf;
  }
  return hex;
}

}  // namespace

std::string RedisReply::AsString() const {
  if (type == Type::kInteger) return absl::StrCat(integer);
  return str;
}

absl::StatusOr<int64_t> RedisReply::AsInteger() const {
  if (type == Type::kInteger) return integer;
  int64_t v = 0;
  if ((type == Type::kString || type == Type::kStatus) && absl::SimpleAtoi(str, &v)) return v;
  return absl::InternalError(absl::StrCat("redis reply is not an integer: '", str, "'"));
}

absl::StatusOr<RedisOptions> ParseRedisUrl(const std::string& url) {
  RedisOptions o;
  std::string rest = url;
  if (absl::StartsWith(rest, "redis://")) {
    rest = rest.substr(8);
  } else if (absl::StrContains(rest, "://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis url '", url, "': only redis:// is supported (hiredis 0.14 has no TLS)"));
  }
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (auto colon = cred.find(':'); colon != std::string::npos) {
      o.username = cred.substr(0, colon);
      o.password = cred.substr(colon + 1);
    } else {
      o.password = cred;
    }
  }
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty() && !absl::SimpleAtoi(db, &o.db)) {
      return absl::InvalidArgumentError(absl::StrCat("redis url '", url, "': bad db '", db, "'"));
    }
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    if (!absl::SimpleAtoi(rest.substr(colon + 1), &o.port) || o.port <= 0 || o.port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("redis url '", url, "': bad port"));
    }
    rest = rest.substr(0, colon);
  }
  if (!rest.empty()) o.host = rest;
  return o;
}

LuaScript::LuaScript(std::string source, Idempotent idempotent)
    : source_(std::move(source)), sha1_(Sha1Hex(source_)), idempotent_(idempotent) {}

bool IsRetrySafeCommand(const std::string& name) {
  static constexpr std::string_view kReadOnly[] = {"GET",
                                                   "MGET",
                                                   "HGET",
                                                   "HGETALL",
                                                   "HMGET",
                                                   "HEXISTS",
                                                   "HLEN",
                                                   "EXISTS",
                                                   "TYPE",
                                                   "TTL",
                                                   "PTTL",
                                                   "XRANGE",
                                                   "XREVRANGE",
                                                   "XLEN",
                                                   "XINFO",
                                                   "XPENDING",
                                                   "XREAD",
                                                   "ZRANGE",
                                                   "ZSCORE",
                                                   "ZRANGEBYSCORE",
                                                   "ZREVRANGE",
                                                   "ZCARD",
                                                   "ZREVRANGEBYSCORE",
                                                   "PING",
                                                   "INFO",
                                                   "SCAN",
                                                   "SMEMBERS"};
  const std::string upper = absl::AsciiStrToUpper(name);
  return std::find(std::begin(kReadOnly), std::end(kReadOnly), upper) != std::end(kReadOnly);
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(
    const RedisOptions& options) {
  std::unique_ptr<RedisConnection> conn(new RedisConnection(options));
  RETURN_IF_ERROR(conn->Reconnect());
  return conn;
}

RedisConnection::~RedisConnection() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

absl::Status RedisConnection::Reconnect() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  redisContext* c = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                            DurationToTimeval(options_.connect_timeout));
  const std::string where = absl::StrCat(options_.host, ":", options_.port);
  if (c == nullptr) return absl::UnavailableError(absl::StrCat("redis ", where, ": out of memory"));
  if (c->err != 0) {
    std::string msg = absl::StrCat("redis ", where, ": cannot connect: ", c->errstr);
    redisFree(c);
    return absl::UnavailableError(msg);
  }
  if (options_.command_timeout > absl::ZeroDuration()) {
    redisSetTimeout(c, DurationToTimeval(options_.command_timeout));
  }
  redisEnableKeepAlive(c);
  ctx_ = c;
  if (!options_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!options_.username.empty()) auth.push_back(options_.username);
    auth.push_back(options_.password);
    auto r = Command(auth);
    if (!r.ok()) {
      redisFree(ctx_);
      ctx_ = nullptr;
      return r.status();
    }
  }
  if (options_.db != 0) {
    RETURN_IF_ERROR(Command({"SELECT", absl::StrCat(options_.db)}).status());
  }
  return absl::OkStatus();
}

bool RedisConnection::PeerClosed() const {
  if (ctx_ == nullptr || ctx_->fd < 0) return false;
  char byte = 0;
  const ssize_t n = ::recv(ctx_->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // the server closed its end (restart, idle timeout, CLIENT KILL)
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return false;  // unread bytes: not expected between commands, left to hiredis
}

absl::Status RedisConnection::EnsureConnected() {
  if (ctx_ != nullptr && ctx_->err == 0 && !PeerClosed()) return absl::OkStatus();
  return Reconnect();
}

absl::Status RedisConnection::SetCommandTimeout(absl::Duration timeout) {
  options_.command_timeout = timeout;
  if (ctx_ != nullptr && redisSetTimeout(ctx_, DurationToTimeval(timeout)) != REDIS_OK) {
    return absl::UnavailableError("redis: cannot set socket timeout");
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisReply> RedisConnection::Command(const std::vector<std::string>& argv) {
  return CommandWithRetry(argv, !argv.empty() && IsRetrySafeCommand(argv[0]));
}

absl::StatusOr<RedisReply> RedisConnection::CommandWithRetry(const std::vector<std::string>& argv,
                                                             bool retry_safe) {
  bool io_error = false;
  auto r = CommandOnce(argv, &io_error);
  if (!io_error || !retry_safe) return r;
  // The socket broke mid-command (e.g. Redis restarted after the liveness check): CommandOnce
  // reconnects first, so this goes out on a fresh connection.
  return CommandOnce(argv, &io_error);
}

absl::StatusOr<RedisReply> RedisConnection::CommandOnce(const std::vector<std::string>& argv,
                                                        bool* io_error) {
  *io_error = false;
  RETURN_IF_ERROR(EnsureConnected());
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
  const std::string name = argv.empty() ? "" : argv[0];
  if (raw == nullptr) {
    std::string msg = absl::StrCat("redis ", name, ": ", ctx_->errstr);
    redisFree(ctx_);
    ctx_ = nullptr;  // reconnect on the next call
    *io_error = true;
    return absl::UnavailableError(msg);
  }
  RedisReply reply = Convert(raw);
  freeReplyObject(raw);
  if (reply.type == RedisReply::Type::kError) return ErrorReplyToStatus(name, reply.str);
  return reply;
}

absl::StatusOr<std::vector<RedisReply>> RedisConnection::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  RETURN_IF_ERROR(EnsureConnected());
  for (const auto& argv : commands) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()) !=
        REDIS_OK) {
      return absl::UnavailableError(absl::StrCat("redis pipeline: ", ctx_->errstr));
    }
  }
  std::vector<RedisReply> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      std::string msg = absl::StrCat("redis pipeline: ", ctx_->errstr);
      redisFree(ctx_);
      ctx_ = nullptr;
      return absl::UnavailableError(msg);
    }
    out.push_back(Convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return out;
}

absl::StatusOr<RedisReply> RedisConnection::Eval(const LuaScript& script,
                                                 const std::vector<std::string>& keys,
                                                 const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"EVALSHA", script.sha1(), absl::StrCat(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = CommandWithRetry(argv, script.idempotent());
  if (r.ok() || !absl::IsNotFound(r.status())) return r;
  argv[0] = "EVAL";
  argv[1] = script.source();
  return CommandWithRetry(argv, script.idempotent());
}

}  // namespace evo2::svc
