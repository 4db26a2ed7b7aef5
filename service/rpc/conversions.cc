#include "service/rpc/conversions.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/keystore/rights.h"
#include "signer/encoding.h"

namespace sasmint {
namespace {

absl::Status DecodeKey(const std::string& text, const std::string& what,
                       std::optional<HmacKey>* out) {
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<SecretBytes> key = DecodeBase64Key(text, what);
  if (!key.ok()) return key.status();
  if (absl::Status s = ValidateKeyLength(*key, what); !s.ok()) return s;
  out->emplace(HmacKey::FromSecret(*key));
  return absl::OkStatus();
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::StatusOr<KeySlot> ToKeySlot(v1::KeySlot slot) {
  switch (slot) {
    case v1::KEY_SLOT_UNSPECIFIED:
      return KeySlot::kActive;
    case v1::KEY_SLOT_PRIMARY:
      return KeySlot::kPrimary;
    case v1::KEY_SLOT_SECONDARY:
      return KeySlot::kSecondary;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown key_slot value ", static_cast<int>(slot)));
  }
}

v1::KeySlot ToProtoSlot(KeySlot slot) {
  return slot == KeySlot::kSecondary ? v1::KEY_SLOT_SECONDARY : v1::KEY_SLOT_PRIMARY;
}

absl::StatusOr<uint32_t> ToRight(v1::Right right) {
  switch (right) {
    case v1::RIGHT_UNSPECIFIED:
      return 0;
    case v1::RIGHT_DEVICE_CONNECT:
      return kDeviceConnect;
    case v1::RIGHT_SERVICE_CONNECT:
      return kServiceConnect;
    case v1::RIGHT_REGISTRY_READ:
      return kRegistryRead;
    case v1::RIGHT_REGISTRY_WRITE:
      return kRegistryWrite;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown right value ", static_cast<int>(right)));
  }
}

v1::Right ToProtoRight(uint32_t right) {
  switch (right) {
    case kDeviceConnect:
      return v1::RIGHT_DEVICE_CONNECT;
    case kServiceConnect:
      return v1::RIGHT_SERVICE_CONNECT;
    case kRegistryRead:
      return v1::RIGHT_REGISTRY_READ;
    case kRegistryWrite:
      return v1::RIGHT_REGISTRY_WRITE;
    default:
      return v1::RIGHT_UNSPECIFIED;
  }
}

MintItem ToMintItem(const v1::MintTokenRequest& request) {
  MintItem item;
  switch (request.scope_case()) {
    case v1::MintTokenRequest::kIdentity: {
      const v1::Identity& id = request.identity();
      item = MintItem::Identity(id.hub(), id.device_id(), id.module_id());
      break;
    }
    case v1::MintTokenRequest::kPolicy:
      item.kind = ScopeKind::kPolicy;
      item.hub = request.policy().hub();
      item.policy = request.policy().policy();
      item.resource = request.policy().resource();
      break;
    case v1::MintTokenRequest::kRegistration:
      item.kind = ScopeKind::kRegistration;
      item.id_scope = request.registration().id_scope();
      item.registration_id = request.registration().registration_id();
      break;
    case v1::MintTokenRequest::SCOPE_NOT_SET:
      item.error =
          absl::InvalidArgumentError("request has no scope: set identity, policy or registration");
      return item;
  }
  item.ttl_seconds = request.ttl_seconds();
  absl::StatusOr<KeySlot> slot = ToKeySlot(request.key_slot());
  if (slot.ok()) {
    item.key_slot = *slot;
  } else {
    item.error = slot.status();
  }
  return item;
}

void ToMintRequest(const TokenScope& scope, v1::MintTokenRequest* request) {
  switch (scope.kind) {
    case ScopeKind::kDevice:
    case ScopeKind::kModule:
      request->mutable_identity()->set_hub(scope.hub);
      request->mutable_identity()->set_device_id(scope.device_id);
      request->mutable_identity()->set_module_id(scope.module_id);
      break;
    case ScopeKind::kPolicy:
      request->mutable_policy()->set_hub(scope.hub);
      request->mutable_policy()->set_policy(scope.policy);
      request->mutable_policy()->set_resource(scope.resource);
      break;
    case ScopeKind::kRegistration:
      request->mutable_registration()->set_id_scope(scope.id_scope);
      request->mutable_registration()->set_registration_id(scope.registration_id);
      break;
  }
}

void FillMintResponse(const MintOutcome& outcome, v1::MintTokenResponse* response) {
  response->set_token(outcome.token.data(), outcome.token.size());
  response->set_expires_at(outcome.expires_at);
  response->set_renew_after(outcome.renew_after);
  response->set_server_time(outcome.server_time);
  response->set_key_slot(ToProtoSlot(outcome.key_slot));
}

void FillMintResult(const MintOutcome& outcome, v1::MintResult* result) {
  if (outcome.status.ok()) {
    FillMintResponse(outcome, result->mutable_token());
    return;
  }
  v1::Error* error = result->mutable_error();
  error->set_code(static_cast<int32_t>(outcome.status.code()));
  error->set_message(outcome.status.message().data(), outcome.status.message().size());
}

absl::StatusOr<VerifyRequest> ToVerifyRequest(const v1::VerifyTokenRequest& request) {
  VerifyRequest out;
  absl::StatusOr<uint32_t> right = ToRight(request.right());
  if (!right.ok()) return right.status();
  out.right = *right;
  out.token = request.token();
  out.certificate_pem = request.certificate_pem();
  out.hub = request.identity().hub();
  out.device_id = request.identity().device_id();
  out.module_id = request.identity().module_id();
  out.max_lifetime_seconds = request.max_lifetime_seconds();
  return out;
}

void FillVerifyResponse(const VerifyReport& report, v1::VerifyTokenResponse* response) {
  response->set_verdict(std::string(VerdictName(report.verdict)));
  response->set_message(report.message);
  for (const Finding& f : report.findings) {
    v1::Finding* out = response->add_findings();
    out->set_verdict(std::string(VerdictName(f.verdict)));
    out->set_message(f.message);
  }
  for (const std::string& note : report.notes) response->add_notes(note);
  if (report.matched_key) {
    v1::MatchedKey* m = response->mutable_matched_key();
    m->set_slot(ToProtoSlot(report.matched_key->slot));
    m->set_version(report.matched_key->version);
    m->set_retired(report.matched_key->retired);
    m->set_retired_at(report.matched_key->retired_at);
    m->set_owner(report.matched_key->owner);
  }
  if (report.expires_at) response->set_expires_at(*report.expires_at);
  if (report.certificate) {
    v1::CertificateSummary* c = response->mutable_certificate();
    c->set_sha1_thumbprint(report.certificate->sha1_thumbprint);
    c->set_sha256_thumbprint(report.certificate->sha256_thumbprint);
    c->set_not_before(report.certificate->not_before);
    c->set_not_after(report.certificate->not_after);
    c->set_subject(report.certificate->subject);
  }
}

VerifyReport ReportFromResponse(const v1::VerifyTokenResponse& response) {
  VerifyReport report;
  report.verdict = ParseVerdict(response.verdict()).value_or(Verdict::kMalformed);
  report.message = response.message();
  for (const v1::Finding& f : response.findings()) {
    report.findings.push_back(
        Finding{ParseVerdict(f.verdict()).value_or(Verdict::kMalformed), f.message()});
  }
  report.notes.assign(response.notes().begin(), response.notes().end());
  if (response.has_matched_key()) {
    const v1::MatchedKey& m = response.matched_key();
    report.matched_key =
        MatchedKey{m.slot() == v1::KEY_SLOT_SECONDARY ? KeySlot::kSecondary : KeySlot::kPrimary,
                   m.version(), m.retired(), m.retired_at(), m.owner()};
  }
  if (response.expires_at() != 0) report.expires_at = response.expires_at();
  if (response.has_certificate()) {
    const v1::CertificateSummary& c = response.certificate();
    report.certificate = CertificateInfo{c.sha1_thumbprint(), c.sha256_thumbprint(), c.not_before(),
                                         c.not_after(), c.subject()};
  }
  return report;
}

AdminIdentity ToAdminIdentity(const v1::Identity& id) {
  return AdminIdentity{id.hub(), id.device_id(), id.module_id()};
}

absl::StatusOr<std::vector<AdminKeyEntry>> ToAdminKeyEntries(const v1::PutKeysRequest& request) {
  std::vector<AdminKeyEntry> entries;
  entries.reserve(request.entries_size());
  for (int i = 0; i < request.entries_size(); ++i) {
    const v1::KeyEntry& e = request.entries(i);
    const std::string path = absl::StrCat("entries[", i, "]");
    if (!e.has_identity()) return absl::InvalidArgumentError(absl::StrCat(path, ": no identity"));
    AdminKeyEntry entry;
    entry.identity = ToAdminIdentity(e.identity());
    entry.status = e.disabled() ? IdentityStatus::kDisabled : IdentityStatus::kEnabled;
    if (absl::Status s = DecodeKey(e.primary_key(), path + ".primary_key", &entry.primary);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = DecodeKey(e.secondary_key(), path + ".secondary_key", &entry.secondary);
        !s.ok()) {
      return s;
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

void FillKeyInfo(const KeyInfoData& k, v1::KeyInfo* info) {
  info->mutable_identity()->set_hub(k.identity.hub);
  info->mutable_identity()->set_device_id(k.identity.device_id);
  info->mutable_identity()->set_module_id(k.identity.module_id);
  info->set_status(k.status == IdentityStatus::kDisabled ? "disabled" : "enabled");
  info->set_primary_fingerprint(k.primary_fingerprint);
  info->set_secondary_fingerprint(k.secondary_fingerprint);
  info->set_version(k.version);
  info->set_source(k.source);
}

}  // namespace sasmint
