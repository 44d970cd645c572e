// A small synchronous Redis client on hiredis 0.14 (RESP2): one RAII connection, AUTH/SELECT on
// connect, reconnect after a broken socket, typed replies and Lua scripts by EVALSHA with a
// fallback to EVAL when the server does not know the script (e.g. after a restart).
//
// Stale sockets: before each command the connection checks, without a round trip, whether the
// server has closed its socket (a Redis restart closes every client's); if so it reconnects
// first, so a pooled connection that outlived a restart does not fail a request.
//
// Retry policy: a command that fails on a broken socket may or may not have been executed.
// It is resent once on a fresh connection only when running it twice is harmless: the read-only
// commands of IsRetrySafeCommand and scripts marked idempotent (LuaScript::idempotent: the
// heartbeat, the HSETNX result write and cancel). Every other command (submit, claim, finish,
// fail-attempt, release, XADD, XREADGROUP, ...) is not resent: the caller gets UNAVAILABLE and
// the next command reconnects first.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct redisContext;

namespace evo2::svc {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // AUTH when non-empty
  std::string username;  // ACL user (AUTH user pass) when non-empty
  int db = 0;
  absl::Duration connect_timeout = absl::Seconds(2);
  // Socket read/write timeout; blocking commands need a larger one than their BLOCK time.
  absl::Duration command_timeout = absl::Seconds(10);
};

// Parses "redis://[:password@]host:port[/db]" or "host:port" into options (password from the
// URL only when present). Unknown schemes → INVALID_ARGUMENT.
absl::StatusOr<RedisOptions> ParseRedisUrl(const std::string& url);

// A RESP2 reply, copied out of hiredis' reply tree.
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;       // kString, kStatus, kError
  int64_t integer = 0;   // kInteger
  std::vector<RedisReply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
  bool is_array() const { return type == Type::kArray; }
  // String value of a string/status/integer reply (integers are formatted); "" for nil.
  std::string AsString() const;
  // Integer value of an integer reply or a decimal string reply.
  absl::StatusOr<int64_t> AsInteger() const;
};

// A Lua script; its SHA-1 is computed once so that calls can use EVALSHA. `idempotent`: running
// it twice with the same arguments leaves the same state and reply as running it once, so a
// call that failed on a broken socket may be resent.
class LuaScript {
 public:
  enum class Idempotent { kNo, kYes };
  explicit LuaScript(std::string source, Idempotent idempotent = Idempotent::kNo);
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }
  bool idempotent() const { return idempotent_ == Idempotent::kYes; }

 private:
  std::string source_;
  std::string sha1_;
  Idempotent idempotent_;
};

// Commands that only read (or, like PING, change nothing), so resending one after an I/O error
// cannot change data: GET, HGET, HGETALL, HMGET, EXISTS, XRANGE, XREVRANGE, XREAD (without a
// group), XINFO, XPENDING, ZRANGE*, ZREVRANGE*, ZSCORE, TTL, PING, ...
bool IsRetrySafeCommand(const std::string& name);

class RedisConnection {
 public:
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(const RedisOptions& options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Runs one command (binary-safe argv). A Redis error reply becomes a status: NOSCRIPT →
  // NOT_FOUND, WRONGPASS/NOAUTH → UNAUTHENTICATED, others → INTERNAL naming the command.
  // Socket/protocol failures → UNAVAILABLE (the connection reconnects on the next call), after
  // one resend on a fresh connection when IsRetrySafeCommand(argv[0]).
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& argv);

  // Several commands in one round trip (pipelined, not atomic). Fails as a whole on I/O errors;
  // per-command error replies are returned as kError replies.
  absl::StatusOr<std::vector<RedisReply>> Pipeline(
      const std::vector<std::vector<std::string>>& commands);

  // EVALSHA, falling back to EVAL (which also caches the script) on NOSCRIPT. An idempotent
  // script is resent once on a fresh connection after an I/O error.
  absl::StatusOr<RedisReply> Eval(const LuaScript& script, const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args);

  // Changes the socket timeout (for blocking reads). Applies to the current and later sockets.
  absl::Status SetCommandTimeout(absl::Duration timeout);

  const RedisOptions& options() const { return options_; }

 private:
  explicit RedisConnection(RedisOptions options) : options_(std::move(options)) {}
  absl::Status Reconnect();
  absl::Status EnsureConnected();
  // True when the server has closed the socket (EOF or error pending on an idle socket).
  bool PeerClosed() const;
  // One command, no resend; `io_error` tells a socket failure from an error reply.
  absl::StatusOr<RedisReply> CommandOnce(const std::vector<std::string>& argv, bool* io_error);
  absl::StatusOr<RedisReply> CommandWithRetry(const std::vector<std::string>& argv,
                                              bool retry_safe);

  RedisOptions options_;
  redisContext* ctx_ = nullptr;  // owned; null while disconnected
};

}  // namespace evo2::svc
