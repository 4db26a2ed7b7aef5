#include "service/config/demo.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "service/keystore/export_loader.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"

namespace sasmint {

std::vector<std::string> DemoIdentities() {
  return {"demo-device-1", "demo-device-2", "demo-device-3", "demo-device-1/demo-module",
          "demo-disabled"};
}

absl::StatusOr<std::shared_ptr<const IdentityTable>> MakeDemoTable() {
  // The demo goes through the same export loader as real files, so it exercises that path too.
  std::string text;
  for (const std::string& name : DemoIdentities()) {
    const std::vector<std::string> parts = absl::StrSplit(name, '/');
    std::array<uint8_t, 32> primary{}, secondary{};
    if (absl::Status s = crypto::RandomBytes(absl::MakeSpan(primary)); !s.ok()) return s;
    if (absl::Status s = crypto::RandomBytes(absl::MakeSpan(secondary)); !s.ok()) return s;
    absl::StrAppend(&text, "{\"id\":\"", parts[0], "\"");
    if (parts.size() > 1) absl::StrAppend(&text, ",\"moduleId\":\"", parts[1], "\"");
    absl::StrAppend(&text, ",\"status\":\"", parts[0] == "demo-disabled" ? "disabled" : "enabled",
                    "\",\"authentication\":{\"type\":\"sas\",\"symmetricKey\":{\"primaryKey\":\"",
                    Base64Encode(primary), "\",\"secondaryKey\":\"", Base64Encode(secondary),
                    "\"}}}\n");
    crypto::Cleanse(primary.data(), primary.size());
    crypto::Cleanse(secondary.data(), secondary.size());
  }
  auto table = std::make_shared<IdentityTable>();
  absl::Status s = LoadExportText(text, "demo", kDemoHub, table.get());
  crypto::Cleanse(text.data(), text.size());
  if (!s.ok()) return s;
  table->Compact();
  return std::shared_ptr<const IdentityTable>(std::move(table));
}

}  // namespace sasmint
