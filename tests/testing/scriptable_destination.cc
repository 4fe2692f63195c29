#include "testing/scriptable_destination.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "testing/internal/http_wire.h"

namespace hikyaku::testing {

using internal::MessageKind;
using internal::MessageResult;
using internal::WireMessage;
using internal::WireStream;

namespace {

[[noreturn]] void fail(const char* what) {
  std::perror(what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

std::string build_response(const ScriptedResponse& scripted, const WireMessage& request,
                           bool close) {
  if (!scripted.raw.empty()) {
    return scripted.raw;
  }
  std::string text = "HTTP/1.1 " + std::to_string(scripted.status) + " ";
  text += scripted.reason.empty() ? internal::reason_phrase(scripted.status) : scripted.reason;
  text += "\r\n";
  bool framed = false;
  bool connection_given = false;
  for (const auto& [name, value] : scripted.headers) {
    text.append(name).append(": ").append(value).append("\r\n");
    framed = framed || CaseInsensitiveLess::equal(name, "content-length") ||
             CaseInsensitiveLess::equal(name, "transfer-encoding");
    connection_given = connection_given || CaseInsensitiveLess::equal(name, "connection");
  }
  const bool bodiless = scripted.status < 200 || scripted.status == 204 || scripted.status == 304;
  if (!framed && !bodiless) {
    text += "Content-Length: " + std::to_string(scripted.body.size()) + "\r\n";
  }
  if (close && !connection_given) {
    text += "Connection: close\r\n";
  }
  text += "\r\n";
  if (request.method != "HEAD") {
    text += scripted.body;
  }
  return text;
}

RecordedRequest record(const WireMessage& message, std::chrono::steady_clock::time_point arrival,
                       int connection) {
  RecordedRequest request;
  request.method = message.method;
  request.target = message.target;
  const size_t question = message.target.find('?');
  request.path = message.target.substr(0, question);
  request.query = question == std::string::npos ? "" : message.target.substr(question + 1);
  request.headers = message.headers;
  request.body = message.body;
  request.arrival = arrival;
  request.connection = connection;
  return request;
}

}  // namespace

ScriptableDestination::ScriptableDestination(DestinationOptions options)
    : clock_(options.clock != nullptr ? *options.clock : SystemClock::instance()),
      tls_(options.tls.has_value()),
      responder_(std::move(options.responder)) {
  internal::ignore_sigpipe();
  if (tls_) {
    tls_context_ = SSL_CTX_new(TLS_server_method());
    if (tls_context_ == nullptr ||
        SSL_CTX_use_certificate_file(tls_context_, options.tls->cert_file.c_str(),
                                     SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_context_, options.tls->key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1) {
      fail("ScriptableDestination: TLS certificate or key");
    }
    // No TLS 1.3 session tickets: nothing arrives on an idle connection unasked, so a client
    // can tell a kept-alive connection the server closed from one it may reuse.
    SSL_CTX_set_num_tickets(tls_context_, 0);
  }
  // Non-blocking, so that a connection gone between poll() and accept() cannot block the loop.
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (listen_fd_ < 0 ||
      bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listen_fd_, 128) != 0 || pipe2(wake_fds_, O_CLOEXEC) != 0) {
    fail("ScriptableDestination: listen");
  }
  socklen_t length = sizeof address;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

ScriptableDestination::~ScriptableDestination() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
    // Wakes every worker blocked reading, writing or in a TLS handshake.
    for (const int fd : open_fds_) {
      ::shutdown(fd, SHUT_RDWR);
    }
  }
  changed_.notify_all();
  (void)!write(wake_fds_[1], "x", 1);
  acceptor_.join();
  for (Worker& worker : workers_) {
    worker.thread.join();
  }
  ::close(listen_fd_);
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
  if (tls_context_ != nullptr) {
    SSL_CTX_free(tls_context_);
  }
}

std::string ScriptableDestination::url(std::string_view path) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
         std::string(path);
}

void ScriptableDestination::script(ScriptedResponse response) {
  MutexLock lock(mutex_);
  script_.push_back(std::move(response));
}

void ScriptableDestination::set_default(ScriptedResponse response) {
  MutexLock lock(mutex_);
  default_ = std::move(response);
}

std::vector<RecordedRequest> ScriptableDestination::requests() const {
  MutexLock lock(mutex_);
  return requests_;
}

size_t ScriptableDestination::request_count() const {
  MutexLock lock(mutex_);
  return requests_.size();
}

int ScriptableDestination::connections_accepted() const {
  MutexLock lock(mutex_);
  return accepted_;
}

int ScriptableDestination::open_connections() const {
  MutexLock lock(mutex_);
  return static_cast<int>(open_fds_.size());
}

bool ScriptableDestination::wait_for_requests(size_t count,
                                              std::chrono::milliseconds timeout) const {
  MutexLock lock(mutex_);
  return changed_.wait_for(lock, timeout,
                           [&]() HK_REQUIRES(mutex_) { return requests_.size() >= count; });
}

bool ScriptableDestination::wait_for_connections(int count,
                                                 std::chrono::milliseconds timeout) const {
  MutexLock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&]() HK_REQUIRES(mutex_) { return accepted_ >= count; });
}

