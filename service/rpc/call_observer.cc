#include "service/rpc/call_observer.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/audit/audit_chain.h"
#include "service/rpc/caller_context.h"

namespace sasmint {
namespace {

constexpr const char* kMethodNames[kRpcMethods] = {
    "MintToken",        "MintTokens",          "StreamTokens",     "VerifyToken",
    "KeyAdmin.PutKeys", "KeyAdmin.DeleteKeys", "KeyAdmin.ListKeys"};
constexpr const char* kScopeNames[kScopeKinds] = {"device", "module", "policy", "registration"};
constexpr size_t kMaxNames = 16;  // distinct hubs and policies listed per record

// TraceIdOf returns the trace-id of a valid W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"),
// or "".
std::string TraceIdOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("traceparent");
  if (it == metadata.end()) return "";
  const absl::string_view v(it->second.data(), it->second.size());
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || v.substr(0, 2) == "ff") {
    return "";
  }
  const absl::string_view id = v.substr(3, 32);
  if (!IsLowerHex(v.substr(0, 2)) || !IsLowerHex(id) || id == std::string(32, '0')) return "";
  return std::string(id);
}

std::string IdentityJson(const grpc::ServerContextBase& context) {
  const CallerIdentity id = CallerIdentityOf(context);
  AuditFields f;
  f.Bool("authenticated", id.authenticated);
  if (!id.common_name.empty()) f.Str("cn", id.common_name);
  if (!id.sans.empty()) f.StrList("sans", id.sans);
  if (!id.spiffe_id.empty()) f.Str("spiffe_id", id.spiffe_id);
  f.Str("peer", context.peer());
  return std::move(f.body());
}

void AddDistinct(absl::string_view name, std::vector<std::string>& names) {
  if (!names.empty() && names.back() == name) return;
  for (const std::string& n : names) {
    if (n == name) return;
  }
  if (names.size() < kMaxNames) names.emplace_back(name);
}

}  // namespace

CallObserver::CallObserver(const Observers& observers, RpcMethod method,
                           const grpc::ServerContextBase& context)
    : observers_(observers), method_(method) {
  if (!observers_.any()) return;
  start_ = std::chrono::steady_clock::now();
  if (observers_.metrics != nullptr) observers_.metrics->CallStarted(method);
  if (observers_.audit != nullptr) {
    line_start_ = observers_.clock->Now();
    identity_json_ = IdentityJson(context);
    trace_id_ = TraceIdOf(context);
  }
}

void CallObserver::SetCaller(const Caller& caller) {
  if (audited()) rule_ = caller.rule == nullptr ? "" : caller.rule->name;
}

void CallObserver::NoRule() {
  no_rule_ = true;
  if (observers_.metrics != nullptr) observers_.metrics->AuthzDenied(DenialReason::kNoRule);
}

void CallObserver::Overloaded(OverloadReason reason) {
  if (observers_.metrics != nullptr) observers_.metrics->OverloadRejected(reason);
}

void CallObserver::BeginBatch(size_t items) {
  batch_open_ = true;
  requested_ += items;
  ++batches_;
  if (observers_.metrics != nullptr) observers_.metrics->BatchReceived(items);
}

void CallObserver::AddMinted(absl::Span<const MintItem> items,
                             absl::Span<const MintOutcome> outcomes, absl::Time now) {
  if (!active()) return;
  batch_open_ = true;
  added_ += items.size();
  const int64_t now_s = absl::ToUnixSeconds(now);
  const bool audited = this->audited();
  for (size_t i = 0; i < items.size(); ++i) {
    const MintItem& item = items[i];
    const MintOutcome& outcome = outcomes[i];
    const absl::StatusCode code = outcome.status.code();
    const int64_t ttl = code == absl::StatusCode::kOk ? outcome.expires_at - now_s : 0;
    tally_.Count(item.kind, code, ttl);
    if (!audited) continue;
    scopes_ |= static_cast<uint8_t>(1u << static_cast<int>(item.kind));
    switch (item.kind) {
      case ScopeKind::kDevice:
      case ScopeKind::kModule:
        ids_.AddIdentity(item.device_id, item.module_id);
        AddDistinct(item.hub, hubs_);
        break;
      case ScopeKind::kPolicy:
        AddDistinct(item.policy, policies_);
        AddDistinct(item.hub, hubs_);
        break;
      case ScopeKind::kRegistration:
        ids_.AddRegistration(item.id_scope, item.registration_id);
        break;
    }
    if (code == absl::StatusCode::kOk) {
      if (min_expiry_ == 0 || outcome.expires_at < min_expiry_) min_expiry_ = outcome.expires_at;
      if (outcome.expires_at > max_expiry_) max_expiry_ = outcome.expires_at;
      if (ttl > max_ttl_) max_ttl_ = ttl;
    }
  }
}

