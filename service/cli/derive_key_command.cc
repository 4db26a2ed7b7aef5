// sasmint derive-key: a DPS group enrollment's device key, HMAC(group key, registration ID).
#include <iostream>

#include "service/cli/commands.h"
#include "service/cli/internal/command_flags.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"

namespace sasmint::cli {

using internal::Fail;
using internal::FailStatus;

int RunDeriveKey(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "derive-key";
  auto flags = Flags::Parse(args, {"group-key", "registration"}, {});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  if (absl::Status s = internal::NoPositional(*flags); !s.ok()) {
    return FailStatus(kCmd, kExitUsage, s);
  }
  const auto group_key = flags->Get("group-key");
  const auto registration = flags->Get("registration");
  if (!group_key) return Fail(kCmd, kExitUsage, "missing --group-key BASE64");
  if (!registration) return Fail(kCmd, kExitUsage, "missing --registration ID");
  if (absl::Status s = ValidateRegistrationId(*registration); !s.ok()) {
    return FailStatus(kCmd, kExitUsage, s);
  }
  // Any key length: group keys are normally 64 bytes, but HMAC accepts any.
  auto key = DecodeBase64Key(*group_key, "--group-key");
  if (!key.ok()) return FailStatus(kCmd, kExitUsage, key.status());
  const SecretBytes derived = DeriveDeviceKey(*key, *registration);
  std::cout << Base64Encode(derived.Reveal(SecretKeyAccess::Get())) << std::endl;
  return kExitOk;
}

}  // namespace sasmint::cli
