#pragma once
// How the operator commands (`dlq`, `deliveries`, `tickets`) reach the admin API
// (admin/admin_api.h): through a running server (--endpoint URL, its admin key from
// HIKYAKU_ADMIN_KEY, sent in the header --admin-header names, x-hikyaku-admin-key by default), or
// in process on the store of a stopped server (--config FILE). Both give the same JSON, so the
// commands print the same whichever was used; each says on stderr which it used. A running
// server's store is never opened behind its back: its lock refuses, and the command says to use
// --endpoint.
//
//   AdminOptions options;
//   add_admin_options(*command, options);
//   ... in the callback:
//   Result<std::unique_ptr<AdminConnection>> connection = AdminConnection::open(options);
//   Result<admin::Response> answer = (*connection)->call("GET", "/dead-letters", "limit=100");
//
// Thread safety: one connection per thread.

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "admin/admin_api.h"
#include "core/status.h"

namespace hikyaku::cli {

struct AdminOptions {
  std::string endpoint;      // a running server: http(s)://host:port
  std::string config;        // a stopped server's config (its store)
  std::string admin_header;  // the header carrying HIKYAKU_ADMIN_KEY
};

// --endpoint, --config (exactly one is required) and --admin-header.
void add_admin_options(CLI::App& command, AdminOptions& options);

class AdminConnection {
 public:
  // Errors: kInvalidArgument for options that do not name one way in, or a config that does not
  // load; kFailedPrecondition when the config's store is owned by a running server (the message
  // says to use --endpoint) or does not exist; kUnavailable when the store cannot be opened.
  static Result<std::unique_ptr<AdminConnection>> open(const AdminOptions& options);
  virtual ~AdminConnection() = default;

  // "the running server at URL" or "the store PATH of a stopped server".
  virtual std::string description() const = 0;
  // One admin call; an answer with an error status is a value, not an error. Errors: the server
  // cannot be reached or answers something that is not the admin API.
  virtual Result<admin::Response> call(const std::string& method, const std::string& path,
                                       const std::string& query, const std::string& body) = 0;
};

// Calls and turns an error status into a Status carrying the API's message.
Result<std::string> call_admin(AdminConnection& connection, const std::string& method,
                               const std::string& path, const std::string& query = "",
                               const std::string& body = "");

}  // namespace hikyaku::cli
