#include "server/sigv4.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

#include "core/hex.h"
#include "core/url_encoding.h"

namespace hikyaku::server::sigv4 {
namespace {

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = lower_ascii(c);
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// Trimmed, inner runs of spaces collapsed to one (docs/putevents.md §6.2).
std::string canonical_header_value(std::string_view value) {
  value = trim(value);
  std::string out;
  out.reserve(value.size());
  bool in_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      in_space = true;
      continue;
    }
    if (in_space) {
      out.push_back(' ');
      in_space = false;
    }
    out.push_back(c);
  }
  return out;
}

std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) {
      continue;
    }
    size_t eq = part.find('=');
    std::string_view name = part.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    params.emplace_back(uri_encode(percent_decode(name), false),
                        uri_encode(percent_decode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

// All values of the header `lower_name`, joined with ',' (docs/putevents.md §6.2); nullopt-like
// empty flag.
bool header_values(const SigV4Request& request, std::string_view lower_name, std::string& out) {
  bool found = false;
  out.clear();
  for (const auto& [name, value] : request.headers) {
    if (name.size() != lower_name.size() || to_lower(name) != lower_name) {
      continue;
    }
    if (found) {
      out.push_back(',');
    }
    out += canonical_header_value(value);
    found = true;
  }
  return found;
}

bool is_lower_hex(std::string_view text, size_t length) {
  if (text.size() != length) {
    return false;
  }
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct RequiredHeader {
  std::string_view lower_name;
  std::string_view wire_name;  // as AWS's message spells it
  bool always;                 // false: only when the request carries it
};
constexpr std::array<RequiredHeader, 4> kRequiredSignedHeaders = {{
    {"host", "Host", true},
    {"x-amz-date", "X-Amz-Date", true},
    {"x-amz-target", "X-Amz-Target", true},
    {"content-type", "Content-Type", false},
}};

VerifyOutcome fail(Failure failure, std::string message) {
  VerifyOutcome outcome;
  outcome.error.failure = failure;
  outcome.error.message = std::move(message);
  return outcome;
}

}  // namespace

std::string Authorization::scope() const {
  return fmt::format("{}/{}/{}/{}", date, region, service, terminator);
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0x0f]);
  }
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string sha256_hex(std::string_view data) { return hex_encode(sha256(data)); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kDigits[byte >> 4]);
      out.push_back(kDigits[byte & 0x0f]);
    }
  }
  return out;
}

std::string canonical_request(const SigV4Request& request,
                              const std::vector<std::string>& signed_headers,
                              std::string_view payload_hash) {
  std::vector<std::string> names;
  names.reserve(signed_headers.size());
  for (const auto& name : signed_headers) {
    names.push_back(to_lower(name));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  // Non-S3 services encode each path segment twice; the received path is already encoded once,
  // so encoding it again (keeping '/') gives the same text the client signed.
  std::string path = request.path.empty() ? std::string("/") : uri_encode(request.path, true);

  std::string out;
  out.reserve(256 + request.body.size() / 64);
  out += request.method;
  out.push_back('\n');
  out += path;
  out.push_back('\n');
  out += canonical_query(request.query);
  out.push_back('\n');
  std::string value;
  for (const auto& name : names) {
    header_values(request, name, value);
    out += name;
    out.push_back(':');
    out += value;
    out.push_back('\n');
  }
  out.push_back('\n');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) {
      out.push_back(';');
    }
    out += names[i];
  }
  out.push_back('\n');
  out += payload_hash;
  return out;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request_text) {
  return fmt::format("{}\n{}\n{}\n{}", kAlgorithm, amz_date, scope,
                     sha256_hex(canonical_request_text));
}

std::string signing_key(std::string_view secret_access_key, std::string_view date,
                        std::string_view region, std::string_view service) {
  std::string key = "AWS4";
  key += secret_access_key;
  std::string k_date = hmac_sha256(key, date);
  OPENSSL_cleanse(key.data(), key.size());
  std::string k_region = hmac_sha256(k_date, region);
  std::string k_service = hmac_sha256(k_region, service);
  return hmac_sha256(k_service, "aws4_request");
}

