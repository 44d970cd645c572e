// Helpers for fuzz targets whose parser takes a path: the input bytes go to a file in a private
// temporary directory made once per process (libFuzzer runs inputs one after another in one
// process, so one directory suffices), and touching every byte of a tensor makes ASan check
// that a view the parser accepted really lies inside its storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "evo2/fasta.h"
#include "evo2/tensor.h"

namespace evo2::fuzz {

inline const std::filesystem::path& TempDir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "evo2-fuzz-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

inline std::filesystem::path WriteFile(const std::string& name, std::string_view bytes) {
  const std::filesystem::path path = TempDir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) std::abort();
  return path;
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Reads every byte of the tensor; the sum is returned so the reads are not optimised away.
inline unsigned TouchBytes(const Tensor& t) {
  unsigned sum = 0;
  for (std::byte b : t.bytes()) sum += static_cast<unsigned>(b);
  return sum;
}

// Reads every record through the index; a record whose bytes disagree with its indexed length
// is a bug (the index was followed out of the record, or silently misread).
inline void ReadEveryRecord(const IndexedFasta& indexed) {
  for (size_t i = 0; i < indexed.size(); ++i) {
    auto sequence = indexed.ReadSequence(i);
    if (sequence.ok() && static_cast<int64_t>(sequence->size()) != indexed.entries()[i].length) {
      std::abort();
    }
  }
}

}  // namespace evo2::fuzz
