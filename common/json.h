// json.h: JSON string text for what sasmint writes (log lines, --json output, bench reports).
//
// The one escaper of the project: '"' and '\' are escaped, newline, carriage return and tab get
// their short escapes, every other byte below 0x20 becomes \u00XX, and all other bytes pass
// through unchanged (text is UTF-8 already; IDs in it were validated where they came in).
// Thread-safe (no state).
#ifndef SASMINT_COMMON_JSON_H_
#define SASMINT_COMMON_JSON_H_

#include <string>

#include "absl/strings/string_view.h"

namespace sasmint {

// JsonEscape returns `text` as the body of a JSON string (without the quotes).
std::string JsonEscape(absl::string_view text);

// AppendJsonEscaped appends the body of a JSON string for `text` to `out` (without quotes).
void AppendJsonEscaped(absl::string_view text, std::string* out);

// JsonString returns `text` as a whole JSON string, quotes included.
std::string JsonString(absl::string_view text);

}  // namespace sasmint

#endif  // SASMINT_COMMON_JSON_H_
