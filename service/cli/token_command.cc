// sasmint token: a token signed here with a key given on the command line (no server).
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "service/cli/commands.h"
#include "service/cli/internal/command_flags.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"

namespace sasmint::cli {

using internal::Fail;
using internal::FailStatus;

int RunToken(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "token";
  auto flags = Flags::Parse(args,
                            {"hub", "device", "module", "policy", "resource", "id-scope",
                             "registration", "key", "expiry", "ttl"},
                            {"json"});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  if (absl::Status s = internal::NoPositional(*flags); !s.ok()) {
    return FailStatus(kCmd, kExitUsage, s);
  }
  auto scope = internal::ScopeFromFlags(*flags);
  if (!scope.ok()) return FailStatus(kCmd, kExitUsage, scope.status());
  const auto key_text = flags->Get("key");
  if (!key_text) return Fail(kCmd, kExitUsage, "missing --key BASE64");
  auto key = DecodeBase64Key(*key_text, "--key");
  if (!key.ok()) return FailStatus(kCmd, kExitUsage, key.status());
  if (absl::Status s = ValidateKeyLength(*key, "--key"); !s.ok()) {
    return FailStatus(kCmd, kExitUsage, s);
  }
  auto expiry = internal::ExpiryFromFlags(*flags);
  if (!expiry.ok()) return FailStatus(kCmd, kExitUsage, expiry.status());
  auto token = BuildToken(*scope, HmacKey::FromSecret(*key), *expiry);
  if (!token.ok()) return FailStatus(kCmd, kExitUsage, token.status());
  if (flags->Has("json")) {
    std::cout << "{\"token\":" << JsonString(*token) << ",\"expires_at\":" << *expiry
              << ",\"resource\":" << JsonString(ResourceUri(*scope)) << "}" << std::endl;
  } else {
    std::cout << *token << std::endl;
  }
  return kExitOk;
}

}  // namespace sasmint::cli
