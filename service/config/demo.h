// demo.h: the embedded demo hub that `sasmint serve --demo` serves.
//
// A few devices and a module of one demo hub, each with fresh random keys (never written
// anywhere), so the service can be tried with no files. Thread-safe (no shared state).
#ifndef SASMINT_SERVICE_CONFIG_DEMO_H_
#define SASMINT_SERVICE_CONFIG_DEMO_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/keystore/key_store.h"

namespace sasmint {

inline constexpr absl::string_view kDemoHub = "sasmint-demo.azure-devices.net";

// DemoIdentities returns the demo identities as "device" or "device/module" strings; the last
// one, "demo-disabled", is a disabled device.
std::vector<std::string> DemoIdentities();

// MakeDemoTable returns a table of the demo identities with random 32-byte keys.
absl::StatusOr<std::shared_ptr<const IdentityTable>> MakeDemoTable();

}  // namespace sasmint

#endif  // SASMINT_SERVICE_CONFIG_DEMO_H_
