#include "tests/testing/test_certificate.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace sasmint::testing {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "MakeSelfSignedCertificate: %s failed\n", what);
    std::abort();
  }
}

}  // namespace

TestCertificate MakeSelfSignedCertificate(absl::string_view common_name, int64_t not_before,
                                          int64_t not_after) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EVP_EC_gen");
  std::unique_ptr<X509, X509Free> cert(X509_new());
  Check(cert != nullptr, "X509_new");
  Check(X509_set_version(cert.get(), 2) == 1, "X509_set_version");
  Check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4711) == 1, "serial");
  Check(ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(not_before)) != nullptr,
        "notBefore");
  Check(ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(not_after)) != nullptr,
        "notAfter");
  const std::string cn(common_name);
  X509_NAME* name = X509_get_subject_name(cert.get());
  Check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                   0) == 1,
        "subject");
  Check(X509_set_issuer_name(cert.get(), name) == 1, "issuer");
  Check(X509_set_pubkey(cert.get(), key.get()) == 1, "X509_set_pubkey");
  Check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");

  TestCertificate out;
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  Check(bio != nullptr && PEM_write_bio_X509(bio.get(), cert.get()) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  out.pem.assign(data, static_cast<size_t>(size));
  unsigned char* der = nullptr;
  const int der_size = i2d_X509(cert.get(), &der);
  Check(der_size > 0, "i2d_X509");
  out.der.assign(reinterpret_cast<const char*>(der), static_cast<size_t>(der_size));
  OPENSSL_free(der);
  return out;
}

}  // namespace sasmint::testing
