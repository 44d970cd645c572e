// Lua scripts that make every racing job-state change atomic (cancel vs claim vs finish,
// result writes vs lease loss). Each script runs inside Redis as one step; see job_scripts.cc
// for the argument layout of each and docs/service.md for the state machine.
#pragma once

#include "redis_client.h"

namespace evo2::svc::scripts {

const LuaScript& Submit();
const LuaScript& Claim();
const LuaScript& Heartbeat();
const LuaScript& PutResult();
const LuaScript& Finish();
const LuaScript& EmitTokens();
const LuaScript& EmitVariantProgress();
const LuaScript& FailAttempt();
const LuaScript& Release();
const LuaScript& PromoteRetries();
const LuaScript& Cancel();

}  // namespace evo2::svc::scripts
