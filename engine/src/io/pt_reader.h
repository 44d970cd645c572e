// Reading torch.save zip archives (docs/spec/checkpoints.md §1–§2):
// `<root>/data.pkl` (a pickle whose tensors are `_rebuild_tensor_v2(persistent storage, offset,
// size, stride, ...)`) plus one member `<root>/data/<key>` per storage.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/tensor.h"
#include "evo2/torch_pt.h"
#include "io/pickle.h"
#include "io/zip_archive.h"

namespace evo2::io {

// torch's typed-storage class name (`FloatStorage`, `BFloat16Storage`, ...; what torch.save still
// pickles as the storage type) -> dtype.
absl::StatusOr<DType> DTypeFromStorageClass(const std::string& name);

class TorchArchive {
 public:
  // Opens the zip in `range` of `storage` and unpickles its data.pkl.
  static absl::StatusOr<TorchArchive> Open(std::shared_ptr<const Storage> storage,
                                           std::span<const std::byte> range, std::string where);
  const PickleValue* root() const { return doc_.root; }
  const PickleDocument& document() const { return doc_; }
  const std::string& where() const { return zip_.where(); }

  // Builds the tensor a `_rebuild_tensor_v2` (or `_rebuild_parameter`) object describes.
  // Contiguous tensors view the archive's bytes; strided ones are copied. `name` is used in errors.
  absl::StatusOr<Tensor> ToTensor(const PickleValue* value, const std::string& name) const;

  // The root as a dict of tensors in file order. With `skip_extra_state`, entries whose key
  // ends in `._extra_state` are dropped without being decoded; other non-tensor values are an error.
  absl::StatusOr<NamedTensors> TensorDict(bool skip_extra_state) const;

 private:
  TorchArchive(ZipArchive zip, std::string root, PickleDocument doc)
      : zip_(std::move(zip)), root_name_(std::move(root)), doc_(std::move(doc)) {}
  ZipArchive zip_;
  std::string root_name_;  // archive prefix, e.g. "archive" or "model"
  PickleDocument doc_;
};

}  // namespace evo2::io
