#include "service/keystore/rights.h"

#include "absl/strings/str_cat.h"

namespace sasmint {

absl::StatusOr<uint32_t> ParseRight(absl::string_view name) {
  for (uint32_t right : {kDeviceConnect, kServiceConnect, kRegistryRead, kRegistryWrite}) {
    if (name == RightName(right)) return right;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown right \"", name,
                   "\" (DeviceConnect, ServiceConnect, RegistryRead or RegistryWrite)"));
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
      return "";
  }
}

}  // namespace sasmint
