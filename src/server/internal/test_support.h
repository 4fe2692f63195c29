#pragma once
// What api_test.cc and server_test.cc share: a fake EventBus, request bodies, reading JSON
// replies, and signing a PutEvents request. Test code only.
//
// Thread safety: FakeBus is thread-safe; the rest are plain functions and values.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bus/event_bus.h"
#include "config/config.h"
#include "core/json_writer.h"
#include "core/mutex.h"
#include "core/thread_annotations.h"
#include "server/sigv4.h"

namespace hikyaku::server::test {

// Records every ingest and answers with a configurable Status (one for all, or one per envelope)
// on a thread of its own, or holds the answers until released. Its config has rule findings-to-log
// (default bus, a Log and an API destination target) and the disabled rule orders on orders-bus.
class FakeBus : public bus::EventBus {
 public:
  struct Call {
    std::string bus;
    std::vector<Envelope> envelopes;
  };

  FakeBus() {
    auto config = std::make_shared<config::Config>();
    config::Rule rule;
    rule.name = "findings-to-log";
    rule.description = "critical findings";
    rule.event_pattern = R"({"source":["aws.securityhub"]})";
    config::Target log_target;
    log_target.id = "log";
    log_target.log = config::LogTarget{"/tmp/x.log"};
    rule.targets.push_back(log_target);
    config::Target api_target;
    api_target.id = "backlog";
    api_target.api_destination = "backlog-add-issue";
    api_target.input_transformer = config::InputTransformer{{{"t", "$.detail.title"}}, "\"<t>\""};
    rule.targets.push_back(api_target);
    config->rules.push_back(rule);
    config::Rule custom;
    custom.name = "orders";
    custom.event_bus_name = "orders-bus";
    custom.state = config::RuleState::kDisabled;
    custom.event_pattern = R"({"source":["shop"]})";
    config->rules.push_back(custom);
    config_ = config;
  }

  ~FakeBus() override {
    release();
    std::vector<std::thread> threads;
    {
      MutexLock lock(mu_);
      threads.swap(threads_);
    }
    for (auto& thread : threads) {
      thread.join();
    }
  }
  FakeBus(const FakeBus&) = delete;
  FakeBus& operator=(const FakeBus&) = delete;

  void ingest(std::string_view bus_name, std::vector<Envelope> envelopes,
              IngestDone done) override {
    MutexLock lock(mu_);
    const size_t count = envelopes.size();
    calls_.push_back(Call{std::string(bus_name), std::move(envelopes)});
    if (hold_) {
      held_.emplace_back(count, std::move(done));
    } else {
      std::vector<Status> statuses(count, status_);
      if (status_of_) {
        const std::vector<Envelope>& sent = calls_.back().envelopes;
        for (size_t i = 0; i < count; ++i) {
          statuses[i] = status_of_(sent[i]);
        }
      }
      threads_.emplace_back(
          [statuses = std::move(statuses), done = std::move(done)] { done(statuses); });
    }
    changed_.notify_all();
  }

  std::shared_ptr<const config::Config> config() const override { return config_; }

  void set_status(Status status) {
    MutexLock lock(mu_);
    status_ = std::move(status);
  }
  // Answers each envelope with its own status (overrides set_status; empty: back to it).
  void set_status_of(std::function<Status(const Envelope&)> status_of) {
    MutexLock lock(mu_);
    status_of_ = std::move(status_of);
  }
  void hold() {
    MutexLock lock(mu_);
    hold_ = true;
  }
  void release() {
    std::vector<std::pair<size_t, IngestDone>> held;
    {
      MutexLock lock(mu_);
      hold_ = false;
      held.swap(held_);
    }
    for (auto& [count, done] : held) {
      done(std::vector<Status>(count, Status()));
    }
  }
  bool wait_for_held(size_t count) {
    MutexLock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10),
                             [&]() HK_REQUIRES(mu_) { return held_.size() >= count; });
  }
  std::vector<Call> calls() const {
    MutexLock lock(mu_);
    return calls_;
  }
  std::vector<Envelope> envelopes() const {
    MutexLock lock(mu_);
    std::vector<Envelope> all;
    for (const auto& call : calls_) {
      all.insert(all.end(), call.envelopes.begin(), call.envelopes.end());
    }
    return all;
  }
  void clear() {
    MutexLock lock(mu_);
    calls_.clear();
  }

 private:
  mutable Mutex mu_;
  CondVar changed_;
  std::shared_ptr<const config::Config> config_;  // immutable
  std::vector<Call> calls_ HK_GUARDED_BY(mu_);
  Status status_ HK_GUARDED_BY(mu_);
  std::function<Status(const Envelope&)> status_of_ HK_GUARDED_BY(mu_);
  bool hold_ HK_GUARDED_BY(mu_) = false;
  std::vector<std::pair<size_t, IngestDone>> held_ HK_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ HK_GUARDED_BY(mu_);
};

