#include "io/dcp_reader.h"

#include <cstring>
#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "io/mapped_file.h"
#include "io/pt_reader.h"

namespace evo2::io {
namespace {

namespace fs = std::filesystem;

// Opens each `.distcp` file once.
class FileCache {
 public:
  explicit FileCache(fs::path dir) : dir_(std::move(dir)) {}
  absl::StatusOr<std::shared_ptr<const MappedFile>> Get(const std::string& name) {
    // relative_path comes from the (untrusted) metadata: a plain file name only.
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      return absl::DataLossError(absl::StrCat("item file name '", name, "' is not a plain file name"));
    }
    auto it = files_.find(name);
    if (it != files_.end()) return it->second;
    ASSIGN_OR_RETURN(auto f, MappedFile::Open(dir_ / name));
    files_.emplace(name, f);
    return f;
  }

 private:
  fs::path dir_;
  std::map<std::string, std::shared_ptr<const MappedFile>> files_;
};

// Copies a C-contiguous chunk into its place in the C-contiguous global buffer.
void PlaceChunk(std::span<const std::byte> chunk, const DcpChunk& c, const std::vector<int64_t>& global,
                size_t elem, std::byte* dst) {
  const size_t rank = global.size();
  if (rank == 0) {
    std::memcpy(dst, chunk.data(), elem);
    return;
  }
  // Global strides in elements.
  std::vector<int64_t> stride(rank, 1);
  for (size_t d = rank - 1; d-- > 0;) stride[d] = stride[d + 1] * global[d + 1];
  const size_t row_bytes = static_cast<size_t>(c.sizes[rank - 1]) * elem;
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= c.sizes[d];
  std::vector<int64_t> index(rank - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t at = c.offsets[rank - 1];
    for (size_t d = 0; d + 1 < rank; ++d) at += (c.offsets[d] + index[d]) * stride[d];
    std::memcpy(dst + at * elem, chunk.data() + r * row_bytes, row_bytes);
    for (size_t d = rank - 1; d-- > 0;) {
      if (++index[d] < c.sizes[d]) break;
      index[d] = 0;
    }
  }
}

bool Overlap(const DcpChunk& a, const DcpChunk& b) {
  for (size_t d = 0; d < a.offsets.size(); ++d) {
    if (a.offsets[d] + a.sizes[d] <= b.offsets[d] || b.offsets[d] + b.sizes[d] <= a.offsets[d]) return false;
  }
  return true;
}

absl::StatusOr<Tensor> ReadOne(const DcpTensor& t, const DcpMetadata& metadata, FileCache& files,
                               const fs::path& weights_dir) {
  auto bad = [&](std::string_view what) {
    return absl::DataLossError(absl::StrCat(weights_dir.string(), ": tensor '", t.fqn, "': ", std::string(what)));
  };
  const size_t rank = t.size.size();
  int64_t numel = 1;
  for (int64_t d : t.size) {
    if (__builtin_mul_overflow(numel, d, &numel) || numel > (int64_t{1} << 40)) return bad("global shape is too large");
  }
  // The chunks must tile the global tensor exactly: in bounds, disjoint, volumes adding up.
  int64_t covered = 0;
  for (size_t i = 0; i < t.chunks.size(); ++i) {
    const DcpChunk& c = t.chunks[i];
    if (c.offsets.size() != rank || c.sizes.size() != rank) {
      return bad(absl::StrCat("chunk ", i, " has rank ", c.offsets.size(), " but the tensor has rank ", rank));
    }
    int64_t volume = 1;
    for (size_t d = 0; d < rank; ++d) {
      if (c.offsets[d] > t.size[d] || c.sizes[d] > t.size[d] - c.offsets[d]) {
        return bad(absl::StrCat("chunk at offsets ", ShapeString(c.offsets), " with sizes ",
                                ShapeString(c.sizes), " exceeds the global shape ", ShapeString(t.size)));
      }
      volume *= c.sizes[d];
    }
    for (size_t j = 0; j < i; ++j) {
      if (volume > 0 && Overlap(c, t.chunks[j])) {
        return bad(absl::StrCat("chunks at offsets ", ShapeString(c.offsets), " and ",
                                ShapeString(t.chunks[j].offsets), " overlap"));
      }
    }
    covered += volume;
  }
  if (covered != numel) {
    return bad(absl::StrCat("chunks cover ", covered, " of ", numel, " elements of ", ShapeString(t.size)));
  }
  const size_t elem = DTypeSize(t.dtype);
  std::vector<std::byte> global(static_cast<size_t>(numel) * elem);
  for (const DcpChunk& c : t.chunks) {
    auto loc = metadata.locations.find({t.fqn, c.offsets});
    if (loc == metadata.locations.end()) {
      return bad(absl::StrCat("no storage entry for the chunk at offsets ", ShapeString(c.offsets)));
    }
    const DcpItemLocation& item = loc->second;
    auto file = files.Get(item.relative_path);
    if (!file.ok()) {
      return bad(absl::StrCat("chunk at offsets ", ShapeString(c.offsets), ": ", std::string(file.status().message())));
    }
    const auto bytes = (*file)->bytes();
    const std::string where = absl::StrCat((weights_dir / item.relative_path).string(), " (item at offset ",
                                           item.offset, ", ", item.length, " bytes)");
    if (item.offset > bytes.size() || item.length > bytes.size() - item.offset) {
      return bad(absl::StrCat(where, " lies beyond the end of the ", bytes.size(), "-byte file"));
    }
    auto archive = TorchArchive::Open(*file, bytes.subspan(item.offset, item.length), where);
    if (!archive.ok()) return bad(std::string(archive.status().message()));
    auto chunk = archive->ToTensor(archive->root(), t.fqn);
    if (!chunk.ok()) return bad(std::string(chunk.status().message()));
    if (chunk->dtype() != t.dtype || chunk->shape() != c.sizes) {
      return bad(absl::StrCat(where, " holds ", chunk->DebugString(), " but the metadata promises ",
                              ShapeString(c.sizes), " ", std::string(DTypeName(t.dtype))));
    }
    PlaceChunk(chunk->bytes(), c, t.size, elem, global.data());
  }
  return Tensor::View(std::make_shared<VectorStorage>(std::move(global)), 0, t.dtype, t.size);
}

}  // namespace

