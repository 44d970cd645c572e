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

// Emits pickle opcodes with CPython's memo numbering (every memoized object gets the next index).
class PickleWriter {
 public:
  std::string& out() { return out_; }
  void Op(char c) { out_.push_back(c); }
  void Put() {
    if (memo_ < 256) {
      Op('q');
      out_.push_back(static_cast<char>(memo_));
    } else {
      Op('r');
      Le(memo_, 4);
    }
    ++memo_;
  }
  void Get(uint32_t index) {
    if (index < 256) {
      Op('h');
      out_.push_back(static_cast<char>(index));
    } else {
      Op('j');
      Le(index, 4);
    }
  }
  // A str: BINUNICODE + memo.
  void String(std::string_view s) {
    Op('X');
    Le(s.size(), 4);
    out_.append(s);
    Put();
  }
  // A string object that is the same Python object each time ('storage', 'cpu').
  void SharedString(std::string_view s) { Shared(absl::StrCat("s:", std::string(s)), [&] { String(s); }); }
  void Global(std::string_view module, std::string_view name) {
    Shared(absl::StrCat("g:", std::string(module), ".", std::string(name)), [&] {
      Op('c');
      out_.append(module);
      out_.push_back('\n');
      out_.append(name);
      out_.push_back('\n');
      Put();
    });
  }
  // pickle.save_long for protocol 2.
  void Int(int64_t v) {
    if (v >= 0 && v < 256) {
      Op('K');
      out_.push_back(static_cast<char>(v));
    } else if (v >= 0 && v < 65536) {
      Op('M');
      Le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      Op('J');
      Le(static_cast<uint64_t>(v), 4);
    } else {
      // LONG1 with CPython's encode_long: (bit_length >> 3) + 1 bytes, two's complement, with a
      // redundant 0xff sign byte dropped for negatives.
      const uint64_t u = static_cast<uint64_t>(v);
      const uint64_t mag = v < 0 ? static_cast<uint64_t>(-(v + 1)) + 1 : u;  // |v| >= 2^31 here
      const size_t n = static_cast<size_t>((64 - __builtin_clzll(mag)) >> 3) + 1;  // <= 9
      std::string b;
      for (size_t i = 0; i < n; ++i) {
        b.push_back(static_cast<char>(i < 8 ? (u >> (8 * i)) & 0xFF : (v < 0 ? 0xFF : 0x00)));
      }
      if (v < 0 && n > 1 && static_cast<uint8_t>(b[n - 1]) == 0xFF && (static_cast<uint8_t>(b[n - 2]) & 0x80)) {
        b.pop_back();
      }
      Op('\x8a');
      out_.push_back(static_cast<char>(b.size()));
      out_.append(b);
    }
  }
  // A tuple of ints (save_tuple: EMPTY_TUPLE unmemoized, TUPLE1-3, else MARK ... TUPLE).
  void IntTuple(const std::vector<int64_t>& v) {
    if (v.empty()) {
      Op(')');
      return;
    }
    if (v.size() > 3) Op('(');
    for (int64_t x : v) Int(x);
    Op(v.size() == 1 ? '\x85' : v.size() == 2 ? '\x86' : v.size() == 3 ? '\x87' : 't');
    Put();
  }

 private:
  template <typename F>
  void Shared(const std::string& key, F emit) {
    auto it = shared_.find(key);
    if (it != shared_.end()) {
      Get(it->second);
      return;
    }
    shared_[key] = memo_;
    emit();
  }
  void Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  std::string out_;
  uint32_t memo_ = 0;
  std::map<std::string, uint32_t> shared_;
};

std::string TorchPickle(const NamedTensors& tensors) {
  PickleWriter w;
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
      const auto& [name, t] = tensors[i];
      std::vector<int64_t> stride(t.rank(), 1);
      for (size_t d = t.rank(); d-- > 1;) stride[d - 1] = stride[d] * t.dim(d);
      w.String(name);
      w.Global("torch._utils", "_rebuild_tensor_v2");
      w.Op('(');
      w.Op('(');  // persistent id ("storage", <Type>Storage, key, "cpu", numel)
      w.SharedString("storage");
      w.Global("torch", StorageClass(t.dtype()));
      w.String(absl::StrCat(i));
      w.SharedString("cpu");
      w.Int(t.numel());
      w.Op('t');
      w.Put();
      w.Op('Q');
      w.Int(0);  // storage offset
      w.IntTuple(t.shape());
      w.IntTuple(stride);
      w.Op('\x89');  // requires_grad=False
      w.Global("collections", "OrderedDict");
      w.Op(')');
      w.Op('R');
      w.Put();
      w.Op('t');
      w.Put();
      w.Op('R');
      w.Put();
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

}  // namespace

absl::Status WriteTorchPt(const std::filesystem::path& path, const NamedTensors& tensors) {
  const std::string pickle = TorchPickle(tensors);
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

}  // namespace evo2
