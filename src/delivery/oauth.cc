#include "delivery/oauth.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include "core/ascii.h"
#include "core/url_encoding.h"

namespace hikyaku::delivery {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kFormContentType = "application/x-www-form-urlencoded";
constexpr size_t kExcerptBytes = 200;  // of a non-OAuth error body in a message
constexpr size_t kValueBytes = 40;     // of a bad token_type or expires_in in a message

bool has_header(const std::vector<OAuthParameter>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(), [&](const OAuthParameter& header) {
    return equals_ignoring_ascii_case(header.key, name);
  });
}

bool has_key(const std::vector<OAuthParameter>& parameters, std::string_view key) {
  return std::any_of(parameters.begin(), parameters.end(),
                     [&](const OAuthParameter& parameter) { return parameter.key == key; });
}

void append_field(std::string& out, std::string_view key, std::string_view value, bool form) {
  if (!out.empty() && out.back() != '?' && out.back() != '&') {
    out += '&';
  }
  if (form) {
    append_form_encoded(out, key);
    out += '=';
    append_form_encoded(out, value);
  } else {
    append_percent_encoded(out, key);
    out += '=';
    append_percent_encoded(out, value);
  }
}

// The fields grant_type, the body parameters and (kFormFields) the credentials, in that order,
// appended to `out` (a form body, or a URL for GET).
void append_grant_fields(const OAuthSettings& settings, bool add_grant_type, std::string& out,
                         bool form) {
  if (add_grant_type) {
    append_field(out, "grant_type", "client_credentials", form);
  }
  for (const OAuthParameter& parameter : settings.body_parameters) {
    append_field(out, parameter.key, parameter.value.reveal(), form);
  }
  if (settings.client_authentication == ClientAuthentication::kFormFields) {
    append_field(out, "client_id", settings.client_id, form);
    append_field(out, "client_secret", settings.client_secret.reveal(), form);
  }
}

// Visible text of at most `limit` bytes: control characters become spaces, a cut does not split
// a UTF-8 sequence and is marked with "...".
std::string excerpt(std::string_view text, size_t limit) {
  std::string out;
  bool cut = false;
  if (text.size() > limit) {
    size_t end = limit;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
      --end;  // text[end] continues a sequence: cut before the sequence starts
    }
    text = text.substr(0, end);
    cut = true;
  }
  out.reserve(text.size() + 3);
  for (const char c : text) {
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7F ? ' ' : c;
  }
  if (cut) {
    out += "...";
  }
  return out;
}

// "invalid_client (Client authentication failed)" from an RFC 6749 §5.2 error body; nullopt when
// the body is not such an object.
std::optional<std::string> oauth_error(std::string_view body) {
  od::parser parser;
  const simdjson::padded_string padded(body);
  od::document document;
  od::object object;
  if (parser.iterate(padded).get(document) != simdjson::SUCCESS ||
      document.get_object().get(object) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  std::string error;
  std::string description;
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    std::string_view text;
    if (key == "error" && field.value().get_string().get(text) == simdjson::SUCCESS) {
      error = excerpt(text, kValueBytes);
    } else if (key == "error_description" &&
               field.value().get_string().get(text) == simdjson::SUCCESS) {
      description = excerpt(text, kExcerptBytes);
    }
  }
  if (error.empty()) {
    return std::nullopt;
  }
  return description.empty() ? error : fmt::format("{} ({})", error, description);
}

// What a non-2xx answer says: the OAuth error, or a redacted excerpt of the body.
std::string error_detail(std::string_view body, const Redactor& redactor) {
  if (std::optional<std::string> error = oauth_error(body)) {
    return ": " + *error;
  }
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return " with an empty body";
  }
  // Redacted whole before it is cut: a cut through a secret would leave its head unrecognised.
  return ": " + excerpt(redactor.redact(body), kExcerptBytes);
}

bool transient_status(int status) { return status >= 500 || status == 429 || status == 408; }

