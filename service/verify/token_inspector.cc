#include "service/verify/token_inspector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/verify/internal/report_text.h"
#include "signer/encoding.h"

namespace sasmint {
namespace {

using internal::AddFinding;
using internal::Describe;
using internal::FormatDuration;
using internal::FormatTime;
using internal::IsIdentityScope;
using internal::kHubAuthFailed;
using internal::kHubExpired;
using internal::NotContained;
using internal::Quote;

constexpr absl::string_view kHeader = "SharedAccessSignature";

bool IsEscapeAt(absl::string_view text, size_t i) {
  return text[i] == '%' && i + 2 < text.size() && HexDigitValue(text[i + 1]) >= 0 &&
         HexDigitValue(text[i + 2]) >= 0;
}

// UrlDecode decodes %XX escapes (either hex case) and leaves a '%' that starts no escape as it
// is, as .NET's WebUtility.UrlDecode does; IoT Hub decodes the audience that way, once
// (docs/token-spec.md §2), and then also reads '+' as a space (`plus_is_space`).
std::string UrlDecode(absl::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsEscapeAt(text, i)) {
      out.push_back(
          static_cast<char>(HexDigitValue(text[i + 1]) * 16 + HexDigitValue(text[i + 2])));
      i += 2;
    } else if (text[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

bool HasEscape(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsEscapeAt(text, i)) return true;
  }
  return false;
}

// BadEscapeOffset returns the offset of a '%' that starts no %XX escape, or npos.
size_t BadEscapeOffset(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && !IsEscapeAt(text, i)) return i;
  }
  return absl::string_view::npos;
}

bool SameScope(const TokenScope& a, const TokenScope& b) {
  return a.kind == b.kind && a.hub == b.hub && a.device_id == b.device_id &&
         a.module_id == b.module_id && a.policy == b.policy && a.resource == b.resource &&
         a.id_scope == b.id_scope && a.registration_id == b.registration_id;
}

// ScopeFromResource reads a decoded sr (and skn) the way the hub routes it (docs/token-spec.md §1.6
// step 5): {host}/devices/{id}[/modules/{module}] for identities, {scope}/registrations/{id} for
// DPS, and any path under a host for policy (skn) tokens.
std::optional<TokenScope> ScopeFromResource(absl::string_view decoded,
                                            const std::optional<std::string>& skn) {
  const std::vector<absl::string_view> seg = absl::StrSplit(decoded, '/');
  const bool has_skn = skn.has_value() && !skn->empty();
  if (seg.size() == 3 && seg[1] == "registrations" && !seg[0].empty() && !seg[2].empty() &&
      (!has_skn || *skn == "registration")) {
    return TokenScope::Registration(seg[0], seg[2]);
  }
  if (has_skn) {
    if (seg[0].empty()) return std::nullopt;
    const size_t slash = decoded.find('/');
    return TokenScope::Policy(seg[0], *skn,
                              slash == absl::string_view::npos ? "" : decoded.substr(slash + 1));
  }
  if (seg.size() == 3 && seg[1] == "devices" && !seg[0].empty() && !seg[2].empty()) {
    return TokenScope::Device(seg[0], seg[2]);
  }
  if (seg.size() == 5 && seg[1] == "devices" && seg[3] == "modules" && !seg[0].empty() &&
      !seg[2].empty() && !seg[4].empty()) {
    return TokenScope::Module(seg[0], seg[2], seg[4]);
  }
  return std::nullopt;
}

class Inspector {
 public:
  Inspector(absl::string_view token, const VerifyOptions& options, InspectedToken* out)
      : token_(token), options_(options), out_(*out) {}

