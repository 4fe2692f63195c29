#include "testing/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "testing/internal/http_wire.h"

namespace hikyaku::testing {

using internal::MessageKind;
using internal::MessageResult;
using internal::ReadResult;
using internal::WireMessage;
using internal::WireStream;

namespace {

bool is_ip_literal(const std::string& host) {
  in6_addr scratch{};
  return inet_pton(AF_INET, host.c_str(), &scratch) == 1 ||
         inet_pton(AF_INET6, host.c_str(), &scratch) == 1;
}

// Connects within `timeout`; returns the connected, blocking fd or -1 with `error` set.
int connect_tcp(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
                std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int lookup = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (lookup != 0) {
    error = "cannot resolve " + host + ": " + gai_strerror(lookup);
    return -1;
  }
  int fd = -1;
  for (addrinfo* address = found; address != nullptr && fd < 0; address = address->ai_next) {
    fd = socket(address->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      continue;
    }
    int result = connect(fd, address->ai_addr, address->ai_addrlen);
    if (result != 0 && errno == EINPROGRESS) {
      pollfd writable{fd, POLLOUT, 0};
      int socket_error = ETIMEDOUT;
      if (poll(&writable, 1, static_cast<int>(timeout.count())) == 1) {
        socklen_t length = sizeof socket_error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &socket_error, &length);
      }
      errno = socket_error;
      result = socket_error == 0 ? 0 : -1;
    }
    if (result != 0) {
      error = "cannot connect to " + host + ":" + std::to_string(port) + ": " + strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd >= 0) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

bool body_expected(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

}  // namespace

struct HttpClient::Impl {
  std::string host;
  uint16_t port = 0;
  HttpClientOptions options;
  SSL_CTX* tls_context = nullptr;
  std::string setup_error;  // the TLS context could not be made: every request reports it
  std::unique_ptr<WireStream> stream;
  std::string buffer;  // bytes read past the last response
  int connections_opened = 0;

  ~Impl() {
    stream.reset();
    if (tls_context != nullptr) {
      SSL_CTX_free(tls_context);
    }
  }

  void drop() {
    stream.reset();
    buffer.clear();
  }

  Status ensure_connected() {
    if (!setup_error.empty()) {
      return Status(StatusCode::kFailedPrecondition, setup_error);
    }
    if (stream && stream->closed_by_peer()) {
      drop();  // the server closed the idle connection: open a new one as any client would
    }
    if (stream) {
      return Status();
    }
    std::string error;
    const int fd = connect_tcp(host, port, options.timeout, error);
    if (fd < 0) {
      return Status(StatusCode::kUnavailable, error);
    }
    SSL* ssl = nullptr;
    if (tls_context != nullptr) {
      ssl = SSL_new(tls_context);
      SSL_set_fd(ssl, fd);
      const std::string& name = options.server_name.empty() ? host : options.server_name;
      if (is_ip_literal(name)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
      } else {
        // SSL_set_tlsext_host_name() without its macro's C cast.
        SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(name.c_str()));
        SSL_set1_host(ssl, name.c_str());
      }
    }
    auto opened = std::make_unique<WireStream>(fd, ssl);
    opened->set_timeout(options.timeout);
    if (ssl != nullptr && !opened->connect_tls()) {
      return Status(StatusCode::kUnavailable, opened->error());
    }
    stream = std::move(opened);
    buffer.clear();
    ++connections_opened;
    return Status();
  }
};

HttpClient::HttpClient(std::string host, uint16_t port, HttpClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  internal::ignore_sigpipe();
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->options = std::move(options);
  if (!impl_->options.tls) {
    return;
  }
  impl_->tls_context = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(impl_->tls_context, SSL_VERIFY_PEER, nullptr);
  const bool loaded = impl_->options.ca_file.empty()
                          ? SSL_CTX_set_default_verify_paths(impl_->tls_context) == 1
                          : SSL_CTX_load_verify_locations(
                                impl_->tls_context, impl_->options.ca_file.c_str(), nullptr) == 1;
  if (!loaded) {
    impl_->setup_error = "cannot load the CA file " + impl_->options.ca_file;
    ERR_clear_error();
  }
}

HttpClient HttpClient::from_url(std::string_view url, HttpClientOptions options) {
  uint16_t port = 80;
  if (url.starts_with("https://")) {
    options.tls = true;
    port = 443;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    std::fprintf(stderr, "HttpClient::from_url: not an http(s) URL: %.*s\n",
                 static_cast<int>(url.size()), url.data());
    std::abort();
  }
  url = url.substr(0, url.find('/'));
  std::string_view host = url;
  const size_t colon = url.rfind(':');
  if (colon != std::string_view::npos && url.find(']', colon) == std::string_view::npos) {
    host = url.substr(0, colon);
    port = static_cast<uint16_t>(
        std::strtoul(std::string(url.substr(colon + 1)).c_str(), nullptr, 10));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return HttpClient(std::string(host), port, std::move(options));
}

HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Response HttpClient::request(std::string_view method, std::string_view target,
                             const Headers& headers, std::string_view body) {
  std::string text;
  text.reserve(256 + body.size());
  text.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  if (!headers.contains("host")) {
    text.append("Host: ").append(impl_->host).append(":").append(std::to_string(impl_->port));
    text.append("\r\n");
  }
  for (const auto& [name, value] : headers) {
    text.append(name).append(": ").append(value).append("\r\n");
  }
  if (!headers.contains("content-length") && !headers.contains("transfer-encoding") &&
      (!body.empty() || body_expected(method))) {
    text.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  text.append("\r\n").append(body);
  if (Status sent = send_raw(text); !sent.ok()) {
    Response failed;
    failed.error = sent.message();
    return failed;
  }
  Response response = read_response(method);
  if (CaseInsensitiveLess::equal(header_value(headers, "connection"), "close")) {
    close();
  }
  return response;
}

Status HttpClient::send_raw(std::string_view bytes) {
  if (Status connected = impl_->ensure_connected(); !connected.ok()) {
    return connected;
  }
  if (!impl_->stream->write_all(bytes)) {
    Status failed(StatusCode::kUnavailable, impl_->stream->error());
    impl_->drop();
    return failed;
  }
  return Status();
}

Response HttpClient::read_response(std::string_view request_method) {
  Response response;
  if (!impl_->stream) {
    response.error = "not connected";
    return response;
  }
  WireMessage message;
  const MessageResult result =
      internal::read_message(*impl_->stream, impl_->buffer, MessageKind::kResponse, request_method,
                             message, response.error);
  if (result != MessageResult::kMessage) {
    if (result == MessageResult::kEnd) {
      response.error = "the server closed the connection without answering";
    }
    impl_->drop();
    return response;
  }
  response.status = message.status;
  response.reason = std::move(message.reason);
  response.headers = std::move(message.headers);
  response.body = std::move(message.body);
  if (!message.keep_alive) {
    impl_->drop();
  }
  return response;
}

std::string HttpClient::read_raw(std::chrono::milliseconds timeout) {
  std::string out = std::move(impl_->buffer);
  impl_->buffer.clear();
  if (!impl_->stream) {
    return out;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (remaining.count() <= 0) {
      break;
    }
    impl_->stream->set_timeout(remaining);
    const ReadResult result = impl_->stream->read_more(out);
    if (result == ReadResult::kData) {
      continue;
    }
    if (result != ReadResult::kTimeout) {
      impl_->drop();  // closed or broken: nothing more will come on it
      return out;
    }
    break;
  }
  impl_->stream->set_timeout(impl_->options.timeout);
  return out;
}

void HttpClient::close() { impl_->drop(); }

bool HttpClient::connected() const { return impl_->stream != nullptr; }

int HttpClient::connections_opened() const { return impl_->connections_opened; }

}  // namespace hikyaku::testing
