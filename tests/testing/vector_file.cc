#include "tests/testing/vector_file.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace sasmint::testing {
namespace {

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

std::string VectorBlock::Location() const { return absl::StrCat(file, ":", line); }

bool VectorBlock::Has(absl::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (n == name) return true;
  }
  return false;
}

absl::StatusOr<std::string> VectorBlock::Get(absl::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return absl::NotFoundError(absl::StrCat(Location(), ": block has no field '", name, "'"));
}

std::string VectorBlock::GetOr(absl::string_view name, absl::string_view fallback) const {
  absl::StatusOr<std::string> v = Get(name);
  return v.ok() ? *std::move(v) : std::string(fallback);
}

absl::StatusOr<std::string> VectorBlock::GetBytes(absl::string_view name) const {
  absl::StatusOr<std::string> v = Get(name);
  if (!v.ok()) return v.status();
  if (v->size() % 2 != 0 || !IsHex(*v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Location(), ": field '", name, "' is not even-length hex"));
  }
  return absl::HexStringToBytes(*v);
}

absl::StatusOr<int64_t> VectorBlock::GetInt(absl::string_view name) const {
  absl::StatusOr<std::string> v = Get(name);
  if (!v.ok()) return v.status();
  int64_t out = 0;
  if (!absl::SimpleAtoi(*v, &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Location(), ": field '", name, "' is not a decimal integer"));
  }
  return out;
}

absl::Status VectorBlock::ExpectFields(std::initializer_list<absl::string_view> required,
                                       std::initializer_list<absl::string_view> optional) const {
  for (absl::string_view r : required) {
    if (!Has(r)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Location(), ": block lacks required field '", r, "'"));
    }
  }
  for (const auto& [n, v] : fields) {
    bool known = false;
    for (absl::string_view r : required) known = known || n == r;
    for (absl::string_view o : optional) known = known || n == o;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat(Location(), ": unexpected field '", n, "' for this kind of block"));
    }
  }
  return absl::OkStatus();
}

void PrintTo(const VectorBlock& block, std::ostream* os) { *os << block.Location(); }

absl::StatusOr<std::vector<VectorBlock>> ParseVectorText(absl::string_view text,
                                                         absl::string_view file) {
  std::vector<VectorBlock> blocks;
  std::string source;
  bool in_block = false;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
    const absl::string_view stripped = absl::StripAsciiWhitespace(line);
    if (stripped.empty()) {
      in_block = false;
      continue;
    }
    if (stripped.front() == '#') {
      absl::string_view comment = absl::StripLeadingAsciiWhitespace(stripped.substr(1));
      if (absl::ConsumePrefix(&comment, "Source:")) {
        source = std::string(absl::StripAsciiWhitespace(comment));
      }
      continue;
    }
    const auto where = [&] { return absl::StrCat(file, ":", line_number, ": "); };
    const size_t eq = stripped.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "expected 'Name = value' or a '#' comment"));
    }
    const absl::string_view name = absl::StripAsciiWhitespace(stripped.substr(0, eq));
    const absl::string_view value = absl::StripAsciiWhitespace(stripped.substr(eq + 1));
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(where(), "empty field name"));
    for (char c : name) {
      if (!IsNameChar(c)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where(), "field name '", name, "' may hold only letters, digits, '_', '-'"));
      }
    }
    if (!in_block) {
      VectorBlock block;
      block.file = std::string(file);
      block.line = line_number;
      block.source = source;
      blocks.push_back(std::move(block));
      in_block = true;
    }
    VectorBlock& block = blocks.back();
    if (block.Has(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where(), "field '", name, "' repeats within the block that starts at line ", block.line));
    }
    block.fields.emplace_back(std::string(name), std::string(value));
  }
  return blocks;
}

absl::StatusOr<std::vector<VectorBlock>> ReadVectorFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open vector file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading vector file ", path));
  return ParseVectorText(text.str(), path);
}

std::string TestDataPath(absl::string_view name) {
  const char* dir = std::getenv("SASMINT_TESTDATA");
  if (dir != nullptr && *dir != '\0') return absl::StrCat(dir, "/", name);
#ifdef SASMINT_DEFAULT_TESTDATA
  // Lets a test binary run by hand, outside ctest, find the source tree's vectors.
  return absl::StrCat(SASMINT_DEFAULT_TESTDATA, "/", name);
#else
  return absl::StrCat("testdata/", name);
#endif
}

std::vector<VectorBlock> LoadTestVectors(absl::string_view name) {
  absl::StatusOr<std::vector<VectorBlock>> blocks = ReadVectorFile(TestDataPath(name));
  if (!blocks.ok()) {
    std::cerr << "LoadTestVectors(" << name << "): " << blocks.status() << "\n";
    return {};
  }
  return *std::move(blocks);
}

std::string BlockTestName(const VectorBlock& block, absl::string_view tag) {
  std::string out = absl::StrCat("L", block.line);
  if (!tag.empty()) out.push_back('_');
  for (char c : tag) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) out.push_back(c);
  }
  return out;
}

std::string UnescapeNewlines(absl::string_view value) {
  return absl::StrReplaceAll(value, {{"\\n", "\n"}});
}

}  // namespace sasmint::testing