absl::StatusOr<NamedTensors> ReadDcpTensors(const fs::path& weights_dir, const DcpMetadata& metadata,
                                            const std::function<bool(const std::string&)>& wanted) {
  FileCache files(weights_dir);
  NamedTensors out;
  for (const DcpTensor& t : metadata.tensors) {
    if (!wanted(t.fqn)) continue;
    ASSIGN_OR_RETURN(auto tensor, ReadOne(t, metadata, files, weights_dir));
    out.emplace_back(t.fqn, std::move(tensor));
  }
  return out;
}

absl::StatusOr<std::vector<std::byte>> ReadDcpByteItem(const fs::path& weights_dir,
                                                       const DcpMetadata& metadata,
                                                       const std::string& fqn) {
  auto bad = [&](std::string_view what) {
    return absl::DataLossError(
        absl::StrCat(weights_dir.string(), ": byte item '", fqn, "': ", std::string(what)));
  };
  // Byte items are indexed without chunk offsets.
  auto loc = metadata.locations.find({fqn, {}});
  if (loc == metadata.locations.end()) return bad("no storage entry");
  const DcpItemLocation& item = loc->second;
  FileCache files(weights_dir);
  auto file = files.Get(item.relative_path);
  if (!file.ok()) return bad(std::string(file.status().message()));
  const auto bytes = (*file)->bytes();
  if (item.offset > bytes.size() || item.length > bytes.size() - item.offset) {
    return bad(absl::StrCat("offset ", item.offset, " + ", item.length,
                            " bytes lies beyond the end of the ", bytes.size(), "-byte ",
                            item.relative_path));
  }
  const auto range = bytes.subspan(item.offset, item.length);
  return std::vector<std::byte>(range.begin(), range.end());
}

}  // namespace evo2::io
