#include "service/verifier.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"

namespace sasmint {
namespace {

constexpr absl::string_view kHeader = "SharedAccessSignature";

// The hub's own texts (spec §6; .NET lts_2021_03 SharedAccessSignature.Authenticate).
constexpr absl::string_view kHubExpired = "The specified SAS token is expired";
constexpr absl::string_view kHubBadSignature =
    "The specified SAS token has an invalid signature. It does not match either the primary or "
    "secondary key.";
constexpr absl::string_view kHubAuthFailed =
    "Authentication failed for this device, renew token or certificate and reconnect";

struct VerdictNameEntry {
  Verdict verdict;
  absl::string_view name;
};
constexpr VerdictNameEntry kVerdictNames[] = {
    {Verdict::kValid, "VALID"},
    {Verdict::kMalformed, "MALFORMED"},
    {Verdict::kExpired, "EXPIRED"},
    {Verdict::kExpiresTooLate, "EXPIRES_TOO_LATE"},
    {Verdict::kSignatureMismatch, "SIGNATURE_MISMATCH"},
    {Verdict::kRetiredKey, "RETIRED_KEY"},
    {Verdict::kUnknownHub, "UNKNOWN_HUB"},
    {Verdict::kUnknownIdentity, "UNKNOWN_IDENTITY"},
    {Verdict::kIdentityDisabled, "IDENTITY_DISABLED"},
    {Verdict::kUnknownPolicy, "UNKNOWN_POLICY"},
    {Verdict::kPolicyLacksRight, "POLICY_LACKS_RIGHT"},
    {Verdict::kEncodingMismatch, "ENCODING_MISMATCH"},
    {Verdict::kThumbprintMismatch, "THUMBPRINT_MISMATCH"},
    {Verdict::kCertExpired, "CERT_EXPIRED"},
};

int Rank(Verdict v) {
  for (size_t i = 0; i < kVerdictOrder.size(); ++i) {
    if (kVerdictOrder[i] == v) return static_cast<int>(i);
  }
  return static_cast<int>(kVerdictOrder.size());
}

// Quote returns `text` in single quotes, with bytes that are not printable ASCII written as
// \xNN and long texts cut, so that token contents cannot disturb a terminal or a log line.
std::string Quote(absl::string_view text) {
  constexpr size_t kMax = 300;
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    }
  }
  if (text.size() > kMax) out.append("...");
  out.push_back('\'');
  return out;
}