// The lifetime in milliseconds that `expires_in` (number or numeric string) gives.
Result<int64_t> lifetime_ms(od::value value) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) {
    return invalid_argument("the body is not valid JSON");
  }
  double seconds = 0;
  if (type == od::json_type::null) {
    return kDefaultTokenLifetimeMs;
  }
  if (type == od::json_type::number) {
    if (value.get_double().get(seconds) != simdjson::SUCCESS) {
      return invalid_argument("expires_in is not a number of seconds");
    }
  } else if (type == od::json_type::string) {
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS) {
      return invalid_argument("expires_in is not a number of seconds");
    }
    const char* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, seconds);
    if (text.empty() || error != std::errc() || stop != end || !std::isfinite(seconds)) {
      return invalid_argument(
          fmt::format("expires_in \"{}\" is not a number of seconds", excerpt(text, kValueBytes)));
    }
  } else {
    return invalid_argument("expires_in is not a number of seconds");
  }
  if (seconds < 0) {
    return invalid_argument(fmt::format("expires_in {} is negative", seconds));
  }
  if (seconds == 0) {
    return kDefaultTokenLifetimeMs;  // "no expiry"
  }
  if (seconds >= static_cast<double>(kMaxTokenLifetimeMs) / 1000) {
    return kMaxTokenLifetimeMs;
  }
  return std::max<int64_t>(1000, std::llround(seconds * 1000));
}

bool header_safe(std::string_view token) {
  return std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

// The token in a 2xx body, or why there is none (the reason holds nothing of the body).
Result<Token> parse_token(std::string_view body, int64_t now_ms) {
  od::parser parser;
  const simdjson::padded_string padded(body);
  od::document document;
  od::object object;
  if (parser.iterate(padded).get(document) != simdjson::SUCCESS ||
      document.get_object().get(object) != simdjson::SUCCESS) {
    return invalid_argument("the body is not a JSON object");
  }
  std::optional<std::string_view> access_token;
  int64_t lifetime = kDefaultTokenLifetimeMs;
  std::optional<std::string> error;
  for (auto field : object) {
    std::string_view key;
    od::value value;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
        field.value().get(value) != simdjson::SUCCESS) {
      return invalid_argument("the body is not valid JSON");
    }
    if (key == "access_token") {
      std::string_view text;
      if (value.get_string().get(text) != simdjson::SUCCESS) {
        return invalid_argument("access_token is not a string");
      }
      access_token = text;
    } else if (key == "token_type") {
      std::string_view text;
      if (value.get_string().get(text) != simdjson::SUCCESS) {
        return invalid_argument("token_type is not a string");
      }
      if (!equals_ignoring_ascii_case(text, "bearer")) {
        return invalid_argument(
            fmt::format("token_type \"{}\" is not Bearer, the only type a connection can send",
                        excerpt(text, kValueBytes)));
      }
    } else if (key == "expires_in") {
      Result<int64_t> parsed = lifetime_ms(value);
      if (!parsed) {
        return parsed.error();
      }
      lifetime = *parsed;
    } else if (key == "error") {
      std::string_view text;
      if (value.get_string().get(text) == simdjson::SUCCESS) {
        error = excerpt(text, kValueBytes);
      }
    }
  }
  if (!access_token) {
    return invalid_argument(error ? "no access_token, but error " + *error : "no access_token");
  }
  if (access_token->empty()) {
    return invalid_argument("access_token is empty");
  }
  if (!header_safe(*access_token)) {
    return invalid_argument(
        "access_token holds a space, a control or a non-ASCII character, which an HTTP header "
        "cannot carry");
  }
  Token token;
  token.access_token = Secret(std::string(*access_token));
  token.authorization = Secret(fmt::format("Bearer {}", *access_token));
  token.obtained_at_ms = now_ms;
  token.expires_at_ms = now_ms + lifetime;
  token.redactor =
      std::make_shared<const Redactor>(std::vector<std::string>{token.access_token.reveal()});
  return token;
}

}  // namespace

