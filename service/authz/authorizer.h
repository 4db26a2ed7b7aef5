// authorizer.h: who may mint what. Caller rules, matched against a caller's verified TLS
// identity, and the per-scope check every mint and verify passes before any key-store lookup.
//
// An Authorizer holds the `callers` rules of the configuration (config.h), in order. Match
// finds the first rule whose `match` fits a caller's identity (certificate common name, a subject
// alternative name, a SPIFFE ID, or "anonymous" for callers without a certificate). Authorize then
// checks a scope against that rule's allow list: string comparisons only, no allocation unless it
// denies. A disabled Authorizer (no `callers` section) matches every caller to Unrestricted(),
// which may mint anything and administer keys.
//
// Denials are PERMISSION_DENIED with a message that names the caller and the identity asked for,
// and says nothing about whether that identity exists. The Authorizer knows nothing of gRPC
// (service/rpc turns a gRPC peer into a CallerIdentity); caller_rules.h reads the rules from the
// configuration. Immutable after Create: thread-safe.
#ifndef SASMINT_SERVICE_AUTHZ_AUTHORIZER_H_
#define SASMINT_SERVICE_AUTHZ_AUTHORIZER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "signer/sas_token.h"

namespace sasmint {

// IdPattern is an exact ID, `prefix*` (IDs starting with prefix), or `*` (every ID).
struct IdPattern {
  std::string text;     // without the trailing '*'
  bool prefix = false;  // whether a '*' followed `text`

  // Parse returns the pattern; INVALID_ARGUMENT if `pattern` is empty or has a '*' before its end.
  static absl::StatusOr<IdPattern> Parse(absl::string_view pattern);
  bool Matches(absl::string_view id) const {
    return prefix ? id.substr(0, text.size()) == text : id == text;
  }
};

// AllowRule grants one hub's (`hub` set) or one DPS ID scope's (`id_scope` set) identities.
struct AllowRule {
  std::optional<IdPattern> hub;
  std::vector<IdPattern> devices;   // device tokens for these device IDs
  bool modules = false;             // and module tokens of those devices
  std::vector<IdPattern> policies;  // hub shared access policy tokens (skn = policy)
  std::optional<IdPattern> id_scope;
  std::vector<IdPattern> registrations;  // DPS registration tokens
};

enum class CallerMatch { kCommonName, kSan, kSpiffe, kAnonymous };

struct CallerRule {
  std::string name;  // for logs and messages
  CallerMatch match = CallerMatch::kCommonName;
  std::string match_value;  // exact; empty for kAnonymous
  std::vector<AllowRule> allow;
  bool admin = false;         // may call KeyAdmin
  bool unrestricted = false;  // only Authorizer::Unrestricted(): authorization is off
};

// CallerIdentity is what the transport verified about a caller (nothing without TLS).
struct CallerIdentity {
  bool authenticated = false;  // a verified client certificate was presented
  std::string common_name;
  std::vector<std::string> sans;  // every subject alternative name, as gRPC reports them
  std::string spiffe_id;          // the spiffe:// URI SAN, if any
  // Describe returns "CN=..." / "spiffe://..." / "anonymous", for logs and messages.
  std::string Describe() const;
};

class Authorizer {
 public:
  // Disabled returns an Authorizer that matches every caller to Unrestricted().
  static Authorizer Disabled() { return Authorizer(); }
  // Create validates `rules` (non-empty; names unique and non-empty; match values non-empty,
  // spiffe ones starting with "spiffe://"; each allow rule has exactly one of hub and id_scope,
  // and something to grant); INVALID_ARGUMENT "callers[i]...: reason" otherwise.
  static absl::StatusOr<Authorizer> Create(std::vector<CallerRule> rules);

  // enabled returns whether rules are enforced (a `callers` section was configured).
  bool enabled() const { return enabled_; }
  const std::vector<CallerRule>& rules() const { return rules_; }

  // Match returns the first rule matching `caller` (Unrestricted() when disabled), or nullptr.
  const CallerRule* Match(const CallerIdentity& caller) const;

  // Unrestricted returns the rule of every caller when authorization is off.
  static const CallerRule* Unrestricted();

 private:
  Authorizer() = default;
  bool enabled_ = false;
  std::vector<CallerRule> rules_;
};

// Authorize returns OK if `caller` may mint (or verify) tokens for `scope`, else
// PERMISSION_DENIED naming the caller and the scope. A null caller is denied everything.
absl::Status Authorize(const CallerRule* caller, const TokenScope& scope);
// AuthorizeIdentity is Authorize for a device (module_id empty) or module scope given as views
// (the batch hot path).
absl::Status AuthorizeIdentity(const CallerRule* caller, absl::string_view hub,
                               absl::string_view device_id, absl::string_view module_id);
// AuthorizeAdmin returns OK if `caller` may call KeyAdmin, else PERMISSION_DENIED.
absl::Status AuthorizeAdmin(const CallerRule* caller);

// Caller is the authorization state of one call: its rule, and its identity for logs.
struct Caller {
  const CallerRule* rule = Authorizer::Unrestricted();
  std::string identity;  // CallerIdentity::Describe(); empty when authorization is off
};

// ResolveCaller returns the caller `identity` of a call to `method` is, by its rule;
// PERMISSION_DENIED (logged) if `authorizer` is enabled and no rule matches it.
absl::StatusOr<Caller> ResolveCaller(const Authorizer& authorizer, const CallerIdentity& identity,
                                     absl::string_view method);

// LogDenied writes the one log line of a call refused to its caller (whole, or `denied_items`
// of its items): caller, identity, method, and the first denial.
void LogDenied(const Caller& caller, absl::string_view method, const absl::Status& denial,
               int denied_items = 1);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_AUTHZ_AUTHORIZER_H_
