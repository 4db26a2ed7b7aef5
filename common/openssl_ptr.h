// openssl_ptr.h: std::unique_ptr owners for the OpenSSL objects sasmint creates (BIO, X509,
// EVP_PKEY). Header-only; the same names exist in OpenSSL 3 and BoringSSL.
#ifndef SASMINT_COMMON_OPENSSL_PTR_H_
#define SASMINT_COMMON_OPENSSL_PTR_H_

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

namespace sasmint {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

}  // namespace sasmint

#endif  // SASMINT_COMMON_OPENSSL_PTR_H_
