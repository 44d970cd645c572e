#include "io/torch_legacy_storage.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "io/pickle.h"
#include "io/pt_reader.h"

namespace evo2::io {
namespace {

using Kind = PickleValue::Kind;

// pickle.dump(0x1950a86a20f9469cfc6c, protocol=2): PROTO 2, LONG1 of 10 bytes, STOP. The magic
// number is wider than the unpickler's 64-bit integers, so it is matched as bytes.
constexpr unsigned char kMagicPickle[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                          0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
constexpr int64_t kLegacyProtocolVersion = 1001;

}  // namespace

absl::StatusOr<LegacyStorage> ReadLegacyTorchStorage(std::span<const std::byte> bytes,
                                                     const std::string& where) {
  auto bad = [&](std::string_view what) {
    return absl::DataLossError(
        absl::StrCat(where, ": legacy torch.save storage: ", std::string(what)));
  };
  if (bytes.size() < sizeof(kMagicPickle) ||
      std::memcmp(bytes.data(), kMagicPickle, sizeof(kMagicPickle)) != 0) {
    return bad("does not start with torch's magic number");
  }
  size_t pos = sizeof(kMagicPickle);
  // The next pickles, in order; each parse starts where the previous STOP ended.
  auto next = [&]() -> absl::StatusOr<PickleDocument> {
    ASSIGN_OR_RETURN(auto doc, Unpickle(bytes.subspan(pos),
                                        absl::StrCat(where, " (legacy storage, byte ", pos, ")")));
    pos += doc.end;
    return doc;
  };
  ASSIGN_OR_RETURN(const PickleDocument version, next());
  if (!version.root->IsInt() || version.root->integer != kLegacyProtocolVersion) {
    return bad(
        absl::StrCat("protocol version is ", DescribePickleValue(version.root), ", not 1001"));
  }
  ASSIGN_OR_RETURN(const PickleDocument sys_info, next());
  if (sys_info.root->kind != Kind::kDict) return bad("sys_info is not a dict");
  if (const PickleValue* le = sys_info.root->Get("little_endian");
      le == nullptr || le->kind != Kind::kBool || !le->boolean) {
    return absl::UnimplementedError(
        absl::StrCat(where, ": big-endian torch.save storages are not supported"));
  }
  ASSIGN_OR_RETURN(const PickleDocument object, next());
  // The root is the storage itself, i.e. its persistent id.
  const PickleValue* pid = object.root;
  if (pid->kind != Kind::kPersistentId || pid->args == nullptr || pid->args->kind != Kind::kTuple ||
      pid->args->items.size() < 5) {
    return bad(absl::StrCat("the object is ", DescribePickleValue(pid), ", not a storage"));
  }
  const auto& p = pid->args->items;
  if (!p[0]->IsString() || p[0]->text != "storage")
    return bad("the persistent id is not a storage");
  if (p[1]->kind != Kind::kGlobal || p[1]->module != "torch") {
    return bad(absl::StrCat("the storage type is ", DescribePickleValue(p[1]),
                            ", not a torch.<Type>Storage"));
  }
  LegacyStorage out;
  auto dtype = DTypeFromStorageClass(p[1]->name);
  if (!dtype.ok()) return bad(std::string(dtype.status().message()));
  out.dtype = *dtype;
  if (!p[2]->IsString()) return bad("the storage key is not a string");
  if (!p[4]->IsInt() || p[4]->integer < 0) return bad("the storage size is not a non-negative int");
  out.numel = p[4]->integer;
  if (p.size() > 5 && p[5]->kind != Kind::kNone) return bad("storage views are not supported");
  ASSIGN_OR_RETURN(const PickleDocument keys, next());
  if (keys.root->kind != Kind::kList || keys.root->items.size() != 1 ||
      !keys.root->items[0]->IsString() || keys.root->items[0]->text != p[2]->text) {
    return bad(absl::StrCat("the key list is ", DescribePickleValue(keys.root),
                            ", not [the storage's key]"));
  }
  // int64 numel, then the elements.
  int64_t numel = 0;
  if (bytes.size() - pos < sizeof(numel)) return bad("truncated before the storage size");
  for (size_t i = 0; i < sizeof(numel); ++i) {
    numel |= static_cast<int64_t>(static_cast<uint8_t>(bytes[pos + i])) << (8 * i);
  }
  pos += sizeof(numel);
  if (numel != out.numel)
    return bad(absl::StrCat("the data holds ", numel, " elements, the pickle says ", out.numel));
  const size_t elem = DTypeSize(out.dtype);
  if (static_cast<uint64_t>(out.numel) > (bytes.size() - pos) / elem) {
    return bad(absl::StrCat(
        "truncated: ", out.numel, " elements of ", std::string(DTypeName(out.dtype)), " need ",
        static_cast<uint64_t>(out.numel) * elem, " bytes, ", bytes.size() - pos, " remain"));
  }
  const size_t n = static_cast<size_t>(out.numel) * elem;
  out.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                  bytes.begin() + static_cast<std::ptrdiff_t>(pos + n));
  if (pos + n != bytes.size())
    return bad(absl::StrCat(bytes.size() - pos - n, " bytes after the storage data"));
  return out;
}

}  // namespace evo2::io
