// status_macros.h: RETURN_IF_ERROR and ASSIGN_OR_RETURN for absl::Status / absl::StatusOr.
//
// Debian's Abseil 20220623 ships no status macros; these two are all we use. Header-only,
// thread-safe (no state).
#ifndef SASMINT_COMMON_STATUS_MACROS_H_
#define SASMINT_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/macros.h"

// RETURN_IF_ERROR(expr): returns the status of `expr` from the enclosing function if not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    const ::absl::Status sasmint_status_ = (expr);     \
    if (!sasmint_status_.ok()) return sasmint_status_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates the StatusOr `expr`; on error returns its status,
// otherwise moves the value into `lhs` (which may be a declaration such as `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  SASMINT_ASSIGN_OR_RETURN_IMPL_(SASMINT_CONCAT(sasmint_statusor_, __LINE__), lhs, expr)

#define SASMINT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // SASMINT_COMMON_STATUS_MACROS_H_
