#include "testing/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace hikyaku::testing {

HttpReceiver::HttpReceiver() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listen_fd_, 64) != 0) {
    std::abort();
  }
  socklen_t length = sizeof address;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

HttpReceiver::~HttpReceiver() {
  stopping_ = true;
  thread_.join();
  close(listen_fd_);
}

std::string HttpReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void HttpReceiver::set_status(int status) { status_ = status; }

std::vector<ReceivedRequest> HttpReceiver::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

size_t HttpReceiver::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

void HttpReceiver::serve() {
  while (!stopping_) {
    pollfd listening{listen_fd_, POLLIN, 0};
    if (poll(&listening, 1, 20) <= 0) {
      continue;
    }
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    std::string data;
    char buffer[65536];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    for (;;) {
      pollfd client{fd, POLLIN, 0};
      if (poll(&client, 1, 5000) <= 0) {
        break;
      }
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) {
        break;
      }
      data.append(buffer, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          std::string lower = data.substr(0, header_end);
          std::transform(lower.begin(), lower.end(), lower.begin(),
                         [](unsigned char c) { return std::tolower(c); });
          const size_t at = lower.find("content-length:");
          if (at != std::string::npos) {
            content_length = std::strtoul(lower.c_str() + at + 15, nullptr, 10);
          }
        }
      }
      if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) {
        break;
      }
    }
    if (header_end != std::string::npos) {
      ReceivedRequest request;
      const std::string head = data.substr(0, header_end);
      const size_t line_end = head.find("\r\n");
      const std::string request_line = head.substr(0, line_end);
      const size_t space1 = request_line.find(' ');
      const size_t space2 = request_line.find(' ', space1 + 1);
      request.method = request_line.substr(0, space1);
      request.target = request_line.substr(space1 + 1, space2 - space1 - 1);
      size_t position = line_end == std::string::npos ? head.size() : line_end + 2;
      while (position < head.size()) {
        size_t end = head.find("\r\n", position);
        if (end == std::string::npos) {
          end = head.size();
        }
        const std::string line = head.substr(position, end - position);
        const size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string name = line.substr(0, colon);
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char c) { return std::tolower(c); });
          size_t value_start = colon + 1;
          while (value_start < line.size() && line[value_start] == ' ') {
            ++value_start;
          }
          request.headers[name] = line.substr(value_start);
        }
        position = end + 2;
      }
      request.body = data.substr(header_end + 4, content_length);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(std::move(request));
      }
      const int status = status_;
      const std::string body = status >= 400 ? "{\"errors\":[{\"message\":\"test error\"}]}" : "{}";
      const std::string response = "HTTP/1.1 " + std::to_string(status) +
                                   " Test\r\nContent-Type: application/json\r\nContent-Length: " +
                                   std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                                   body;
      (void)!write(fd, response.data(), response.size());
    }
    close(fd);
  }
}

}  // namespace hikyaku::testing
