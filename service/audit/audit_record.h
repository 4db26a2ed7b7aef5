// audit_record.h: building an audit record's body (audit_log.h), and the identities of a call.
//
// AuditFields appends JSON members in order, escaping every string. AuditIdentities collects
// the identity names of a call (device IDs, "DEVICE/modules/MODULE", "SCOPE/registrations/ID")
// as they are minted, in one buffer. A record lists them when there are at most `list_max`,
// and otherwise gives their count and "ids_sha256": the lowercase hex SHA-256 of the names
// sorted bytewise, each followed by a newline (what `LC_ALL=C sort | sha256sum` prints for a
// file of the names). A stream line that covers several batches with more than `list_max`
// names in all digests each batch so: "ids_sha256" is then the SHA-256 of the batches' digests
// (32 raw bytes each, in order) and "ids_batches" says how many. Thread-compatible.
#ifndef SASMINT_SERVICE_AUDIT_AUDIT_RECORD_H_
#define SASMINT_SERVICE_AUDIT_AUDIT_RECORD_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace sasmint {

class AuditFields {
 public:
  AuditFields& Str(absl::string_view name, absl::string_view value);
  AuditFields& Int(absl::string_view name, int64_t value);
  AuditFields& Bool(absl::string_view name, bool value);
  // Raw appends a member whose value is JSON text already.
  AuditFields& Raw(absl::string_view name, absl::string_view json);
  AuditFields& StrList(absl::string_view name, const std::vector<std::string>& values);

  // body returns the members so far (no braces).
  std::string& body() { return body_; }

 private:
  void Name(absl::string_view name);
  std::string body_;
};

class AuditIdentities {
 public:
  void Clear();
  // Add adds one identity's name (device, device/modules/module, scope/registrations/id).
  void AddDevice(absl::string_view device_id);
  void AddModule(absl::string_view device_id, absl::string_view module_id);
  // AddIdentity is AddDevice for an empty `module_id`, AddModule otherwise.
  void AddIdentity(absl::string_view device_id, absl::string_view module_id);
  void AddRegistration(absl::string_view id_scope, absl::string_view registration_id);
  size_t count() const { return spans_.size() + folded_count_; }

  // EndBatch ends a batch of a multi-batch line: once the line has more than `list_max` names,
  // each batch's are digested (sorted) and only the digests are kept.
  void EndBatch(size_t list_max);
  // AppendTo adds "ids" (a list) or "ids_count" and "ids_sha256" (and "ids_batches") to
  // `fields`.
  void AppendTo(size_t list_max, AuditFields& fields);

 private:
  // SortedDigest returns the raw SHA-256 of names [first, last) held, sorted.
  std::string SortedDigest(size_t first, size_t last) const;
  std::string buffer_;
  std::vector<std::pair<uint32_t, uint32_t>> spans_;  // offset, length in buffer_
  std::vector<size_t> batch_starts_;                  // ended batches' first index in spans_
  size_t batch_start_ = 0;                            // the current batch's
  std::string folded_;                                // raw digests of folded batches
  size_t folded_count_ = 0;
  size_t folded_batches_ = 0;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_AUDIT_AUDIT_RECORD_H_
