#include "io/pt_reader.h"

#include <cstring>
#include <unordered_set>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "io/mapped_file.h"

namespace evo2::io {
namespace {

using Kind = PickleValue::Kind;
constexpr size_t kMaxRank = 64;

absl::StatusOr<std::vector<int64_t>> IntTuple(const PickleValue* v, std::string_view what) {
  if (v == nullptr || v->kind != Kind::kTuple) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " is ", DescribePickleValue(v), ", not a tuple"));
  }
  if (v->items.size() > kMaxRank) return absl::InvalidArgumentError(absl::StrCat(std::string(what), " has too many dimensions"));
  std::vector<int64_t> out;
  for (const PickleValue* x : v->items) {
    if (x->kind != Kind::kInt) return absl::InvalidArgumentError(absl::StrCat(std::string(what), " holds ", DescribePickleValue(x)));
    out.push_back(x->integer);
  }
  return out;
}

// Copies a strided view into a C-contiguous buffer.
// Checkpoints never hold expanded views; a legitimate one (a broadcast bias, say) is small.
constexpr int64_t kMaxExpandedTensorBytes = int64_t{256} << 20;

std::vector<std::byte> GatherStrided(std::span<const std::byte> src, size_t elem, int64_t offset,
                                     const std::vector<int64_t>& size, const std::vector<int64_t>& stride,
                                     int64_t numel) {
  std::vector<std::byte> out(static_cast<size_t>(numel) * elem);
  std::vector<int64_t> index(size.size(), 0);
  for (int64_t n = 0; n < numel; ++n) {
    int64_t at = offset;
    for (size_t d = 0; d < size.size(); ++d) at += index[d] * stride[d];
    std::memcpy(out.data() + n * elem, src.data() + at * elem, elem);
    for (size_t d = size.size(); d-- > 0;) {
      if (++index[d] < size[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

}  // namespace

// torch's legacy typed-storage class names (what torch.save still pickles) -> dtype.
absl::StatusOr<DType> DTypeFromStorageClass(const std::string& name) {
  static const std::pair<const char*, DType> kClasses[] = {
      {"FloatStorage", DType::kFloat32}, {"BFloat16Storage", DType::kBFloat16},
      {"HalfStorage", DType::kFloat16},  {"DoubleStorage", DType::kFloat64},
      {"LongStorage", DType::kInt64},    {"IntStorage", DType::kInt32},
      {"ShortStorage", DType::kInt16},   {"CharStorage", DType::kInt8},
      {"ByteStorage", DType::kUInt8},    {"BoolStorage", DType::kBool},
  };
  for (const auto& [n, d] : kClasses) {
    if (name == n) return d;
  }
  return absl::UnimplementedError(absl::StrCat("unsupported storage type torch.", name));
}

absl::StatusOr<TorchArchive> TorchArchive::Open(std::shared_ptr<const Storage> storage,
                                                std::span<const std::byte> range, std::string where) {
  ASSIGN_OR_RETURN(auto zip, ZipArchive::Open(std::move(storage), range, where));
  // The pickle is `<root>/data.pkl`; root is whatever torch named the archive.
  const ZipEntry* pkl = nullptr;
  for (const auto& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash + 1) == "data.pkl") {
      if (pkl != nullptr) return absl::DataLossError(absl::StrCat(where, ": more than one data.pkl"));
      pkl = &e;
    }
  }
  if (pkl == nullptr) {
    return absl::DataLossError(absl::StrCat(where, ": no <root>/data.pkl member: not a torch.save file"));
  }
  std::string root = pkl->name.substr(0, pkl->name.find('/'));
  if (const ZipEntry* bo = zip.Find(root + "/byteorder"); bo != nullptr) {
    const auto b = zip.Data(*bo);
    if (std::string_view(reinterpret_cast<const char*>(b.data()), b.size()) != "little") {
      return absl::UnimplementedError(absl::StrCat(where, ": big-endian torch.save files are not supported"));
    }
  }
  RETURN_IF_ERROR(zip.VerifyCrc(*pkl));
  ASSIGN_OR_RETURN(auto doc, Unpickle(zip.Data(*pkl), absl::StrCat(where, ":", pkl->name)));
  return TorchArchive(std::move(zip), std::move(root), std::move(doc));
}

absl::StatusOr<Tensor> TorchArchive::ToTensor(const PickleValue* value, const std::string& name) const {
  auto bad = [&](std::string_view what) {
    return absl::DataLossError(absl::StrCat(where(), ": tensor '", name, "': ", std::string(what)));
  };
  if (value == nullptr || value->kind != Kind::kObject || value->callable == nullptr) {
    return bad(absl::StrCat("expected a tensor, found ", DescribePickleValue(value)));
  }
  const PickleValue* args = value->args;
  // nn.Parameter: _rebuild_parameter(data, requires_grad, backward_hooks). Unwrapped in a loop
  // with a bound, so a malicious chain of nested parameters cannot exhaust the stack.
  for (int depth = 0; value->callable->IsGlobal("torch._utils", "_rebuild_parameter") ||
                      value->callable->IsGlobal("torch._utils", "_rebuild_parameter_with_state");
       ++depth) {
    if (args->items.empty()) return bad("_rebuild_parameter without arguments");
    if (depth >= kMaxPickleDepth) return bad("parameters nested too deeply");
    value = args->items[0];
    if (value->kind != Kind::kObject || value->callable == nullptr) {
      return bad(absl::StrCat("expected a tensor, found ", DescribePickleValue(value)));
    }
    args = value->args;
  }
  if (!value->callable->IsGlobal("torch._utils", "_rebuild_tensor_v2") &&
      !value->callable->IsGlobal("torch._utils", "_rebuild_tensor")) {
    return bad(absl::StrCat("expected a tensor, found ", DescribePickleValue(value)));
  }
  if (args->items.size() < 4) return bad("_rebuild_tensor_v2 with fewer than 4 arguments");
  // Storage: persistent id ("storage", torch.<Type>Storage, key, location, numel).
  const PickleValue* pid = args->items[0];
  if (pid->kind != Kind::kPersistentId || pid->args == nullptr || pid->args->kind != Kind::kTuple ||
      pid->args->items.size() < 5) {
    return bad("storage is not a persistent id (\"storage\", type, key, location, numel)");
  }
  const auto& p = pid->args->items;
  if (!p[0]->IsString() || p[0]->text != "storage") return bad("persistent id is not a storage");
  if (p[1]->kind != Kind::kGlobal) return bad("storage type is not a global");
  auto dtype = DTypeFromStorageClass(p[1]->name);
  if (!dtype.ok()) return bad(std::string(dtype.status().message()));
  if (!p[2]->IsString()) return bad("storage key is not a string");
  if (!p[4]->IsInt() || p[4]->integer < 0) return bad("storage size is not a non-negative int");
  const int64_t storage_numel = p[4]->integer;
  const size_t elem = DTypeSize(*dtype);

  if (!args->items[1]->IsInt() || args->items[1]->integer < 0) return bad("storage offset is not a non-negative int");
  const int64_t offset = args->items[1]->integer;
  auto size = IntTuple(args->items[2], "size");
  if (!size.ok()) return bad(std::string(size.status().message()));
  auto stride = IntTuple(args->items[3], "stride");
  if (!stride.ok()) return bad(std::string(stride.status().message()));
  if (size->size() != stride->size()) return bad("size and stride differ in rank");

  const std::string member = absl::StrCat(root_name_, "/data/", p[2]->text);
  const ZipEntry* entry = zip_.Find(member);
  if (entry == nullptr) return bad(absl::StrCat("storage member '", member, "' is missing"));
  int64_t storage_bytes = 0;
  if (__builtin_mul_overflow(storage_numel, static_cast<int64_t>(elem), &storage_bytes) ||
      static_cast<uint64_t>(storage_bytes) > entry->size) {
    return bad(absl::StrCat("storage '", member, "' should hold ", storage_numel, " elements of ",
                            std::string(DTypeName(*dtype)), " but has ", entry->size, " bytes"));
  }
  // Bounds: the furthest element addressed must lie inside the storage.
  int64_t numel = 1, last = offset;
  bool contiguous = true;
  int64_t expected_stride = 1;
  for (size_t d = size->size(); d-- > 0;) {
    const int64_t n = (*size)[d], s = (*stride)[d];
    if (n < 0 || s < 0) return bad("negative size or stride");
    if (__builtin_mul_overflow(numel, n, &numel)) return bad("size overflows");
    if (n > 1 && s != expected_stride) contiguous = false;
    if (n > 0) {
      int64_t reach = 0;
      if (__builtin_mul_overflow(n - 1, s, &reach) || __builtin_add_overflow(last, reach, &last)) {
        return bad("stride overflows");
      }
    }
    if (__builtin_mul_overflow(expected_stride, std::max<int64_t>(n, 1), &expected_stride)) {
      return bad("size overflows");
    }
  }
  if (numel > 0 && last >= storage_numel) {
    return bad(absl::StrCat("size ", ShapeString(*size), " stride ", ShapeString(*stride),
                            " offset ", offset, " reaches element ", last, " of a ",
                            storage_numel, "-element storage"));
  }
  if (numel == 0) return Tensor::FromBytes(*dtype, *size, {});
  if (contiguous) {
    return Tensor::View(zip_.storage(), zip_.StorageOffset(*entry) + static_cast<size_t>(offset) * elem,
                        *dtype, *size);
  }
  // Strided tensors are copied. Only a zero stride (torch's expand) gives a tensor more elements
  // than its storage holds; bound what it may expand to, so that a few bytes of pickle cannot
  // ask for terabytes or overflow the byte count of the copy.
  int64_t copy_bytes = 0;
  if (numel > storage_numel &&
      (__builtin_mul_overflow(numel, static_cast<int64_t>(elem), &copy_bytes) ||
       copy_bytes > kMaxExpandedTensorBytes)) {
    return bad(absl::StrCat("size ", ShapeString(*size), " stride ", ShapeString(*stride),
                            " expands a ", storage_numel, "-element storage to ", numel,
                            " elements (more than ", kMaxExpandedTensorBytes >> 20, " MiB)"));
  }
  auto bytes = GatherStrided(zip_.Data(*entry), elem, offset, *size, *stride, numel);
  return Tensor::View(std::make_shared<VectorStorage>(std::move(bytes)), 0, *dtype, *size);
}

absl::StatusOr<NamedTensors> TorchArchive::TensorDict(bool skip_extra_state) const {
  const PickleValue* root = doc_.root;
  // A plain dict, or an OrderedDict (REDUCE of collections.OrderedDict, then SETITEMS).
  if (root->kind != Kind::kDict &&
      !(root->kind == Kind::kObject && root->callable->IsGlobal("collections", "OrderedDict"))) {
    return absl::DataLossError(absl::StrCat(where(), ": top-level object is ", DescribePickleValue(root),
                                            ", not a dict of tensors"));
  }
  NamedTensors out;
  std::unordered_set<std::string> seen;
  for (const auto& [k, v] : root->entries) {
    if (!k->IsString()) {
      return absl::DataLossError(absl::StrCat(where(), ": dict key is ", DescribePickleValue(k), ", not a string"));
    }
    if (!seen.insert(k->text).second) {
      return absl::DataLossError(absl::StrCat(where(), ": key '", k->text, "' appears twice"));
    }
    if (skip_extra_state && absl::EndsWith(k->text, "._extra_state")) continue;
    ASSIGN_OR_RETURN(auto t, ToTensor(v, k->text));
    out.emplace_back(k->text, std::move(t));
  }
  return out;
}

}  // namespace evo2::io

namespace evo2 {

absl::StatusOr<NamedTensors> ReadTorchPt(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(auto file, io::MappedFile::Open(path));
  ASSIGN_OR_RETURN(auto archive, io::TorchArchive::Open(file, file->bytes(), path.string()));
  return archive.TensorDict(/*skip_extra_state=*/false);
}

}  // namespace evo2
