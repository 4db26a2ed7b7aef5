// call_observer.h: one call's contribution to the metrics and the audit log.
//
// A CallObserver is made when a call reaches its handler (counting it started) and finished
// once with the call's status (counting it handled, with its handling time, and queueing its
// audit record). In between, the minting code adds each batch's items and outcomes; counters are
// updated once per batch, never per token. A stream has one observer for its whole life: each
// batch is counted as a message received and sent, and its audit contributions are gathered
// into one "stream" line per interval (audit.stream_interval), between "stream_open" and
// "stream_close" lines; a batch with denials ends its line at once. With audit.required, a
// call (or stream batch) whose record cannot be queued fails UNAVAILABLE instead of returning
// its tokens. Thread-compatible: one thread at a time (a stream's batches are serial).
#ifndef SASMINT_SERVICE_RPC_CALL_OBSERVER_H_
#define SASMINT_SERVICE_RPC_CALL_OBSERVER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "service/audit/audit_log.h"
#include "service/audit/audit_record.h"
#include "service/authz/authorizer.h"
#include "service/keystore/key_store.h"
#include "service/metrics/service_metrics.h"
#include "service/mint/batch_minter.h"

namespace sasmint {

// Observers are where calls are reported; either may be null (not counted, not audited).
struct Observers {
  ServiceMetrics* metrics = nullptr;
  AuditLog* audit = nullptr;
  const KeyStore* store = nullptr;  // for the key-store generation in audit records
  const Clock* clock = nullptr;     // audit record times

  bool any() const { return metrics != nullptr || audit != nullptr; }
};

class CallObserver {
 public:
  CallObserver(const Observers& observers, RpcMethod method,
               const grpc::ServerContextBase& context);
  CallObserver(const CallObserver&) = delete;
  CallObserver& operator=(const CallObserver&) = delete;

  bool active() const { return observers_.any(); }
  bool audited() const { return observers_.audit != nullptr; }

  // SetCaller records who called (its rule), once resolved.
  void SetCaller(const Caller& caller);
  // NoRule records that the caller matched no rule (the call is refused).
  void NoRule();
  // Overloaded records a refusal to protect the server.
  void Overloaded(OverloadReason reason);

  // BeginBatch counts a batch of `items` (a MintTokens call, a stream message).
  void BeginBatch(size_t items);
  // AddMinted adds minted (or failed) items of the current batch, minted at `now`.
  void AddMinted(absl::Span<const MintItem> items, absl::Span<const MintOutcome> outcomes,
                 absl::Time now);
  // AddDenials records the batch's items refused to the caller.
  void AddDenials(const Denials& denials);
  // EndBatch counts the current batch's tokens (once per batch).
  void EndBatch();

  // AddCount adds a named figure to the audit record (KeyAdmin's entries, added, changed,
  // deleted, listed); admin_ids are the identities a KeyAdmin call changes.
  void AddCount(absl::string_view name, int64_t value);
  AuditIdentities& admin_ids() { return ids_; }

  // Finish ends a unary call with `status` and returns the status to send: `status`, or
  // UNAVAILABLE when audit.required and the record could not be queued (the caller must then
  // drop the response). `always`: the record may use the audit queue's reserve.
  absl::Status Finish(const absl::Status& status, bool always = false);

  // Stream calls: StreamOpened after the caller is known; StreamBatchDone after each batch's
  // response is built (UNAVAILABLE: required audit refused it, drop the response and end the
  // stream); StreamClosed with the stream's status.
  absl::Status StreamOpened();
  absl::Status StreamBatchDone();
  void StreamClosed(const absl::Status& status);

 private:
  // AuditBody returns the record's members for `event` with the gathered contributions.
  std::string AuditBody(absl::string_view event, const absl::Status* status);
  void ResetContributions();
  bool SubmitAudit(std::string body, bool always);
  // Refused returns the UNAVAILABLE status of a required record that could not be queued.
  static absl::Status Refused(absl::string_view what);

  Observers observers_;
  RpcMethod method_ = RpcMethod::kMintToken;
  std::chrono::steady_clock::time_point start_;
  MintTally tally_;  // this batch (metrics); totals below (audit)
  std::string rule_;
  std::string identity_json_;  // the caller as the transport verified it (audited calls)
  std::string trace_id_;       // from the W3C traceparent header, if valid
  bool no_rule_ = false;
  bool batch_open_ = false;
  // Audit contributions of the current line.
  absl::Time line_start_;
  AuditIdentities ids_;
  std::vector<std::string> hubs_;
  std::vector<std::string> policies_;
  uint8_t scopes_ = 0;      // bit per ScopeKind
  uint64_t requested_ = 0;  // items of the batches begun
  uint64_t added_ = 0;      // items minted or failed (a unary call has no batch)
  uint64_t minted_ = 0;
  uint64_t batches_ = 0;
  uint64_t failed_[kStatusCodes] = {};
  uint64_t denied_ = 0;
  std::string first_denial_;
  int64_t min_expiry_ = 0;
  int64_t max_expiry_ = 0;
  int64_t max_ttl_ = 0;
  std::vector<std::pair<std::string, int64_t>> counts_;  // AddCount's, and a stream's totals
  // Stream totals of the lines already written.
  uint64_t stream_batches_ = 0;
  uint64_t stream_minted_ = 0;
};

// ResolveCallerFor resolves the caller of a call to `method` (CallerOf) and tells `observer`
// (may be null): who called, or that no rule matched.
absl::StatusOr<Caller> ResolveCallerFor(const Authorizer& authorizer,
                                        const grpc::ServerContextBase& context,
                                        absl::string_view method, CallObserver* observer);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_RPC_CALL_OBSERVER_H_
