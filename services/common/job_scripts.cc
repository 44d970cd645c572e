#include "job_scripts.h"

#include <string>

namespace evo2::svc::scripts {
namespace {

// Shared helpers. Every script gets the current time (µs since epoch, decimal string) as
// ARGV[1] and the job hash key as KEYS[1]; the job's sibling keys (":input", ":events",
// ":results") are derived from it. Times stay strings: Lua numbers print as %.14g, which would
// mangle 16-digit microsecond values.
//
// Fencing: a worker's writes carry (worker id, attempt); they apply only while the job is
// RUNNING under exactly that pair, so a worker whose lease was taken over can no longer write.
constexpr char kPrelude[] = R"lua(
local NOW = ARGV[1]
local H = KEYS[1]

local function emit(typ, msg, extra)
  local f = redis.call('HMGET', H, 'state', 'attempt', 'records_done', 'tokens_done', 'worker')
  local args = {'XADD', H .. ':events', '*', 'type', typ, 'time_us', NOW, 'state', f[1] or '',
                'attempt', f[2] or '0', 'rd', f[3] or '0', 'td', f[4] or '0',
                'worker', f[5] or '', 'msg', msg}
  if extra then for i = 1, #extra do args[#args + 1] = extra[i] end end
  return redis.call(unpack(args))
end

local function ack_entry()
  local f = redis.call('HMGET', H, 'queue', 'entry')
  if f[1] and f[2] and f[2] ~= '' then
    redis.call('XACK', f[1], 'workers', f[2])
    redis.call('XDEL', f[1], f[2])
  end
end

local function set_error(code, msg, rec, recname)
  redis.call('HSET', H, 'err_code', code, 'err_msg', msg, 'err_record', rec,
             'err_record_name', recname)
end

-- Moves the job to a terminal state: error (optional), quota release, TTL on every key,
-- terminal event, queue entry acked + deleted when `ack` (a never-delivered entry is left for
-- the worker that reads it, so that the group's lag stays valid).
local function terminate(state, msg, ack)
  local f = redis.call('HMGET', H, 'ttl_s', 'bases', 'quota_key')
  local ttl = tonumber(f[1]) or 86400
  local expire = string.format('%d', tonumber(NOW) + ttl * 1000000)
  redis.call('HSET', H, 'state', state, 'ended_us', NOW, 'updated_us', NOW, 'expire_us', expire)
  if f[3] then
    redis.call('HINCRBY', f[3], 'active_jobs', -1)
    redis.call('HINCRBY', f[3], 'active_bases', -(tonumber(f[2]) or 0))
  end
  local e = redis.call('HMGET', H, 'err_code', 'err_msg', 'err_record', 'err_record_name')
  local extra = {}
  if state == 'FAILED' then
    extra = {'err_code', e[1] or '', 'err_msg', e[2] or '', 'err_record', e[3] or '-1',
             'err_record_name', e[4] or ''}
  end
  emit('STATE_CHANGED', msg, extra)
  for _, k in ipairs({H, H .. ':input', H .. ':events', H .. ':results'}) do
    redis.call('EXPIRE', k, ttl)
  end
  if ack then ack_entry() end
  -- The job no longer counts as work for the autoscaler (job_keys.h, ActiveWork).
  local aw = redis.call('HMGET', H, 'active_stream', 'active_entry')
  if aw[1] and aw[2] and aw[2] ~= '' then
    redis.call('XDEL', aw[1], aw[2])
    redis.call('HSET', H, 'active_entry', '')
  end
end

-- FAILED for good, with a copy in the dead-letter stream `dead`.
local function dead_letter(dead, why)
  local f = redis.call('HMGET', H, 'err_code', 'err_msg', 'tenant', 'id', 'model', 'attempt',
                       'max_attempts')
  local code = f[1]
  if not code or code == '' then code = '14' end
  local msg = 'gave up after ' .. (f[6] or '?') .. ' attempts (max ' .. (f[7] or '?') ..
              '); last error: ' .. (f[2] or why)
  redis.call('HSET', H, 'err_code', code, 'err_msg', msg)
  terminate('FAILED', 'dead-lettered: ' .. why, true)
  redis.call('XADD', dead, '*', 'job', H, 'tenant', f[3] or '', 'job_id', f[4] or '',
             'model', f[5] or '', 'attempts', f[6] or '0', 'err_code', code, 'err_msg', msg,
             'time_us', NOW)
end

-- Back to QUEUED under a fresh queue entry so an idle worker takes it at once.
local function requeue(msg)
  ack_entry()
  local q = redis.call('HGET', H, 'queue')
  local entry = redis.call('XADD', q, '*', 'job', H)
  redis.call('HSET', H, 'state', 'QUEUED', 'entry', entry, 'worker', '', 'updated_us', NOW)
  emit('STATE_CHANGED', msg)
end

-- ARGV[2] worker, ARGV[3] attempt. Returns nil when the caller still holds the job.
local function fenced()
  local f = redis.call('HMGET', H, 'state', 'worker', 'attempt')
  if f[1] ~= 'RUNNING' or f[2] ~= ARGV[2] or f[3] ~= ARGV[3] then
    return {'fenced', f[1] or 'gone'}
  end
  return nil
end
)lua";

// KEYS: job, tenant zset, quota hash, idempotency key (the job key again when none), queue,
//       the model's active-work stream.
// ARGV: now, id, digest, has_idem, idem_ttl_s, max_active_jobs, max_active_bases, bases,
//       input blob, ttl_s, then field/value pairs for the job hash.
// Reply: {'ok', entry, job hash (HGETALL)}, {'replay', id}, {'conflict', id} or
//        {'quota_jobs' | 'quota_bases', active count}.
constexpr char kSubmit[] = R"lua(
if ARGV[4] == '1' then
  local v = redis.call('GET', KEYS[4])
  if v then
    local sp = string.find(v, ' ', 1, true)
    local id = string.sub(v, 1, sp - 1)
    if string.sub(v, sp + 1) == ARGV[3] then return {'replay', id} end
    return {'conflict', id}
  end
end
local q = redis.call('HMGET', KEYS[3], 'active_jobs', 'active_bases')
local aj = tonumber(q[1]) or 0
local ab = tonumber(q[2]) or 0
local bases = tonumber(ARGV[8])
if tonumber(ARGV[6]) > 0 and aj + 1 > tonumber(ARGV[6]) then return {'quota_jobs', tostring(aj)} end
if tonumber(ARGV[7]) > 0 and ab + bases > tonumber(ARGV[7]) then
  return {'quota_bases', string.format('%d', ab)}
end
local fields = {'HSET', H, 'id', ARGV[2], 'state', 'QUEUED', 'created_us', NOW, 'updated_us', NOW,
                'started_us', '0', 'ended_us', '0', 'attempt', '0', 'records_done', '0',
                'tokens_done', '0', 'cancel_requested', '0', 'ttl_s', ARGV[10], 'bases', ARGV[8],
                'quota_key', KEYS[3], 'queue', KEYS[5], 'digest', ARGV[3]}
for i = 11, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call(unpack(fields))
redis.call('SET', H .. ':input', ARGV[9])
local entry = redis.call('XADD', KEYS[5], '*', 'job', H)
local active = redis.call('XADD', KEYS[6], '*', 'job', H)
redis.call('HSET', H, 'entry', entry, 'active_stream', KEYS[6], 'active_entry', active)
redis.call('ZADD', KEYS[2], NOW, ARGV[2])
redis.call('HINCRBY', KEYS[3], 'active_jobs', 1)
redis.call('HINCRBY', KEYS[3], 'active_bases', bases)
emit('STATE_CHANGED', 'queued')
if ARGV[4] == '1' then redis.call('SET', KEYS[4], ARGV[2] .. ' ' .. ARGV[3], 'EX', ARGV[5]) end
-- The job as stored: a worker may claim it before the API reads it back.
return {'ok', entry, redis.call('HGETALL', H)}
)lua";

// KEYS: job, queue stream the entry came from, dead-letter stream.
// ARGV: now, worker, entry id, lease_until_us, then provenance field/value pairs.
constexpr char kClaim[] = R"lua(
local function drop() redis.call('XACK', KEYS[2], 'workers', ARGV[3]); redis.call('XDEL', KEYS[2], ARGV[3]) end
-- Only the consumer that holds the entry may claim (an entry can be reclaimed by another worker
-- while it waits in this worker's hands).
local p = redis.call('XPENDING', KEYS[2], 'workers', ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return {'skip', 'not-owner'} end
if redis.call('EXISTS', H) == 0 then drop(); return {'skip', 'gone'} end
local st = redis.call('HGET', H, 'state')
if redis.call('HGET', H, 'entry') ~= ARGV[3] then drop(); return {'skip', 'superseded'} end
if st ~= 'QUEUED' and st ~= 'RUNNING' then drop(); return {'skip', st} end
if st == 'RUNNING' then
  local prev = redis.call('HGET', H, 'worker') or '?'
  local msg = 'worker ' .. prev .. ' stopped heartbeating (lease expired)'
  set_error('14', msg, '-1', '')
  emit('ATTEMPT_FAILED', msg, {'err_code', '14', 'err_msg', msg})
end
if redis.call('HGET', H, 'cancel_requested') == '1' then
  terminate('CANCELLED', 'cancelled', true)
  return {'skip', 'CANCELLED'}
end
local attempt = redis.call('HINCRBY', H, 'attempt', 1)
if attempt > tonumber(redis.call('HGET', H, 'max_attempts')) then
  redis.call('HINCRBY', H, 'attempt', -1)
  dead_letter(KEYS[3], 'attempts exhausted')
  return {'dead', tostring(attempt - 1)}
end
local fields = {'HSET', H, 'state', 'RUNNING', 'worker', ARGV[2], 'lease_until_us', ARGV[4],
                'updated_us', NOW}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call(unpack(fields))
if redis.call('HGET', H, 'started_us') == '0' then redis.call('HSET', H, 'started_us', NOW) end
emit('STATE_CHANGED', 'claimed by worker ' .. ARGV[2] .. ' (attempt ' .. attempt .. ')')
return {'run', tostring(attempt)}
)lua";

// KEYS: job, queue stream. ARGV: now, worker, attempt, entry, lease_until_us.
// Resets the entry's idle time (XCLAIM JUSTID does not bump the delivery counter).
constexpr char kHeartbeat[] = R"lua(
local f = fenced()
if f then return f end
redis.call('HSET', H, 'lease_until_us', ARGV[5])
redis.call('XCLAIM', KEYS[2], 'workers', ARGV[2], '0', ARGV[4], 'JUSTID')
return {'ok', redis.call('HGET', H, 'cancel_requested')}
)lua";

// KEYS: job. ARGV: now, worker, attempt, record index, result blob, tokens, record name.
// HSETNX: a record already stored (by an earlier attempt) is neither overwritten nor counted.
constexpr char kPutResult[] = R"lua(
local f = fenced()
if f then return f end
local added = redis.call('HSETNX', H .. ':results', ARGV[4], ARGV[5])
if added == 1 then
  redis.call('HINCRBY', H, 'records_done', 1)
  redis.call('HINCRBY', H, 'tokens_done', ARGV[6])
  redis.call('HSET', H, 'updated_us', NOW)
  emit('RECORD_FINISHED', 'record ' .. ARGV[4] .. ' done', {'record_index', ARGV[4], 'record_name', ARGV[7]})
end
return {'ok', redis.call('HGET', H, 'cancel_requested'), tostring(added)}
)lua";