std::string signature(std::string_view signing_key_bytes, std::string_view string_to_sign_text) {
  return hex_encode(hmac_sha256(signing_key_bytes, string_to_sign_text));
}

Result<Authorization> parse_authorization(std::string_view header) {
  header = trim(header);
  if (header.substr(0, kAlgorithm.size()) != kAlgorithm ||
      (header.size() > kAlgorithm.size() && header[kAlgorithm.size()] != ' ')) {
    return invalid_argument(fmt::format(
        "Authorization header must start with '{}' (only Signature Version 4 is supported).",
        kAlgorithm));
  }
  std::string_view rest = header.substr(kAlgorithm.size());
  std::string credential;
  std::string signed_headers;
  std::string signature_hex;
  bool have_credential = false;
  bool have_signed_headers = false;
  bool have_signature = false;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view part = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (part.empty()) {
      continue;
    }
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      // The element is not echoed: it may be (part of) the signature.
      return invalid_argument(
          "Authorization header elements must be key=value pairs separated by ','.");
    }
    std::string_view key = trim(part.substr(0, eq));
    std::string_view value = trim(part.substr(eq + 1));
    if (key == "Credential") {
      credential = value;
      have_credential = true;
    } else if (key == "SignedHeaders") {
      signed_headers = value;
      have_signed_headers = true;
    } else if (key == "Signature") {
      signature_hex = value;
      have_signature = true;
    }
  }
  std::string missing;
  if (!have_credential) {
    missing += "Authorization header requires 'Credential' parameter. ";
  }
  if (!have_signed_headers) {
    missing += "Authorization header requires 'SignedHeaders' parameter. ";
  }
  if (!have_signature) {
    missing += "Authorization header requires 'Signature' parameter. ";
  }
  if (!missing.empty()) {
    missing.pop_back();
    return invalid_argument(missing);
  }

  Authorization auth;
  std::vector<std::string> parts;
  std::string_view cred = credential;
  while (true) {
    size_t slash = cred.find('/');
    parts.emplace_back(cred.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    cred.remove_prefix(slash + 1);
  }
  if (parts.size() != 5 || parts[0].empty() || parts[1].empty() || parts[2].empty() ||
      parts[3].empty() || parts[4].empty()) {
    return invalid_argument(
        "Credential must have exactly 5 slash-delimited elements, e.g. "
        "keyid/date/region/service/term.");
  }
  auth.access_key_id = parts[0];
  auth.date = parts[1];
  auth.region = parts[2];
  auth.service = parts[3];
  auth.terminator = parts[4];

  std::string_view names = signed_headers;
  while (!names.empty()) {
    size_t semi = names.find(';');
    std::string_view name = names.substr(0, semi);
    names = semi == std::string_view::npos ? std::string_view() : names.substr(semi + 1);
    if (!name.empty()) {
      auth.signed_headers.push_back(to_lower(name));
    }
  }
  if (auth.signed_headers.empty()) {
    return invalid_argument("Authorization header requires a non-empty 'SignedHeaders' parameter.");
  }
  auth.signature = to_lower(signature_hex);
  if (!is_lower_hex(auth.signature, 64)) {
    return invalid_argument("Signature must be 64 hexadecimal characters.");
  }
  return auth;
}

constexpr int kLastAmzDateYear = 2200;

