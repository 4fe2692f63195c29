#include "server/server.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "core/check.h"
#include "core/mutex.h"
#include "core/thread.h"
#include "core/thread_annotations.h"
#include "server/internal/api.h"
#include "server/internal/wire.h"

namespace hikyaku::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using boost::asio::ip::tcp;
using boost::beast::error_code;

// Per-connection read buffer: reserved for headers up front, grown for a body up to the cap.
constexpr std::size_t kHeaderReadBuffer = 4096;
constexpr std::size_t kMaxReadBuffer = std::size_t{64} * 1024;

// The body of a request refused for MaxConcurrentRequests is read through this much at a time.
constexpr std::size_t kDiscardChunk = 8192;

constexpr std::size_t kUnlimitedBuffer = std::numeric_limits<std::size_t>::max();

// A flat_buffer by reference: Asio's read_until keeps the (v1) dynamic buffer it is given by
// value, so passing the buffer itself would read into a copy.
class BufferRef {
 public:
  // NOLINTNEXTLINE(readability-identifier-naming): the names Asio's DynamicBuffer requires
  using const_buffers_type = beast::flat_buffer::const_buffers_type;
  // NOLINTNEXTLINE(readability-identifier-naming): the names Asio's DynamicBuffer requires
  using mutable_buffers_type = beast::flat_buffer::mutable_buffers_type;
  explicit BufferRef(beast::flat_buffer& buffer) : buffer_(&buffer) {}
  std::size_t size() const { return buffer_->size(); }
  std::size_t max_size() const { return buffer_->max_size(); }
  std::size_t capacity() const { return buffer_->capacity(); }
  const_buffers_type data() const { return buffer_->data(); }
  mutable_buffers_type prepare(std::size_t n) { return buffer_->prepare(n); }
  void commit(std::size_t n) { buffer_->commit(n); }
  void consume(std::size_t n) { buffer_->consume(n); }

 private:
  beast::flat_buffer* buffer_;
};

// A request refused for its framing (RFC 9112 §6): its body length cannot be read the way every
// other HTTP implementation on the path would read it, so the connection is closed after the
// answer and nothing after it is read as a request.
struct FramingError {
  unsigned status;  // 400, or 501 for a transfer coding hikyaku does not implement
  std::string message;
};

std::string_view std_view(beast::string_view view) { return {view.data(), view.size()}; }

FramingError bad_framing(std::string message) { return {400, std::move(message)}; }

// The raw header block (request line to the empty line): Beast joins obs-fold continuation lines
// into the value, which another reader may not; RFC 9112 §5.2 lets a server refuse them instead.
std::optional<FramingError> check_header_bytes(std::string_view block) {
  for (std::size_t at = block.find("\r\n"); at != std::string_view::npos && at + 2 < block.size();
       at = block.find("\r\n", at + 2)) {
    const char next = block[at + 2];
    if (next == ' ' || next == '\t') {
      return bad_framing(
          "A header line starts with whitespace (obsolete line folding, RFC 9112 §5.2): send "
          "each header field on one line.");
    }
  }
  return std::nullopt;
}

// OWS-trimmed elements of a comma-separated list, in order; empty elements skipped.
template <typename Visit>
void for_each_list_element(std::string_view list, Visit visit) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view element = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) {
      element.remove_prefix(1);
    }
    while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) {
      element.remove_suffix(1);
    }
    if (!element.empty()) {
      visit(element);
    }
  }
}

