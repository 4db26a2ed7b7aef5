// test_identities.h: the identities and keys tests share, and IoT Hub export lines for them.
//
// kTestKey is the published az CLI device key of tests/testdata/sas_tokens.txt, kTestKey2 a
// second 32-byte key; tests that need many distinct keys derive them (e.g. from a fill byte).
// kTestGroupKey is the DPS documentation's enrollment group key, and kTestRegistration the
// registration its published derived key (kTestDerivedKey) is for (sas_tokens.txt too).
#ifndef SASMINT_TESTS_TESTING_TEST_IDENTITIES_H_
#define SASMINT_TESTS_TESTING_TEST_IDENTITIES_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sasmint::testing {

inline constexpr char kTestHub[] = "hub.azure-devices.net";
inline constexpr char kTestKey[] = "+XLy+MVZ+aTeOnVzN2kLeB16O+kSxmz6g3rS6fAf6rw=";
inline constexpr char kTestKey2[] = "NMgJDvdKTxjLi+xBxxkDDEwDJxEvOE5u8BiT0mVgPeg=";
inline constexpr char kTestGroupKey[] =
    "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==";
inline constexpr char kTestRegistration[] = "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6";
inline constexpr char kTestDerivedKey[] = "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=";

// ExportLine returns one SAS identity (module_id empty: a device) as an IoT Hub export line
// (ExportImportDevice JSON) with its newline; an empty secondary_key means none.
inline std::string ExportLine(absl::string_view device_id, absl::string_view module_id = "",
                              absl::string_view primary_key = kTestKey,
                              absl::string_view secondary_key = "",
                              absl::string_view status = "enabled") {
  return absl::StrCat(
      R"({"id":")", device_id, R"(",)",
      module_id.empty() ? "" : absl::StrCat(R"("moduleId":")", module_id, R"(",)"), R"("status":")",
      status, R"(","authentication":{"type":"sas","symmetricKey":{"primaryKey":")", primary_key,
      R"(")",
      secondary_key.empty() ? "" : absl::StrCat(R"(,"secondaryKey":")", secondary_key, R"(")"),
      "}}}\n");
}

}  // namespace sasmint::testing

#endif  // SASMINT_TESTS_TESTING_TEST_IDENTITIES_H_