  void Run() {
    // Real tokens are well under 1 KiB (IDs have at most 128 characters); a bound keeps the
    // report (one finding per bad field) small whatever a caller sends.
    constexpr size_t kMaxTokenBytes = 8192;
    if (token_.size() > kMaxTokenBytes) {
      Malformed(absl::StrCat("the token is ", token_.size(),
                             " bytes long; SAS tokens are well "
                             "under 1 KiB (this check reads at most ",
                             kMaxTokenBytes, ")"));
      return;
    }
    out_.token = std::string(token_);
    absl::string_view fields;
    if (!SplitHeader(&fields)) return;
    std::string cleaned;
    for (char c : fields) {
      if (!absl::ascii_isspace(static_cast<unsigned char>(c))) cleaned.push_back(c);
    }
    if (cleaned.size() != fields.size()) {
      Malformed(
          "the token contains whitespace after 'SharedAccessSignature ' (a line break from "
          "copying?). IoT Hub splits the token at whitespace and needs exactly two parts: the "
          "header word and the fields");
    }
    ReadFields(cleaned);
    if (sr_) CheckResource();
    if (sig_) CheckSignatureText();
    if (se_) CheckExpiry();
  }

 private:
  void Malformed(absl::string_view what) {
    constexpr int kMaxSyntaxFindings = 10;
    if (++malformed_ > kMaxSyntaxFindings) {
      if (malformed_ == kMaxSyntaxFindings + 1) {
        AddFinding(&out_.findings, Verdict::kMalformed,
                   "IoT Hub cannot parse the token: further syntax problems are not listed.");
      }
      return;
    }
    AddFinding(&out_.findings, Verdict::kMalformed,
               absl::StrCat("IoT Hub cannot parse the token (401003 IotHubUnauthorized: ",
                            kHubAuthFailed, "): ", what, "."));
  }

  // SplitHeader checks the header word and sets `fields` to the text after it.
  bool SplitHeader(absl::string_view* fields) {
    if (token_.empty()) {
      Malformed("the token is empty");
      return false;
    }
    const size_t space = token_.find(' ');
    const absl::string_view header = token_.substr(0, space);
    if (space == absl::string_view::npos) {
      if (!absl::StrContains(token_, "sr=")) {
        Malformed("the token does not start with 'SharedAccessSignature ' and has no sr field");
        return false;
      }
      // Only the fields were given: still look at them, they may have more to tell.
      Malformed("the token lacks the header word: it must start with 'SharedAccessSignature '");
      *fields = token_;
      return true;
    }
    if (header != kHeader) {
      Malformed(absl::EqualsIgnoreCase(header, kHeader)
                    ? "the header word must be exactly 'SharedAccessSignature' (IoT Hub compares "
                      "it case-sensitively)"
                    : "the token must start with 'SharedAccessSignature ' (the header word and one "
                      "space)");
    }
    *fields = token_.substr(space + 1);
    return true;
  }

  void ReadFields(absl::string_view fields) {
    for (absl::string_view field : absl::StrSplit(fields, '&')) {
      if (field.empty()) {
        Malformed("the token has an empty field (\"&&\" or a trailing '&')");
        continue;
      }
      const size_t eq = field.find('=');
      if (eq == absl::string_view::npos) {
        Malformed(absl::StrCat("the field ", Quote(field.substr(0, 16)), " has no '='"));
        continue;
      }
      const std::string name = absl::AsciiStrToLower(field.substr(0, eq));
      const absl::string_view value = field.substr(eq + 1);
      std::optional<std::string>* slot = name == "sr"    ? &sr_
                                         : name == "sig" ? &sig_
                                         : name == "se"  ? &se_
                                         : name == "skn" ? &skn_raw_
                                                         : nullptr;
      if (slot == nullptr) {
        Malformed(absl::StrCat("the token has an unknown field ", Quote(name.substr(0, 16)),
                               " (IoT Hub's parsers accept only sr, sig, se and skn)"));
        continue;
      }
      if (slot->has_value()) {
        Malformed(absl::StrCat("the field ", name, " appears twice"));
        continue;
      }
      if (value.find('=') != absl::string_view::npos) {
        Malformed(name == "sig"
                      ? "sig contains a raw '=' (base64 padding). IoT Hub splits each field at "
                        "every '=', which cuts the signature short: escape '=' as %3D"
                      : absl::StrCat("the field ", name,
                                     " contains a raw '=', which IoT Hub's parser splits at: "
                                     "escape it as %3D"));
      }
      *slot = std::string(value);
    }
    for (const auto& [field, value] :
         {std::pair<absl::string_view, const std::optional<std::string>*>{"sr", &sr_},
          {"sig", &sig_},
          {"se", &se_}}) {
      if (!value->has_value()) Malformed(absl::StrCat("the token has no ", field, " field"));
    }
    if (skn_raw_) {
      if (const size_t bad = BadEscapeOffset(*skn_raw_); bad != absl::string_view::npos) {
        Malformed(absl::StrCat("skn has a '%' at offset ", bad,
                               " that does not start a %XX escape: encode '%' as %25"));
      }
      skn_ = UrlDecode(*skn_raw_, /*plus_is_space=*/true);
      out_.key_name = skn_;
    }
  }

