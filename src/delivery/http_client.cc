#include "delivery/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <string>

#include "core/redact.h"

namespace hikyaku::delivery {
namespace {

constexpr size_t kMaxResponseBytes = size_t{1024} * 1024;
constexpr size_t kExcerptBytes = 512;

size_t collect(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t bytes = size * count;
  if (body->size() < kMaxResponseBytes) {
    body->append(data, std::min(bytes, kMaxResponseBytes - body->size()));
  }
  return bytes;  // keep reading (and discarding) so the connection ends cleanly
}

size_t read_header(char* data, size_t size, size_t count, void* user) {
  read_hint_header(std::string_view(data, size * count), *static_cast<ResponseHints*>(user));
  return size * count;
}

}  // namespace

HttpClient::HttpClient() {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

AttemptResult HttpClient::send(const HttpRequest& request, std::string* response_excerpt,
                               std::string* response_body, ResponseHints* hints) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  std::string response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  std::string line;
  for (const auto& [name, value] : request.headers) {
    line.assign(name).append(": ").append(value);
    headers = curl_slist_append(headers, line.c_str());
  }
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method != "GET" && request.method != "HEAD") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, std::string(user_agent()).c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "gzip,deflate");
  if (!request.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, request.ca_file.c_str());
  }
  ResponseHints ignored;
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, hints != nullptr ? hints : &ignored);

  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);

  AttemptResult result;
  if (code != CURLE_OK) {
    result.timed_out = code == CURLE_OPERATION_TIMEDOUT;
    result.error = redact_url(error[0] != '\0' ? error : curl_easy_strerror(code));
    return result;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  result.http_status = static_cast<int>(status);
  if (hints != nullptr) {
    hints->http_status = result.http_status;
  }
  if (response_excerpt != nullptr) {
    *response_excerpt = response.substr(0, kExcerptBytes);
  }
  if (response_body != nullptr) {
    *response_body = std::move(response);
  }
  return result;
}

}  // namespace hikyaku::delivery
