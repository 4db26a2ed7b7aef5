// identity_list.h: the device and module IDs a load run asks tokens for, from an export file.
//
// Reads the same IoT Hub export files (JSON lines) that `sasmint serve --devices` loads, but only
// `id`, `moduleId` and `status`: a line with a non-empty moduleId is a module identity. Disabled
// identities are skipped unless asked for (the server answers FAILED_PRECONDITION for them).
// Key text is never copied out, and the file buffer is wiped before returning. Empty lines, a
// UTF-8 BOM and CRLF line ends are accepted, as the server's loader does. Thread-safe (no shared
// state).
#ifndef SASMINT_BENCH_LOAD_IDENTITY_LIST_H_
#define SASMINT_BENCH_LOAD_IDENTITY_LIST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sasmint::bench {

struct IdentityRef {
  std::string device_id;
  std::string module_id;  // empty for a device identity
};

// LoadIdentityList returns the identities of the export file at `path`, in file order.
// NOT_FOUND if the file cannot be opened; INVALID_ARGUMENT (file:line: reason) for a malformed
// line or a missing id, or if no identity is left to use.
absl::StatusOr<std::vector<IdentityRef>> LoadIdentityList(const std::string& path,
                                                          bool include_disabled);

// ParseIdentityList is LoadIdentityList over `text`, with `source_name` standing for the file.
absl::StatusOr<std::vector<IdentityRef>> ParseIdentityList(absl::string_view text,
                                                           absl::string_view source_name,
                                                           bool include_disabled);

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_IDENTITY_LIST_H_
