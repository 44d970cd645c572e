// Finds a `string` field holding invalid UTF-8 in a serialized message before protobuf parses
// it. proto3 parsing refuses such a message as a whole, and gRPC answers a request it cannot
// parse with INTERNAL and no text, so the caller could never learn which record name was wrong.
// The walk follows the message's descriptors (no second copy of the schema); everything else
// that is malformed is left for the real parser to refuse.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"

namespace evo2::svc {

// INVALID_ARGUMENT with a BadRequest violation naming the field path and the byte offset in
// the field's value, e.g. "records.records[2].name: byte 0xff at offset 1 is not valid UTF-8".
absl::Status CheckUtf8Fields(const google::protobuf::Descriptor& type, std::string_view wire);

// Offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF); npos when `text` is valid.
size_t FirstInvalidUtf8(std::string_view text);

}  // namespace evo2::svc