  void CheckResource() {
    const std::string& sr = *sr_;
    if (sr.empty()) {
      Malformed("sr is empty");
      return;
    }
    out_.encoded_resource = sr;
    if (const size_t bad = BadEscapeOffset(sr); bad != absl::string_view::npos) {
      Malformed(absl::StrCat("sr has a '%' at offset ", bad,
                             " that does not start a %XX escape: percent-encode the resource URI "
                             "('%' becomes %25)"));
    }
    // What the hub looks up: sr decoded once, '+' read as a space (docs/token-spec.md §1.6, §2).
    const std::string hub_view = UrlDecode(sr, /*plus_is_space=*/true);
    const std::optional<TokenScope> hub_scope = ScopeFromResource(hub_view, skn_);
    if (hub_scope) out_.scopes.push_back(*hub_scope);
    const std::vector<TokenScope> meant = MeantReadings(sr);
    ReportEncoding(sr, hub_view, hub_scope, meant);
    out_.scopes.insert(out_.scopes.end(), meant.begin(), meant.end());
    CheckAudience(hub_view);
  }

  // MeantReadings returns the readings of `sr` the sender may have meant instead of the hub's
  // (scopes_ so far); the registry (or --device) tells which, if any, is right.
  std::vector<TokenScope> MeantReadings(const std::string& sr) const {
    std::vector<TokenScope> meant;
    const auto consider = [&](absl::string_view decoded) {
      std::optional<TokenScope> s = ScopeFromResource(decoded, skn_);
      if (!s) return;
      for (const TokenScope& known : out_.scopes) {
        if (SameScope(known, *s)) return;
      }
      for (const TokenScope& known : meant) {
        if (SameScope(known, *s)) return;
      }
      meant.push_back(*std::move(s));
    };
    const std::string plus_kept = UrlDecode(sr, /*plus_is_space=*/false);
    if (absl::StrContains(sr, '+')) consider(plus_kept);
    if (HasEscape(plus_kept)) consider(UrlDecode(plus_kept, /*plus_is_space=*/false));
    if (absl::StrContains(sr, '/') && absl::StrContains(sr, '%')) consider(sr);
    return meant;
  }

  // ReportEncoding says how the hub's reading of `sr` differs from what was `meant`: a finding
  // when the hub cannot find the intended identity whatever the registry holds, else a hint for
  // the key checks to confirm against the registry.
  void ReportEncoding(const std::string& sr, const std::string& hub_view,
                      const std::optional<TokenScope>& hub_scope,
                      const std::vector<TokenScope>& meant) {
    const std::string canonical_hint =
        meant.empty() ? std::string()
                      : absl::StrCat(
                            " Percent-encode the resource URI exactly once and sign that "
                            "text: sr=",
                            EncodedResource(meant.front()));
    if (absl::StrContains(sr, '+')) {
      // An ID cannot contain a space, so a raw '+' can never name the intended identity.
      AddFinding(
          &out_.findings, Verdict::kEncodingMismatch,
          absl::StrCat(NotFoundText(hub_scope),
                       ": sr contains a raw '+', which IoT Hub decodes as a space, so it looks "
                       "for ",
                       hub_scope ? Describe(*hub_scope) : Quote(hub_view),
                       meant.empty() ? "" : absl::StrCat(" instead of ", Describe(meant.front())),
                       ". Encode '+' as %2B.", canonical_hint));
      out_.encoding_reported = true;
    } else if (!hub_scope && !meant.empty()) {
      // The whole sr is encoded twice: one decoding leaves no '/' to route by.
      AddFinding(
          &out_.findings, Verdict::kEncodingMismatch,
          absl::StrCat("sr is percent-encoded twice: IoT Hub decodes it once, to ", Quote(hub_view),
                       ", which names no device, module or registration (401003 "
                       "IotHubUnauthorized).",
                       canonical_hint));
      out_.encoding_reported = true;
    } else if (!meant.empty()) {
      // IDs with %XX left after one decoding (.NET double-encodes IDs), or a raw '%' in an
      // unencoded sr: either the registry has that ID, or the hub looks up the wrong one.
      out_.scope_ambiguous = true;
      out_.encoding_hint = absl::StrCat(
          absl::StrContains(sr, '/') ? "sr is not percent-encoded but contains '%', which IoT Hub "
                                       "decodes as an escape"
                                     : "sr has %XX escapes left after one decoding (the ID was "
                                       "percent-encoded twice, as .NET's WebUtility.UrlEncode "
                                       "double-encodes it)",
          ".", canonical_hint);
    }
  }

