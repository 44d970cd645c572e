#include "checkpoint_digest.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "hashing.h"

namespace evo2::svc {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxHashedFileBytes = 4ull << 30;
constexpr uint64_t kWholeFileBytes = 4ull << 20;
constexpr uint64_t kSampleBytes = 1ull << 20;

bool ReadAt(std::ifstream& in, uint64_t offset, uint64_t n, std::string* out) {
  std::string buf(n, '\0');
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(buf.data(), static_cast<std::streamsize>(n));
  if (static_cast<uint64_t>(in.gcount()) != n) return false;
  out->append(buf);
  return true;
}

// SHA-256 hex of the whole file, or of its first, middle and last kSampleBytes when larger than
// kWholeFileBytes; "" when it cannot be read.
std::string FileFingerprint(const fs::path& p, uint64_t size) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return "";
  std::string data;
  if (size <= kWholeFileBytes) {
    if (!ReadAt(in, 0, size, &data)) return "";
  } else {
    for (uint64_t off : {uint64_t{0}, size / 2 - kSampleBytes / 2, size - kSampleBytes}) {
      if (!ReadAt(in, off, kSampleBytes, &data)) return "";
    }
  }
  return Sha256Hex(data);
}

std::string DirectoryDigest(const fs::path& dir) {
  std::error_code ec;
  std::map<std::string, fs::path> files;  // relative path (generic form) → path, sorted
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec);
  if (ec) return "";
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return "";
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec)) {
      files.emplace(fs::relative(it->path(), dir, ec).generic_string(), it->path());
    }
  }
  std::string listing;
  for (const auto& [rel, path] : files) {
    const uint64_t size = fs::file_size(path, ec);
    if (ec) return "";
    const std::string fingerprint = FileFingerprint(path, size);
    if (fingerprint.empty()) return "";
    absl::StrAppend(&listing, rel, "\t", size, "\t", fingerprint, "\n");
  }
  return "sha256-dir:" + Sha256Hex(listing);
}

}  // namespace

std::string CheckpointDigest(const fs::path& p) {
  std::error_code ec;
  if (fs::is_directory(p, ec)) return DirectoryDigest(p);
  if (!fs::is_regular_file(p, ec)) return "";
  const uint64_t size = fs::file_size(p, ec);
  if (ec || size > kMaxHashedFileBytes) return "";
  std::ifstream in(p, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return "sha256:" + Sha256Hex(data);
}

}  // namespace evo2::svc
