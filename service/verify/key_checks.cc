#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "service/verify/internal/report_text.h"
#include "service/verify/verifier.h"
#include "signer/crypto_backend.h"

// The key checks of a token: audience, registry and signature (verifier.h).
namespace sasmint {
namespace {

using internal::AddFinding;
using internal::Describe;
using internal::Finish;
using internal::FormatTime;
using internal::IsIdentityScope;
using internal::kHubAuthFailed;
using internal::kHubBadSignature;
using internal::NotContained;
using internal::Quote;
using internal::RightText;

// DeviceInResource returns the identity a policy token's resource names ("devices/d" or
// "devices/d/modules/m"), if any.
std::optional<TokenScope> DeviceInResource(const TokenScope& policy) {
  const std::vector<absl::string_view> seg = absl::StrSplit(policy.resource, '/');
  if (seg.size() == 2 && seg[0] == "devices" && !seg[1].empty()) {
    return TokenScope::Device(policy.hub, seg[1]);
  }
  if (seg.size() == 4 && seg[0] == "devices" && seg[2] == "modules" && !seg[1].empty() &&
      !seg[3].empty()) {
    return TokenScope::Module(policy.hub, seg[1], seg[3]);
  }
  return std::nullopt;
}

// Candidate is a key the signature may have been made with.
struct Candidate {
  const HmacKey* key = nullptr;
  MatchedKey described;
};

class Checker {
 public:
  Checker(const InspectedToken& in, const VerifyOptions& options, const KeySource& keys,
          VerifyReport* report)
      : in_(in), options_(options), keys_(keys), r_(*report) {}

  void Run() {
    if (in_.scopes.empty()) return;
    // An audience the syntax checks already found unusable (a host or ID IoT Hub does not
    // allow) cannot be in any registry: looking it up would only repeat that finding.
    for (const Finding& f : in_.findings) {
      if (f.verdict == Verdict::kUnknownHub || f.verdict == Verdict::kUnknownIdentity) return;
    }
    if (keys_.table() != nullptr) {
      const TokenScope& first = in_.scopes.front();
      switch (first.kind) {
        case ScopeKind::kDevice:
        case ScopeKind::kModule:
          TableIdentity();
          break;
        case ScopeKind::kPolicy:
          TablePolicy(first);
          break;
        case ScopeKind::kRegistration:
          TableRegistration(first);
          break;
      }
    } else if (keys_.offline() != nullptr) {
      Offline();
    }
  }

 private:
  void Flag(Verdict v, std::string message) { AddFinding(&r_.findings, v, std::move(message)); }

  void UnknownHub(absl::string_view hub) {
    Flag(Verdict::kUnknownHub,
         absl::StrCat("the token is for hub ", Quote(hub),
                      ", which is not served here. A hub accepts only tokens whose sr names its "
                      "own host name (401003 IotHubUnauthorized): mint the token for the hub "
                      "the device connects to."));
  }

  // EncodingMismatch reports that the hub reads scopes[0] while the sender meant `meant`.
  void EncodingMismatch(const TokenScope& meant, absl::string_view how) {
    if (in_.encoding_reported) return;
    Flag(Verdict::kEncodingMismatch, absl::StrCat(NotContained(in_.scopes.front()),
                                                  ": IoT Hub decodes sr once and looks "
                                                  "for ",
                                                  Describe(in_.scopes.front()), ", but ", how, " ",
                                                  Describe(meant), ". ", in_.encoding_hint));
  }