// KEYS: job. ARGV: now, worker, attempt, record index, record name, sample, first index, bases,
// log-probs (comma-separated). A generate job's freshly drawn bases as a TOKENS_GENERATED event;
// fenced like every worker write. Not idempotent: a retried call publishes the bases twice
// (clients key them by record, sample and first index, jobs.proto GeneratedTokens).
constexpr char kEmitTokens[] = R"lua(
local f = fenced()
if f then return f end
redis.call('HSET', H, 'updated_us', NOW)
emit('TOKENS_GENERATED', '', {'record_index', ARGV[4], 'record_name', ARGV[5], 'sample', ARGV[6],
                              'first', ARGV[7], 'bases', ARGV[8], 'lps', ARGV[9]})
return {'ok', redis.call('HGET', H, 'cancel_requested')}
)lua";

// KEYS: job. ARGV: now, worker, attempt, VCF records done, VCF records total, windows scored,
// tokens scored. A variant-scoring job's progress through its VCF as a VARIANTS_PROGRESS event;
// fenced like every worker write, and the reply tells of a cancel.
constexpr char kEmitVariantProgress[] = R"lua(
local f = fenced()
if f then return f end
redis.call('HSET', H, 'updated_us', NOW)
emit('VARIANTS_PROGRESS', '', {'v_done', ARGV[4], 'v_total', ARGV[5], 'v_windows', ARGV[6],
                               'v_tokens', ARGV[7]})
