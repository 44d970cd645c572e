// CRC-32 (ISO-HDLC, the zip polynomial 0xEDB88320), for zip members we write and check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace evo2::io {

// Continues a running CRC: Crc32(b, Crc32(a)) == Crc32(a ++ b). Start with 0.
uint32_t Crc32(std::span<const std::byte> bytes, uint32_t crc = 0);

}  // namespace evo2::io