// What Beast's parser leaves to the server (RFC 9112 §3.2, §6.1, §6.3): Transfer-Encoding must be
// exactly "chunked", never with Content-Length nor in HTTP/1.0; one Content-Length of digits only;
// exactly one Host.
std::optional<FramingError> check_header_fields(const http::request_header<>& header) {
  std::size_t hosts = 0;
  std::size_t lengths = 0;
  bool bad_length = false;
  std::size_t coding_fields = 0;
  std::size_t codings = 0;
  bool empty_coding_field = false;
  std::string_view last_coding;
  for (const auto& field : header) {
    if (field.name() == http::field::host) {
      ++hosts;
    } else if (field.name() == http::field::content_length) {
      ++lengths;
      const std::string_view value = std_view(field.value());
      bad_length =
          bad_length || value.empty() ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
    } else if (field.name() == http::field::transfer_encoding) {
      ++coding_fields;
      const std::size_t before = codings;
      for_each_list_element(std_view(field.value()), [&](std::string_view coding) {
        ++codings;
        last_coding = coding;
      });
      empty_coding_field = empty_coding_field || codings == before;
    }
  }
  if (coding_fields > 0) {
    if (header.version() < 11) {
      return bad_framing("Transfer-Encoding is not allowed in an HTTP/1.0 request.");
    }
    if (lengths > 0) {
      return bad_framing("A request may not have both Transfer-Encoding and Content-Length.");
    }
    if (empty_coding_field ||
        !beast::iequals(beast::string_view(last_coding.data(), last_coding.size()), "chunked")) {
      return bad_framing(
          "Transfer-Encoding must end with chunked: the request's length cannot be read "
          "otherwise.");
    }
    if (codings != 1) {
      return FramingError{501, "Transfer-Encoding: only chunked is implemented."};
    }
  }
  if (lengths > 1 || bad_length) {
    return bad_framing("Content-Length must appear once, as decimal digits only.");
  }
  if (hosts > 1 || (hosts == 0 && header.version() >= 11)) {
    return bad_framing("An HTTP/1.1 request must have exactly one Host header.");
  }
  return std::nullopt;
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it is waiting for (or reading) a request; a request being handled
  // finishes and answers first. Thread-safe (posts to the session's strand).
  virtual void close_if_idle() = 0;
};

// What every session shares with the server; outlives the Server object if a bus callback is late.
struct State {
  config::ServerLimits limits;
  std::shared_ptr<Api> api;
  std::shared_ptr<ServerMetrics> metrics;
  std::atomic<bool> stopping{false};
  // Requests between their head and their answer, bounded by limits.max_concurrent_requests.
  std::atomic<int> requests_in_flight{0};

  bool try_take_request_slot() {
    int in_flight = requests_in_flight.load(std::memory_order_relaxed);
    while (in_flight < limits.max_concurrent_requests) {
      if (requests_in_flight.compare_exchange_weak(in_flight, in_flight + 1,
                                                   std::memory_order_relaxed)) {
        metrics->requests_in_flight.add(1);
        return true;
      }
    }
    return false;
  }
  void release_request_slot() {
    requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
    metrics->requests_in_flight.add(-1);
  }

  Mutex mu;
  CondVar sessions_changed;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions HK_GUARDED_BY(mu);

  void add(SessionBase* key, std::weak_ptr<SessionBase> session) HK_EXCLUDES(mu) {
    MutexLock lock(mu);
    sessions.emplace(key, std::move(session));
  }
  void remove(SessionBase* key) HK_EXCLUDES(mu) {
    {
      MutexLock lock(mu);
      sessions.erase(key);
    }
    sessions_changed.notify_all();
  }
  std::vector<std::shared_ptr<SessionBase>> live_sessions() HK_EXCLUDES(mu) {
    std::vector<std::shared_ptr<SessionBase>> live;
    MutexLock lock(mu);
    for (auto& [key, weak] : sessions) {
      if (auto session = weak.lock()) {
        live.push_back(std::move(session));
      }
    }
    return live;
  }
  // Waits until every session is gone or `clock` reaches `deadline`. Each wait is bounded in real
  // time so that a test clock's advance() is noticed.
  void wait_for_no_sessions(const Clock& clock, std::chrono::steady_clock::time_point deadline)
      HK_EXCLUDES(mu) {
    constexpr std::chrono::milliseconds kPoll{100};
    MutexLock lock(mu);
    while (!sessions.empty()) {
      const auto now = clock.steady_now();
      if (now >= deadline) {
        return;
      }
      const auto wait = std::min<std::chrono::steady_clock::duration>(deadline - now, kPoll);
      sessions_changed.wait_for(lock, wait, [&]() HK_REQUIRES(mu) { return sessions.empty(); });
    }
  }
};