void CallObserver::AddDenials(const Denials& denials) {
  if (denials.count == 0) return;
  if (observers_.metrics != nullptr) {
    observers_.metrics->AuthzDenied(DenialReason::kScope, denials.count);
  }
  denied_ += denials.count;
  if (first_denial_.empty()) first_denial_ = std::string(denials.first.message());
}

void CallObserver::EndBatch() {
  if (!batch_open_) return;
  batch_open_ = false;
  if (observers_.metrics != nullptr) observers_.metrics->AddTally(tally_);
  for (const auto& by_scope : tally_.results) {
    minted_ += by_scope[0];
    for (int c = 1; c < kStatusCodes; ++c) failed_[c] += by_scope[c];
  }
  tally_ = MintTally();
  if (audited()) ids_.EndBatch(observers_.audit->options().list_ids);
}

void CallObserver::AddCount(absl::string_view name, int64_t value) {
  counts_.emplace_back(std::string(name), value);
}

std::string CallObserver::AuditBody(absl::string_view event, const absl::Status* status) {
  const uint64_t requested = batches_ > 0 ? requested_ : added_;
  AuditFields f;
  f.Str("event", event);
  f.Str("method", kMethodNames[static_cast<int>(method_)]);
  {
    AuditFields caller;
    caller.Str("rule", no_rule_ ? "" : rule_);
    caller.body().append(",");
    caller.body().append(identity_json_);
    f.Raw("caller", absl::StrCat("{", caller.body(), "}"));
  }
  if (status != nullptr) {
    const char* decision = "allowed";
    if (absl::IsPermissionDenied(*status) || no_rule_ ||
        (denied_ > 0 && minted_ == 0 && denied_ == requested)) {
      decision = "denied";
    } else if (!status->ok()) {
      decision = "error";
    } else if (minted_ < requested) {
      decision = "partial";
    }
    f.Str("decision", decision);
    f.Str("code", StatusCodeName(status->code()));
    if (!status->ok()) f.Str("error", status->message());
  }
  if (!hubs_.empty()) f.StrList("hubs", hubs_);
  if (scopes_ != 0) {
    std::vector<std::string> scopes;
    for (int k = 0; k < kScopeKinds; ++k) {
      if (scopes_ & (1u << k)) scopes.emplace_back(kScopeNames[k]);
    }
    f.StrList("scopes", scopes);
  }
  if (!policies_.empty()) f.StrList("policies", policies_);
  if (requested > 0) {
    if (batches_ > 1) f.Int("batches", static_cast<int64_t>(batches_));
    f.Int("requested", static_cast<int64_t>(requested));
    f.Int("minted", static_cast<int64_t>(minted_));
    std::string failed;
    for (int c = 1; c < kStatusCodes; ++c) {
      if (failed_[c] == 0) continue;
      absl::StrAppend(&failed, failed.empty() ? "" : ",", "\"",
                      StatusCodeName(static_cast<absl::StatusCode>(c)), "\":", failed_[c]);
    }
    if (!failed.empty()) f.Raw("failed", absl::StrCat("{", failed, "}"));
  }
  if (denied_ > 0) {
    f.Int("denied", static_cast<int64_t>(denied_));
    f.Str("first_denial", first_denial_);
  }
  if (max_expiry_ > 0) {
    f.Int("ttl_seconds", max_ttl_);
    f.Raw("expiry", absl::StrCat("{\"min\":", min_expiry_, ",\"max\":", max_expiry_, "}"));
  }
  for (const auto& [name, value] : counts_) f.Int(name, value);
  if (observers_.store != nullptr) {
    f.Int("generation", static_cast<int64_t>(observers_.store->generation()));
  }
  if (!trace_id_.empty()) f.Str("trace_id", trace_id_);
  if (ids_.count() > 0) ids_.AppendTo(observers_.audit->options().list_ids, f);
  return std::move(f.body());
}

