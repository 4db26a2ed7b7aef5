// rights.h: the rights of an IoT Hub shared access policy, and their names.
//
// Values and names are those of the service SDKs' AccessRights; a policy holds a combination.
// RegistryWrite includes RegistryRead, as the hub grants it. Thread-safe (no state).
#ifndef SASMINT_SERVICE_KEYSTORE_RIGHTS_H_
#define SASMINT_SERVICE_KEYSTORE_RIGHTS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sasmint {

enum Right : uint32_t {
  kRegistryRead = 1,
  kRegistryWrite = 2 | kRegistryRead,
  kServiceConnect = 4,
  kDeviceConnect = 8,
};

// ParseRight returns the Right named "DeviceConnect", "ServiceConnect", "RegistryRead" or
// "RegistryWrite"; INVALID_ARGUMENT, listing the four names, otherwise.
absl::StatusOr<uint32_t> ParseRight(absl::string_view name);

// RightName returns the name of one Right ("DeviceConnect", ...), or "" for any other value.
absl::string_view RightName(uint32_t right);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_KEYSTORE_RIGHTS_H_
