#pragma once
// Certificates for TLS tests, made on the spot with OpenSSL: a throw-away certificate authority
// and a server certificate it signed for "localhost" and 127.0.0.1, valid from an hour ago for
// two days. A client that trusts `ca_file` (libcurl's CURLOPT_CAINFO, HttpClient's ca_file)
// verifies the server as it would a real one; any other trust store rejects it.
//
//   testing::TestCertificate certificate;
//   testing::ScriptableDestination destination({.tls = certificate.files()});
//
// Thread safety: const methods are thread-safe.

#include <string>

#include "testing/temp_dir.h"

namespace hikyaku::testing {

struct TlsFiles {
  std::string ca_file;    // PEM certificate of the authority: what clients trust
  std::string cert_file;  // PEM server certificate
  std::string key_file;   // PEM private key of the server certificate
};

// Writes ca.pem, server.pem and server.key into `directory`. Aborts if OpenSSL fails.
TlsFiles write_test_certificates(const std::string& directory);

// The files above in a TempDir of their own, removed with the object.
class TestCertificate {
 public:
  TestCertificate();
  const TlsFiles& files() const { return files_; }
  const std::string& ca_file() const { return files_.ca_file; }

 private:
  TempDir directory_{"tls"};
  TlsFiles files_;
};

}  // namespace hikyaku::testing