  void TableIdentity() {
    const IdentityTable& table = *keys_.table();
    const TokenScope& first = in_.scopes.front();
    if (!table.ServesHub(first.hub)) {
      UnknownHub(first.hub);
      return;
    }
    // The first scope the registry knows: the hub's reading, else what the sender meant.
    IdentityRef ref;
    size_t index = 0;
    for (; index < in_.scopes.size(); ++index) {
      const TokenScope& s = in_.scopes[index];
      if (!IsIdentityScope(s) || s.hub != first.hub) continue;
      ref = table.Find(s.hub, s.device_id, s.kind == ScopeKind::kModule ? s.module_id : "");
      if (ref) break;
    }
    if (!ref) {
      const TokenScope& meant = in_.scopes.size() > 1 ? in_.scopes[1] : first;
      const HubSettings* settings = table.Settings(first.hub);
      Flag(Verdict::kUnknownIdentity,
           absl::StrCat(NotContained(first), ": ", Describe(meant), " is not registered in hub ",
                        Quote(first.hub),
                        " here. Check the hub, the ID's case (IDs are case-sensitive) and that "
                        "the identity was created",
                        settings != nullptr && !settings->device_policy.empty()
                            ? absl::StrCat("; this hub's tokens are signed with the policy ",
                                           Quote(settings->device_policy), " (skn)")
                            : "",
                        in_.scope_ambiguous ? absl::StrCat(". Also: ", in_.encoding_hint) : "",
                        "."));
      return;
    }
    const TokenScope& found = in_.scopes[index];
    if (index > 0) EncodingMismatch(found, "the registered identity is");
    if (ref.status() == IdentityStatus::kDisabled) {
      Flag(Verdict::kIdentityDisabled,
           absl::StrCat(kHubAuthFailed, ": ", Describe(found), " is disabled in hub ",
                        Quote(found.hub), ". Enable it in the identity registry."));
    }
    if (options_.right != 0 && options_.right != kDeviceConnect) DeviceTokenRight();
    if (!ref.has_keys()) {
      Flag(Verdict::kSignatureMismatch,
           absl::StrCat(kHubAuthFailed, ": ", Describe(found), " authenticates with ",
                        ref.auth_type(),
                        " (X.509), not a symmetric key, so no SAS token signed with a device "
                        "key can match. Connect with its certificate, or sign with a hub policy "
                        "that has DeviceConnect."));
      return;
    }
    std::vector<Candidate> candidates;
    const std::string owner = Describe(found);
    for (KeySlot slot : {KeySlot::kPrimary, KeySlot::kSecondary}) {
      if (const HmacKey* key = ref.key(slot)) {
        candidates.push_back(Candidate{key, MatchedKey{slot, ref.version(), false, 0, owner}});
      }
    }
    for (const RetiredKey& retired : table.RetiredKeys(ref)) {
      candidates.push_back(
          Candidate{&retired.key.hmac,
                    MatchedKey{retired.slot, retired.version, true, retired.retired_at, owner}});
    }
    CheckSignature(candidates);
  }

  void DeviceTokenRight() {
    Flag(Verdict::kPolicyLacksRight,
         absl::StrCat("Authorization rule for a device key does not allow access for ",
                      Quote(RightText(options_.right)),
                      ": a token signed with a device or module key grants DeviceConnect only. "
                      "Use a shared access policy token (skn) whose policy has ",
                      RightText(options_.right), "."));
  }

  void TablePolicy(const TokenScope& scope) {
    const IdentityTable& table = *keys_.table();
    const HubSettings* settings = table.Settings(scope.hub);
    if (settings == nullptr) {
      UnknownHub(scope.hub);
      return;
    }
    const PolicyEntry* policy = table.FindPolicy(scope.hub, scope.policy);
    if (policy == nullptr) {
      Flag(Verdict::kUnknownPolicy,
           absl::StrCat("hub ", Quote(scope.hub), " has no shared access policy ",
                        Quote(scope.policy),
                        " here (the token's skn), so IoT Hub has no key to check it with "
                        "(401003 IotHubUnauthorized). Use one of the hub's policy names "
                        "(case-sensitive), or a device key token without skn."));
      return;
    }
    // The audience names a device (the "token service" pattern): DeviceConnect is implied.
    const std::optional<TokenScope> device = DeviceInResource(scope);
    const uint32_t implied = device ? static_cast<uint32_t>(kDeviceConnect) : 0u;
    const uint32_t required = options_.right != 0 ? options_.right : implied;
    if (required != 0 && (policy->rights & required) != required) {
      Flag(Verdict::kPolicyLacksRight,
           absl::StrCat("Authorization rule ", Quote(policy->name), " does not allow access for ",
                        Quote(RightText(required)), ". Sign with a policy that has ",
                        RightText(required),
                        " (IoT Hub's defaults: iothubowner all, service ServiceConnect, "
                        "device DeviceConnect, registryRead RegistryRead, registryReadWrite "
                        "RegistryRead and RegistryWrite)."));
    }
    if (device) {
      const IdentityRef ref =
          table.Find(device->hub, device->device_id,
                     device->kind == ScopeKind::kModule ? device->module_id : "");
      if (ref && ref.status() == IdentityStatus::kDisabled) {
        Flag(Verdict::kIdentityDisabled,
             absl::StrCat(kHubAuthFailed, ": ", Describe(*device), " is disabled in hub ",
                          Quote(device->hub), ". Enable it in the identity registry."));
      }
    }
    std::vector<Candidate> candidates;
    const std::string owner = absl::StrCat("policy ", Quote(policy->name));
    if (policy->primary) {
      candidates.push_back(
          Candidate{&policy->primary->hmac, MatchedKey{KeySlot::kPrimary, 0, false, 0, owner}});
    }
    if (policy->secondary) {
      candidates.push_back(
          Candidate{&policy->secondary->hmac, MatchedKey{KeySlot::kSecondary, 0, false, 0, owner}});
    }
    CheckSignature(candidates);
  }