template <typename Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <typename... Args>
  Session(std::shared_ptr<State> state, std::weak_ptr<asio::io_context> ioc, Args&&... args)
      : state_(std::move(state)), ioc_(std::move(ioc)), stream_(std::forward<Args>(args)...) {
    state_->metrics->connections_active.add(1);
  }

  ~Session() override {
    release_request_slot();
    state_->metrics->connections_active.add(-1);
    state_->remove(this);
  }

  void run() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->start(); });
  }

  void close_if_idle() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->reading_) {
        self->lowest().close();
      }
    });
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  std::chrono::seconds timeout() const {
    return std::chrono::seconds(std::max(1, state_->limits.request_timeout_seconds));
  }

  void start() {
    if constexpr (kTls) {
      reading_ = true;
      lowest().expires_after(timeout());
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                self->reading_ = false;
                                if (ec) {
                                  self->state_->metrics->malformed_requests.add();
                                  self->lowest().close();
                                  return;
                                }
                                self->read_request();
                              });
    } else {
      read_request();
    }
  }

  void read_request() {
    if (state_->stopping.load()) {
      close();
      return;
    }
    if (buffer_.capacity() < kHeaderReadBuffer) {
      buffer_.reserve(kHeaderReadBuffer);  // headers in one read, not 512-byte ones
    }
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::clamp<int64_t>(state_->limits.max_header_bytes, 256, UINT32_MAX)));
    parser_->body_limit(
        static_cast<std::uint64_t>(std::max<int64_t>(0, state_->limits.max_body_bytes)));
    reading_ = true;
    // One deadline for the whole request (headers and body): a slow client cannot stretch it.
    lowest().expires_after(timeout());
    // The header block is read whole first so that its raw bytes can be checked for what Beast's
    // parser accepts silently (obs-fold); the parser then reads it from the buffer.
    buffer_.max_size(static_cast<std::size_t>(
        std::clamp<int64_t>(state_->limits.max_header_bytes, 256, UINT32_MAX)));
    asio::async_read_until(stream_, BufferRef(buffer_), "\r\n\r\n",
                           [self = this->shared_from_this()](error_code ec, std::size_t end) {
                             self->on_header_block(ec, end);
                           });
  }

  void on_header_block(error_code ec, std::size_t end) {
    buffer_.max_size(kUnlimitedBuffer);
    if (ec == asio::error::not_found) {
      ec = http::error::header_limit;  // the buffer filled up before the header block ended
    }
    if (ec) {
      on_read_error(ec);
      return;
    }
    const std::string_view block(static_cast<const char*>(buffer_.data().data()), end);
    if (std::optional<FramingError> error = check_header_bytes(block)) {
      refuse_framing(*error);
      return;
    }
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](error_code read_ec, std::size_t) {
                              self->on_header(read_ec);
                            });
  }

  // Answers a request whose length cannot be read unambiguously, and closes the connection.
  void refuse_framing(const FramingError& error) {
    reading_ = false;
    state_->metrics->malformed_requests.add();
    write_error(error.status, error.status == 501 ? "NotImplemented" : "SerializationException",
                error.message);
  }

  void on_header(error_code ec) {
    if (ec) {
      on_read_error(ec);
      return;
    }
    auto& header = parser_->get();
    if (std::optional<FramingError> error = check_header_fields(header)) {
      refuse_framing(*error);
      return;
    }
    auto expect = header[http::field::expect];
    if (needs_request_slot()) {
      if (!state_->try_take_request_slot()) {
        refuse_too_busy(beast::iequals(expect, "100-continue"));
        return;
      }
      holds_slot_ = true;
    }
    if (beast::iequals(expect, "100-continue")) {
      auto continue_response = std::make_shared<http::response<http::empty_body>>(
          http::status::continue_, header.version());
      http::async_write(
          stream_, *continue_response,
          [self = this->shared_from_this(), continue_response](error_code write_ec, std::size_t) {
            if (write_ec) {
              self->close();
              return;
            }
            self->read_body();
          });
      return;
    }
    read_body();
  }

  // Every request that may carry a body or change something holds a slot: what bounds the memory
  // of bodies being read and requests waiting for the bus is the number of slots, not of
  // connections. A body-less GET or HEAD (health, metrics, console) costs only its head.
  bool needs_request_slot() const {
    const auto method = parser_->get().method();
    return (method != http::verb::get && method != http::verb::head) || parser_->chunked() ||
           parser_->content_length().value_or(0) > 0;
  }

  void release_request_slot() {
    if (holds_slot_) {
      holds_slot_ = false;
      state_->release_request_slot();
    }
  }

  // Answers a request over Server.Limits.MaxConcurrentRequests from its head. Its body is read
  // through a small scratch buffer and dropped, so the connection stays usable and the answer is
  // not lost to a reset (closing a socket with unread data sends RST); a client that waits for
  // 100-continue has sent no body and is answered at once, its connection then closed.
  void refuse_too_busy(bool expects_continue) {
    keep_alive_ = parser_->get().keep_alive() && !expects_continue;
    version_ = parser_->get().version();
    too_busy_answer_ = state_->api->too_busy(std_view(parser_->get().target()));
    if (expects_continue || parser_->is_done()) {
      send_too_busy_answer();
      return;
    }
    discarder_.emplace(std::move(*parser_));
    parser_.reset();
    scratch_ = std::make_unique<char[]>(kDiscardChunk);
    discard_body();
  }

  void discard_body() {
    auto& body = discarder_->get().body();
    body.data = scratch_.get();
    body.size = kDiscardChunk;
    http::async_read(
        stream_, buffer_, *discarder_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_discarded(ec); });
  }

  void on_discarded(error_code ec) {
    if (ec == http::error::need_buffer) {
      ec = {};  // the scratch buffer is full: read on
    }
    if (!ec && !discarder_->is_done()) {
      discard_body();
      return;
    }
    discarder_.reset();
    scratch_.reset();
    if (ec) {
      too_busy_answer_.reset();
      on_read_error(ec);
      return;
    }
    send_too_busy_answer();
  }

  void send_too_busy_answer() {
    reading_ = false;
    lowest().expires_never();
    HttpResponse answer = std::move(*too_busy_answer_);
    too_busy_answer_.reset();
    write(std::move(answer));
  }

  void read_body() {
    // Beast reads at most the buffer's free capacity (512 bytes when it has none), so without
    // this a 30 KB body took ~60 reads (recvmsg, strand completion, timer re-arm each). Sized from
    // Content-Length, capped so an idle connection keeps at most kMaxReadBuffer.
    if (const auto length = parser_->content_length()) {
      const auto wanted = static_cast<std::size_t>(std::min<std::uint64_t>(
          buffer_.size() + *length, static_cast<std::uint64_t>(kMaxReadBuffer)));
      if (wanted > buffer_.capacity()) {
        buffer_.reserve(wanted);
      }
    }
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read_error(error_code ec) {
    reading_ = false;
    release_request_slot();
    ServerMetrics& metrics = *state_->metrics;
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        ec == asio::ssl::error::stream_truncated) {
      lowest().close();
      return;
    }
    if (ec == beast::error::timeout) {
      // An idle keep-alive connection timing out is normal; a partial request is a slow client.
      if (parser_ && (parser_->got_some() || buffer_.size() > 0)) {
        metrics.request_timeouts.add();
      }
      lowest().close();
      return;
    }
    if (ec == http::error::body_limit) {
      metrics.count_request_error("RequestEntityTooLargeException");
      write_error(
          413, "RequestEntityTooLargeException",
          fmt::format("Request body is over the limit of {} bytes (Server.Limits.MaxBodyBytes).",
                      state_->limits.max_body_bytes));
      return;
    }
    if (ec == http::error::header_limit) {
      metrics.count_request_error("RequestHeaderFieldsTooLarge");
      write_error(431, "RequestHeaderFieldsTooLarge",
                  fmt::format("Request headers are over the limit of {} bytes "
                              "(Server.Limits.MaxHeaderBytes).",
                              state_->limits.max_header_bytes));
      return;
    }
    metrics.malformed_requests.add();
    if ((parser_ && parser_->got_some()) || buffer_.size() > 0) {
      write_error(400, "SerializationException",
                  fmt::format("Malformed HTTP request: {}.", ec.message()));
      return;
    }
    lowest().close();
  }

  // Answers a framing error and closes: the rest of the stream cannot be trusted.
  void write_error(unsigned status, std::string_view type, std::string_view message) {
    HttpResponse response;
    response.status = status;
    response.content_type = kAmzJson;
    response.body = json_error_body(type, message);
    keep_alive_ = false;
    version_ = 11;
    write(std::move(response));
  }

  void on_read(error_code ec) {
    if (ec) {
      on_read_error(ec);
      return;
    }
    reading_ = false;
    lowest().expires_never();
    auto message = parser_->release();
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.headers.reserve(8);
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    // The bus may answer on its own thread: hop back onto this connection's strand. The holder
    // keeps the io_context alive for as long as the session (destroyed first) needs it, even if
    // the Server is gone when the bus answers. (Sessions themselves hold only a weak_ptr: a
    // handler left queued in a stopped io_context must not keep that io_context alive.)
    struct Holder {
      std::shared_ptr<asio::io_context> ioc;
      std::shared_ptr<Session> session;
    };
    auto holder = std::make_shared<Holder>(Holder{ioc_.lock(), this->shared_from_this()});
    state_->api->handle(request, [holder](HttpResponse response) {
      auto session = holder->session;
      asio::post(session->stream_.get_executor(),
                 [session, response = std::move(response)]() mutable {
                   session->write(std::move(response));
                 });
    });
  }

  void write(HttpResponse response) {
    release_request_slot();
    auto message = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(response.status), version_);
    message->set(http::field::server, "hikyaku");
    if (!response.content_type.empty()) {
      message->set(http::field::content_type, response.content_type);
    }
    for (auto& [name, value] : response.headers) {
      message->set(name, value);
    }
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive_ && !state_->stopping.load());
    message->prepare_payload();
    // A stuck reader must not hold the connection forever either.
    lowest().expires_after(timeout());
    http::async_write(stream_, *message,
                      [self = this->shared_from_this(), message](error_code ec, std::size_t) {
                        if (ec) {
                          self->lowest().close();
                          return;
                        }
                        if (!message->keep_alive()) {
                          self->close();
                          return;
                        }
                        self->read_request();
                      });
  }

  void close() {
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown(
          [self = this->shared_from_this()](error_code) { self->lowest().close(); });
    } else {
      error_code ignored;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      lowest().close();
    }
  }

  std::shared_ptr<State> state_;
  std::weak_ptr<asio::io_context> ioc_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // A request refused for MaxConcurrentRequests: its body read into scratch_ and dropped, then
  // too_busy_answer_ sent.
  std::optional<http::request_parser<http::buffer_body>> discarder_;
  std::unique_ptr<char[]> scratch_;
  std::optional<HttpResponse> too_busy_answer_;
  bool holds_slot_ = false;
  bool reading_ = false;  // waiting for or reading a request (so close_if_idle may cut it)
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(std::shared_ptr<asio::io_context> ioc, std::shared_ptr<State> state,
           std::shared_ptr<ssl::context> tls)
      : ioc_(*ioc),
        ioc_owner_(ioc),
        state_(std::move(state)),
        tls_(std::move(tls)),
        acceptor_(asio::make_strand(ioc_)) {}

  Status open(const tcp::endpoint& endpoint) {
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor_.bind(endpoint, ec);
    }
    if (!ec) {
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return unavailable(fmt::format("cannot listen on {}:{}: {}", endpoint.address().to_string(),
                                     endpoint.port(), ec.message()));
    }
    return ok_status();
  }

  uint16_t port() const {
    error_code ec;
    return acceptor_.local_endpoint(ec).port();
  }

  void accept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           [self = shared_from_this()](error_code ec, tcp::socket socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

  void close() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->close_now(); });
  }

  // Only when no io thread runs (after they were joined).
  void close_now() {
    error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  void on_accept(error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open() || state_->stopping.load()) {
      return;
    }
    if (!ec) {
      ServerMetrics& metrics = *state_->metrics;
      if (metrics.connections_active.value() >= state_->limits.max_connections) {
        metrics.connections_refused.add();
        error_code ignored;
        socket.close(ignored);
      } else {
        metrics.connections_accepted.add();
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        if (tls_) {
          start(std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
              state_, ioc_owner_, std::move(socket), *tls_));
        } else {
          start(
              std::make_shared<Session<beast::tcp_stream>>(state_, ioc_owner_, std::move(socket)));
        }
      }
    }
    // Errors such as EMFILE affect one accept; keep serving the others.
    accept();
  }

  template <typename S>
  void start(std::shared_ptr<S> session) {
    state_->add(session.get(), session);
    session->run();
  }

  // Not owned: a pending accept handler (which holds this Listener) must not keep the io_context
  // alive, or a stopped server's io_context and its queued handlers would leak.
  asio::io_context& ioc_;
  std::weak_ptr<asio::io_context> ioc_owner_;
  std::shared_ptr<State> state_;
  std::shared_ptr<ssl::context> tls_;
  tcp::acceptor acceptor_;
};

}  // namespace

