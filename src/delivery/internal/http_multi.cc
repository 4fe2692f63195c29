#include "delivery/internal/http_multi.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "core/check.h"
#include "core/redact.h"

namespace hikyaku::delivery::internal {
namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

// One exchange: the easy handle and everything it points at while it runs.
struct HttpMulti::Transfer {
  CURL* easy = curl_easy_init();
  uint64_t tag = 0;
  HttpRequest request;
  curl_slist* headers = nullptr;
  std::string body;
  ResponseHints hints;
  char error[CURL_ERROR_SIZE] = {0};

  Transfer() { HK_CHECK(easy != nullptr); }
  ~Transfer() {
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
  }
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  static size_t collect(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const size_t bytes = size * count;
    std::string& body = transfer->body;
    if (body.size() < kMaxResponseBytes) {
      body.append(data, std::min(bytes, kMaxResponseBytes - body.size()));
    }
    return bytes;  // keep reading (and discarding) so that the connection stays reusable
  }

  static size_t header(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const size_t bytes = size * count;
    read_hint_header(std::string_view(data, bytes), transfer->hints);
    return bytes;
  }

  void prepare(const TransferOptions& options) {
    curl_easy_reset(easy);
    curl_slist_free_all(headers);
    headers = nullptr;
    body.clear();
    hints = {};
    error[0] = '\0';
    std::string line;
    bool user_agent = false;
    for (const auto& [name, value] : request.headers) {
      line.assign(name).append(": ").append(value);
      headers = curl_slist_append(headers, line.c_str());
      user_agent = user_agent || equals_ignoring_case(name, "user-agent");
    }
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (request.method == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else if (request.method != "GET") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    if (!user_agent) {
      curl_easy_setopt(easy, CURLOPT_USERAGENT, "hikyaku/ApiDestinations");
    }
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);  // wait for a multiplexed h2 connection
    if (!options.ca_file.empty()) {
      curl_easy_setopt(easy, CURLOPT_CAINFO, options.ca_file.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "gzip,deflate");
  }
};

HttpMulti::HttpMulti(int max_connections) : max_idle_connections_(std::max(max_connections, 1)) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURLM* multi = curl_multi_init();
  HK_CHECK(multi != nullptr);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(max_idle_connections_));
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
  multi_ = multi;
}

HttpMulti::~HttpMulti() {
  // Transfers still running are abandoned: their handles leave the multi before it goes.
  auto* multi = static_cast<CURLM*>(multi_);
  for (auto& [easy, transfer] : running_) {
    curl_multi_remove_handle(multi, easy);
  }
  running_.clear();
  idle_.clear();
  curl_multi_cleanup(multi);
}

void HttpMulti::start(uint64_t tag, HttpRequest request, const TransferOptions& options) {
  std::unique_ptr<Transfer> transfer;
  if (idle_.empty()) {
    transfer = std::make_unique<Transfer>();
  } else {
    transfer = std::move(idle_.back());
    idle_.pop_back();
  }
  transfer->tag = tag;
  transfer->request = std::move(request);
  transfer->prepare(options);
  CURL* easy = transfer->easy;
  running_.emplace(easy, std::move(transfer));
  bound_idle_connections();
  curl_multi_add_handle(static_cast<CURLM*>(multi_), easy);
}

void HttpMulti::bound_idle_connections() {
  // libcurl's bound counts the connections in use too: when it is below them, every finished
  // exchange closes a connection (the one it used, as the only idle one) and the next opens
  // another. The bound is on the idle ones only; libcurl applies it as exchanges finish.
  curl_multi_setopt(static_cast<CURLM*>(multi_), CURLMOPT_MAXCONNECTS,
                    static_cast<long>(max_idle_connections_ + running_.size()));
}

void HttpMulti::perform(std::chrono::milliseconds wait, std::vector<FinishedExchange>& finished) {
  auto* multi = static_cast<CURLM*>(multi_);
  int running = 0;
  curl_multi_perform(multi, &running);
  if (static_cast<size_t>(running) == running_.size()) {
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::max<int64_t>(wait.count(), 0)),
                    nullptr);
    curl_multi_perform(multi, &running);
  }
  // Every message is read before any handle is removed: removing a handle searches the messages
  // still queued for its own, so removing while reading takes time quadratic in the exchanges
  // finished at once (hundreds with many destinations).
  done_.clear();
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
    if (message->msg == CURLMSG_DONE) {
      done_.emplace_back(message->easy_handle, message->data.result);
    }
  }
  for (const auto& [easy, code] : done_) {
    const auto found = running_.find(easy);
    HK_CHECK(found != running_.end());
    std::unique_ptr<Transfer> transfer = std::move(found->second);
    running_.erase(found);
    curl_multi_remove_handle(multi, transfer->easy);

    FinishedExchange done;
    done.tag = transfer->tag;
    if (code == static_cast<int>(CURLE_OK)) {
      long status = 0;
      curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &status);
      done.result.http_status = static_cast<int>(status);
      done.hints = std::move(transfer->hints);
      done.hints.http_status = done.result.http_status;
      done.body = std::move(transfer->body);
    } else {
      done.result.timed_out = code == static_cast<int>(CURLE_OPERATION_TIMEDOUT);
      done.result.error =
          redact_url(transfer->error[0] != '\0' ? transfer->error
                                                : curl_easy_strerror(static_cast<CURLcode>(code)));
    }
    transfer->request = {};  // the request's secrets go now, not when the handle is reused
    std::string().swap(transfer->body);
    finished.push_back(std::move(done));
    idle_.push_back(std::move(transfer));
  }
  if (!done_.empty()) {
    bound_idle_connections();
  }
}

void HttpMulti::wakeup() { curl_multi_wakeup(static_cast<CURLM*>(multi_)); }

}  // namespace hikyaku::delivery::internal
