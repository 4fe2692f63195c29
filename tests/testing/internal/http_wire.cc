#include "testing/internal/http_wire.h"

#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

namespace hikyaku::testing::internal {
namespace {

constexpr size_t kMaxHeadBytes = 1 << 20;

std::string ssl_error_text(std::string_view what) {
  std::string text(what);
  char detail[256];
  while (const unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, detail, sizeof detail);
    text += ": ";
    text += detail;
  }
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
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

bool has_token(std::string_view list, std::string_view token) {
  return lower(list).find(token) != std::string::npos;
}

// Reads until `buffer` holds `needed` bytes.
bool fill(WireStream& stream, std::string& buffer, size_t needed, std::string& error) {
  while (buffer.size() < needed) {
    const ReadResult result = stream.read_more(buffer);
    if (result == ReadResult::kEnd) {
      error = "the connection closed in the middle of a message";
      return false;
    }
    if (result != ReadResult::kData) {
      error = stream.error();
      return false;
    }
  }
  return true;
}

// Reads until `buffer` holds `delimiter` at or after `from`; returns its offset or npos.
size_t find_or_read(WireStream& stream, std::string& buffer, std::string_view delimiter,
                    size_t from, std::string& error) {
  for (;;) {
    const size_t at = buffer.find(delimiter, from);
    if (at != std::string::npos) {
      return at;
    }
    if (buffer.size() > kMaxHeadBytes + from) {
      error = "a header or chunk line longer than 1 MiB";
      return std::string::npos;
    }
    if (!fill(stream, buffer, buffer.size() + 1, error)) {
      return std::string::npos;
    }
  }
}

bool parse_head(std::string_view head, MessageKind kind, WireMessage& message, std::string& error) {
  message.head = std::string(head);
  const size_t line_end = std::min(head.find("\r\n"), head.size());
  const std::string_view start = head.substr(0, line_end);
  const size_t space1 = start.find(' ');
  const size_t space2 = space1 == std::string_view::npos ? space1 : start.find(' ', space1 + 1);
  if (space1 == std::string_view::npos) {
    error = "malformed start line: " + std::string(start);
    return false;
  }
  if (kind == MessageKind::kRequest) {
    message.method = std::string(start.substr(0, space1));
    message.target = std::string(start.substr(space1 + 1, space2 - space1 - 1));
    message.version = space2 == std::string_view::npos ? "" : std::string(start.substr(space2 + 1));
  } else {
    message.version = std::string(start.substr(0, space1));
    const std::string_view code = start.substr(space1 + 1, space2 - space1 - 1);
    message.status = 0;
    for (const char c : code) {
      if (c < '0' || c > '9') {
        error = "malformed status line: " + std::string(start);
        return false;
      }
      message.status = message.status * 10 + (c - '0');
    }
    message.reason = space2 == std::string_view::npos ? "" : std::string(start.substr(space2 + 1));
  }
  message.headers.clear();
  size_t position = line_end + 2;
  while (position < head.size()) {
    const size_t end = std::min(head.find("\r\n", position), head.size());
    const std::string_view line = head.substr(position, end - position);
    position = end + 2;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      error = "malformed header line: " + std::string(line);
      return false;
    }
    const std::string name = lower(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    auto [it, inserted] = message.headers.try_emplace(name, value);
    if (!inserted) {
      it->second += ", ";
      it->second += value;
    }
  }
  const std::string connection = header_value(message.headers, "connection");
  message.keep_alive = message.version == "HTTP/1.1" ? !has_token(connection, "close")
                                                     : has_token(connection, "keep-alive");
  return true;
}

bool read_chunked(WireStream& stream, std::string& buffer, std::string& body, std::string& error) {
  for (;;) {
    const size_t line_end = find_or_read(stream, buffer, "\r\n", 0, error);
    if (line_end == std::string::npos) {
      return false;
    }
    size_t size = 0;
    size_t digits = 0;
    for (; digits < line_end && std::isxdigit(static_cast<unsigned char>(buffer[digits])) != 0;
         ++digits) {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(buffer[digits])));
      size = size * 16 + static_cast<size_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (digits == 0 || size > (size_t{1} << 32)) {
      error = "malformed chunk size line: " + buffer.substr(0, line_end);
      return false;
    }
    buffer.erase(0, line_end + 2);
    if (size == 0) {
      // Trailer fields, then the blank line that ends the message.
      for (;;) {
        const size_t end = find_or_read(stream, buffer, "\r\n", 0, error);
        if (end == std::string::npos) {
          return false;
        }
        buffer.erase(0, end + 2);
        if (end == 0) {
          return true;
        }
      }
    }
    if (!fill(stream, buffer, size + 2, error)) {
      return false;
    }
    if (buffer.compare(size, 2, "\r\n") != 0) {
      error = "a chunk is not followed by CRLF";
      return false;
    }
    body.append(buffer, 0, size);
    buffer.erase(0, size + 2);
  }
}

bool parse_length(std::string_view text, size_t& length) {
  length = 0;
  if (text.empty() || text.size() > 15) {
    return false;
  }
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    length = length * 10 + static_cast<size_t>(c - '0');
  }
  return true;
}