Result<TokenRequest> build_token_request(const OAuthSettings& settings) {
  const std::string& method = settings.http_method;
  if (method != "GET" && method != "POST" && method != "PUT") {
    return invalid_argument(
        fmt::format(R"(connection "{}": OAuth HttpMethod "{}" must be GET, POST or PUT)",
                    settings.connection, excerpt(method, kValueBytes)));
  }
  const std::string_view endpoint = settings.authorization_endpoint;
  const size_t scheme_end = endpoint.find("://");
  if (scheme_end == std::string_view::npos ||
      !(equals_ignoring_ascii_case(endpoint.substr(0, scheme_end), "http") ||
        equals_ignoring_ascii_case(endpoint.substr(0, scheme_end), "https")) ||
      endpoint.size() == scheme_end + 3) {
    return invalid_argument(fmt::format(
        "connection \"{}\": OAuth AuthorizationEndpoint must be an https:// or http:// URL",
        settings.connection));
  }
  const bool has_body = method != "GET";
  const bool add_grant_type = !has_key(settings.body_parameters, "grant_type") &&
                              !has_key(settings.query_string_parameters, "grant_type");

  TokenRequest request;
  request.method = method;
  const size_t fragment = std::min(endpoint.find('#'), endpoint.size());
  request.url.assign(endpoint.substr(0, fragment));
  const size_t base_size = request.url.size();
  if (request.url.find('?') == std::string::npos) {
    request.url += '?';  // removed again below when nothing follows
  }
  for (const OAuthParameter& parameter : settings.query_string_parameters) {
    append_field(request.url, parameter.key, parameter.value.reveal(), false);
  }
  if (has_body) {
    append_grant_fields(settings, add_grant_type, request.body, true);
    if (!has_header(settings.header_parameters, "Content-Type")) {
      request.content_type = kFormContentType;
    }
  } else {
    append_grant_fields(settings, add_grant_type, request.url, false);
  }
  if (request.url.size() == base_size + 1 && request.url.back() == '?') {
    request.url.pop_back();
  }
  request.url.append(endpoint.substr(fragment));

  for (const OAuthParameter& header : settings.header_parameters) {
    request.headers.emplace_back(header.key, header.value.reveal());
  }
  if (settings.client_authentication == ClientAuthentication::kBasicHeader &&
      !has_header(settings.header_parameters, "Authorization")) {
    request.headers.emplace_back(
        "Authorization", "Basic " + base64_encode(form_encode(settings.client_id) + ":" +
                                                  form_encode(settings.client_secret.reveal())));
  }
  if (!has_header(settings.header_parameters, "Accept")) {
    request.headers.emplace_back("Accept", "application/json");
  }
  return request;
}

std::vector<std::string> oauth_redaction_values(const OAuthSettings& settings) {
  std::vector<std::string> values;
  const std::string& secret = settings.client_secret.reveal();
  if (secret.empty()) {
    return values;
  }
  std::string encoded = form_encode(secret);
  values.push_back(form_encode(settings.client_id) + ":" + encoded);
  if (encoded != secret) {
    values.push_back(std::move(encoded));
  }
  return values;
}

Result<Token> token_from_response(const OAuthSettings& settings, const AttemptResult& attempt,
                                  std::string_view body, int64_t now_ms, const Redactor& redactor) {
  const std::string where = fmt::format("connection \"{}\": token endpoint {}", settings.connection,
                                        settings.authorization_endpoint);
  const int status = attempt.http_status;
  if (status == 0) {
    if (attempt.timed_out) {
      return deadline_exceeded(
          redactor.redact(fmt::format("{} did not answer within the timeout{}{}", where,
                                      attempt.error.empty() ? "" : ": ", attempt.error)));
    }
    return unavailable(
        redactor.redact(fmt::format("{} could not be reached: {}", where,
                                    attempt.error.empty() ? "no answer" : attempt.error)));
  }
  if (status < 200 || status > 299) {
    const std::string message =
        fmt::format("{} answered {}{}{}", where, status, error_detail(body, redactor),
                    status >= 300 && status < 400 ? " (redirects are not followed)" : "");
    return Status(
        transient_status(status) ? StatusCode::kUnavailable : StatusCode::kFailedPrecondition,
        redactor.redact(message));
  }
  Result<Token> token = parse_token(body, now_ms);
  if (!token) {
    return failed_precondition(redactor.redact(fmt::format(
        "{} answered {} without a usable token: {}", where, status, token.error().message())));
  }
  return token;
}

bool token_error_is_transient(const Status& error) {
  return error.code() == StatusCode::kUnavailable || error.code() == StatusCode::kDeadlineExceeded;
}

// TokenCache

