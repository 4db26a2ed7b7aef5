#include "signer/sas_token.h"

#include <array>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"

namespace sasmint {
namespace {

constexpr absl::string_view kHeader = "SharedAccessSignature";

using CharSet = std::array<bool, 256>;

constexpr CharSet MakeSet(absl::string_view extra) {
  CharSet t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : extra) t[static_cast<uint8_t>(c)] = true;
  return t;
}

// IoT Hub identity registry docs plus ':' and ';' from the .NET SDK's regex (docs/token-spec.md
// §4).
constexpr CharSet kIdChars = MakeSet("-:.+%_#*?!(),=@;$'");
constexpr CharSet kPolicyChars = MakeSet("_-@.");
constexpr CharSet kRegistrationChars = MakeSet("-._:");
constexpr CharSet kHostChars = MakeSet("-.");

std::string Describe(char c) {
  const auto u = static_cast<uint8_t>(c);
  if (u >= 0x21 && u < 0x7f) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrCat("byte 0x", absl::Hex(u, absl::kZeroPad2));
}

absl::Status CheckChars(absl::string_view text, const CharSet& allowed, absl::string_view what,
                        size_t max_len) {
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (text.size() > max_len) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", text.size(), " characters long; the maximum is ", max_len));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    if (!allowed[static_cast<uint8_t>(text[i])]) {
      return absl::InvalidArgumentError(absl::StrCat(what, " contains ", Describe(text[i]),
                                                     " at offset ", i,
                                                     ", which IoT Hub does not allow"));
    }
  }
  return absl::OkStatus();
}

void AppendDecimal(int64_t v, std::string* out) { absl::StrAppend(out, v); }

// EscapeSignatureTo appends base64(mac) with + / = escaped (docs/token-spec.md §1.4: a raw '+'
// decodes to a space in .NET and a raw '=' truncates the value).
void EscapeSignatureTo(const Mac& mac, std::string* out) {
  char b64[Base64EncodedSize(kMacSize)];
  Base64EncodeTo(mac, b64);
  for (char c : b64) {
    switch (c) {
      case '+':
        out->append("%2B");
        break;
      case '/':
        out->append("%2F");
        break;
      case '=':
        out->append("%3D");
        break;
      default:
        out->push_back(c);
    }
  }
}

absl::StatusOr<int64_t> ParseExpiry(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("token field se is empty");
  for (char c : text) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(
          "token field se must be plain decimal seconds since 1970 (digits only)");
    }
  }
  if (text.size() > 1 && text[0] == '0') {
    return absl::InvalidArgumentError("token field se has a leading zero");
  }
  int64_t v = 0;
  if (text.size() > 18 || !absl::SimpleAtoi(text, &v)) {
    return absl::InvalidArgumentError("token field se is out of range");
  }
  return v;
}

}  // namespace

TokenScope TokenScope::Device(absl::string_view hub, absl::string_view device_id) {
  TokenScope s;
  s.kind = ScopeKind::kDevice;
  s.hub = std::string(hub);
  s.device_id = std::string(device_id);
  return s;
}

TokenScope TokenScope::Module(absl::string_view hub, absl::string_view device_id,
                              absl::string_view module_id) {
  TokenScope s = Device(hub, device_id);
  s.kind = ScopeKind::kModule;
  s.module_id = std::string(module_id);
  return s;
}

TokenScope TokenScope::Policy(absl::string_view hub, absl::string_view policy,
                              absl::string_view resource) {
  TokenScope s;
  s.kind = ScopeKind::kPolicy;
  s.hub = std::string(hub);
  s.policy = std::string(policy);
  s.resource = std::string(resource);
  return s;
}

TokenScope TokenScope::Registration(absl::string_view id_scope, absl::string_view registration_id) {
  TokenScope s;
  s.kind = ScopeKind::kRegistration;
  s.id_scope = std::string(id_scope);
  s.registration_id = std::string(registration_id);
  return s;
}