void ScriptableDestination::accept_loop() {
  for (;;) {
    // Threads of connections that ended are joined as we go, so a long test does not pile
    // them up.
    for (auto worker = workers_.begin(); worker != workers_.end();) {
      if (worker->done) {
        worker->thread.join();
        worker = workers_.erase(worker);
      } else {
        ++worker;
      }
    }
    pollfd ready[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    if (poll(ready, 2, -1) < 0 || ready[1].revents != 0) {
      return;
    }
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int connection = 0;
    {
      MutexLock lock(mutex_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      open_fds_.insert(fd);
      connection = ++accepted_;
    }
    changed_.notify_all();
    Worker& worker = workers_.emplace_back();
    worker.thread = std::thread([this, fd, connection, &worker] {
      serve(fd, connection);
      worker.done = true;
    });
  }
}

void ScriptableDestination::serve(int fd, int connection) {
  SSL* ssl = nullptr;
  if (tls_) {
    ssl = SSL_new(tls_context_);
    SSL_set_fd(ssl, fd);
  }
  WireStream stream(fd, ssl);
  const Ending ending = converse(stream, connection);
  {
    // Unregistered before the fd is closed, so the destructor never shuts down a reused number.
    MutexLock lock(mutex_);
    open_fds_.erase(fd);
  }
  changed_.notify_all();
  if (ending == Ending::kReset) {
    stream.reset();
  }
}  // an orderly close (after a TLS close_notify) unless reset

ScriptableDestination::Ending ScriptableDestination::converse(WireStream& stream, int connection) {
  if (tls_ && !stream.accept_tls()) {
    return Ending::kClose;
  }
  std::string buffer;
  for (;;) {
    WireMessage message;
    std::string error;
    const MessageResult result = internal::read_message(
        stream, buffer, MessageKind::kRequest, "", message, error, [&](const WireMessage& head) {
          if (CaseInsensitiveLess::equal(header_value(head.headers, "expect"), "100-continue")) {
            (void)stream.write_all("HTTP/1.1 100 Continue\r\n\r\n");
          }
        });
    if (result != MessageResult::kMessage) {
      return Ending::kClose;
    }
    RecordedRequest request = record(message, clock_.steady_now(), connection);
    {
      MutexLock lock(mutex_);
      requests_.push_back(request);
    }
    changed_.notify_all();

    const ScriptedResponse scripted = next_response(request);
    if (scripted.delay.count() > 0 && !pause(scripted.delay)) {
      return Ending::kClose;
    }
    const bool close = scripted.close || !message.keep_alive;
    const std::string response = build_response(scripted, message, close);
    switch (scripted.fault) {
      case Fault::kNone:
        break;
      case Fault::kCloseBeforeAnswer:
        return Ending::kClose;
      case Fault::kResetBeforeAnswer:
        return Ending::kReset;
      case Fault::kResetMidResponse: {
        const size_t head_size = response.find("\r\n\r\n") + 4;
        const size_t body_size = response.size() - head_size;
        (void)stream.write_all(std::string_view(response).substr(
            0, body_size > 0 ? head_size + body_size / 2 : head_size / 2));
        return Ending::kReset;
      }
      case Fault::kHang:
        (void)pause(std::nullopt);
        return Ending::kClose;
    }
    if (!stream.write_all(response) || close) {
      return Ending::kClose;
    }
  }
}

ScriptedResponse ScriptableDestination::next_response(const RecordedRequest& request) {
  {
    MutexLock lock(mutex_);
    if (!script_.empty()) {
      ScriptedResponse next = std::move(script_.front());
      script_.pop_front();
      return next;
    }
    if (!responder_) {
      return default_;
    }
  }
  return responder_(request);  // unlocked: a responder may be slow, and calls back into no one
}

bool ScriptableDestination::pause(std::optional<std::chrono::milliseconds> duration) {
  MutexLock lock(mutex_);
  if (!duration) {
    changed_.wait(lock, [&]() HK_REQUIRES(mutex_) { return stopping_; });
    return false;
  }
  return !changed_.wait_for(lock, *duration, [&]() HK_REQUIRES(mutex_) { return stopping_; });
}

}  // namespace hikyaku::testing