  // CheckAudience reports an sr that names nothing the hub routes to, a DPS token with the
  // wrong skn, and identity names the registry could never hold.
  void CheckAudience(const std::string& hub_view) {
    if (out_.scopes.empty()) {
      const bool policy = skn_.has_value() && !skn_->empty();
      AddFinding(&out_.findings, policy ? Verdict::kUnknownHub : Verdict::kUnknownIdentity,
                 absl::StrCat("sr decodes to ", Quote(hub_view),
                              policy ? ", which names no hub host"
                                     : ", which names no device ({hub}/devices/{id}), module "
                                       "({hub}/devices/{id}/modules/{module}) or DPS "
                                       "registration ({idScope}/registrations/{id}); a hub "
                                       "policy token needs skn",
                              ". IoT Hub answers 401003 IotHubUnauthorized."));
      return;
    }
    const TokenScope& first = out_.scopes.front();
    if (first.kind == ScopeKind::kRegistration && skn_ && !skn_->empty() &&
        *skn_ != "registration") {
      AddFinding(&out_.findings, Verdict::kUnknownPolicy,
                 absl::StrCat("DPS registration tokens carry skn=registration (signed with the "
                              "enrollment key), not skn=",
                              Quote(*skn_), "."));
    }
    if (!out_.encoding_reported && !out_.scope_ambiguous && IsIdentityScope(first)) {
      if (absl::Status s = ValidateHubHost(first.hub); !s.ok()) {
        AddFinding(&out_.findings, Verdict::kUnknownHub,
                   absl::StrCat("sr names the hub ", Quote(first.hub),
                                ", not a valid host name: ", s.message(), "."));
      } else if (absl::Status bad = ValidateScope(first); !bad.ok()) {
        AddFinding(&out_.findings, Verdict::kUnknownIdentity,
                   absl::StrCat(NotFoundText(first), ": ", bad.message(), "."));
      }
    }
  }

  void CheckSignatureText() {
    const std::string& sig = *sig_;
    if (sig.empty()) {
      Malformed("sig is empty");
      return;
    }
    if (absl::StrContains(sig, '+')) {
      Malformed(
          "sig contains a raw '+', which IoT Hub decodes as a space: escape '+' as %2B (and "
          "'/' as %2F, '=' as %3D)");
    }
    if (const size_t bad = BadEscapeOffset(sig); bad != absl::string_view::npos) {
      Malformed(absl::StrCat("sig has a '%' at offset ", bad, " that does not start an escape"));
      return;
    }
    // '+' is kept as '+' here so that the rest of the checks can still run.
    const std::string b64 = UrlDecode(sig, /*plus_is_space=*/false);
    auto bytes = Base64Decode(b64, "sig");
    if (!bytes.ok()) {
      Malformed(absl::StrCat(bytes.status().message(),
                             " (IoT Hub compares the base64 text of the signature exactly, "
                             "padding included)"));
      return;
    }
    if (bytes->size() != kMacSize) {
      Malformed(absl::StrCat("sig decodes to ", bytes->size(),
                             " bytes; an HMAC-SHA256 signature has 32"));
      return;
    }
    Mac mac;
    std::copy(bytes->begin(), bytes->end(), mac.begin());
    out_.signature = mac;
  }