absl::Status ValidateHubHost(absl::string_view host) {
  if (absl::Status s = CheckChars(host, kHostChars, "hub host name", 253); !s.ok()) return s;
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.size() > 63) {
      return absl::InvalidArgumentError(
          "hub host name must be dot-separated labels of 1 to 63 characters");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateIdentityId(absl::string_view id, absl::string_view what) {
  return CheckChars(id, kIdChars, what, kMaxIdLength);
}

absl::Status ValidatePolicyName(absl::string_view name) {
  return CheckChars(name, kPolicyChars, "policy name", 256);
}

absl::Status ValidateRegistrationId(absl::string_view id) {
  if (absl::Status s = CheckChars(id, kRegistrationChars, "registration ID", kMaxIdLength);
      !s.ok()) {
    return s;
  }
  const char last = id.back();
  if (!(absl::ascii_isalnum(last) || last == '-')) {
    return absl::InvalidArgumentError("registration ID must end in a letter, digit or '-'");
  }
  return absl::OkStatus();
}

absl::Status ValidateScope(const TokenScope& scope) {
  switch (scope.kind) {
    case ScopeKind::kModule:
      if (absl::Status s = ValidateIdentityId(scope.module_id, "module ID"); !s.ok()) return s;
      [[fallthrough]];
    case ScopeKind::kDevice:
      if (absl::Status s = ValidateHubHost(scope.hub); !s.ok()) return s;
      return ValidateIdentityId(scope.device_id, "device ID");
    case ScopeKind::kPolicy:
      if (absl::Status s = ValidateHubHost(scope.hub); !s.ok()) return s;
      if (absl::Status s = ValidatePolicyName(scope.policy); !s.ok()) return s;
      if (absl::StartsWith(scope.resource, "/") || absl::EndsWith(scope.resource, "/") ||
          absl::StrContains(scope.resource, "//")) {
        return absl::InvalidArgumentError(
            "policy resource path must be segments separated by single '/', e.g. devices/dev1");
      }
      return absl::OkStatus();
    case ScopeKind::kRegistration:
      if (absl::Status s = CheckChars(scope.id_scope, MakeSet(""), "ID scope", 64); !s.ok()) {
        return s;
      }
      return ValidateRegistrationId(scope.registration_id);
  }
  return absl::InvalidArgumentError("unknown scope kind");
}

absl::Status ValidateExpiry(int64_t expiry) {
  if (expiry <= 0 || expiry > kMaxExpiry) {
    return absl::InvalidArgumentError(
        absl::StrCat("expiry must be Unix seconds between 1 and ", kMaxExpiry));
  }
  return absl::OkStatus();
}

std::string ResourceUri(const TokenScope& scope) {
  switch (scope.kind) {
    case ScopeKind::kDevice:
      return absl::StrCat(scope.hub, "/devices/", scope.device_id);
    case ScopeKind::kModule:
      return absl::StrCat(scope.hub, "/devices/", scope.device_id, "/modules/", scope.module_id);
    case ScopeKind::kPolicy:
      return scope.resource.empty() ? scope.hub : absl::StrCat(scope.hub, "/", scope.resource);
    case ScopeKind::kRegistration:
      return absl::StrCat(scope.id_scope, "/registrations/", scope.registration_id);
  }
  return {};
}

std::string EncodedResource(const TokenScope& scope) { return PercentEncode(ResourceUri(scope)); }

absl::string_view KeyName(const TokenScope& scope) {
  switch (scope.kind) {
    case ScopeKind::kPolicy:
      return scope.policy;
    case ScopeKind::kRegistration:
      return "registration";
    default:
      return {};
  }
}

std::string StringToSign(absl::string_view encoded_resource, int64_t expiry) {
  std::string out;
  out.reserve(encoded_resource.size() + 21);
  out.append(encoded_resource.data(), encoded_resource.size());
  out.push_back('\n');
  AppendDecimal(expiry, &out);
  return out;
}

std::string FormatToken(absl::string_view encoded_resource, const Mac& signature, int64_t expiry,
                        absl::string_view key_name) {
  std::string out;
  out.reserve(kHeader.size() + encoded_resource.size() + 96 + key_name.size() * 3);
  absl::StrAppend(&out, kHeader, " sr=", encoded_resource, "&sig=");
  EscapeSignatureTo(signature, &out);
  out.append("&se=");
  AppendDecimal(expiry, &out);
  if (!key_name.empty()) {
    out.append("&skn=");
    PercentEncodeTo(key_name, &out);
  }
  return out;
}

absl::StatusOr<std::string> BuildToken(const TokenScope& scope, const HmacKey& key,
                                       int64_t expiry) {
  if (absl::Status s = ValidateScope(scope); !s.ok()) return s;
  if (absl::Status s = ValidateExpiry(expiry); !s.ok()) return s;
  const std::string sr = EncodedResource(scope);
  const std::string sts = StringToSign(sr, expiry);
  const Mac mac =
      key.Sign(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(sts.data()), sts.size()));
  return FormatToken(sr, mac, expiry, KeyName(scope));
}