bool read_body(WireStream& stream, std::string& buffer, MessageKind kind,
               std::string_view request_method, WireMessage& message, std::string& error) {
  message.body.clear();
  if (kind == MessageKind::kResponse &&
      (request_method == "HEAD" || message.status == 204 || message.status == 304)) {
    return true;
  }
  if (has_token(header_value(message.headers, "transfer-encoding"), "chunked")) {
    return read_chunked(stream, buffer, message.body, error);
  }
  const auto length_field = message.headers.find("content-length");
  if (length_field != message.headers.end()) {
    size_t length = 0;
    if (!parse_length(length_field->second, length)) {
      error = "malformed Content-Length: " + length_field->second;
      return false;
    }
    if (!fill(stream, buffer, length, error)) {
      return false;
    }
    message.body = buffer.substr(0, length);
    buffer.erase(0, length);
    return true;
  }
  if (kind == MessageKind::kRequest) {
    return true;  // a request without framing has no body
  }
  // A response without framing runs until the server closes the connection.
  message.keep_alive = false;
  for (;;) {
    const ReadResult result = stream.read_more(buffer);
    if (result == ReadResult::kEnd) {
      message.body = std::move(buffer);
      buffer.clear();
      return true;
    }
    if (result != ReadResult::kData) {
      error = stream.error();
      return false;
    }
  }
}

}  // namespace

void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

WireStream::WireStream(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}

WireStream::~WireStream() { close_quietly(); }

void WireStream::close_quietly() {
  if (ssl_ != nullptr) {
    if (fd_ >= 0 && SSL_is_init_finished(ssl_) == 1) {
      (void)SSL_shutdown(ssl_);  // sends close_notify; the peer's is not waited for
    }
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  ERR_clear_error();
}

bool WireStream::accept_tls() {
  ERR_clear_error();
  if (SSL_accept(ssl_) != 1) {
    error_ = ssl_error_text("TLS handshake failed");
    return false;
  }
  return true;
}

bool WireStream::connect_tls() {
  ERR_clear_error();
  if (SSL_connect(ssl_) != 1) {
    error_ = ssl_error_text("TLS handshake failed");
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      error_ += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) + ")";
    }
    return false;
  }
  return true;
}

void WireStream::set_timeout(std::chrono::milliseconds timeout) {
  timeval value{};
  value.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  value.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &value, sizeof value);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &value, sizeof value);
}

bool WireStream::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = 0;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      n = SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 30)));
      if (n <= 0) {
        error_ = ssl_error_text("TLS write failed");
        return false;
      }
    } else {
      n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        error_ = errno == EAGAIN ? "write timed out" : std::string("write: ") + strerror(errno);
        return false;
      }
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

ReadResult WireStream::read_more(std::string& buffer) {
  char chunk[16384];
  for (;;) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      errno = 0;
      const int n = SSL_read(ssl_, chunk, sizeof chunk);
      if (n > 0) {
        buffer.append(chunk, static_cast<size_t>(n));
        return ReadResult::kData;
      }
      const int code = SSL_get_error(ssl_, n);
      if (code == SSL_ERROR_ZERO_RETURN || (code == SSL_ERROR_SYSCALL && errno == 0)) {
        return ReadResult::kEnd;  // close_notify, or a bare FIN as many servers send
      }
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
        error_ = "read timed out";
        return ReadResult::kTimeout;
      }
      error_ = code == SSL_ERROR_SYSCALL ? std::string("TLS read: ") + strerror(errno)
                                         : ssl_error_text("TLS read failed");
      return ReadResult::kError;
    }
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
      return ReadResult::kData;
    }
    if (n == 0) {
      return ReadResult::kEnd;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      error_ = "read timed out";
      return ReadResult::kTimeout;
    }
    error_ = std::string("read: ") + strerror(errno);
    return ReadResult::kError;
  }
}

bool WireStream::closed_by_peer() const {
  if (ssl_ != nullptr && SSL_pending(ssl_) > 0) {
    return true;
  }
  pollfd idle{fd_, POLLIN, 0};
  // Readable while idle: a FIN, an RST, a TLS close_notify, or bytes nobody asked for. None of
  // them leaves the connection fit for a new request.
  return ::poll(&idle, 1, 0) != 0;
}

void WireStream::reset() {
  if (fd_ >= 0) {
    const linger abort_on_close{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    ::close(fd_);
    fd_ = -1;
  }
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  ERR_clear_error();
}

MessageResult read_message(WireStream& stream, std::string& buffer, MessageKind kind,
                           std::string_view request_method, WireMessage& message,
                           std::string& error,
                           const std::function<void(const WireMessage&)>& after_head) {
  for (;;) {
    if (buffer.empty()) {
      const ReadResult first = stream.read_more(buffer);
      if (first == ReadResult::kEnd) {
        return MessageResult::kEnd;
      }
      if (first != ReadResult::kData) {
        error = stream.error();
        return MessageResult::kError;
      }
    }
    if (kind == MessageKind::kRequest && buffer.starts_with("\r\n")) {
      buffer.erase(0, 2);  // RFC 9112 §2.2: blank lines before a request line are ignored
      continue;
    }
    const size_t head_end = find_or_read(stream, buffer, "\r\n\r\n", 0, error);
    if (head_end == std::string::npos) {
      return MessageResult::kError;
    }
    message = WireMessage();
    const bool parsed =
        parse_head(std::string_view(buffer).substr(0, head_end), kind, message, error);
    buffer.erase(0, head_end + 4);
    if (!parsed) {
      return MessageResult::kError;
    }
    if (kind == MessageKind::kResponse && message.status >= 100 && message.status < 200 &&
        message.status != 101) {
      continue;  // 100 Continue and friends: the real answer follows
    }
    if (after_head) {
      after_head(message);
    }
    return read_body(stream, buffer, kind, request_method, message, error) ? MessageResult::kMessage
                                                                           : MessageResult::kError;
  }
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

}  // namespace hikyaku::testing::internal
