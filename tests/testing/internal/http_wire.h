#pragma once
// HTTP/1.1 on a socket, shared by the test client and the scriptable destination: a blocking
// stream over plain TCP or TLS (OpenSSL), and one reader of message framing (RFC 9112 §6:
// Content-Length, chunked, or until the connection closes) so both sides parse alike.
//
// Thread safety: a WireStream is used by one thread at a time, except that another thread may
// call ::shutdown() on its fd() to wake a blocked read or write.

#include <openssl/ssl.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "testing/http_headers.h"

namespace hikyaku::testing::internal {

// A write to a connection the peer has closed must fail with EPIPE, not kill the test binary.
void ignore_sigpipe();

enum class ReadResult { kData, kEnd, kTimeout, kError };

class WireStream {
 public:
  // Owns `fd`, and `ssl` when not null (already bound to `fd`, handshake still to do).
  WireStream(int fd, SSL* ssl);
  ~WireStream();
  WireStream(const WireStream&) = delete;
  WireStream& operator=(const WireStream&) = delete;

  int fd() const { return fd_; }
  bool tls() const { return ssl_ != nullptr; }
  const std::string& error() const { return error_; }

  // TLS handshakes; false with error() set.
  bool accept_tls();
  bool connect_tls();

  // Bounds every later read and write; zero waits forever.
  void set_timeout(std::chrono::milliseconds timeout);
  bool write_all(std::string_view bytes);
  // Appends what arrives (at least one byte) to `buffer`.
  ReadResult read_more(std::string& buffer);
  // True when the peer closed the connection (or sent something unasked) while it sat idle:
  // a kept-alive connection in that state must not carry another request.
  bool closed_by_peer() const;
  // Closes at once with a TCP RST (SO_LINGER 0) instead of an orderly close.
  void reset();

 private:
  void close_quietly();

  int fd_;
  SSL* ssl_;
  std::string error_;
};

enum class MessageKind { kRequest, kResponse };

struct WireMessage {
  std::string head;  // start line and header lines, without the blank line after them
  // Request line or status line, split.
  std::string method;
  std::string target;
  int status = 0;
  std::string reason;
  std::string version;  // "HTTP/1.1"
  Headers headers;
  std::string body;        // de-chunked
  bool keep_alive = true;  // the connection may carry another message after this one
};

enum class MessageResult { kMessage, kEnd, kError };

// Reads one message from `stream`. `buffer` holds bytes already read and keeps those that
// follow the message. For a response, `request_method` says whether a body can follow (not
// after HEAD), and interim 1xx responses are skipped. `after_head` runs once the head is read
// (a server answers "Expect: 100-continue" there). kEnd: the stream ended before a first byte.
MessageResult read_message(WireStream& stream, std::string& buffer, MessageKind kind,
                           std::string_view request_method, WireMessage& message,
                           std::string& error,
                           const std::function<void(const WireMessage&)>& after_head = {});

// "OK", "Too Many Requests", ... ("Status" for codes without a usual phrase).
std::string_view reason_phrase(int status);

}  // namespace hikyaku::testing::internal
