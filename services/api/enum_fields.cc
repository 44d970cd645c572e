#include "enum_fields.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "error_details.h"
#include "evo2/status_macros.h"
#include "google/protobuf/descriptor.h"

namespace evo2::svc {
namespace {

using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

absl::Status CheckValue(const EnumDescriptor& e, int value, const std::string& path) {
  if (e.FindValueByNumber(value) != nullptr) return absl::OkStatus();
  std::vector<std::string> valid;
  for (int i = 0; i < e.value_count(); ++i) {
    valid.push_back(absl::StrCat(e.value(i)->name(), "=", e.value(i)->number()));
  }
  return InvalidField(path, absl::StrCat(path, ": ", value, " is not a ", e.name(),
                                         " (valid: ", absl::StrJoin(valid, ", "), ")"));
}

absl::Status Check(const Message& message, const std::string& prefix) {
  const auto* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);  // set fields only, in field-number order
  for (const FieldDescriptor* f : fields) {
    const std::string name = absl::StrCat(prefix, f->name());
    if (f->type() == FieldDescriptor::TYPE_ENUM) {
      if (f->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, f); ++i) {
          RETURN_IF_ERROR(CheckValue(*f->enum_type(),
                                     reflection->GetRepeatedEnumValue(message, f, i),
                                     absl::StrCat(name, "[", i, "]")));
        }
      } else {
        RETURN_IF_ERROR(CheckValue(*f->enum_type(), reflection->GetEnumValue(message, f), name));
      }
    } else if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      // Map fields are repeated entry messages: their enum values are checked here too.
      if (f->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, f); ++i) {
          RETURN_IF_ERROR(Check(reflection->GetRepeatedMessage(message, f, i),
                                absl::StrCat(name, "[", i, "].")));
        }
      } else {
        RETURN_IF_ERROR(Check(reflection->GetMessage(message, f), absl::StrCat(name, ".")));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckEnumFields(const Message& message) { return Check(message, ""); }

}  // namespace evo2::svc