  void TableRegistration(const TokenScope& scope) {
    const IdentityTable& table = *keys_.table();
    if (!table.ServesIdScope(scope.id_scope)) {
      Flag(Verdict::kUnknownHub,
           absl::StrCat("the token is for DPS ID scope ", Quote(scope.id_scope),
                        ", which has no enrollment group here. Mint the token for the ID "
                        "scope of the DPS instance the device registers with."));
      return;
    }
    const DpsGroupEntry* group = table.FindDpsGroup(scope.id_scope, scope.registration_id);
    if (group == nullptr) {
      Flag(Verdict::kUnknownIdentity,
           absl::StrCat("no enrollment group of ID scope ", Quote(scope.id_scope),
                        " covers registration ", Quote(scope.registration_id),
                        ": DPS refuses the registration (401 Unauthorized)."));
      return;
    }
    // The device key is HMAC(group key, registration ID) (docs/token-spec.md §3.5), derived here
    // for the check and wiped with `derived` when it goes out of scope.
    std::vector<HmacKey> derived;
    derived.reserve(2);
    std::vector<Candidate> candidates;
    const std::string owner =
        absl::StrCat("the device key derived from enrollment group ", Quote(group->name));
    const auto add = [&](const std::optional<StoredKey>& group_key, KeySlot slot) {
      if (!group_key) return;
      Mac mac = group_key->hmac.Sign(
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(scope.registration_id.data()),
                              scope.registration_id.size()));
      derived.push_back(HmacKey::FromBytes(mac));
      crypto::Cleanse(mac.data(), mac.size());
      candidates.push_back(Candidate{&derived.back(), MatchedKey{slot, 0, false, 0, owner}});
    };
    add(group->primary, KeySlot::kPrimary);
    add(group->secondary, KeySlot::kSecondary);
    CheckSignature(candidates);
  }

  void Offline() {
    const OfflineRegistration& o = *keys_.offline();
    const TokenScope& first = in_.scopes.front();
    const bool identity = IsIdentityScope(first);
    if (!o.hub.empty() && first.kind != ScopeKind::kRegistration && first.hub != o.hub) {
      Flag(Verdict::kUnknownHub,
           absl::StrCat("the token is for hub ", Quote(first.hub), ", not ", Quote(o.hub),
                        " (--hub). A hub accepts only tokens whose sr names its own host "
                        "name (401003 IotHubUnauthorized)."));
    }
    if (identity && !o.device_id.empty()) {
      size_t index = 0;
      for (; index < in_.scopes.size(); ++index) {
        const TokenScope& s = in_.scopes[index];
        if (IsIdentityScope(s) && s.device_id == o.device_id &&
            (s.kind == ScopeKind::kModule ? s.module_id : "") == o.module_id) {
          break;
        }
      }
      if (index == in_.scopes.size()) {
        const TokenScope expected = o.module_id.empty()
                                        ? TokenScope::Device(first.hub, o.device_id)
                                        : TokenScope::Module(first.hub, o.device_id, o.module_id);
        Flag(Verdict::kUnknownIdentity,
             absl::StrCat(NotContained(first), ": the token is for ", Describe(first), ", not ",
                          Describe(expected), " (--device/--module)."));
      } else if (index > 0) {
        EncodingMismatch(in_.scopes[index], "--device names");
      }
    } else if (in_.scope_ambiguous && in_.scopes.size() > 1) {
      EncodingMismatch(in_.scopes[1], "the sender most likely meant");
    }
    if (identity && options_.right != 0 && options_.right != kDeviceConnect) DeviceTokenRight();
    std::vector<Candidate> candidates;
    if (o.primary) {
      candidates.push_back(
          Candidate{&*o.primary, MatchedKey{KeySlot::kPrimary, 0, false, 0, "--key"}});
    }
    if (o.secondary) {
      candidates.push_back(Candidate{
          &*o.secondary, MatchedKey{KeySlot::kSecondary, 0, false, 0, "--secondary-key"}});
    }
    for (const RetiredKey& retired : o.retired) {
      candidates.push_back(Candidate{
          &retired.key.hmac,
          MatchedKey{retired.slot, retired.version, true, retired.retired_at, "the identity"}});
    }
    if (first.kind == ScopeKind::kPolicy &&
        (options_.right != 0 || DeviceInResource(first).has_value())) {
      r_.notes.push_back(
          "offline check: the policy's rights are not known here, so they were not checked");
    }
    if (!candidates.empty()) CheckSignature(candidates);
  }