  void CheckExpiry() {
    const std::string& se = *se_;
    out_.expiry_text = se;
    if (se.empty()) {
      Malformed("se is empty");
      return;
    }
    if (!std::all_of(se.begin(), se.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      Malformed(absl::StrCat("se is ", Quote(se),
                             "; it must be whole Unix seconds in plain decimal (digits only: no "
                             "sign, fraction or exponent)"));
      return;
    }
    const size_t digits =
        se.size() - std::min(se.find_first_not_of('0'), se.size() - 1);  // significant
    if (se.size() > 1 && se[0] == '0') {
      Malformed(
          "se has a leading zero; write plain decimal seconds (IoT Hub's C validator "
          "rejects other forms)");
    }
    int64_t expiry = 0;
    if (digits > 18 || !absl::SimpleAtoi(se, &expiry)) {
      AddFinding(
          &out_.findings, Verdict::kExpiresTooLate,
          absl::StrCat("se has ", digits, " digits, far past 9999-12-31T23:59:59Z (", kMaxExpiry,
                       "), the latest expiry IoT Hub's .NET-based validator can represent: the "
                       "token cannot be parsed (401003 IotHubUnauthorized). Mint it with a TTL of "
                       "hours."));
      return;
    }
    out_.expires_at = expiry;
    const int64_t now = options_.now;
    const int64_t skew = options_.clock_skew_seconds;
    if (expiry > kMaxExpiry) {
      AddFinding(
          &out_.findings, Verdict::kExpiresTooLate,
          absl::StrCat("se ", expiry, " is after 9999-12-31T23:59:59Z (", kMaxExpiry,
                       "), the latest expiry IoT Hub's .NET-based validator can represent: the "
                       "token cannot be parsed (401003 IotHubUnauthorized). Mint it with a TTL of "
                       "hours."));
    } else if (options_.max_lifetime_seconds > 0 && expiry - now > options_.max_lifetime_seconds) {
      AddFinding(
          &out_.findings, Verdict::kExpiresTooLate,
          absl::StrCat("the token expires at ", FormatTime(expiry), ", in ",
                       FormatDuration(expiry - now), ": longer than the maximum lifetime of ",
                       FormatDuration(options_.max_lifetime_seconds),
                       " set for this check. A long-lived token cannot be revoked short of "
                       "regenerating the key; mint short-lived tokens and renew them."));
    }
    if (now > expiry + skew) {
      AddFinding(&out_.findings, Verdict::kExpired,
                 absl::StrCat(kHubExpired, ": it expired at ", FormatTime(expiry), ", ",
                              FormatDuration(now - expiry), " ago, beyond IoT Hub's ",
                              FormatDuration(skew), " clock-skew allowance (refused since ",
                              FormatTime(expiry + skew),
                              "). Mint a new token; if it was minted moments ago, the minting "
                              "machine's clock is behind (synchronize it with NTP)."));
    } else if (now > expiry) {
      out_.notes.push_back(absl::StrCat(
          "the token expired at ", FormatTime(expiry), ", ", FormatDuration(now - expiry),
          " ago, but is inside IoT Hub's ", FormatDuration(skew),
          " clock-skew allowance: accepted until ", FormatTime(expiry + skew), "; renew it now"));
    } else {
      out_.notes.push_back(absl::StrCat("the token expires at ", FormatTime(expiry), ", in ",
                                        FormatDuration(expiry - now), " (IoT Hub accepts it until ",
                                        FormatDuration(skew), " after that)"));
    }
  }

  static std::string NotFoundText(const std::optional<TokenScope>& scope) {
    if (!scope || !IsIdentityScope(*scope)) return "IoT Hub cannot find the token's identity";
    return NotContained(*scope);
  }

  const absl::string_view token_;
  const VerifyOptions& options_;
  InspectedToken& out_;
  std::optional<std::string> sr_, sig_, se_, skn_raw_, skn_;
  int malformed_ = 0;
};

}  // namespace

InspectedToken InspectToken(absl::string_view token, const VerifyOptions& options) {
  InspectedToken out;
  Inspector(token, options, &out).Run();
  return out;
}

}  // namespace sasmint