Result<std::chrono::system_clock::time_point> parse_amz_date(std::string_view text) {
  auto digits = [&](size_t from, size_t count) {
    int value = 0;
    for (size_t i = from; i < from + count; ++i) {
      if (text[i] < '0' || text[i] > '9') {
        return -1;
      }
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') {
    return invalid_argument("X-Amz-Date must have the form yyyyMMddTHHmmssZ");
  }
  int year = digits(0, 4);
  int month = digits(4, 2);
  int day = digits(6, 2);
  int hour = digits(9, 2);
  int minute = digits(11, 2);
  int second = digits(13, 2);
  // system_clock counts nanoseconds in 64 bits: it ends in 2262 (a date beyond it would
  // overflow; found by the sigv4 fuzz target).
  if (year < 1970 || year > kLastAmzDateYear || month < 1 || month > 12 || day < 1 || day > 31 ||
      hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) {
    return invalid_argument("X-Amz-Date must have the form yyyyMMddTHHmmssZ");
  }
  std::chrono::year_month_day ymd{std::chrono::year(year),
                                  std::chrono::month(static_cast<unsigned>(month)),
                                  std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) {
    return invalid_argument("X-Amz-Date must have the form yyyyMMddTHHmmssZ");
  }
  std::chrono::system_clock::time_point time =
      std::chrono::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
      std::chrono::seconds(second);
  return time;
}

std::string format_amz_date(std::chrono::system_clock::time_point time) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(time);
  auto days = std::chrono::floor<std::chrono::days>(seconds);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{seconds - days};
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

std::string_view VerifyError::type() const {
  switch (failure) {
    case Failure::kMissingAuthentication:
      return "MissingAuthenticationTokenException";
    case Failure::kIncompleteSignature:
      return "IncompleteSignatureException";
    case Failure::kUnrecognizedClient:
      return "UnrecognizedClientException";
    case Failure::kInvalidSignature:
      return "InvalidSignatureException";
  }
  return "InvalidSignatureException";
}

VerifyOutcome verify(const SigV4Request& request, const VerifyOptions& options) {
  std::string authorization_text;
  if (!header_values(request, "authorization", authorization_text) || authorization_text.empty()) {
    return fail(Failure::kMissingAuthentication, "Missing Authentication Token");
  }
  Result<Authorization> parsed = parse_authorization(authorization_text);
  if (!parsed) {
    return fail(Failure::kIncompleteSignature, parsed.error().message());
  }
  const Authorization& auth = *parsed;

  std::string amz_date;
  if (!header_values(request, "x-amz-date", amz_date) || amz_date.empty()) {
    return fail(Failure::kIncompleteSignature,
                "Authorization header requires existence of a 'X-Amz-Date' header.");
  }
  auto signed_at = parse_amz_date(amz_date);
  if (!signed_at) {
    return fail(Failure::kIncompleteSignature,
                fmt::format("X-Amz-Date '{}' is not of the form yyyyMMddTHHmmssZ.",
                            amz_date.substr(0, 32)));
  }

  const config::SigV4Credential* credential = nullptr;
  if (options.credentials != nullptr) {
    for (const auto& candidate : *options.credentials) {
      if (candidate.access_key_id == auth.access_key_id) {
        credential = &candidate;
        break;
      }
    }
  }
  if (credential == nullptr) {
    return fail(Failure::kUnrecognizedClient,
                "The security token included in the request is invalid.");
  }

  if (auth.date != std::string_view(amz_date).substr(0, 8)) {
    return fail(
        Failure::kInvalidSignature,
        fmt::format("Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                    "of date from HTTP: '{}' != '{}', from '{}'.",
                    auth.date.substr(0, 16), amz_date.substr(0, 8), amz_date));
  }
  if (!options.required_region.empty() && auth.region != options.required_region) {
    return fail(
        Failure::kInvalidSignature,
        fmt::format("Credential should be scoped to a valid region, not '{}'. Expected '{}'.",
                    auth.region.substr(0, 64), options.required_region));
  }
  if (auth.service != kService) {
    return fail(Failure::kInvalidSignature,
                fmt::format("Credential should be scoped to correct service: '{}'.", kService));
  }
  if (auth.terminator != "aws4_request") {
    return fail(Failure::kInvalidSignature,
                "Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                    auth.terminator.substr(0, 32) + "'.");
  }
  auto signs = [&](std::string_view name) {
    return std::find(auth.signed_headers.begin(), auth.signed_headers.end(), name) !=
           auth.signed_headers.end();
  };
  // What a signature must cover so that it cannot be replayed as another request: where it goes,
  // when it was made, which operation, and how the body is to be read. The AWS SDKs and CLI sign
  // all of these.
  std::string unused;
  for (const RequiredHeader& required : kRequiredSignedHeaders) {
    if (!signs(required.lower_name) &&
        (required.always || header_values(request, required.lower_name, unused))) {
      return fail(Failure::kInvalidSignature,
                  fmt::format("'{}' must be a 'SignedHeader' in the AWS Authorization.",
                              required.wire_name));
    }
  }
  for (const auto& name : auth.signed_headers) {
    if (!header_values(request, name, unused)) {
      return fail(
          Failure::kInvalidSignature,
          fmt::format("Signed header '{}' is not present in the request.", name.substr(0, 64)));
    }
  }

  auto skew = options.now - *signed_at;
  if (skew > kMaxClockSkew) {
    return fail(
        Failure::kInvalidSignature,
        fmt::format("Signature expired: {} is now earlier than {} ({} - 5 min.)", amz_date,
                    format_amz_date(options.now - kMaxClockSkew), format_amz_date(options.now)));
  }
  if (-skew > kMaxClockSkew) {
    return fail(
        Failure::kInvalidSignature,
        fmt::format("Signature not yet current: {} is still later than {} ({} + 5 min.)", amz_date,
                    format_amz_date(options.now + kMaxClockSkew), format_amz_date(options.now)));
  }

  std::string payload_hash = sha256_hex(request.body);
  std::string declared_hash;
  if (header_values(request, "x-amz-content-sha256", declared_hash) &&
      declared_hash != "UNSIGNED-PAYLOAD" && to_lower(declared_hash) != payload_hash) {
    return fail(Failure::kInvalidSignature,
                "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }

  std::string canonical = canonical_request(request, auth.signed_headers, payload_hash);
  std::string key =
      signing_key(credential->secret_access_key.reveal(), auth.date, auth.region, auth.service);
  std::string expected = signature(key, string_to_sign(amz_date, auth.scope(), canonical));
  OPENSSL_cleanse(key.data(), key.size());
  if (expected.size() != auth.signature.size() ||
      CRYPTO_memcmp(expected.data(), auth.signature.data(), expected.size()) != 0) {
    return fail(Failure::kInvalidSignature,
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service "
                "documentation for details.");
  }
  VerifyOutcome outcome;
  outcome.verified.credential = credential;
  outcome.verified.region = auth.region;
  return outcome;
}

std::string authorization_header(const SigV4Request& request,
                                 const std::vector<std::string>& signed_headers,
                                 std::string_view access_key_id, std::string_view secret_access_key,
                                 std::string_view amz_date, std::string_view region,
                                 std::string_view service) {
  std::vector<std::string> names;
  names.reserve(signed_headers.size());
  for (const auto& name : signed_headers) {
    names.push_back(to_lower(name));
  }
  std::sort(names.begin(), names.end());
  std::string date(amz_date.substr(0, 8));
  std::string scope = fmt::format("{}/{}/{}/aws4_request", date, region, service);
  std::string canonical = canonical_request(request, names, sha256_hex(request.body));
  std::string sig = signature(signing_key(secret_access_key, date, region, service),
                              string_to_sign(amz_date, scope, canonical));
  std::string joined;
  for (const auto& name : names) {
    if (!joined.empty()) {
      joined.push_back(';');
    }
    joined += name;
  }
  return fmt::format("{} Credential={}/{}, SignedHeaders={}, Signature={}", kAlgorithm,
                     access_key_id, scope, joined, sig);
}

}  // namespace hikyaku::server::sigv4
