#include "service/audit/audit_chain.h"

#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "signer/crypto_backend.h"
#include "simdjson.h"

namespace sasmint {
namespace {

constexpr absl::string_view kHashMarker = ",\"hash\":\"";
constexpr size_t kHexHash = 64;

std::string Sha256Hex(absl::string_view bytes) {
  const std::array<uint8_t, 32> digest = crypto::OracleSha256(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

}  // namespace

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string SealLine(absl::string_view prev, std::string* line) {
  absl::StrAppend(line, ",\"prev\":\"", prev, "\"");
  std::string hash = Sha256Hex(*line);
  absl::StrAppend(line, kHashMarker, hash, "\"}");
  return hash;
}

absl::string_view LineHash(absl::string_view line) {
  const size_t tail = kHashMarker.size() + kHexHash + 2;  // the hash, `"}`
  if (line.size() < tail + 1 || !absl::EndsWith(line, "\"}")) return {};
  if (line.substr(line.size() - tail, kHashMarker.size()) != kHashMarker) return {};
  absl::string_view hash = line.substr(line.size() - kHexHash - 2, kHexHash);
  return IsLowerHex(hash) ? hash : absl::string_view();
}

ChainReport VerifyAuditChain(std::istream& in) {
  ChainReport report;
  simdjson::dom::parser parser;
  std::string line;
  std::string prev_hash;
  std::string prev_boot;
  uint64_t prev_seq = 0;
  auto fail = [&report](std::string reason) {
    report.intact = false;
    report.bad_line = report.lines;
    report.reason = std::move(reason);
    return report;
  };
  while (std::getline(in, line)) {
    ++report.lines;
    const uint64_t n = report.lines;
    const absl::string_view hash = LineHash(line);
    if (hash.empty()) return fail("not a sealed audit record (no trailing \"hash\")");
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
      return fail("not a JSON object");
    }
    uint64_t seq = 0;
    std::string_view boot, prev, event;
    if (doc["seq"].get(seq) != simdjson::SUCCESS || doc["boot"].get(boot) != simdjson::SUCCESS ||
        doc["prev"].get(prev) != simdjson::SUCCESS ||
        doc["event"].get(event) != simdjson::SUCCESS) {
      return fail("missing seq, boot, event or prev");
    }
    const absl::string_view body(line.data(), line.size() - kHashMarker.size() - kHexHash - 2);
    if (Sha256Hex(body) != hash) {
      return fail("its hash does not match its content (the line was edited)");
    }
    uint64_t lost = 0;
    if (simdjson::dom::element v; doc["lost"].get(v) == simdjson::SUCCESS) {
      if (v.get(lost) != simdjson::SUCCESS) return fail("lost is not a count");
    }
    const bool start = event == "start";
    if (start) ++report.boots;
    if (n == 1) {
      report.first_seq = seq;
      report.first_prev = std::string(prev);
      if (start && seq != 1) return fail(absl::StrCat("a boot's start line has seq ", seq));
    } else {
      if (prev != prev_hash) {
        return fail(absl::StrCat("its prev does not match the hash of line ", n - 1,
                                 " (a line was deleted, inserted or moved here)"));
      }
      if (boot == prev_boot) {
        if (seq != prev_seq + 1) {
          return fail(absl::StrCat("seq ", seq, " follows seq ", prev_seq, " of the same boot"));
        }
        if (start) return fail("a second start line in one boot");
      } else if (!start || seq != 1) {
        return fail("a new boot that does not begin with its start line at seq 1");
      }
    }
    report.lost += lost;
    prev_hash = std::string(hash);
    prev_boot = std::string(boot);
    prev_seq = seq;
  }
  report.last_hash = prev_hash;
  return report;
}

}  // namespace sasmint
