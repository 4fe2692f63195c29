#pragma once
// In-process HTTP receivers for the delivery benches: one listening port per sink on 127.0.0.1,
// keep-alive connections, served by `threads` threads running one io_context (Boost.Beast). Each
// request is answered with an empty body; by default 200, or whatever the handler makes of it.
// The sinks count what they answered and the connections they accepted, and report their threads'
// CPU time, so that a bench can show its own share apart.
//
// Thread safety: the handler may run on any of the sinks' threads (one at a time per connection:
// each session runs one chain of operations, so no strand is needed); the rest is thread-safe.
#include <pthread.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace hikyaku::bench {

using SinkRequest = boost::beast::http::request<boost::beast::http::string_body>;
using SinkResponse = boost::beast::http::response<boost::beast::http::empty_body>;
// Called for each request on the sinks' thread, with a response that says 200; may change its
// status and add headers.
using SinkHandler = std::function<void(const SinkRequest&, SinkResponse&)>;

namespace sink_internal {

// One keep-alive connection: read a request, answer it, repeat.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket socket, const SinkHandler& handler,
          std::atomic<int64_t>& answered)
      : stream_(std::move(socket)), handler_(handler), answered_(answered) {}
  void start() { read(); }

 private:
  void read() {
    request_ = {};
    boost::beast::http::async_read(
        stream_, buffer_, request_,
        [self = shared_from_this()](boost::beast::error_code error, size_t) {
          if (!error) {
            self->answer();
          }
        });
  }
  void answer() {
    answered_.fetch_add(1, std::memory_order_relaxed);
    response_ = {boost::beast::http::status::ok, request_.version()};
    if (handler_) {
      handler_(request_, response_);
    }
    response_.keep_alive(request_.keep_alive());
    response_.content_length(0);
    boost::beast::http::async_write(
        stream_, response_, [self = shared_from_this()](boost::beast::error_code error, size_t) {
          if (!error && self->response_.keep_alive()) {
            self->read();
          }
        });
  }

  boost::beast::tcp_stream stream_;
  const SinkHandler& handler_;  // owned by the Sinks, which outlive every session's io
  std::atomic<int64_t>& answered_;
  boost::beast::flat_buffer buffer_;
  SinkRequest request_;
  SinkResponse response_;
};

}  // namespace sink_internal

class Sinks {
 public:
  explicit Sinks(int count, SinkHandler handler = {}, int threads = 1)
      : handler_(std::move(handler)) {
    using boost::asio::ip::tcp;
    acceptors_.reserve(static_cast<size_t>(count));  // accept() holds references into it
    for (int i = 0; i < count; ++i) {
      acceptors_.emplace_back(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
      ports_.push_back(acceptors_.back().local_endpoint().port());
      accept(acceptors_.back());
    }
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this] { io_.run(); });
    }
  }
  ~Sinks() {
    io_.stop();
    for (std::thread& thread : threads_) {
      thread.join();
    }
  }
  Sinks(const Sinks&) = delete;
  Sinks& operator=(const Sinks&) = delete;
  uint16_t port(int i) const { return ports_[static_cast<size_t>(i)]; }
  int64_t answered() const { return answered_.load(std::memory_order_relaxed); }
  int64_t accepted() const { return accepted_.load(std::memory_order_relaxed); }
  // CPU time of the sinks' threads so far, in seconds.
  double cpu_seconds() {
    double total = 0;
    for (std::thread& thread : threads_) {
      clockid_t clock{};
      timespec spent{};
      if (pthread_getcpuclockid(thread.native_handle(), &clock) == 0 &&
          clock_gettime(clock, &spent) == 0) {
        total += static_cast<double>(spent.tv_sec) + static_cast<double>(spent.tv_nsec) / 1e9;
      }
    }
    return total;
  }

 private:
  void accept(boost::asio::ip::tcp::acceptor& acceptor) {
    acceptor.async_accept([this, &acceptor](boost::beast::error_code error,
                                            boost::asio::ip::tcp::socket socket) {
      if (!error) {
        socket.set_option(boost::asio::ip::tcp::no_delay(true));
        accepted_.fetch_add(1, std::memory_order_relaxed);
        std::make_shared<sink_internal::Session>(std::move(socket), handler_, answered_)->start();
      }
      accept(acceptor);
    });
  }

  const SinkHandler handler_;
  boost::asio::io_context io_;
  std::vector<boost::asio::ip::tcp::acceptor> acceptors_;
  std::vector<uint16_t> ports_;
  std::atomic<int64_t> answered_{0};
  std::atomic<int64_t> accepted_{0};
  std::vector<std::thread> threads_;
};

}  // namespace hikyaku::bench