int64_t TokenCache::refresh_at_ms(const Token& token) {
  const int64_t lifetime = token.expires_at_ms - token.obtained_at_ms;
  return token.expires_at_ms - std::min(kMaxRefreshMarginMs, lifetime / 10);
}

std::shared_ptr<const Token> TokenCache::current(std::string_view connection,
                                                 int64_t now_ms) const {
  MutexLock lock(mutex_);
  const auto it = states_.find(connection);
  if (it == states_.end() || it->second.token == nullptr ||
      now_ms >= refresh_at_ms(*it->second.token)) {
    return nullptr;
  }
  return it->second.token;
}

TokenCache::Decision TokenCache::begin_refresh(std::string_view connection, int64_t now_ms) {
  MutexLock lock(mutex_);
  auto it = states_.find(connection);
  if (it == states_.end()) {
    it = states_.emplace(std::string(connection), State{}).first;
  }
  State& state = it->second;
  Decision decision;
  std::shared_ptr<const Token> valid;
  if (state.token != nullptr && now_ms < state.token->expires_at_ms) {
    valid = state.token;
    if (now_ms < refresh_at_ms(*valid)) {
      decision.action = Decision::Action::kUse;
      decision.token = std::move(valid);
      return decision;
    }
  }
  const bool in_flight =
      state.fetching_ticket != 0 && now_ms - state.fetch_started_ms < options_.fetch_timeout_ms;
  int64_t allowed_at = state.next_fetch_ms;
  if (state.fetched_before) {
    allowed_at = std::max(allowed_at, state.last_fetch_started_ms + options_.min_fetch_interval_ms);
  }
  if (in_flight || now_ms < allowed_at) {
    if (valid != nullptr) {
      decision.action = Decision::Action::kUse;
      decision.token = std::move(valid);
    } else if (in_flight) {
      decision.action = Decision::Action::kWait;
    } else {
      decision.action = Decision::Action::kFail;
      decision.retry_at_ms = allowed_at;
      decision.error =
          !state.last_error.ok()
              ? state.last_error
              : unavailable(fmt::format(
                    "connection \"{}\": no valid access token, and the last token request "
                    "started {} ms ago; the next may start in {} ms",
                    connection, now_ms - state.last_fetch_started_ms, allowed_at - now_ms));
    }
    return decision;
  }
  state.fetching_ticket = next_ticket_++;
  state.fetch_started_ms = now_ms;
  state.last_fetch_started_ms = now_ms;
  state.fetched_before = true;
  decision.action = Decision::Action::kFetch;
  decision.ticket = state.fetching_ticket;
  decision.token = std::move(valid);
  return decision;
}

Result<std::shared_ptr<const Token>> TokenCache::complete_refresh(std::string_view connection,
                                                                  uint64_t ticket,
                                                                  Result<Token> token,
                                                                  int64_t now_ms) {
  MutexLock lock(mutex_);
  const auto it = states_.find(connection);
  if (it == states_.end() || ticket == 0 || it->second.fetching_ticket != ticket) {
    if (!token) {
      return token.error();
    }
    return std::shared_ptr<const Token>(std::make_shared<const Token>(std::move(token).value()));
  }
  State& state = it->second;
  state.fetching_ticket = 0;
  if (!token) {
    ++state.failures;
    const int doublings = std::min(state.failures - 1, 30);
    state.next_fetch_ms =
        now_ms + std::min(options_.backoff_cap_ms, options_.backoff_base_ms << doublings);
    state.last_error = token.error();
    return token.error();
  }
  Token stored = std::move(token).value();
  stored.serial = next_serial_++;
  state.token = std::make_shared<const Token>(std::move(stored));
  state.failures = 0;
  state.next_fetch_ms = 0;
  state.last_error = ok_status();
  return state.token;
}

bool TokenCache::invalidate(std::string_view connection, uint64_t serial) {
  MutexLock lock(mutex_);
  const auto it = states_.find(connection);
  if (it == states_.end() || it->second.token == nullptr || it->second.token->serial != serial) {
    return false;
  }
  it->second.token.reset();
  return true;
}

void TokenCache::forget(std::string_view connection) {
  MutexLock lock(mutex_);
  const auto it = states_.find(connection);
  if (it != states_.end()) {
    states_.erase(it);
  }
}

}  // namespace hikyaku::delivery