void CallObserver::ResetContributions() {
  ids_.Clear();
  hubs_.clear();
  policies_.clear();
  scopes_ = 0;
  stream_minted_ += minted_;
  stream_batches_ += batches_;
  requested_ = minted_ = batches_ = denied_ = added_ = 0;
  for (uint64_t& f : failed_) f = 0;
  first_denial_.clear();
  min_expiry_ = max_expiry_ = max_ttl_ = 0;
  line_start_ = observers_.clock->Now();
}

absl::Status CallObserver::Refused(absl::string_view what) {
  return absl::UnavailableError(
      absl::StrCat("the audit log cannot take this ", what, "'s record; retry"));
}

bool CallObserver::SubmitAudit(std::string body, bool always) {
  return observers_.audit->Submit(AuditRecord{observers_.clock->Now(), std::move(body), always});
}

absl::Status CallObserver::Finish(const absl::Status& status, bool always) {
  if (!active()) return status;
  EndBatch();
  absl::Status out = status;
  if (audited()) {
    always = always || denied_ > 0 || no_rule_ || absl::IsPermissionDenied(status);
    if (!SubmitAudit(AuditBody("call", &status), always) && observers_.audit->required()) {
      out = Refused("call");
    }
  }
  if (observers_.metrics != nullptr) {
    observers_.metrics->CallHandled(method_, out.code(),
                                    absl::FromChrono(std::chrono::steady_clock::now() - start_));
  }
  return out;
}

absl::Status CallObserver::StreamOpened() {
  if (!audited()) return absl::OkStatus();
  if (!SubmitAudit(AuditBody("stream_open", nullptr), false) && observers_.audit->required()) {
    return Refused("stream");
  }
  line_start_ = observers_.clock->Now();
  return absl::OkStatus();
}

absl::Status CallObserver::StreamBatchDone() {
  if (!active()) return absl::OkStatus();
  EndBatch();
  if (observers_.metrics != nullptr) {
    observers_.metrics->MessageReceived(method_);
    observers_.metrics->MessageSent(method_);
  }
  if (!audited()) return absl::OkStatus();
  AuditLog& audit = *observers_.audit;
  const bool due =
      denied_ > 0 || observers_.clock->Now() - line_start_ >= audit.options().stream_interval;
  if (due) {
    const absl::Status ok = absl::OkStatus();
    const bool queued = SubmitAudit(AuditBody("stream", &ok), denied_ > 0);
    ResetContributions();
    if (!queued && audit.required()) {
      return Refused("stream");
    }
  } else if (audit.required() && !audit.Accepting()) {
    // The line this batch belongs to could not be written: the batch is not answered.
    return Refused("stream");
  }
  return absl::OkStatus();
}

void CallObserver::StreamClosed(const absl::Status& status) {
  if (!active()) return;
  EndBatch();
  if (audited()) {
    // The last line also carries the contributions not yet written, and the stream's totals.
    const uint64_t batches = stream_batches_ + batches_;
    const uint64_t minted = stream_minted_ + minted_;
    AddCount("stream_batches", static_cast<int64_t>(batches));
    AddCount("stream_minted", static_cast<int64_t>(minted));
    SubmitAudit(AuditBody("stream_close", &status), denied_ > 0);
  }
  if (observers_.metrics != nullptr) {
    observers_.metrics->CallHandled(method_, status.code(),
                                    absl::FromChrono(std::chrono::steady_clock::now() - start_));
  }
}

absl::StatusOr<Caller> ResolveCallerFor(const Authorizer& authorizer,
                                        const grpc::ServerContextBase& context,
                                        absl::string_view method, CallObserver* observer) {
  absl::StatusOr<Caller> caller = CallerOf(authorizer, context, method);
  if (observer != nullptr) {
    if (caller.ok()) {
      observer->SetCaller(*caller);
    } else if (absl::IsPermissionDenied(caller.status())) {
      observer->NoRule();
    }
  }
  return caller;
}

}  // namespace sasmint
