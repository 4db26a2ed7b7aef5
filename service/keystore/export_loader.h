// export_loader.h: reads IoT Hub device export files (JSON lines) into an IdentityTable.
//
// One JSON object per line in IoT Hub's ExportImportDevice shape (DESIGN.md §3 and §8): `id`,
// optional `moduleId`, `status`, `authentication.type`, `authentication.symmetricKey.primaryKey`
// / `secondaryKey` (base64, 16-64 bytes decoded) and `authentication.x509Thumbprint`. Other
// fields are ignored. Empty lines, a UTF-8 BOM and CRLF line ends are accepted. The load is
// strict: the first malformed line fails it with `file:line` and the reason, and the table is
// left unusable (callers build a fresh table per load). Error messages never contain key text.
// Functions are thread-safe (they share no state).
#ifndef SASMINT_SERVICE_KEYSTORE_EXPORT_LOADER_H_
#define SASMINT_SERVICE_KEYSTORE_EXPORT_LOADER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "service/keystore/key_store.h"

namespace sasmint {

// LoadExportFile adds every identity in the export file at `path` to `table` under `hub`.
// NOT_FOUND if the file cannot be opened; INVALID_ARGUMENT (file:line: reason) for a malformed
// line, a bad key or an ID IoT Hub would not allow; ALREADY_EXISTS for a duplicate identity.
absl::Status LoadExportFile(const std::string& path, absl::string_view hub, IdentityTable* table);

// LoadExportText is LoadExportFile over `text`, with `source_name` standing for the file name.
absl::Status LoadExportText(absl::string_view text, absl::string_view source_name,
                            absl::string_view hub, IdentityTable* table);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_KEYSTORE_EXPORT_LOADER_H_
