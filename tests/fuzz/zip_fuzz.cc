// The zip reader under every .pt and DCP item: the archive is held in memory (as a mapped file
// would be); every entry it accepts must lie inside the bytes, which reading them checks.
#include <memory>
#include <vector>

#include "io/zip_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  auto storage = std::make_shared<evo2::VectorStorage>(std::vector<std::byte>(bytes, bytes + size));
  auto zip = evo2::io::ZipArchive::Open(storage, "fuzz.zip");
  if (!zip.ok()) return 0;
  for (const auto& entry : zip->entries()) {
    (void)zip->Find(entry.name);
    (void)zip->VerifyCrc(entry).ok();  // reads every byte of the member
  }
  return 0;
}
