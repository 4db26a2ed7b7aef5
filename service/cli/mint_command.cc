// sasmint mint: one token from a running server (MintToken), as a gateway would ask for it.
#include <iostream>

#include "common/json.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/cli/commands.h"
#include "service/cli/internal/command_flags.h"
#include "service/rpc/conversions.h"

namespace sasmint::cli {

using internal::Fail;
using internal::FailStatus;

int RunMint(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "mint";
  auto flags = Flags::Parse(
      args,
      internal::WithClientTlsFlags({"server", "hub", "device", "module", "policy", "resource",
                                    "id-scope", "registration", "ttl", "key-slot", "timeout"}),
      {"json"});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  if (absl::Status s = internal::NoPositional(*flags); !s.ok()) {
    return FailStatus(kCmd, kExitUsage, s);
  }
  const auto server = flags->Get("server");
  if (!server) return Fail(kCmd, kExitUsage, "missing --server ADDR");
  // The scope flags are those of `token`, checked the same way before anything is sent.
  auto scope = internal::ScopeFromFlags(*flags);
  if (!scope.ok()) return FailStatus(kCmd, kExitUsage, scope.status());
  v1::MintTokenRequest request;
  ToMintRequest(*scope, &request);
  if (const auto ttl = flags->Get("ttl")) {
    auto seconds = internal::ParseInt("ttl", *ttl, 1, UINT32_MAX);
    if (!seconds.ok()) return FailStatus(kCmd, kExitUsage, seconds.status());
    request.set_ttl_seconds(static_cast<uint32_t>(*seconds));
  }
  if (const auto slot = flags->Get("key-slot")) {
    if (*slot == "primary") {
      request.set_key_slot(v1::KEY_SLOT_PRIMARY);
    } else if (*slot == "secondary") {
      request.set_key_slot(v1::KEY_SLOT_SECONDARY);
    } else {
      return Fail(kCmd, kExitUsage, "--key-slot must be primary or secondary");
    }
  }
  const absl::StatusOr<int64_t> timeout_s = internal::TimeoutFlag(*flags);
  if (!timeout_s.ok()) return FailStatus(kCmd, kExitUsage, timeout_s.status());
  auto channel = internal::ChannelFromFlags(*flags, *server);
  if (!channel.ok()) return FailStatus(kCmd, kExitUsage, channel.status());
  auto stub = v1::TokenService::NewStub(*channel);
  grpc::ClientContext context;
  internal::PrepareCall(&context, *timeout_s);
  v1::MintTokenResponse response;
  const grpc::Status status = stub->MintToken(&context, request, &response);
  if (!status.ok()) return Fail(kCmd, kExitFailure, internal::RpcError(status, **channel));
  if (flags->Has("json")) {
    std::cout << "{\"token\":" << JsonString(response.token())
              << ",\"expires_at\":" << response.expires_at()
              << ",\"renew_after\":" << response.renew_after()
              << ",\"server_time\":" << response.server_time() << ",\"key_slot\":\""
              << (response.key_slot() == v1::KEY_SLOT_SECONDARY ? "secondary" : "primary") << "\"}"
              << std::endl;
  } else {
    std::cout << response.token() << std::endl;
  }
  return kExitOk;
}

}  // namespace sasmint::cli
