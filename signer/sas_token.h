// sas_token.h: the text of Azure IoT Hub / DPS shared access signature tokens.
//
// Builds and parses `SharedAccessSignature sr=<SR>&sig=<SIG>&se=<SE>[&skn=<SKN>]` exactly as
// docs/design.md §2 and docs/token-spec.md §1-§4 describe: SR is the percent-encoded
// resource URI, the string to sign is SR + "\n" + SE, SIG the percent-encoded base64 HMAC.
// Identifier rules follow IoT Hub's registry (device/module IDs), DPS (registration IDs) and the
// .NET SDK (policy names). All functions are thread-safe.
#ifndef SASMINT_SIGNER_SAS_TOKEN_H_
#define SASMINT_SIGNER_SAS_TOKEN_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "signer/hmac_sha256.h"

namespace sasmint {

enum class ScopeKind { kDevice, kModule, kPolicy, kRegistration };

// TokenScope says what a token grants access to. Only the fields of its kind are used.
struct TokenScope {
  ScopeKind kind = ScopeKind::kDevice;
  std::string hub;              // IoT Hub host name, e.g. "myhub.azure-devices.net"
  std::string device_id;        // kDevice, kModule
  std::string module_id;        // kModule
  std::string policy;           // kPolicy: shared access policy name (the token's skn)
  std::string resource;         // kPolicy: optional path under the hub, e.g. "devices/dev1"
  std::string id_scope;         // kRegistration: DPS ID scope, e.g. "0ne00000000"
  std::string registration_id;  // kRegistration

  static TokenScope Device(absl::string_view hub, absl::string_view device_id);
  static TokenScope Module(absl::string_view hub, absl::string_view device_id,
                           absl::string_view module_id);
  static TokenScope Policy(absl::string_view hub, absl::string_view policy,
                           absl::string_view resource = "");
  static TokenScope Registration(absl::string_view id_scope, absl::string_view registration_id);
};

inline constexpr size_t kMaxIdLength = 128;
// kMaxExpiry is 9999-12-31T23:59:59Z, the largest `se` .NET-based validators can represent.
inline constexpr int64_t kMaxExpiry = 253402300799;

// ValidateHubHost returns INVALID_ARGUMENT unless `host` is a DNS host name (1-253 characters
// of letters, digits, '-' and '.', no empty labels).
absl::Status ValidateHubHost(absl::string_view host);
// ValidateIdentityId returns INVALID_ARGUMENT unless `id` is 1-128 characters of the set IoT Hub
// allows for device and module IDs: A-Z a-z 0-9 - : . + % _ # * ? ! ( ) , = @ ; $ '.
// `what` ("device ID", "module ID") starts the error message.
absl::Status ValidateIdentityId(absl::string_view id, absl::string_view what);
// ValidatePolicyName returns INVALID_ARGUMENT unless `name` matches ^[A-Za-z0-9_\-@.]{1,256}$.
absl::Status ValidatePolicyName(absl::string_view name);
// ValidateRegistrationId returns INVALID_ARGUMENT unless `id` is 1-128 characters of
// A-Z a-z 0-9 - . _ : ending in a letter, digit or '-' (DPS rules).
absl::Status ValidateRegistrationId(absl::string_view id);
// ValidateScope checks every field `scope.kind` uses; INVALID_ARGUMENT naming the bad field.
absl::Status ValidateScope(const TokenScope& scope);
// ValidateExpiry returns INVALID_ARGUMENT unless 0 < expiry <= kMaxExpiry.
absl::Status ValidateExpiry(int64_t expiry);

// ResourceUri returns the unencoded resource URI of `scope`:
// {hub}/devices/{device}[/modules/{module}], {hub}[/{resource}], {id_scope}/registrations/{id}.
std::string ResourceUri(const TokenScope& scope);
// EncodedResource returns PercentEncode(ResourceUri(scope)): the token's `sr` value.
std::string EncodedResource(const TokenScope& scope);
// KeyName returns the token's `skn`: the policy for kPolicy, "registration" for kRegistration,
// empty (no skn field) for device and module tokens.
absl::string_view KeyName(const TokenScope& scope);

// StringToSign returns encoded_resource + "\n" + decimal(expiry).
std::string StringToSign(absl::string_view encoded_resource, int64_t expiry);

// FormatToken assembles the token text from its parts; `signature` is the raw HMAC output.
// `key_name` empty means no skn field. The key name is percent-encoded.
std::string FormatToken(absl::string_view encoded_resource, const Mac& signature, int64_t expiry,
                        absl::string_view key_name);

// BuildToken validates `scope` and `expiry`, signs, and returns the token text;
// INVALID_ARGUMENT on a bad scope or expiry.
absl::StatusOr<std::string> BuildToken(const TokenScope& scope, const HmacKey& key, int64_t expiry);

// ParsedToken is a token taken apart. `encoded_resource` and `expiry_text` are the raw texts the
// signature covers; the other fields are decoded.
struct ParsedToken {
  std::string encoded_resource;  // sr as it appears in the token
  std::string resource;          // sr percent-decoded once
  Mac signature{};               // sig percent-decoded and base64-decoded
  std::string expiry_text;       // se as it appears
  int64_t expiry = 0;
  std::optional<std::string> key_name;  // skn percent-decoded, if present

  // StringToSign returns encoded_resource + "\n" + expiry_text.
  std::string StringToSign() const;
};

// ParseToken takes apart a token: fields in any order, names case-insensitive, `sr`, `sig`, `se`
// required, `skn` optional, nothing else. INVALID_ARGUMENT with a message saying what is wrong
// (missing header, duplicate or unknown field, raw '=' or '+' in sig, bad escape, signature not
// 32 bytes of base64, se not a plain decimal).
absl::StatusOr<ParsedToken> ParseToken(absl::string_view token);

// DeriveDeviceKey returns the DPS group-enrollment device key:
// HMAC-SHA256(group_key, registration_id) (raw bytes; base64-encode for display). The
// registration ID is hashed as given (the published vectors are case-sensitive).
SecretBytes DeriveDeviceKey(const SecretBytes& group_key, absl::string_view registration_id);

}  // namespace sasmint

#endif  // SASMINT_SIGNER_SAS_TOKEN_H_
