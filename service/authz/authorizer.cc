#include "service/authz/authorizer.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace sasmint {
namespace {

absl::string_view CallerName(const CallerRule* caller) {
  return caller == nullptr ? absl::string_view("(no matching caller rule)") : caller->name;
}

// Denied is built only on the slow path: the message names the caller and the identity asked
// for, and is the same whether or not that identity exists.
absl::Status Denied(const CallerRule* caller, absl::string_view what) {
  return absl::PermissionDeniedError(
      absl::StrCat("caller '", CallerName(caller), "' may not mint for ", what));
}

// ValidatePattern checks the fixed part of a pattern with `validate` (an ID's character rules);
// a prefix pattern's text may be any beginning of a valid ID, so only its characters are checked.
absl::Status ValidatePattern(const IdPattern& p, absl::string_view path,
                             absl::Status (*validate)(absl::string_view)) {
  if (p.text.empty()) return absl::OkStatus();  // "*"
  // A prefix is checked as an ID of its own (valid IDs' prefixes are valid IDs but for DPS's
  // last-character rule, so a placeholder completes it).
  const std::string probe = p.prefix ? absl::StrCat(p.text, "0") : p.text;
  if (absl::Status s = validate(probe); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateDevice(absl::string_view id) { return ValidateIdentityId(id, "device ID"); }
absl::Status ValidateHubPrefix(absl::string_view host) {
  // A prefix of a host name may end in '.' or '-': check the characters only.
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
      return absl::InvalidArgumentError(
          absl::StrCat("hub pattern has '", std::string(1, c), "': not a host name character"));
    }
  }
  return absl::OkStatus();
}
absl::Status ValidateHubExact(absl::string_view host) { return ValidateHubHost(host); }
absl::Status ValidateIdScope(absl::string_view id_scope) {
  return ValidateScope(TokenScope::Registration(id_scope, "x"));
}

absl::Status ValidateList(const std::vector<IdPattern>& list, absl::string_view path,
                          absl::Status (*validate)(absl::string_view)) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (absl::Status s = ValidatePattern(list[i], absl::StrCat(path, "[", i, "]"), validate);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAllow(const AllowRule& a, const std::string& path) {
  const auto error = [&](absl::string_view reason) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
  };
  if (a.hub.has_value() == a.id_scope.has_value()) {
    return error("give exactly one of \"hub\" (IoT Hub identities) and \"id_scope\" (DPS)");
  }
  if (a.hub) {
    if (!a.registrations.empty()) return error("\"registrations\" goes with \"id_scope\"");
    if (a.devices.empty() && a.policies.empty()) {
      return error("grants nothing: give \"devices\" and/or \"policies\"");
    }
    if (a.modules && a.devices.empty()) return error("\"modules\" needs \"devices\"");
    if (absl::Status s = ValidatePattern(*a.hub, path + ".hub",
                                         a.hub->prefix ? ValidateHubPrefix : ValidateHubExact);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ValidateList(a.devices, path + ".devices", ValidateDevice); !s.ok()) {
      return s;
    }
    return ValidateList(a.policies, path + ".policies",
                        [](absl::string_view p) { return ValidatePolicyName(p); });
  }
  if (!a.devices.empty() || !a.policies.empty() || a.modules) {
    return error("\"devices\", \"modules\" and \"policies\" go with \"hub\"");
  }
  if (a.registrations.empty()) return error("grants nothing: give \"registrations\"");
  if (absl::Status s = ValidatePattern(*a.id_scope, path + ".id_scope", ValidateIdScope); !s.ok()) {
    return s;
  }
  return ValidateList(a.registrations, path + ".registrations",
                      [](absl::string_view r) { return ValidateRegistrationId(r); });
}

bool AnyMatches(const std::vector<IdPattern>& patterns, absl::string_view id) {
  for (const IdPattern& p : patterns) {
    if (p.Matches(id)) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<IdPattern> IdPattern::Parse(absl::string_view pattern) {
  if (pattern.empty()) return absl::InvalidArgumentError("pattern is empty (\"*\" matches all)");
  IdPattern out;
  out.prefix = pattern.back() == '*';
  if (out.prefix) pattern.remove_suffix(1);
  if (pattern.find('*') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "'*' may only end a pattern (\"prefix*\"; IDs containing '*' elsewhere cannot be named)");
  }
  out.text = std::string(pattern);
  return out;
}

std::string CallerIdentity::Describe() const {
  if (!authenticated) return "anonymous";
  if (!spiffe_id.empty()) return spiffe_id;
  if (!common_name.empty()) return absl::StrCat("CN=", common_name);
  if (!sans.empty()) return absl::StrCat("SAN=", sans.front());
  return "certificate without CN or SAN";
}

absl::StatusOr<Authorizer> Authorizer::Create(std::vector<CallerRule> rules) {
  if (rules.empty()) {
    return absl::InvalidArgumentError(
        "callers: must not be empty (omit it to turn authorization off)");
  }
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < rules.size(); ++i) {
    const CallerRule& r = rules[i];
    const std::string path = absl::StrCat("callers[", i, "]");
    const auto error = [&](absl::string_view where, absl::string_view reason) {
      return absl::InvalidArgumentError(absl::StrCat(path, where, ": ", reason));
    };
    if (r.unrestricted) return error("", "unrestricted rules cannot be configured");
    if (r.name.empty()) return error(".name", "must not be empty");
    if (!names.insert(r.name).second) {
      return error(".name", absl::StrCat("caller '", r.name, "' is configured twice"));
    }
    if (r.match == CallerMatch::kAnonymous) {
      if (!r.match_value.empty()) return error(".match", "anonymous takes no value");
    } else if (r.match_value.empty()) {
      return error(".match", "the value to match must not be empty");
    } else if (r.match == CallerMatch::kSpiffe && !absl::StartsWith(r.match_value, "spiffe://")) {
      return error(".match.spiffe", "must start with \"spiffe://\"");
    }
    for (size_t j = 0; j < i; ++j) {
      if (rules[j].match == r.match && rules[j].match_value == r.match_value) {
        return error(".match", absl::StrCat("same as callers[", j, "] ('", rules[j].name,
                                            "'), which always matches first"));
      }
    }
    for (size_t j = 0; j < r.allow.size(); ++j) {
      if (absl::Status s = ValidateAllow(r.allow[j], absl::StrCat(path, ".allow[", j, "]"));
          !s.ok()) {
        return s;
      }
    }
  }
  Authorizer out;
  out.enabled_ = true;
  out.rules_ = std::move(rules);
  return out;
}

const CallerRule* Authorizer::Unrestricted() {
  static const CallerRule* const kRule = [] {
    auto* rule = new CallerRule();
    rule->name = "(authorization off)";
    rule->admin = true;
    rule->unrestricted = true;
    return rule;
  }();
  return kRule;
}

const CallerRule* Authorizer::Match(const CallerIdentity& caller) const {
  if (!enabled_) return Unrestricted();
  for (const CallerRule& r : rules_) {
    switch (r.match) {
      case CallerMatch::kAnonymous:
        if (!caller.authenticated) return &r;
        break;
      case CallerMatch::kCommonName:
        if (caller.authenticated && caller.common_name == r.match_value) return &r;
        break;
      case CallerMatch::kSpiffe:
        if (caller.authenticated && caller.spiffe_id == r.match_value) return &r;
        break;
      case CallerMatch::kSan:
        if (!caller.authenticated) break;
        for (const std::string& san : caller.sans) {
          if (san == r.match_value) return &r;
        }
        break;
    }
  }
  return nullptr;
}

absl::Status AuthorizeIdentity(const CallerRule* caller, absl::string_view hub,
                               absl::string_view device_id, absl::string_view module_id) {
  if (caller != nullptr) {
    if (caller->unrestricted) return absl::OkStatus();
    for (const AllowRule& a : caller->allow) {
      if (!a.hub || !a.hub->Matches(hub)) continue;
      if ((module_id.empty() || a.modules) && AnyMatches(a.devices, device_id)) {
        return absl::OkStatus();
      }
    }
  }
  return module_id.empty()
             ? Denied(caller, absl::StrCat("device '", device_id, "' of hub '", hub, "'"))
             : Denied(caller, absl::StrCat("module '", module_id, "' of device '", device_id,
                                           "' of hub '", hub, "'"));
}

absl::Status Authorize(const CallerRule* caller, const TokenScope& scope) {
  switch (scope.kind) {
    case ScopeKind::kDevice:
      return AuthorizeIdentity(caller, scope.hub, scope.device_id, "");
    case ScopeKind::kModule:
      // An empty module ID is malformed, not a device: deny it as a module.
      if (scope.module_id.empty()) {
        return Denied(caller, absl::StrCat("an empty module ID of device '", scope.device_id,
                                           "' of hub '", scope.hub, "'"));
      }
      return AuthorizeIdentity(caller, scope.hub, scope.device_id, scope.module_id);
    case ScopeKind::kPolicy:
      if (caller != nullptr) {
        if (caller->unrestricted) return absl::OkStatus();
        for (const AllowRule& a : caller->allow) {
          if (a.hub && a.hub->Matches(scope.hub) && AnyMatches(a.policies, scope.policy)) {
            return absl::OkStatus();
          }
        }
      }
      return Denied(caller, absl::StrCat("policy '", scope.policy, "' of hub '", scope.hub, "'"));
    case ScopeKind::kRegistration:
      if (caller != nullptr) {
        if (caller->unrestricted) return absl::OkStatus();
        for (const AllowRule& a : caller->allow) {
          if (a.id_scope && a.id_scope->Matches(scope.id_scope) &&
              AnyMatches(a.registrations, scope.registration_id)) {
            return absl::OkStatus();
          }
        }
      }
      return Denied(caller, absl::StrCat("registration '", scope.registration_id, "' of ID scope '",
                                         scope.id_scope, "'"));
  }
  return Denied(caller, "an unknown scope kind");
}

absl::Status AuthorizeAdmin(const CallerRule* caller) {
  if (caller != nullptr && caller->admin) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("caller '", CallerName(caller),
                                                  "' may not administer keys (needs admin: true)"));
}

absl::StatusOr<Caller> ResolveCaller(const Authorizer& authorizer, const CallerIdentity& identity,
                                     absl::string_view method) {
  Caller caller;
  if (!authorizer.enabled()) return caller;
  caller.identity = identity.Describe();
  caller.rule = authorizer.Match(identity);
  if (caller.rule == nullptr) {
    const absl::Status denied = absl::PermissionDeniedError(
        absl::StrCat("caller ", caller.identity, " matches no rule of the callers configuration"));
    LogDenied(caller, method, denied);
    return denied;
  }
  return caller;
}

void LogDenied(const Caller& caller, absl::string_view method, const absl::Status& denial,
               int denied_items) {
  Log(LogLevel::kWarning, "permission denied",
      {{"caller", caller.rule == nullptr ? absl::string_view("(none)") : caller.rule->name},
       {"identity", caller.identity},
       {"method", method},
       {"denied_items", absl::StrCat(denied_items)},
       {"first", denial.message()}});
}

}  // namespace sasmint
