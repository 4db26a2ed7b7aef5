// pem_file.h: reading the PEM files of TLS listeners and clients (certificate chains, private
// keys, CA bundles) and checking them before gRPC gets them, so that a wrong file fails at start
// with a message naming it instead of at the first handshake.
//
// Files are read in one sized read: a growing buffer would leave freed copies of a private key
// behind. Private key text is wiped on every error path; WipeString is for the caller's copies.
// Thread-safe (no state).
#ifndef SASMINT_COMMON_PEM_FILE_H_
#define SASMINT_COMMON_PEM_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sasmint {

// ReadPemFile returns the text of `path` (at most 1 MiB); NOT_FOUND naming `what` and the path
// if it cannot be read, INVALID_ARGUMENT if it is too large to be a PEM file.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view what);

// ReadCertificateAndKey reads a certificate chain and the private key of its first certificate
// into `cert` and `key`. NOT_FOUND for an unreadable file; INVALID_ARGUMENT naming the file if
// it holds no PEM certificate (or no unencrypted PEM key), or if the key does not match.
absl::Status ReadCertificateAndKey(const std::string& cert_file, const std::string& key_file,
                                   std::string* cert, std::string* key);

// ReadCaFile returns a CA bundle holding at least one PEM certificate; errors as ReadPemFile's,
// or INVALID_ARGUMENT if it holds no certificate.
absl::StatusOr<std::string> ReadCaFile(const std::string& path, absl::string_view what);

// WipeString overwrites and empties `s` (private key text).
void WipeString(std::string& s);

}  // namespace sasmint

#endif  // SASMINT_COMMON_PEM_FILE_H_