std::string FormatTime(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

// FormatDuration returns e.g. "3 h 2 min 5 s" for a non-negative number of seconds.
std::string FormatDuration(int64_t seconds) {
  if (seconds < 60) return absl::StrCat(seconds, " s");
  std::vector<std::string> parts;
  const int64_t days = seconds / 86400, hours = seconds / 3600 % 24, minutes = seconds / 60 % 60;
  if (days > 0) parts.push_back(absl::StrCat(days, " d"));
  if (hours > 0) parts.push_back(absl::StrCat(hours, " h"));
  if (minutes > 0 && days == 0) parts.push_back(absl::StrCat(minutes, " min"));
  if (seconds % 60 > 0 && days == 0 && hours == 0)
    parts.push_back(absl::StrCat(seconds % 60, " s"));
  return absl::StrJoin(parts, " ");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsEscapeAt(absl::string_view text, size_t i) {
  return text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
         HexValue(text[i + 2]) >= 0;
}

// UrlDecode decodes %XX escapes (either hex case) and leaves a '%' that starts no escape as it
// is, as .NET's WebUtility.UrlDecode does; IoT Hub decodes the audience that way, once (spec
// §2), and then also reads '+' as a space (`plus_is_space`).
std::string UrlDecode(absl::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsEscapeAt(text, i)) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
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

bool IsIdentityScope(const TokenScope& s) {
  return s.kind == ScopeKind::kDevice || s.kind == ScopeKind::kModule;
}

bool SameScope(const TokenScope& a, const TokenScope& b) {
  return a.kind == b.kind && a.hub == b.hub && a.device_id == b.device_id &&
         a.module_id == b.module_id && a.policy == b.policy && a.resource == b.resource &&
         a.id_scope == b.id_scope && a.registration_id == b.registration_id;
}

// HubName returns the IoT Hub name the hub's messages use: the first label of its host name.
absl::string_view HubName(absl::string_view host) { return host.substr(0, host.find('.')); }

std::string Describe(const TokenScope& s) {
  switch (s.kind) {
    case ScopeKind::kDevice:
      return absl::StrCat("device ", Quote(s.device_id));
    case ScopeKind::kModule:
      return absl::StrCat("module ", Quote(s.module_id), " of device ", Quote(s.device_id));
    case ScopeKind::kPolicy:
      return absl::StrCat("policy ", Quote(s.policy), " on ", Quote(ResourceUri(s)));
    case ScopeKind::kRegistration:
      return absl::StrCat("DPS registration ", Quote(s.registration_id), " in ID scope ",
                          Quote(s.id_scope));
  }
  return {};
}

// ScopeFromResource reads a decoded sr (and skn) the way the hub routes it (spec §1.6 step 5):
// {host}/devices/{id}[/modules/{module}] for identities, {scope}/registrations/{id} for DPS, and
// any path under a host for policy (skn) tokens.
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

absl::string_view RightName(uint32_t right) {
  switch (right) {
    case kDeviceConnect:
      return "DeviceConnect";
    case kServiceConnect:
      return "ServiceConnect";
    case kRegistryRead:
      return "RegistryRead";
    case kRegistryWrite:
      return "RegistryWrite";
    default:
      return "the requested right";
  }
}

absl::string_view SlotName(KeySlot slot) {
  return slot == KeySlot::kSecondary ? "secondary" : "primary";
}

void Add(std::vector<Finding>* findings, Verdict verdict, std::string message) {
  findings->push_back(Finding{verdict, std::move(message)});
}

// --- Syntax, expiry and encoding (no keys) ------------------------------------------------------

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
        Add(&out_.findings, Verdict::kMalformed,
            "IoT Hub cannot parse the token: further syntax problems are not listed.");
      }
      return;
    }
    Add(&out_.findings, Verdict::kMalformed,
        absl::StrCat("IoT Hub cannot parse the token (401003 IotHubUnauthorized: ", kHubAuthFailed,
                     "): ", what, "."));
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
    const bool raw_form = absl::StrContains(sr, '/');
    const bool raw_plus = absl::StrContains(sr, '+');
    // What the hub looks up: sr decoded once, '+' read as a space (spec §1.6 step 5, §2).
    const std::string hub_view = UrlDecode(sr, /*plus_is_space=*/true);
    std::optional<TokenScope> hub_scope = ScopeFromResource(hub_view, skn_);
    if (hub_scope) out_.scopes.push_back(*hub_scope);

    // Readings the sender may have meant instead; the registry (or --device) tells which.
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
    if (raw_plus) consider(plus_kept);
    if (HasEscape(plus_kept)) consider(UrlDecode(plus_kept, /*plus_is_space=*/false));
    if (raw_form && absl::StrContains(sr, '%')) consider(sr);

    const std::string canonical_hint =
        meant.empty() ? std::string()
                      : absl::StrCat(
                            " Percent-encode the resource URI exactly once and sign that "
                            "text: sr=",
                            EncodedResource(meant.front()));
    if (raw_plus) {
      // An ID cannot contain a space, so a raw '+' can never name the intended identity.
      Add(&out_.findings, Verdict::kEncodingMismatch,
          absl::StrCat(NotFoundText(hub_scope),
                       ": sr contains a raw '+', which IoT Hub decodes as a space, so it looks "
                       "for ",
                       hub_scope ? Describe(*hub_scope) : Quote(hub_view),
                       meant.empty() ? "" : absl::StrCat(" instead of ", Describe(meant.front())),
                       ". Encode '+' as %2B.", canonical_hint));
      out_.encoding_reported = true;
    } else if (!hub_scope && !meant.empty()) {
      // The whole sr is encoded twice: one decoding leaves no '/' to route by.
      Add(&out_.findings, Verdict::kEncodingMismatch,
          absl::StrCat("sr is percent-encoded twice: IoT Hub decodes it once, to ", Quote(hub_view),
                       ", which names no device, module or registration (401003 "
                       "IotHubUnauthorized).",
                       canonical_hint));
      out_.encoding_reported = true;
    } else if (!meant.empty()) {
      // IDs with %XX left after one decoding (.NET double-encodes IDs), or a raw '%' in an
      // unencoded sr: either the registry has that ID, or the hub looks up the wrong one.
      out_.scope_ambiguous = true;
      out_.encoding_hint =
          absl::StrCat(raw_form ? "sr is not percent-encoded but contains '%', which IoT Hub "
                                  "decodes as an escape"
                                : "sr has %XX escapes left after one decoding (the ID was "
                                  "percent-encoded twice, as .NET's WebUtility.UrlEncode "
                                  "double-encodes it)",
                       ".", canonical_hint);
    }
    out_.scopes.insert(out_.scopes.end(), meant.begin(), meant.end());

    if (out_.scopes.empty()) {
      const bool policy = skn_.has_value() && !skn_->empty();
      Add(&out_.findings, policy ? Verdict::kUnknownHub : Verdict::kUnknownIdentity,
          absl::StrCat("sr decodes to ", Quote(hub_view),
                       policy ? ", which names no hub host"
                              : ", which names no device ({hub}/devices/{id}), module "
                                "({hub}/devices/{id}/modules/{module}) or DPS registration "
                                "({idScope}/registrations/{id}); a hub policy token needs skn",
                       ". IoT Hub answers 401003 IotHubUnauthorized."));
      return;
    }
    const TokenScope& first = out_.scopes.front();
    if (first.kind == ScopeKind::kRegistration && skn_ && !skn_->empty() &&
        *skn_ != "registration") {
      Add(&out_.findings, Verdict::kUnknownPolicy,
          absl::StrCat("DPS registration tokens carry skn=registration (signed with the "
                       "enrollment key), not skn=",
                       Quote(*skn_), "."));
    }
    if (!out_.encoding_reported && !out_.scope_ambiguous && IsIdentityScope(first)) {
      if (absl::Status s = ValidateHubHost(first.hub); !s.ok()) {
        Add(&out_.findings, Verdict::kUnknownHub,
            absl::StrCat("sr names the hub ", Quote(first.hub),
                         ", not a valid host name: ", s.message(), "."));
      } else if (absl::Status s = ValidateScope(first); !s.ok()) {
        Add(&out_.findings, Verdict::kUnknownIdentity,
            absl::StrCat(NotFoundText(first), ": ", s.message(), "."));
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
      Add(&out_.findings, Verdict::kExpiresTooLate,
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
      Add(&out_.findings, Verdict::kExpiresTooLate,
          absl::StrCat("se ", expiry, " is after 9999-12-31T23:59:59Z (", kMaxExpiry,
                       "), the latest expiry IoT Hub's .NET-based validator can represent: the "
                       "token cannot be parsed (401003 IotHubUnauthorized). Mint it with a TTL of "
                       "hours."));
    } else if (options_.max_lifetime_seconds > 0 && expiry - now > options_.max_lifetime_seconds) {
      Add(&out_.findings, Verdict::kExpiresTooLate,
          absl::StrCat("the token expires at ", FormatTime(expiry), ", in ",
                       FormatDuration(expiry - now), ": longer than the maximum lifetime of ",
                       FormatDuration(options_.max_lifetime_seconds),
                       " set for this check. A long-lived token cannot be revoked short of "
                       "regenerating the key; mint short-lived tokens and renew them."));
    }
    if (now > expiry + skew) {
      Add(&out_.findings, Verdict::kExpired,
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
    return absl::StrCat("IotHub ", Quote(HubName(scope->hub)),
                        " does not contain the specified device ",
                        Quote(scope->kind == ScopeKind::kModule
                                  ? absl::StrCat(scope->device_id, "/", scope->module_id)
                                  : scope->device_id));
  }

  const absl::string_view token_;
  const VerifyOptions& options_;
  InspectedToken& out_;
  std::optional<std::string> sr_, sig_, se_, skn_raw_, skn_;
  int malformed_ = 0;
};

}  // namespace

// --- Keys, audience and registry ----------------------------------------------------------------

namespace {

// Candidate is a key the signature may have been made with.
struct Candidate {
  const HmacKey* key = nullptr;
  MatchedKey described;
};

class Checker {
 public:
  Checker(const InspectedToken& in, const VerifyOptions& options, const VerifyKeys& keys,
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
  void Flag(Verdict v, std::string message) { Add(&r_.findings, v, std::move(message)); }

  static std::string NotContained(const TokenScope& s) {
    return absl::StrCat(
        "IotHub ", Quote(HubName(s.hub)), " does not contain the specified device ",
        Quote(s.kind == ScopeKind::kModule ? absl::StrCat(s.device_id, "/", s.module_id)
                                           : s.device_id));
  }

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
                      Quote(RightName(options_.right)),
                      ": a token signed with a device or module key grants DeviceConnect only. "
                      "Use a shared access policy token (skn) whose policy has ",
                      RightName(options_.right), "."));
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
                        Quote(RightName(required)), ". Sign with a policy that has ",
                        RightName(required),
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
    // The device key is HMAC(group key, registration ID) (spec §3.5), derived here for the
    // check and wiped with `derived` when it goes out of scope.
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
    const OfflineKeys& o = *keys_.offline();
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
  // candidate (spec §1.2: over the raw texts as sent). Nothing about the expected value is
  // reported: only which key matched, or that none did.
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
                 SlotName(m.slot), " key of ", m.owner, " (",
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
          cause = absl::StrCat(" The signature was computed with the ", SlotName(c.described.slot),
                               " key over sr=", Quote(other),
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
                                   SlotName(c.described.slot),
                                   one_owner ? "" : absl::StrCat(" (", c.described.owner, ")")));
    }
    Flag(Verdict::kSignatureMismatch,
         absl::StrCat(kHubBadSignature, " Keys checked: ", absl::StrJoin(tried, ", "),
                      one_owner ? absl::StrCat(" (", candidates.front().described.owner, ")") : "",
                      ".", cause));
  }

  const InspectedToken& in_;
  const VerifyOptions& options_;
  const VerifyKeys& keys_;
  VerifyReport& r_;
};

