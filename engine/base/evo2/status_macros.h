// The code base's one pair of status macros, for functions that return absl::Status or
// absl::StatusOr<T>:
//
//   RETURN_IF_ERROR(WriteHeader(out));              // returns the error status, if any
//   ASSIGN_OR_RETURN(Tensor t, ReadTensor(name));    // declares t, or returns the error
//   ASSIGN_OR_RETURN(config_, ParseConfig(path));    // assigns to an existing lvalue
//
// Both evaluate their argument exactly once. The expression may contain commas (template
// arguments), hence the variadic RETURN_IF_ERROR; ASSIGN_OR_RETURN's left side must not.
// Header-only and absl-only, so kernels, engine and services share it.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define EVO2_STATUS_CONCAT_INNER_(a, b) a##b
#define EVO2_STATUS_CONCAT_(a, b) EVO2_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(...)                           \
  do {                                                 \
    const ::absl::Status evo2_status_ = (__VA_ARGS__); \
    if (!evo2_status_.ok()) return evo2_status_;       \
  } while (0)

#define EVO2_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, ...) \
  auto tmp = (__VA_ARGS__);                        \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, ...) \
  EVO2_ASSIGN_OR_RETURN_IMPL_(EVO2_STATUS_CONCAT_(evo2_status_or_, __LINE__), lhs, __VA_ARGS__)