return {'ok', redis.call('HGET', H, 'cancel_requested')}
)lua";

// KEYS: job. ARGV: now, worker, attempt, state (SUCCEEDED|FAILED|CANCELLED), err code, err msg,
// err record index, err record name, message.
constexpr char kFinish[] = R"lua(
local f = fenced()
if f then return f end
if ARGV[4] == 'FAILED' then set_error(ARGV[5], ARGV[6], ARGV[7], ARGV[8]) end
terminate(ARGV[4], ARGV[9], true)
return {'ok'}
)lua";

// KEYS: job, dead-letter stream, the model's retry zset. ARGV: now, worker, attempt, err code,
// err msg, err record, err record name, retry_at_us. Retryable failure of one attempt:
// dead-letter when attempts are used up, else back to QUEUED with no queue entry, parked in the
// retry zset (score = retry_at_us) until a worker's promote script re-queues it, so the backoff
// holds whichever worker comes next.
constexpr char kFailAttempt[] = R"lua(
local f = fenced()
if f then return f end
set_error(ARGV[4], ARGV[5], ARGV[6], ARGV[7])
emit('ATTEMPT_FAILED', ARGV[5], {'err_code', ARGV[4], 'err_msg', ARGV[5], 'err_record', ARGV[6], 'err_record_name', ARGV[7]})
if tonumber(ARGV[3]) >= tonumber(redis.call('HGET', H, 'max_attempts')) then
  dead_letter(KEYS[2], 'attempts exhausted')
  return {'dead'}