  static bool Matches(const HmacKey& key, absl::string_view message, const Mac& signature) {
    const Mac mac = key.Sign(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
    return crypto::ConstantTimeEquals(mac, signature);
  }

  // CheckSignature compares the token's signature with HMAC(key, sr + "\n" + se) for each
  // candidate (over the raw texts as sent: docs/token-spec.md §1.2). Nothing about the expected
  // value is reported: only which key matched, or that none did.
  void CheckSignature(const std::vector<Candidate>& candidates) {
    if (!in_.signature || !in_.encoded_resource || !in_.expiry_text || candidates.empty()) return;
    const std::string message = absl::StrCat(*in_.encoded_resource, "\n", *in_.expiry_text);
    for (const Candidate& c : candidates) {
      if (!Matches(*c.key, message, *in_.signature)) continue;
      r_.matched_key = c.described;
      const MatchedKey& m = c.described;
      if (m.retired) {
        Flag(Verdict::kRetiredKey,
             absl::StrCat(
                 kHubBadSignature, " The token was signed with a retired key: a former ",
                 KeySlotName(m.slot), " key of ", m.owner, " (",
                 m.version != 0 ? absl::StrCat("key version ", m.version, ", ") : "",
                 m.retired_at != 0 ? absl::StrCat("replaced at ", FormatTime(m.retired_at))
                                   : "replaced since",
                 "). Mint a new token with the current key: whoever signed it still holds the "
                 "old one."));
      }
      return;
    }
    // No key matches. Say whether the signature covers another sr text for a scope the token
    // names, once encoded or not encoded (the commonest cause besides a wrong key): that needs
    // no secret to state.
    std::string cause;
    std::vector<std::string> others;
    for (const TokenScope& scope : in_.scopes) {
      for (std::string other : {EncodedResource(scope), ResourceUri(scope)}) {
        if (other != *in_.encoded_resource &&
            std::find(others.begin(), others.end(), other) == others.end()) {
          others.push_back(std::move(other));
        }
      }
    }
    for (const std::string& other : others) {
      const std::string alt = absl::StrCat(other, "\n", *in_.expiry_text);
      for (const Candidate& c : candidates) {
        if (Matches(*c.key, alt, *in_.signature)) {
          cause = absl::StrCat(" The signature was computed with the ",
                               KeySlotName(c.described.slot), " key over sr=", Quote(other),
                               ", not over the sr the token "
                               "carries: send exactly the sr text that was signed.");
          break;
        }
      }
      if (!cause.empty()) break;
    }
    if (cause.empty()) {
      cause =
          " Either the token was signed with another key (regenerated or rotated? sign with the "
          "current primary or secondary key), or over a different text: the signature covers sr "
          "exactly as it appears in the token, then '\\n', then se.";
    }
    const bool one_owner =
        std::all_of(candidates.begin(), candidates.end(), [&](const Candidate& c) {
          return c.described.owner == candidates.front().described.owner;
        });
    std::vector<std::string> tried;
    for (const Candidate& c : candidates) {
      tried.push_back(absl::StrCat(c.described.retired ? "retired " : "",
                                   KeySlotName(c.described.slot),
                                   one_owner ? "" : absl::StrCat(" (", c.described.owner, ")")));
    }
    Flag(Verdict::kSignatureMismatch,
         absl::StrCat(kHubBadSignature, " Keys checked: ", absl::StrJoin(tried, ", "),
                      one_owner ? absl::StrCat(" (", candidates.front().described.owner, ")") : "",
                      ".", cause));
  }

  const InspectedToken& in_;
  const VerifyOptions& options_;
  const KeySource& keys_;
  VerifyReport& r_;
};

}  // namespace

VerifyReport VerifyInspected(const InspectedToken& inspected, const VerifyOptions& options,
                             const KeySource& keys) {
  VerifyReport report;
  report.findings = inspected.findings;
  report.notes = inspected.notes;
  report.expires_at = inspected.expires_at;
  Checker(inspected, options, keys, &report).Run();
  std::string valid = "IoT Hub would accept this token";
  if (report.matched_key) {
    absl::StrAppend(&valid, ": the signature matches the ", KeySlotName(report.matched_key->slot),
                    " key of ", report.matched_key->owner);
  }
  if (inspected.expires_at) {
    absl::StrAppend(&valid, "; it expires at ", FormatTime(*inspected.expires_at));
  }
  if (keys.table() == nullptr) {
    absl::StrAppend(&valid,
                    " (offline check: the registry was not consulted, so the identity's "
                    "existence and status are unknown)");
  }
  Finish(&report, valid + ".");
  return report;
}

VerifyReport Verify(absl::string_view token, const VerifyOptions& options, const KeySource& keys) {
  return VerifyInspected(InspectToken(token, options), options, keys);
}

}  // namespace sasmint