struct Server::Impl {
  Impl(config::ServerConfig config_in, const Clock& clock_in, ServerOptions options_in)
      : config(std::move(config_in)), clock(clock_in), options(std::move(options_in)) {}

  const config::ServerConfig config;
  const Clock& clock;
  const ServerOptions options;
  std::shared_ptr<State> state;
  std::shared_ptr<asio::io_context> ioc;
  // Keeps the io threads running while a request waits on the bus (no Asio operation pending).
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::shared_ptr<Listener> listener;
  std::vector<std::thread> threads;
  std::atomic<uint16_t> port{0};
  bool started = false;
  bool stopped = false;
};

Server::Server(config::ServerConfig config, bus::EventBus& bus, const Clock& clock,
               ServerOptions options)
    : impl_(std::make_unique<Impl>(config, clock, std::move(options))) {
  ApiOptions api_options;
  api_options.readiness = impl_->options.readiness;
  api_options.metrics_text = impl_->options.metrics_text;
  api_options.admin = impl_->options.admin;
  api_options.archives = impl_->options.archives;
  impl_->state = std::make_shared<State>();
  impl_->state->limits = config.limits;
  impl_->state->api = std::make_shared<Api>(std::move(config), bus, clock, std::move(api_options));
  impl_->state->metrics = impl_->state->api->metrics();
}

