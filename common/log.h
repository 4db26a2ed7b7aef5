// log.h: structured logs, one JSON object per line on stderr.
//
// Fields are string key/value pairs, escaped by json.h; callers format numbers with absl::StrCat.
// Never pass key bytes or whole signatures here. Thread-safe: each line is written with a single
// write(2).
#ifndef SASMINT_COMMON_LOG_H_
#define SASMINT_COMMON_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace sasmint {

enum class LogLevel { kInfo, kWarning, kError };

using LogField = std::pair<absl::string_view, absl::string_view>;

// FormatLogLine returns the JSON line (without the trailing newline) for a log event.
std::string FormatLogLine(LogLevel level, absl::string_view message,
                          std::initializer_list<LogField> fields);

// Log writes FormatLogLine(...) and a newline to stderr.
void Log(LogLevel level, absl::string_view message, std::initializer_list<LogField> fields = {});

}  // namespace sasmint

#endif  // SASMINT_COMMON_LOG_H_
