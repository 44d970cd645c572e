#include "io/dcp_writer.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "io/atomic_file.h"
#include "io/pickle_writer.h"
#include "io/torch_tensor_file.h"

namespace evo2::io {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kMetadataModule = "torch.distributed.checkpoint.metadata";
constexpr std::string_view kStorageModule = "torch.distributed.checkpoint.filesystem";

struct Chunk {
  std::string fqn;
  std::vector<int64_t> offsets, sizes;
  Tensor data;
  std::string file;  // __R_0.distcp
  uint64_t offset = 0, length = 0;
  bool byte_item = false;  // stored as torch.save([data]), indexed without offsets
};

// The box (offsets, sizes) of a C-contiguous tensor, copied into its own tensor.
absl::StatusOr<Tensor> SliceBox(const Tensor& t, const std::vector<int64_t>& offsets,
                                const std::vector<int64_t>& sizes) {
  const size_t rank = t.rank();
  const size_t elem = DTypeSize(t.dtype());
  if (rank == 0) return Tensor::FromBytes(t.dtype(), {}, t.bytes());
  std::vector<int64_t> stride(rank, 1);  // in elements
  for (size_t d = rank - 1; d-- > 0;) stride[d] = stride[d + 1] * t.dim(d + 1);
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= sizes[d];
  const size_t row_bytes = static_cast<size_t>(sizes[rank - 1]) * elem;
  std::vector<std::byte> out(static_cast<size_t>(rows) * row_bytes);
  std::vector<int64_t> index(rank - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t at = offsets[rank - 1];
    for (size_t d = 0; d + 1 < rank; ++d) at += (offsets[d] + index[d]) * stride[d];
    std::memcpy(out.data() + static_cast<size_t>(r) * row_bytes,
                t.bytes().data() + static_cast<size_t>(at) * elem, row_bytes);
    for (size_t d = rank - 1; d-- > 0;) {
      if (++index[d] < sizes[d]) break;
      index[d] = 0;
    }
  }
  return Tensor::FromBytes(t.dtype(), sizes, out);
}

// The default layout: split along dim 0 where it divides evenly, else whole on rank 0.
std::vector<DcpChunkPlan> DefaultPlan(const Tensor& t, int ranks) {
  const bool split = ranks > 1 && t.rank() >= 1 && t.dim(0) > 0 && t.dim(0) % ranks == 0;
  std::vector<DcpChunkPlan> plan;
  for (int r = 0; r < (split ? ranks : 1); ++r) {
    DcpChunkPlan c{r, std::vector<int64_t>(t.rank(), 0), t.shape()};
    if (split) {
      c.sizes[0] = t.dim(0) / ranks;
      c.offsets[0] = r * c.sizes[0];
    }
    plan.push_back(std::move(c));
  }
  return plan;
}

// torch.Size((d0, d1, ...)): REDUCE of the class on a 1-tuple holding the int tuple.
void EmitSize(PickleWriter& w, const std::vector<int64_t>& shape) {
  w.Global("torch", "Size");
  w.IntTuple(shape);
  w.Op('\x85');
  w.Put();
  w.Op('R');
  w.Put();
}

// A dataclass instance as copyreg pickles it: NEWOBJ of the class on (), then BUILD(state).
template <typename EmitState>
void EmitObject(PickleWriter& w, std::string_view module, std::string_view name, EmitState emit_state) {
  w.Global(module, name);
  w.Op(')');
  w.Op('\x81');
  w.Put();
  emit_state();
  w.Op('b');
}

// A dict of string keys: EMPTY_DICT, MARK, key value ..., SETITEMS.
template <typename EmitItems>
void EmitDict(PickleWriter& w, EmitItems emit_items) {
  w.Op('}');
  w.Put();
  w.Op('(');
  emit_items();
  w.Op('u');
}

std::string MetadataPickle(const std::vector<Chunk>& chunks, const NamedTensors& tensors,
                           const NamedTensors& byte_items) {
  PickleWriter w;
  w.Op('\x80');
  w.Op('\x02');
  EmitObject(w, kMetadataModule, "Metadata", [&] {
    EmitDict(w, [&] {
      w.String("state_dict_metadata");
      EmitDict(w, [&] {
        // Named, not a structured binding: the lambdas below capture them (clang 14 cannot
        // capture structured bindings).
        for (const auto& entry : tensors) {
          const std::string& fqn = entry.first;
          const Tensor& t = entry.second;
          w.String(fqn);
          EmitObject(w, kMetadataModule, "TensorStorageMetadata", [&] {
            EmitDict(w, [&] {
              w.String("properties");
              // TensorProperties pickles its state as the tuple (dtype, layout, requires_grad,
              // memory_format, pin_memory).
              EmitObject(w, kMetadataModule, "TensorProperties", [&] {
                w.Op('(');
                w.Global("torch", DTypeName(t.dtype()));
                w.Global("torch", "strided");
                w.Op('\x89');
                w.Global("torch", "contiguous_format");
                w.Op('\x89');
                w.Op('t');
                w.Put();
              });
              w.String("size");
              EmitSize(w, t.shape());
              w.String("chunks");
              w.Op(']');
              w.Put();
              w.Op('(');
              for (const Chunk& c : chunks) {
                if (c.fqn != fqn) continue;
                EmitObject(w, kMetadataModule, "ChunkStorageMetadata", [&] {
                  EmitDict(w, [&] {
                    w.String("offsets");
                    EmitSize(w, c.offsets);
                    w.String("sizes");
                    EmitSize(w, c.sizes);
                  });
                });
              }
              w.Op('e');
            });
          });
        }
        // BytesStorageMetadata has no fields: NEWOBJ without BUILD.
        for (const auto& entry : byte_items) {
          w.String(entry.first);
          w.Global(kMetadataModule, "BytesStorageMetadata");
          w.Op(')');
          w.Op('\x81');
          w.Put();
        }
      });
      w.String("planner_data");
      w.Op('N');
      w.String("storage_data");
      EmitDict(w, [&] {
        for (const Chunk& c : chunks) {
          EmitObject(w, kMetadataModule, "MetadataIndex", [&] {
            EmitDict(w, [&] {
              w.String("fqn");
              w.String(c.fqn);
              w.String("offset");
              if (c.byte_item) {
                w.Op('N');
              } else {
                EmitSize(w, c.offsets);
              }
              w.String("index");
              if (c.byte_item) {
                w.Op('N');
              } else {
                w.Int(0);
              }
            });
          });
          EmitObject(w, kStorageModule, "_StorageInfo", [&] {
            EmitDict(w, [&] {
              w.String("relative_path");
              w.String(c.file);
              w.String("offset");
              w.Int(static_cast<int64_t>(c.offset));
              w.String("length");
              w.Int(static_cast<int64_t>(c.length));
            });
          });
        }
      });
    });
  });
  w.Op('.');
  return std::move(w.out());
}

absl::StatusOr<std::string> ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError(absl::StrCat("cannot read back ", path.string()));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

absl::Status WriteDcpCheckpoint(const fs::path& weights_dir, const NamedTensors& tensors,
                                const DcpWriteOptions& options, const NamedTensors& byte_items) {
  if (options.ranks < 1) return absl::InvalidArgumentError("DCP writer: ranks must be >= 1");
  std::error_code ec;
  fs::create_directories(weights_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", weights_dir.string(), ": ", ec.message()));

  // Byte items first, on rank 0; then the tensors' chunks as planned.
  std::vector<Chunk> chunks;
  for (const auto& [fqn, t] : byte_items) {
    Chunk c{fqn, {}, {}, t, "__0_0.distcp"};
    c.byte_item = true;
    chunks.push_back(std::move(c));
  }
  for (const auto& [fqn, t] : tensors) {
    if (t.bytes().size() != t.nbytes()) {
      return absl::InvalidArgumentError(absl::StrCat("DCP writer: tensor '", fqn, "' has no data"));
    }
    const std::vector<DcpChunkPlan> plan =
        options.planner ? options.planner(fqn, t) : DefaultPlan(t, options.ranks);
    for (const DcpChunkPlan& p : plan) {
      bool inside = p.rank >= 0 && p.rank < options.ranks && p.offsets.size() == t.rank() &&
                    p.sizes.size() == t.rank();
      for (size_t d = 0; inside && d < t.rank(); ++d) {
        inside = p.offsets[d] >= 0 && p.sizes[d] >= 0 && p.offsets[d] + p.sizes[d] <= t.dim(d);
      }
      if (!inside) {
        return absl::InvalidArgumentError(
            absl::StrCat("DCP writer: tensor '", fqn, "' ", t.DebugString(), ": planned chunk at ",
                         ShapeString(p.offsets), " of ", ShapeString(p.sizes), " on rank ", p.rank,
                         " lies outside it or the ranks"));
      }
      Chunk c{fqn, p.offsets, p.sizes, t, absl::StrCat("__", p.rank, "_0.distcp")};
      if (p.sizes != t.shape()) {
        ASSIGN_OR_RETURN(c.data, SliceBox(t, p.offsets, p.sizes));
      }
      chunks.push_back(std::move(c));
    }
  }
  // Each item is a complete torch.save archive (its zip offsets relative to the item), appended
  // to its rank's file.
  const fs::path scratch = weights_dir / ".dcp-item.pt";
  for (int r = 0; r < options.ranks; ++r) {
    const std::string name = absl::StrCat("__", r, "_0.distcp");
    ASSIGN_OR_RETURN(auto out, AtomicFileWriter::Open(weights_dir / name));
    for (Chunk& c : chunks) {
      if (c.file != name) continue;
      RETURN_IF_ERROR(c.byte_item ? WriteTorchTensorListFile(scratch, c.fqn, c.data)
                                  : WriteTorchTensorFile(scratch, c.fqn, c.data));
      ASSIGN_OR_RETURN(const std::string item, ReadAll(scratch));
      c.offset = out.position();
      c.length = item.size();
      RETURN_IF_ERROR(out.Write(item));
    }
    RETURN_IF_ERROR(out.Commit());
  }
  fs::remove(scratch, ec);
  ASSIGN_OR_RETURN(auto metadata, AtomicFileWriter::Open(weights_dir / ".metadata"));
  RETURN_IF_ERROR(metadata.Write(MetadataPickle(chunks, tensors, byte_items)));
  return metadata.Commit();
}

}  // namespace evo2::io