// An HTTP answer as a client sees it.
struct Reply {
  unsigned status = 0;  // 0: no response (connection closed or failed)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// Reads a JSON reply; the document lives in the returned parser.
struct Json {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  explicit Json(const std::string& text) {
    if (parser.parse(text).get(root) != simdjson::SUCCESS) {
      ADD_FAILURE() << "not JSON: " << text.substr(0, 300);
      static const std::string empty_object = "{}";
      if (parser.parse(empty_object).get(root) != simdjson::SUCCESS) {
        std::abort();
      }
    }
  }
  std::string str(std::string_view key) const {
    std::string_view value;
    if (root[key].get(value) != simdjson::SUCCESS) {
      return "<missing " + std::string(key) + ">";
    }
    return std::string(value);
  }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

inline Headers amz_headers(std::string_view operation) {
  return {{"X-Amz-Target", "AWSEvents." + std::string(operation)},
          {"Content-Type", "application/x-amz-json-1.1"}};
}

inline std::string entry_json(std::string_view source, std::string_view detail_type,
                              std::string_view detail) {
  JsonWriter w;
  w.begin_object();
  w.key("Source");
  w.string(source);
  w.key("DetailType");
  w.string(detail_type);
  w.key("Detail");
  w.string(detail);
  w.end_object();
  return w.take();
}

inline std::string entries_body(const std::vector<std::string>& entries) {
  std::string body = R"({"Entries":[)";
  for (size_t i = 0; i < entries.size(); ++i) {
    body += (i > 0 ? "," : "") + entries[i];
  }
  return body + "]}";
}

inline config::ServerConfig loopback_config() {
  config::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.account = "123456789012";
  config.region = "ap-northeast-1";
  return config;
}

// The Host every test request carries.
inline constexpr std::string_view kHost = "127.0.0.1";

// The headers of a PutEvents request signed with SigV4 at `signed_at`.
inline Headers signed_put_events_headers(const std::string& body, std::string_view key_id,
                                         std::string_view secret,
                                         std::chrono::system_clock::time_point signed_at,
                                         std::string_view region) {
  const std::string amz_date = sigv4::format_amz_date(signed_at);
  sigv4::SigV4Request request;
  request.method = "POST";
  request.path = "/";
  request.headers = {{"Host", std::string(kHost)},
                     {"X-Amz-Date", amz_date},
                     {"X-Amz-Target", "AWSEvents.PutEvents"},
                     {"Content-Type", "application/x-amz-json-1.1"}};
  request.body = body;
  const std::string authorization =
      sigv4::authorization_header(request, {"content-type", "host", "x-amz-date", "x-amz-target"},
                                  key_id, secret, amz_date, region);
  Headers headers = amz_headers("PutEvents");
  headers.emplace_back("X-Amz-Date", amz_date);
  headers.emplace_back("Authorization", authorization);
  return headers;
}

// A webhook body: one Security Hub envelope.
inline constexpr std::string_view kEnvelope =
    R"({"version":"0","id":"6f1b3c1e-0000-4000-8000-000000000001","detail-type":"Security Hub Findings - Imported","source":"aws.securityhub","account":"111122223333","time":"2026-03-01T09:15:02Z","region":"us-east-1","resources":[],"detail":{"findings":[]}})";

}  // namespace hikyaku::server::test
