#include "service/audit/audit_record.h"

#include <algorithm>
#include <array>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/json.h"
#include "signer/crypto_backend.h"

namespace sasmint {
namespace {

std::string Sha256Raw(absl::string_view bytes) {
  const std::array<uint8_t, 32> d = crypto::OracleSha256(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

void AuditFields::Name(absl::string_view name) {
  if (!body_.empty()) body_.push_back(',');
  body_.push_back('"');
  body_.append(name.data(), name.size());
  body_.append("\":");
}

AuditFields& AuditFields::Str(absl::string_view name, absl::string_view value) {
  Name(name);
  body_.push_back('"');
  AppendJsonEscaped(value, &body_);
  body_.push_back('"');
  return *this;
}

AuditFields& AuditFields::Int(absl::string_view name, int64_t value) {
  Name(name);
  absl::StrAppend(&body_, value);
  return *this;
}

AuditFields& AuditFields::Bool(absl::string_view name, bool value) {
  Name(name);
  body_.append(value ? "true" : "false");
  return *this;
}

AuditFields& AuditFields::Raw(absl::string_view name, absl::string_view json) {
  Name(name);
  body_.append(json.data(), json.size());
  return *this;
}

AuditFields& AuditFields::StrList(absl::string_view name, const std::vector<std::string>& values) {
  Name(name);
  body_.push_back('[');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) body_.push_back(',');
    body_.push_back('"');
    AppendJsonEscaped(values[i], &body_);
    body_.push_back('"');
  }
  body_.push_back(']');
  return *this;
}

void AuditIdentities::Clear() {
  buffer_.clear();
  spans_.clear();
  batch_starts_.clear();
  batch_start_ = 0;
  folded_.clear();
  folded_count_ = 0;
  folded_batches_ = 0;
}

void AuditIdentities::AddDevice(absl::string_view device_id) {
  spans_.emplace_back(static_cast<uint32_t>(buffer_.size()),
                      static_cast<uint32_t>(device_id.size()));
  buffer_.append(device_id.data(), device_id.size());
}

void AuditIdentities::AddModule(absl::string_view device_id, absl::string_view module_id) {
  const size_t begin = buffer_.size();
  absl::StrAppend(&buffer_, device_id, "/modules/", module_id);
  spans_.emplace_back(static_cast<uint32_t>(begin), static_cast<uint32_t>(buffer_.size() - begin));
}

void AuditIdentities::AddIdentity(absl::string_view device_id, absl::string_view module_id) {
  if (module_id.empty()) {
    AddDevice(device_id);
  } else {
    AddModule(device_id, module_id);
  }
}

void AuditIdentities::AddRegistration(absl::string_view id_scope,
                                      absl::string_view registration_id) {
  const size_t begin = buffer_.size();
  absl::StrAppend(&buffer_, id_scope, "/registrations/", registration_id);
  spans_.emplace_back(static_cast<uint32_t>(begin), static_cast<uint32_t>(buffer_.size() - begin));
}

std::string AuditIdentities::SortedDigest(size_t first, size_t last) const {
  std::vector<absl::string_view> names;
  names.reserve(last - first);
  for (size_t i = first; i < last; ++i) {
    names.emplace_back(buffer_.data() + spans_[i].first, spans_[i].second);
  }
  std::sort(names.begin(), names.end());
  std::string text;
  for (absl::string_view n : names) {
    text.append(n.data(), n.size());
    text.push_back('\n');
  }
  return Sha256Raw(text);
}

void AuditIdentities::EndBatch(size_t list_max) {
  if (spans_.size() > batch_start_) batch_starts_.push_back(batch_start_);
  batch_start_ = spans_.size();
  if (count() <= list_max) return;
  // Too many to list: keep only each batch's digest (memory stays bounded for a long line).
  for (size_t b = 0; b < batch_starts_.size(); ++b) {
    const size_t last = b + 1 < batch_starts_.size() ? batch_starts_[b + 1] : spans_.size();
    folded_ += SortedDigest(batch_starts_[b], last);
    ++folded_batches_;
  }
  folded_count_ += spans_.size();
  buffer_.clear();
  spans_.clear();
  batch_starts_.clear();
  batch_start_ = 0;
}

void AuditIdentities::AppendTo(size_t list_max, AuditFields& fields) {
  EndBatch(list_max);
  if (folded_batches_ == 0) {
    std::vector<std::string> names;
    names.reserve(spans_.size());
    for (auto [offset, length] : spans_) names.emplace_back(buffer_.data() + offset, length);
    fields.StrList("ids", names);
    return;
  }
  fields.Int("ids_count", static_cast<int64_t>(folded_count_));
  fields.Str("ids_sha256",
             absl::BytesToHexString(folded_batches_ == 1 ? folded_ : Sha256Raw(folded_)));
  if (folded_batches_ > 1) fields.Int("ids_batches", static_cast<int64_t>(folded_batches_));
}

}  // namespace sasmint
