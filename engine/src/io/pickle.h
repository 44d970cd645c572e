// A strict, non-executing unpickler for the protocol 2-5 opcodes that torch.save `data.pkl`
// and torch.distributed.checkpoint `.metadata` files use (docs/spec/checkpoints.md §3).
// Malformed input (truncation, stack underflow, bad memo index, unknown opcode, oversize
// lengths) returns an error with the byte offset; it never crashes, and it runs in time linear
// in the input (every opcode consumes at least one byte).
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "io/pickle_value.h"

namespace evo2::io {

// `where` names the stream in errors (e.g. "model.pt:archive/data.pkl").
absl::StatusOr<PickleDocument> Unpickle(std::span<const std::byte> bytes, const std::string& where);

}  // namespace evo2::io