std::string ParsedToken::StringToSign() const {
  return absl::StrCat(encoded_resource, "\n", expiry_text);
}

absl::StatusOr<ParsedToken> ParseToken(absl::string_view token) {
  if (token.empty()) return absl::InvalidArgumentError("token is empty");
  if (!absl::StartsWith(token, kHeader) || token.size() == kHeader.size() ||
      token[kHeader.size()] != ' ') {
    return absl::InvalidArgumentError(
        "token must start with 'SharedAccessSignature ' (the header word and one space)");
  }
  const absl::string_view fields = token.substr(kHeader.size() + 1);
  for (char c : fields) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("token contains whitespace after the header");
    }
  }
  std::optional<absl::string_view> sr, sig, se, skn;
  for (absl::string_view field : absl::StrSplit(fields, '&')) {
    if (field.empty()) return absl::InvalidArgumentError("token has an empty field (\"&&\")");
    const size_t eq = field.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("token field '", field.substr(0, 16), "' has no '='"));
    }
    const std::string name = absl::AsciiStrToLower(field.substr(0, eq));
    const absl::string_view value = field.substr(eq + 1);
    std::optional<absl::string_view>* slot = nullptr;
    if (name == "sr")
      slot = &sr;
    else if (name == "sig")
      slot = &sig;
    else if (name == "se")
      slot = &se;
    else if (name == "skn")
      slot = &skn;
    else {
      return absl::InvalidArgumentError(absl::StrCat(
          "token has unknown field '", name.substr(0, 16), "' (allowed: sr, sig, se, skn)"));
    }
    if (slot->has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("token has field ", name, " twice"));
    }
    if (value.find('=') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("token field ", name, " contains a raw '='; it must be escaped as %3D"));
    }
    *slot = value;
  }
  if (!sr) return absl::InvalidArgumentError("token has no sr field");
  if (!sig) return absl::InvalidArgumentError("token has no sig field");
  if (!se) return absl::InvalidArgumentError("token has no se field");
  if (sr->empty()) return absl::InvalidArgumentError("token field sr is empty");

  ParsedToken out;
  out.encoded_resource = std::string(*sr);
  auto resource = PercentDecode(*sr, "token field sr");
  if (!resource.ok()) return resource.status();
  out.resource = *std::move(resource);

  if (sig->find('+') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "token field sig contains a raw '+', which IoT Hub decodes as a space; it must be %2B");
  }
  auto sig_b64 = PercentDecode(*sig, "token field sig");
  if (!sig_b64.ok()) return sig_b64.status();
  auto sig_bytes = Base64Decode(*sig_b64, "token field sig");
  if (!sig_bytes.ok()) return sig_bytes.status();
  if (sig_bytes->size() != kMacSize) {
    return absl::InvalidArgumentError(absl::StrCat("token field sig decodes to ", sig_bytes->size(),
                                                   " bytes; HMAC-SHA256 gives 32"));
  }
  std::copy(sig_bytes->begin(), sig_bytes->end(), out.signature.begin());

  out.expiry_text = std::string(*se);
  auto expiry = ParseExpiry(*se);
  if (!expiry.ok()) return expiry.status();
  out.expiry = *expiry;

  if (skn) {
    auto name = PercentDecode(*skn, "token field skn");
    if (!name.ok()) return name.status();
    out.key_name = *std::move(name);
  }
  return out;
}

SecretBytes DeriveDeviceKey(const SecretBytes& group_key, absl::string_view registration_id) {
  const HmacKey key = HmacKey::FromSecret(group_key);
  Mac mac = key.Sign(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(registration_id.data()),
                                         registration_id.size()));
  SecretBytes out = SecretBytes::CopyFrom(mac);
  crypto::Cleanse(mac.data(), mac.size());
  return out;
}

}  // namespace sasmint
