// vector_file.h: reads the known-answer files in tests/testdata/ (test-only).
//
// Format: blocks of `Name = value` lines separated by one or more blank lines. Lines starting with
// `#` are comments; a `# Source: ...` comment applies to every block after it until the next one,
// so each block keeps the nearest preceding source. Names and values are trimmed of surrounding
// whitespace (a value may be empty); a name may appear once per block. Values are returned as
// written: hex, base64 and escapes such as a literal `\n` are for the test to interpret.
//
// Functions are thread-safe; VectorBlock is a plain value (thread-compatible).
#ifndef SASMINT_TESTS_TESTING_VECTOR_FILE_H_
#define SASMINT_TESTS_TESTING_VECTOR_FILE_H_

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sasmint::testing {

struct VectorBlock {
  std::string file;    // the file name as given to the reader
  int line = 0;        // 1-based line of the block's first field
  std::string source;  // text after "# Source:" of the nearest preceding source line, or ""
  std::vector<std::pair<std::string, std::string>> fields;  // in file order

  // Location returns "file:line", for test names and failure messages.
  std::string Location() const;
  // Has returns whether the block has a field `name`.
  bool Has(absl::string_view name) const;
  // Get returns the value of `name`; NOT_FOUND naming the field and Location() if absent.
  absl::StatusOr<std::string> Get(absl::string_view name) const;
  // GetOr returns the value of `name`, or `fallback` if absent.
  std::string GetOr(absl::string_view name, absl::string_view fallback) const;
  // GetBytes returns the hex-decoded value of `name`; INVALID_ARGUMENT if it is not even-length
  // hex, NOT_FOUND if absent.
  absl::StatusOr<std::string> GetBytes(absl::string_view name) const;
  // GetInt returns the decimal value of `name`; INVALID_ARGUMENT if it is not an integer.
  absl::StatusOr<int64_t> GetInt(absl::string_view name) const;
  // ExpectFields returns INVALID_ARGUMENT naming the first missing `required` field or the first
  // field that is in neither list, so a misspelt name in a vector file fails instead of being
  // silently ignored.
  absl::Status ExpectFields(std::initializer_list<absl::string_view> required,
                            std::initializer_list<absl::string_view> optional = {}) const;
};

// PrintTo lets gtest print a block (as its location) in parameterized test names and failures.
void PrintTo(const VectorBlock& block, std::ostream* os);

// ParseVectorText parses `text`; `file` names it in errors. INVALID_ARGUMENT "file:line: ..." for a
// line that is not `Name = value`, an empty name, or a name repeated within a block.
absl::StatusOr<std::vector<VectorBlock>> ParseVectorText(absl::string_view text,
                                                         absl::string_view file);

// ReadVectorFile reads and parses the file at `path`; NOT_FOUND if it cannot be opened.
absl::StatusOr<std::vector<VectorBlock>> ReadVectorFile(const std::string& path);

// TestDataPath returns $SASMINT_TESTDATA/name; when the variable is unset, the source tree's
// tests/testdata/name as configured by CMake (or "testdata/name" if that was not configured).
std::string TestDataPath(absl::string_view name);

// LoadTestVectors reads TestDataPath(name). It is for parameterized-test generators, which cannot
// fail: on error it prints the error to stderr and returns no blocks, and gtest then reports the
// suite as uninstantiated. Suites using it also assert ReadVectorFile succeeds in a plain test.
std::vector<VectorBlock> LoadTestVectors(absl::string_view name);

// BlockTestName returns a gtest-safe name for a block: "L<line>" plus `tag` with every character
// other than a letter or digit dropped, e.g. BlockTestName(b, "string-to-sign") ==
// "L42_stringtosign".
std::string BlockTestName(const VectorBlock& block, absl::string_view tag = "");

// UnescapeNewlines returns `value` with each two-character sequence `\n` replaced by a newline.
std::string UnescapeNewlines(absl::string_view value);

}  // namespace sasmint::testing

#endif  // SASMINT_TESTS_TESTING_VECTOR_FILE_H_