Server::Server(config::ServerConfig config, bus::EventBus& bus, ServerOptions options)
    : Server(std::move(config), bus, SystemClock::instance(), std::move(options)) {}

Server::~Server() { stop(impl_->clock.steady_now()); }

Result<uint16_t> Server::start() {
  Impl& impl = *impl_;
  if (impl.started) {
    return failed_precondition("the server was already started");
  }
  // The same checks `hikyaku validate` makes (listen address, Auth for a non-loopback one, TLS
  // files), so that the two can never disagree.
  HK_RETURN_IF_ERROR(config::check_server_config(impl.config));
  HK_ASSIGN_OR_RETURN(config::ListenAddress listen, config::parse_listen(impl.config.listen));
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(listen.host, ec);
  if (ec) {
    return invalid_argument(fmt::format(R"(Server.Listen "{}": "{}" is not an IP address: {})",
                                        impl.config.listen, listen.host, ec.message()));
  }

  std::shared_ptr<ssl::context> tls;
  if (impl.config.tls) {
    tls = std::make_shared<ssl::context>(ssl::context::tls_server);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
    tls->use_certificate_chain_file(impl.config.tls->cert_file, ec);
    if (ec) {
      return invalid_argument(
          fmt::format("Server.Tls.CertFile \"{}\": {}", impl.config.tls->cert_file, ec.message()));
    }
    tls->use_private_key_file(impl.config.tls->key_file, ssl::context::pem, ec);
    if (ec) {
      return invalid_argument(
          fmt::format("Server.Tls.KeyFile \"{}\": {}", impl.config.tls->key_file, ec.message()));
    }
  }

  int threads = impl.options.io_threads;
  if (threads <= 0) {
    threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  }
  impl.ioc = std::make_shared<asio::io_context>(threads);
  impl.listener = std::make_shared<Listener>(impl.ioc, impl.state, tls);
  HK_RETURN_IF_ERROR(impl.listener->open(tcp::endpoint(address, listen.port)));
  impl.port.store(impl.listener->port());
  impl.listener->accept();
  impl.work.emplace(impl.ioc->get_executor());
  impl.started = true;
  for (int i = 0; i < threads; ++i) {
    impl.threads.emplace_back([ioc = impl.ioc] {
      name_this_thread("hk-http");
      // Handlers report errors through error_code values; an exception reaching this loop is a
      // broken invariant (core/check.h): crash with its message rather than serve on.
      try {
        ioc->run();
      } catch (const std::exception& e) {
        fatal(fmt::format("hk-http: an exception escaped a request handler: {}", e.what()));
      } catch (...) {
        fatal("hk-http: a non-standard exception escaped a request handler");
      }
    });
  }
  return impl.port.load();
}

void Server::stop(std::chrono::steady_clock::time_point deadline) {
  Impl& impl = *impl_;
  if (!impl.started || impl.stopped) {
    return;
  }
  impl.stopped = true;
  State& state = *impl.state;
  state.stopping.store(true);
  impl.listener->close();
  for (const auto& session : state.live_sessions()) {
    session->close_if_idle();
  }
  state.wait_for_no_sessions(impl.clock, deadline);
  impl.work.reset();
  impl.ioc->stop();
  for (auto& thread : impl.threads) {
    thread.join();
  }
  impl.threads.clear();
  // The posted close may not have run before the io_context stopped.
  impl.listener->close_now();
  impl.listener.reset();
}

uint16_t Server::port() const { return impl_->port.load(); }

std::string Server::server_metrics_text() const { return impl_->state->metrics->render(); }

}  // namespace hikyaku::server
