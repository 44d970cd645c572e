// torch.save-compatible writer (docs/spec/checkpoints.md §10): a protocol-2
// pickle of a dict name -> `_rebuild_tensor_v2(persistent storage, 0, size, stride, False,
// OrderedDict())`, one storage per tensor, in the zip layout of PyTorch 2.x. The pickle's opcode
// and memo sequence is what CPython's pickler emits for torch.save, so data.pkl is byte-identical
// to torch's for the same dict (tested against the reference files).
#include <cstring>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "evo2/status_macros.h"
#include "evo2/torch_pt.h"
#include "io/atomic_file.h"
#include "io/crc32.h"
#include "io/pickle_writer.h"
#include "io/torch_tensor_file.h"
#include "io/zip_writer.h"

namespace evo2 {
namespace {

std::string_view StorageClass(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "FloatStorage";
    case DType::kBFloat16: return "BFloat16Storage";
    case DType::kFloat16: return "HalfStorage";
    case DType::kFloat64: return "DoubleStorage";
    case DType::kInt64: return "LongStorage";
    case DType::kInt32: return "IntStorage";
    case DType::kInt16: return "ShortStorage";
    case DType::kInt8: return "CharStorage";
    case DType::kUInt8: return "ByteStorage";
    case DType::kBool: return "BoolStorage";
  }
  return "?";
}

// `_rebuild_tensor_v2(persistent storage, 0, size, stride, False, OrderedDict())` for a
// contiguous tensor whose storage is archive member data/<key>.
void EmitTensor(io::PickleWriter& w, const Tensor& t, size_t key) {
  w.Global("torch._utils", "_rebuild_tensor_v2");
  w.Op('(');
  w.Op('(');  // persistent id ("storage", <Type>Storage, key, "cpu", numel)
  w.SharedString("storage");
  w.Global("torch", StorageClass(t.dtype()));
  w.String(absl::StrCat(key));
  w.SharedString("cpu");
  w.Int(t.numel());
  w.Op('t');
  w.Put();
  w.Op('Q');
  w.FinishRebuildContiguousTensor(t.shape());
}

std::string TorchPickle(const NamedTensors& tensors) {
  io::PickleWriter w;
  w.Op('\x80');
  w.Op('\x02');
  w.Op('}');
  w.Put();
  // CPython's _batch_setitems: batches of 1000, MARK ... SETITEMS, or a lone SETITEM.
  constexpr size_t kBatch = 1000;
  for (size_t begin = 0; begin < tensors.size(); begin += kBatch) {
    const size_t end = std::min(tensors.size(), begin + kBatch);
    if (end - begin > 1) w.Op('(');
    for (size_t i = begin; i < end; ++i) {
      w.String(tensors[i].first);
      EmitTensor(w, tensors[i].second, i);
    }
    w.Op(end - begin > 1 ? 'u' : 's');
  }
  w.Op('.');
  return std::move(w.out());
}

// torch's archive name: the file's base name without its extension.
std::string ArchiveName(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  const size_t dot = name.find_last_of('.');
  if (dot != std::string::npos) name = name.substr(0, dot);
  return name.empty() ? "archive" : name;
}

// The zip around a pickle whose storages are `tensors` in order (member data/<i>).
absl::Status WriteTorchArchive(const std::filesystem::path& path, const std::string& pickle,
                               const NamedTensors& tensors) {
  const std::string root = ArchiveName(path);
  ASSIGN_OR_RETURN(auto file, io::AtomicFileWriter::Open(path));
  io::ZipWriter zip(file);
  // Member order and contents as PyTorch 2.x writes them.
  RETURN_IF_ERROR(zip.Add(root + "/data.pkl", pickle));
  RETURN_IF_ERROR(zip.Add(root + "/.format_version", "1"));
  RETURN_IF_ERROR(zip.Add(root + "/.storage_alignment", "64"));
  RETURN_IF_ERROR(zip.Add(root + "/byteorder", "little"));
  uint32_t id_crc = io::Crc32(std::as_bytes(std::span<const char>(pickle.data(), pickle.size())));
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto bytes = tensors[i].second.bytes();
    if (bytes.size() != tensors[i].second.nbytes()) {
      return absl::InternalError(absl::StrCat("tensor '", tensors[i].first, "' has no data"));
    }
    RETURN_IF_ERROR(zip.Add(absl::StrCat(root, "/data/", i), bytes));
    id_crc = io::Crc32(bytes.subspan(0, std::min<size_t>(bytes.size(), 4096)), id_crc);
  }
  RETURN_IF_ERROR(zip.Add(root + "/version", "3\n"));
  // torch writes 40 digits (a counter and a random number); ours is derived from the content so
  // that identical outputs are identical files.
  const std::string id = absl::StrFormat("%020d%020d", tensors.size(), id_crc);
  RETURN_IF_ERROR(zip.Add(root + "/.data/serialization_id", id));
  RETURN_IF_ERROR(zip.Finish());
  return file.Commit();
}

}  // namespace

absl::Status WriteTorchPt(const std::filesystem::path& path, const NamedTensors& tensors) {
  return WriteTorchArchive(path, TorchPickle(tensors), tensors);
}

namespace io {

absl::Status WriteTorchTensorFile(const std::filesystem::path& path, const std::string& name,
                                  const Tensor& tensor) {
  PickleWriter w;
  w.Op('\x80');
  w.Op('\x02');
  EmitTensor(w, tensor, 0);
  w.Op('.');
  return WriteTorchArchive(path, w.out(), NamedTensors{{name, tensor}});
}

absl::Status WriteTorchTensorListFile(const std::filesystem::path& path, const std::string& name,
                                      const Tensor& tensor) {
  PickleWriter w;
  w.Op('\x80');
  w.Op('\x02');
  w.Op(']');
  w.Put();
  EmitTensor(w, tensor, 0);
  w.Op('a');
  w.Op('.');
  return WriteTorchArchive(path, w.out(), NamedTensors{{name, tensor}});
}

}  // namespace io

}  // namespace evo2