void Finish(VerifyReport* r, std::string valid_message) {
  std::stable_sort(r->findings.begin(), r->findings.end(), [](const Finding& a, const Finding& b) {
    return Rank(a.verdict) < Rank(b.verdict);
  });
  if (r->findings.empty()) {
    r->verdict = Verdict::kValid;
    r->message = std::move(valid_message);
  } else {
    r->verdict = r->findings.front().verdict;
    r->message = r->findings.front().message;
  }
}

}  // namespace

absl::string_view VerdictName(Verdict verdict) {
  for (const VerdictNameEntry& e : kVerdictNames) {
    if (e.verdict == verdict) return e.name;
  }
  return "UNKNOWN";
}

std::optional<Verdict> ParseVerdict(absl::string_view name) {
  for (const VerdictNameEntry& e : kVerdictNames) {
    if (e.name == name) return e.verdict;
  }
  return std::nullopt;
}

InspectedToken InspectToken(absl::string_view token, const VerifyOptions& options) {
  InspectedToken out;
  Inspector(token, options, &out).Run();
  return out;
}

VerifyReport VerifyInspected(const InspectedToken& inspected, const VerifyOptions& options,
                             const VerifyKeys& keys) {
  VerifyReport report;
  report.findings = inspected.findings;
  report.notes = inspected.notes;
  report.expires_at = inspected.expires_at;
  Checker(inspected, options, keys, &report).Run();
  std::string valid = "IoT Hub would accept this token";
  if (report.matched_key) {
    absl::StrAppend(&valid, ": the signature matches the ", SlotName(report.matched_key->slot),
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

VerifyReport Verify(absl::string_view token, const VerifyOptions& options, const VerifyKeys& keys) {
  return VerifyInspected(InspectToken(token, options), options, keys);
}

VerifyReport VerifyCertificate(const CertificateInfo& cert, const TokenScope& identity,
                               const VerifyOptions& options, const VerifyKeys& keys) {
  VerifyReport r;
  r.certificate = cert;
  const std::string who = Describe(identity);
  std::string primary, secondary;
  std::string registered_as;  // why no thumbprint is registered, if that is the case
  bool known = true;
  if (const IdentityTable* table = keys.table()) {
    const IdentityRef ref =
        table->ServesHub(identity.hub)
            ? table->Find(identity.hub, identity.device_id,
                          identity.kind == ScopeKind::kModule ? identity.module_id : "")
            : IdentityRef();
    if (!table->ServesHub(identity.hub)) {
      Add(&r.findings, Verdict::kUnknownHub,
          absl::StrCat("hub ", Quote(identity.hub),
                       " is not served here: its registered thumbprints are unknown."));
      known = false;
    } else if (!ref) {
      Add(&r.findings, Verdict::kUnknownIdentity,
          absl::StrCat("IotHub ", Quote(HubName(identity.hub)),
                       " does not contain the specified device ",
                       Quote(identity.kind == ScopeKind::kModule
                                 ? absl::StrCat(identity.device_id, "/", identity.module_id)
                                 : identity.device_id),
                       ": ", who, " is not registered here."));
      known = false;
    } else {
      if (ref.status() == IdentityStatus::kDisabled) {
        Add(&r.findings, Verdict::kIdentityDisabled,
            absl::StrCat(kHubAuthFailed, ": ", who, " is disabled in hub ", Quote(identity.hub),
                         ". Enable it in the identity registry."));
      }
      primary = std::string(ref.primary_thumbprint());
      secondary = std::string(ref.secondary_thumbprint());
      if (primary.empty() && secondary.empty()) {
        registered_as = absl::StrCat(" (", who, " is registered with authentication type ",
                                     Quote(ref.auth_type()), " and no thumbprint)");
      }
    }
  } else if (const OfflineKeys* offline = keys.offline()) {
    primary = offline->primary_thumbprint;
    secondary = offline->secondary_thumbprint;
  }
  if (known) {
    const bool p = ThumbprintMatches(primary, cert);
    const bool s = !p && ThumbprintMatches(secondary, cert);
    if (p || s) {
      const std::string& matched = p ? primary : secondary;
      r.matched_key = MatchedKey{p ? KeySlot::kPrimary : KeySlot::kSecondary, 0, false, 0, who};
      r.notes.push_back(absl::StrCat(
          "the certificate's ",
          NormalizeThumbprint(matched) == cert.sha256_thumbprint ? "SHA-256" : "SHA-1",
          " thumbprint matches the registered ", p ? "primary" : "secondary", " thumbprint"));
    } else {
      const auto shown = [](const std::string& t) {
        return t.empty() ? std::string("null") : NormalizeThumbprint(t);
      };
      Add(&r.findings, Verdict::kThumbprintMismatch,
          absl::StrCat("Thumbprint does not match configuration: Thumbprint: SHA1Hash=",
                       cert.sha1_thumbprint, ", SHA2Hash=", cert.sha256_thumbprint,
                       "; Configuration: PrimaryThumbprint=", shown(primary),
                       ", SecondaryThumbprint=", shown(secondary), registered_as,
                       ". Register this certificate's SHA-256 thumbprint (as the secondary first, "
                       "to rotate without downtime), or connect with the registered certificate."));
    }
  }
  if (options.now < cert.not_before) {
    Add(&r.findings, Verdict::kCertExpired,
        absl::StrCat(kHubAuthFailed, ": the certificate is not valid until ",
                     FormatTime(cert.not_before), " (",
                     FormatDuration(cert.not_before - options.now),
                     " from now). Check the device's clock, or issue a certificate valid now."));
  } else if (options.now > cert.not_after) {
    Add(&r.findings, Verdict::kCertExpired,
        absl::StrCat(kHubAuthFailed, ": the certificate expired at ", FormatTime(cert.not_after),
                     ", ", FormatDuration(options.now - cert.not_after),
                     " ago. Issue a new certificate and register its thumbprint."));
  } else {
    r.notes.push_back(absl::StrCat("the certificate is valid from ", FormatTime(cert.not_before),
                                   " until ", FormatTime(cert.not_after), " (",
                                   FormatDuration(cert.not_after - options.now), " left)"));
  }
  Finish(&r,
         absl::StrCat("IoT Hub would accept this certificate for ", who,
                      r.matched_key ? absl::StrCat(" (it matches the registered ",
                                                   SlotName(r.matched_key->slot), " thumbprint)")
                                    : "",
                      "; valid until ", FormatTime(cert.not_after), "."));
  return r;
}

}  // namespace sasmint
