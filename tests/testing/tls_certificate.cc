#include "testing/tls_certificate.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace hikyaku::testing {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertificateFree {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Certificate = std::unique_ptr<X509, CertificateFree>;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "write_test_certificates: %s\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

Key make_key() {
  // P-256: generated in microseconds, where an RSA key would take a noticeable part of a test.
  Key key(EVP_EC_gen("P-256"));
  if (!key) {
    fail("cannot generate a key");
  }
  return key;
}

void add_extension(X509* certificate, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_nconf_nid(nullptr, &context, nid, value);
  if (extension == nullptr || X509_add_ext(certificate, extension, -1) != 1) {
    fail(value);
  }
  X509_EXTENSION_free(extension);
}

// A certificate for `key` named `common_name`, signed by `issuer_key` (`issuer` null: by itself).
Certificate make_certificate(EVP_PKEY* key, const char* common_name, long serial, X509* issuer,
                             EVP_PKEY* issuer_key) {
  Certificate certificate(X509_new());
  X509* self = certificate.get();
  X509_set_version(self, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(self), serial);
  X509_gmtime_adj(X509_getm_notBefore(self), -3600);
  X509_gmtime_adj(X509_getm_notAfter(self), 2L * 24 * 3600);
  X509_set_pubkey(self, key);
  X509_NAME* name = X509_get_subject_name(self);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* signer = issuer == nullptr ? self : issuer;
  X509_set_issuer_name(self, X509_get_subject_name(signer));
  add_extension(self, signer, NID_subject_key_identifier, "hash");
  if (issuer == nullptr) {
    add_extension(self, signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(self, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(self, signer, NID_authority_key_identifier, "keyid:always");
    add_extension(self, signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(self, signer, NID_key_usage, "critical,digitalSignature");
    add_extension(self, signer, NID_ext_key_usage, "serverAuth");
    add_extension(self, signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  }
  if (X509_sign(self, issuer_key == nullptr ? key : issuer_key, EVP_sha256()) == 0) {
    fail("cannot sign a certificate");
  }
  return certificate;
}

template <typename Write>
void write_pem(const std::string& path, Write write) {
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr || write(file) != 1) {
    fail(path.c_str());
  }
  std::fclose(file);
}

}  // namespace

TlsFiles write_test_certificates(const std::string& directory) {
  const Key ca_key = make_key();
  const Certificate ca = make_certificate(ca_key.get(), "hikyaku test CA", 1, nullptr, nullptr);
  const Key server_key = make_key();
  const Certificate server =
      make_certificate(server_key.get(), "localhost", 2, ca.get(), ca_key.get());
  TlsFiles files{directory + "/ca.pem", directory + "/server.pem", directory + "/server.key"};
  write_pem(files.ca_file, [&](FILE* file) { return PEM_write_X509(file, ca.get()); });
  write_pem(files.cert_file, [&](FILE* file) { return PEM_write_X509(file, server.get()); });
  write_pem(files.key_file, [&](FILE* file) {
    return PEM_write_PrivateKey(file, server_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  return files;
}

TestCertificate::TestCertificate() : files_(write_test_certificates(directory_.path())) {}

}  // namespace hikyaku::testing
