#include "absl/strings/str_cat.h"
#include "service/verify/internal/report_text.h"
#include "service/verify/verifier.h"

// The checks of an X.509 device certificate against its registration (verifier.h).
namespace sasmint {
namespace {

using internal::AddFinding;
using internal::Describe;
using internal::Finish;
using internal::FormatDuration;
using internal::FormatTime;
using internal::kHubAuthFailed;
using internal::NotContained;
using internal::Quote;

// Registration is what the registry says of the certificate's identity.
struct Registration {
  bool known = false;  // the hub is served and holds the identity (always, offline)
  std::string primary_thumbprint;
  std::string secondary_thumbprint;
  std::string note;  // why no thumbprint is registered, if that is the case
};

// LookUp finds the identity's registration, reporting an unknown hub or identity, or a disabled
// identity, in `r`.
Registration LookUp(const TokenScope& identity, const KeySource& keys, VerifyReport* r) {
  Registration out;
  const std::string who = Describe(identity);
  if (const OfflineRegistration* offline = keys.offline()) {
    out.known = true;
    out.primary_thumbprint = offline->primary_thumbprint;
    out.secondary_thumbprint = offline->secondary_thumbprint;
    return out;
  }
  const IdentityTable* table = keys.table();
  if (table == nullptr) return out;
  if (!table->ServesHub(identity.hub)) {
    AddFinding(&r->findings, Verdict::kUnknownHub,
               absl::StrCat("hub ", Quote(identity.hub),
                            " is not served here: its registered thumbprints are unknown."));
    return out;
  }
  const IdentityRef ref =
      table->Find(identity.hub, identity.device_id,
                  identity.kind == ScopeKind::kModule ? absl::string_view(identity.module_id) : "");
  if (!ref) {
    AddFinding(&r->findings, Verdict::kUnknownIdentity,
               absl::StrCat(NotContained(identity), ": ", who, " is not registered here."));
    return out;
  }
  if (ref.status() == IdentityStatus::kDisabled) {
    AddFinding(&r->findings, Verdict::kIdentityDisabled,
               absl::StrCat(kHubAuthFailed, ": ", who, " is disabled in hub ", Quote(identity.hub),
                            ". Enable it in the identity registry."));
  }
  out.known = true;
  out.primary_thumbprint = std::string(ref.primary_thumbprint());
  out.secondary_thumbprint = std::string(ref.secondary_thumbprint());
  if (out.primary_thumbprint.empty() && out.secondary_thumbprint.empty()) {
    out.note = absl::StrCat(" (", who, " is registered with authentication type ",
                            Quote(ref.auth_type()), " and no thumbprint)");
  }
  return out;
}

// CheckThumbprint compares the certificate with the registered thumbprints, as the hub does.
void CheckThumbprint(const CertificateInfo& cert, const Registration& reg, const std::string& who,
                     VerifyReport* r) {
  const bool p = ThumbprintMatches(reg.primary_thumbprint, cert);
  const bool s = !p && ThumbprintMatches(reg.secondary_thumbprint, cert);
  if (p || s) {
    const std::string& matched = p ? reg.primary_thumbprint : reg.secondary_thumbprint;
    r->matched_key = MatchedKey{p ? KeySlot::kPrimary : KeySlot::kSecondary, 0, false, 0, who};
    r->notes.push_back(absl::StrCat(
        "the certificate's ",
        NormalizeThumbprint(matched) == cert.sha256_thumbprint ? "SHA-256" : "SHA-1",
        " thumbprint matches the registered ", p ? "primary" : "secondary", " thumbprint"));
    return;
  }
  const auto shown = [](const std::string& t) {
    return t.empty() ? std::string("null") : NormalizeThumbprint(t);
  };
  AddFinding(
      &r->findings, Verdict::kThumbprintMismatch,
      absl::StrCat("Thumbprint does not match configuration: Thumbprint: SHA1Hash=",
                   cert.sha1_thumbprint, ", SHA2Hash=", cert.sha256_thumbprint,
                   "; Configuration: PrimaryThumbprint=", shown(reg.primary_thumbprint),
                   ", SecondaryThumbprint=", shown(reg.secondary_thumbprint), reg.note,
                   ". Register this certificate's SHA-256 thumbprint (as the secondary first, "
                   "to rotate without downtime), or connect with the registered certificate."));
}

// CheckValidity compares the certificate's validity dates with `now`.
void CheckValidity(const CertificateInfo& cert, int64_t now, VerifyReport* r) {
  if (now < cert.not_before) {
    AddFinding(
        &r->findings, Verdict::kCertExpired,
        absl::StrCat(kHubAuthFailed, ": the certificate is not valid until ",
                     FormatTime(cert.not_before), " (", FormatDuration(cert.not_before - now),
                     " from now). Check the device's clock, or issue a certificate valid "
                     "now."));
  } else if (now > cert.not_after) {
    AddFinding(&r->findings, Verdict::kCertExpired,
               absl::StrCat(kHubAuthFailed, ": the certificate expired at ",
                            FormatTime(cert.not_after), ", ", FormatDuration(now - cert.not_after),
                            " ago. Issue a new certificate and register its thumbprint."));
  } else {
    r->notes.push_back(absl::StrCat("the certificate is valid from ", FormatTime(cert.not_before),
                                    " until ", FormatTime(cert.not_after), " (",
                                    FormatDuration(cert.not_after - now), " left)"));
  }
}

}  // namespace

VerifyReport VerifyCertificate(const CertificateInfo& cert, const TokenScope& identity,
                               const VerifyOptions& options, const KeySource& keys) {
  VerifyReport r;
  r.certificate = cert;
  const std::string who = Describe(identity);
  const Registration registration = LookUp(identity, keys, &r);
  if (registration.known) CheckThumbprint(cert, registration, who, &r);
  CheckValidity(cert, options.now, &r);
  Finish(&r,
         absl::StrCat("IoT Hub would accept this certificate for ", who,
                      r.matched_key ? absl::StrCat(" (it matches the registered ",
                                                   KeySlotName(r.matched_key->slot), " thumbprint)")
                                    : "",
                      "; valid until ", FormatTime(cert.not_after), "."));
  return r;
}

}  // namespace sasmint
