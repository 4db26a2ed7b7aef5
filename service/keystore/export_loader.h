// export_loader.h: reads IoT Hub device export files (JSON lines) into an IdentityTable.
//
// One JSON object per line in IoT Hub's ExportImportDevice shape (docs/design.md §3 and §9): `id`,
// optional `moduleId`, `status`, `authentication.type`, `authentication.symmetricKey.primaryKey`
// / `secondaryKey` (base64, 16-64 bytes decoded) and `authentication.x509Thumbprint`. Other
// fields are ignored. Empty lines, a UTF-8 BOM and CRLF line ends are accepted. A strict load
// (the default) fails at the first malformed line with `file:line` and the reason, and the table
// is left unusable (callers build a fresh table per load); a lenient load skips and counts it.
// Error messages never contain key text. Functions are thread-safe (they share no state).
#ifndef SASMINT_SERVICE_KEYSTORE_EXPORT_LOADER_H_
#define SASMINT_SERVICE_KEYSTORE_EXPORT_LOADER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "service/keystore/key_store.h"

namespace sasmint {

// ExportLoadOptions choose strict or lenient loading.
struct ExportLoadOptions {
  // lenient skips malformed lines (bad JSON, bad IDs or keys, duplicates) instead of failing
  // the load; they are counted in ExportLoadStats.
  bool lenient = false;
  // read_window_bytes is how much of a file is read and parsed at a time (whole lines; a longer
  // line grows the window). Tests make it small to put line breaks at every offset.
  size_t read_window_bytes = size_t{16} << 20;
  // progress, if set, is called after each window is parsed with the bytes and lines read so
  // far and the file's size (LoadExportFile only), on the loading thread.
  std::function<void(size_t bytes_read, size_t lines_read, size_t file_size)> progress = nullptr;
};

struct ExportLoadStats {
  size_t loaded = 0;
  size_t skipped = 0;
  std::vector<std::string> first_errors;  // "file:line: reason" of the first 10 skipped lines
};

// LoadExportFile adds every identity in the export file at `path` to `table` under `hub`.
// NOT_FOUND if the file cannot be opened; INVALID_ARGUMENT (file:line: reason) for a malformed
// line, a bad key or an ID IoT Hub would not allow; ALREADY_EXISTS for a duplicate identity.
absl::Status LoadExportFile(const std::string& path, absl::string_view hub, IdentityTable* table,
                            const ExportLoadOptions& options = {},
                            ExportLoadStats* stats = nullptr);

// LoadExportText is LoadExportFile over `text`, with `source_name` standing for the file name.
absl::Status LoadExportText(absl::string_view text, absl::string_view source_name,
                            absl::string_view hub, IdentityTable* table,
                            const ExportLoadOptions& options = {},
                            ExportLoadStats* stats = nullptr);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_KEYSTORE_EXPORT_LOADER_H_
