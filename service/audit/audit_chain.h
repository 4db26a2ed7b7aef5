// audit_chain.h: the audit log's line format and its hash chain.
//
// Every audit line is one JSON object that begins with "time", "seq" and "boot" and ends with
// "prev" (the "hash" of the line before it) and "hash": the lowercase hex SHA-256 of the line's
// bytes from its opening brace up to, not including, `,"hash":`. Editing a line breaks its own
// hash; deleting, inserting or reordering lines breaks the next line's "prev" and the sequence.
// Within one boot (one run of the process) "seq" rises by one per line, from 1 at the boot's
// "start" line; a new boot continues the chain of the file it appends to. "lost", where present,
// counts the records of that boot that could not be written before this line.
// Thread-safe (no state).
#ifndef SASMINT_SERVICE_AUDIT_AUDIT_CHAIN_H_
#define SASMINT_SERVICE_AUDIT_AUDIT_CHAIN_H_

#include <cstdint>
#include <istream>
#include <string>

#include "absl/strings/string_view.h"

namespace sasmint {

// kGenesisHash is the "prev" of the first line of a new log.
inline constexpr absl::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// SealLine appends `,"prev":"<prev>","hash":"<hash>"}` to `line` (an object's text without its
// closing brace) and returns the hash.
std::string SealLine(absl::string_view prev, std::string* line);

// IsLowerHex returns whether `s` is lowercase hex digits only (how hashes appear in the chain).
bool IsLowerHex(absl::string_view s);

// LineHash returns the "hash" value of a sealed line, or "" if the line does not end like one.
absl::string_view LineHash(absl::string_view line);

// ChainReport is what VerifyAuditChain found.
struct ChainReport {
  bool intact = true;
  uint64_t lines = 0;      // lines read (up to and including the first bad one)
  uint64_t boots = 0;      // "start" lines seen
  uint64_t lost = 0;       // records the log itself says it could not write
  uint64_t bad_line = 0;   // 1-based, when !intact
  std::string reason;      // why the bad line is bad
  uint64_t first_seq = 0;  // the first line's seq (a rotated file need not start at 1)
  std::string first_prev;  // the first line's prev (the anchor in a previous file)
  std::string last_hash;   // the chain head
};

// VerifyAuditChain reads audit lines from `in` and checks every line's hash, each line's prev
// against the line before, and the sequence within each boot. Stops at the first bad line.
ChainReport VerifyAuditChain(std::istream& in);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_AUDIT_AUDIT_CHAIN_H_