end
ack_entry()
redis.call('HSET', H, 'state', 'QUEUED', 'entry', '', 'worker', '', 'retry_at_us', ARGV[8],
           'updated_us', NOW)
redis.call('ZADD', KEYS[3], ARGV[8], H)
emit('STATE_CHANGED', 'retrying after attempt ' .. ARGV[3] .. ' failed, not before ' .. ARGV[8] .. ' us')
return {'delayed'}
)lua";

// KEYS: job. ARGV: now, worker, attempt. A draining worker hands the job back; the attempt
// does not count against max_attempts.
constexpr char kRelease[] = R"lua(
local f = fenced()
if f then return f end
redis.call('HINCRBY', H, 'attempt', -1)
requeue('released by worker ' .. ARGV[2] .. ' (draining)')
return {'released'}
)lua";

// KEYS: a model's retry zset. ARGV: now (µs), most jobs to promote. Queues every parked job
// whose retry time has come under a fresh entry of its own priority stream; members whose job
// has meanwhile been cancelled, expired or re-queued are only dropped. Standalone (no prelude):
// the members are job keys, so it touches keys it is not given, like the other scripts' sibling
// keys (one Redis primary, not Cluster).
constexpr char kPromoteRetries[] = R"lua(
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local promoted = 0
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  local f = redis.call('HMGET', job, 'state', 'entry', 'queue')
  if f[1] == 'QUEUED' and (not f[2] or f[2] == '') and f[3] then
    local entry = redis.call('XADD', f[3], '*', 'job', job)
    redis.call('HSET', job, 'entry', entry, 'updated_us', ARGV[1])
    promoted = promoted + 1
  end
end
return promoted
)lua";

// KEYS: job. ARGV: now.
constexpr char kCancel[] = R"lua(
if redis.call('EXISTS', H) == 0 then return {'notfound'} end
local st = redis.call('HGET', H, 'state')
if st == 'QUEUED' then
  terminate('CANCELLED', 'cancelled while queued', false)
  return {'cancelled'}
end
if st == 'RUNNING' then
  if redis.call('HGET', H, 'cancel_requested') ~= '1' then
    redis.call('HSET', H, 'cancel_requested', '1', 'updated_us', NOW)
    emit('CANCEL_REQUESTED', 'cancel requested')
  end
  return {'requested'}
end
return {'terminal', st}
)lua";

const LuaScript& Make(const char* body,
                      LuaScript::Idempotent idempotent = LuaScript::Idempotent::kNo) {
  // Intentionally leaked: scripts live for the whole process (no static destruction order issue).
  return *new LuaScript(std::string(kPrelude) + body, idempotent);
}

// Safe to resend after a broken socket (RedisConnection's retry policy): a second heartbeat
// renews the same lease, a second result write finds the record stored (HSETNX) and counts
// nothing, a second cancel finds the job cancelled or the flag already set. The others are not:
// a second submit, claim, finish, fail-attempt or release would find the state it left and
// answer differently (or act twice). A second promote finds nothing due any more.
constexpr auto kIdempotent = LuaScript::Idempotent::kYes;

}  // namespace

const LuaScript& Submit() { static const LuaScript& s = Make(kSubmit); return s; }
const LuaScript& Claim() { static const LuaScript& s = Make(kClaim); return s; }
const LuaScript& Heartbeat() {
  static const LuaScript& s = Make(kHeartbeat, kIdempotent);
  return s;
}
const LuaScript& PutResult() {
  static const LuaScript& s = Make(kPutResult, kIdempotent);
  return s;
}
const LuaScript& Finish() { static const LuaScript& s = Make(kFinish); return s; }
const LuaScript& EmitTokens() {
  static const LuaScript& s = Make(kEmitTokens);
  return s;
}
const LuaScript& EmitVariantProgress() {
  static const LuaScript& s = Make(kEmitVariantProgress);
  return s;
}
const LuaScript& FailAttempt() { static const LuaScript& s = Make(kFailAttempt); return s; }
const LuaScript& Release() { static const LuaScript& s = Make(kRelease); return s; }
const LuaScript& PromoteRetries() {
  static const LuaScript& s = *new LuaScript(kPromoteRetries, kIdempotent);
  return s;
}
const LuaScript& Cancel() {
  static const LuaScript& s = Make(kCancel, kIdempotent);
  return s;
}

}  // namespace evo2::svc::scripts
