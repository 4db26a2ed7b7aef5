#include "service/verify/internal/report_text.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "service/keystore/rights.h"

namespace sasmint::internal {
namespace {

int Rank(Verdict v) {
  for (size_t i = 0; i < kVerdictOrder.size(); ++i) {
    if (kVerdictOrder[i] == v) return static_cast<int>(i);
  }
  return static_cast<int>(kVerdictOrder.size());
}

}  // namespace

std::string Quote(absl::string_view text) {
  constexpr size_t kMax = 300;
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    }
  }
  if (text.size() > kMax) out.append("...");
  out.push_back('\'');
  return out;
}

std::string FormatTime(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

std::string FormatDuration(int64_t seconds) {
  if (seconds < 60) return absl::StrCat(seconds, " s");
  std::vector<std::string> parts;
  const int64_t days = seconds / 86400, hours = seconds / 3600 % 24, minutes = seconds / 60 % 60;
  if (days > 0) parts.push_back(absl::StrCat(days, " d"));
  if (hours > 0) parts.push_back(absl::StrCat(hours, " h"));
  if (minutes > 0 && days == 0) parts.push_back(absl::StrCat(minutes, " min"));
  if (seconds % 60 > 0 && days == 0 && hours == 0) {
    parts.push_back(absl::StrCat(seconds % 60, " s"));
  }
  return absl::StrJoin(parts, " ");
}

bool IsIdentityScope(const TokenScope& s) {
  return s.kind == ScopeKind::kDevice || s.kind == ScopeKind::kModule;
}

absl::string_view HubName(absl::string_view host) { return host.substr(0, host.find('.')); }

std::string Describe(const TokenScope& s) {
  switch (s.kind) {
    case ScopeKind::kDevice:
      return absl::StrCat("device ", Quote(s.device_id));
    case ScopeKind::kModule:
      return absl::StrCat("module ", Quote(s.module_id), " of device ", Quote(s.device_id));
    case ScopeKind::kPolicy:
      return absl::StrCat("policy ", Quote(s.policy), " on ", Quote(ResourceUri(s)));
    case ScopeKind::kRegistration:
      return absl::StrCat("DPS registration ", Quote(s.registration_id), " in ID scope ",
                          Quote(s.id_scope));
  }
  return {};
}

std::string NotContained(const TokenScope& s) {
  return absl::StrCat(
      "IotHub ", Quote(HubName(s.hub)), " does not contain the specified device ",
      Quote(s.kind == ScopeKind::kModule ? absl::StrCat(s.device_id, "/", s.module_id)
                                         : s.device_id));
}

absl::string_view RightText(uint32_t right) {
  const absl::string_view name = RightName(right);
  return name.empty() ? "the requested right" : name;
}

void AddFinding(std::vector<Finding>* findings, Verdict verdict, std::string message) {
  findings->push_back(Finding{verdict, std::move(message)});
}

void Finish(VerifyReport* r, std::string valid_message) {
  std::stable_sort(r->findings.begin(), r->findings.end(), [](const Finding& a, const Finding& b) {
    return Rank(a.verdict) < Rank(b.verdict);
  });
  if (r->findings.empty()) {
    r->verdict = Verdict::kValid;
    r->message = std::move(valid_message);
  } else {
    r->verdict = r->findings.front().verdict;
    r->message = r->findings.front().message;
  }
}

}  // namespace sasmint::internal
