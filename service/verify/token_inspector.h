// token_inspector.h: a SAS token taken apart with the checks that need no keys.
//
// InspectToken repeats what IoT Hub does before it looks anything up: it parses the token
// leniently (every problem reported, not just the first), checks the expiry with the hub's
// 5-minute clock-skew allowance, and reads the `sr` the way the hub routes it, plus any other
// reading the sender probably meant (double encoding, a raw '+' or '%'). Those readings are the
// token's `scopes`: the only scopes a verification then looks up (verifier.h), so a caller that
// authorizes each of them has authorized every lookup. Thread-safe (no state).
#ifndef SASMINT_SERVICE_VERIFY_TOKEN_INSPECTOR_H_
#define SASMINT_SERVICE_VERIFY_TOKEN_INSPECTOR_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/verify/report.h"
#include "signer/hmac_sha256.h"
#include "signer/sas_token.h"

namespace sasmint {

// InspectedToken is a token with its key-free checks done. `scopes` are the scopes its sr and
// skn name: first as IoT Hub decodes them, then the other readings the sender may have meant.
struct InspectedToken {
  std::string token;               // the token as given
  std::vector<TokenScope> scopes;  // empty if the sr names no scope
  std::vector<Finding> findings;
  std::vector<std::string> notes;
  std::optional<int64_t> expires_at;
  // For the key checks: the raw texts the signature covers, the decoded signature, and what the
  // encoding checks left for the registry (or the expected identity) to decide.
  std::optional<std::string> encoded_resource;
  std::optional<std::string> expiry_text;
  std::optional<std::string> key_name;
  std::optional<Mac> signature;
  bool encoding_reported = false;  // an ENCODING_MISMATCH finding is already in `findings`
  bool scope_ambiguous = false;    // scopes[1..] are readings to confirm against the registry
  std::string encoding_hint;       // why they differ, and the fix
};

// InspectToken parses `token` leniently and runs the checks that need no keys, at options.now.
// A token over 8 KiB is reported MALFORMED without further parsing.
InspectedToken InspectToken(absl::string_view token, const VerifyOptions& options);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_VERIFY_TOKEN_INSPECTOR_H_
