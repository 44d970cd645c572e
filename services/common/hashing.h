// SHA-256 and random ids from OpenSSL's libcrypto.
#pragma once

#include <string>
#include <string_view>

namespace evo2::svc {

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// `bytes` cryptographically random bytes as lowercase hex (2*bytes characters).
// Job ids use 16 bytes (128 bits): unguessable, so an id is no existence oracle.
std::string RandomHex(int bytes);

// Equal-length comparison whose time does not depend on where the strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace evo2::svc
