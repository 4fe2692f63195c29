// The API layer without sockets: requests go straight into Api::handle(), answers come back
// through Respond (on the fake bus's thread when an ingest is involved).
#include "server/internal/api.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/envelope.h"
#include "core/json_writer.h"
#include "core/mutex.h"
#include "server/internal/test_support.h"
#include "server/internal/wire.h"
#include "server/sigv4.h"
#include "testing/fake_clock.h"

namespace hikyaku::server {
namespace {

using namespace std::chrono_literals;
using test::amz_headers;
using test::entries_body;
using test::entry_json;
using test::Headers;
using test::Json;
using test::kEnvelope;
using test::loopback_config;
using test::Reply;

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() = default;
  explicit ApiTest(std::chrono::system_clock::time_point start) : clock_(start) {}

  void start(config::ServerConfig config, ApiOptions options = {}) {
    api_ = std::make_unique<Api>(std::move(config), bus_, clock_, std::move(options));
  }

  // Handles one request and waits for its answer, seen as an HTTP client would see it.
  Reply request(std::string_view method, std::string_view target, std::string body = "",
                Headers headers = {}) {
    struct Answer {
      Mutex mu;
      CondVar done;
      std::optional<HttpResponse> response HK_GUARDED_BY(mu);
    };
    auto answer = std::make_shared<Answer>();
    HttpRequest http_request;
    http_request.method = std::string(method);
    http_request.target = std::string(target);
    http_request.headers.emplace_back("Host", std::string(test::kHost));
    for (auto& header : headers) {
      http_request.headers.push_back(std::move(header));
    }
    http_request.body = std::move(body);
    api_->handle(http_request, [answer](HttpResponse response) {
      MutexLock lock(answer->mu);
      EXPECT_FALSE(answer->response.has_value()) << "Respond called twice";
      answer->response = std::move(response);
      answer->done.notify_all();
    });
    MutexLock lock(answer->mu);
    if (!answer->done.wait_for(
            lock, 10s, [&]() HK_REQUIRES(answer->mu) { return answer->response.has_value(); })) {
      ADD_FAILURE() << "no answer within 10 s";
      return {};
    }
    Reply reply;
    reply.status = answer->response->status;
    reply.body = answer->response->body;
    if (!answer->response->content_type.empty()) {
      reply.headers["content-type"] = answer->response->content_type;
    }
    for (const auto& [name, value] : answer->response->headers) {
      std::string lower = name;
      for (char& c : lower) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      reply.headers[lower] = value;
    }
    return reply;
  }

  Reply put_events(std::string body) {
    return request("POST", "/", std::move(body), amz_headers("PutEvents"));
  }

  std::string metrics_text() const { return api_->metrics()->render(); }

  test::FakeBus bus_;  // declared first: outlives the Api
  testing::FakeClock clock_;
  std::unique_ptr<Api> api_;
};

// ---------------------------------------------------------------------------------------------
// AWS-validated cases (tests/data/aws-validated/put-events.jsonl).

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  return lines;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// The body of case `c` with its placeholders filled in.
std::string case_body(simdjson::dom::element c, std::chrono::sys_seconds now) {
  std::string body = simdjson::to_string(c["request"].value());
  simdjson::dom::object generator;
  if (c["detail_generator"].get(generator) == simdjson::SUCCESS) {
    std::string detail(generator["prefix"].get_string().value());
    detail += std::string(static_cast<size_t>(generator["count"].get_int64().value()), 'p');
    detail += generator["suffix"].get_string().value();
    EXPECT_EQ(static_cast<int64_t>(detail.size()),
              generator["detail_length_bytes"].get_int64().value());
    replace_all(body, "\"<generated, see detail_generator>\"", json_quote(detail));
  }
  replace_all(body, "\"<now, epoch seconds>\"", std::to_string(now.time_since_epoch().count()));
  return body;
}

TEST_F(ApiTest, AwsValidatedPutEventsAndTestEventPatternCases) {
  start(loopback_config());
  auto lines =
      read_lines(std::string(HIKYAKU_TEST_DATA_DIR) + "/data/aws-validated/put-events.jsonl");
  ASSERT_EQ(lines.size(), 24U);
  int checked = 0;
  for (const auto& line : lines) {
    simdjson::dom::parser parser;
    simdjson::dom::element c;
    ASSERT_EQ(parser.parse(line).get(c), simdjson::SUCCESS);
    std::string id(c["id"].get_string().value());
    std::string api(c["api"].get_string().value());
    if (api != "PutEvents" && api != "TestEventPattern") {
      continue;
    }
    SCOPED_TRACE(id);
    const auto now = std::chrono::floor<std::chrono::seconds>(clock_.now());
    const std::string body = case_body(c, now);

    bus_.clear();
    Reply reply = request("POST", "/", body, amz_headers(api));
    int64_t expected_status = 200;
    if (c["http_status"].get(expected_status) != simdjson::SUCCESS) {
      expected_status = 200;
    }
    ASSERT_EQ(reply.status, static_cast<unsigned>(expected_status)) << reply.body;
    EXPECT_EQ(reply.headers["content-type"], "application/x-amz-json-1.1");
    EXPECT_EQ(reply.headers["x-amzn-requestid"].size(), 36U);
    Json json(reply.body);
    std::string_view aws_error_code;
    if (c["aws_error_code"].get(aws_error_code) == simdjson::SUCCESS) {
      EXPECT_EQ(json.str("__type"), aws_error_code);
      EXPECT_EQ(json.str("message"), c["aws_error"].get_string().value());
      EXPECT_TRUE(bus_.calls().empty());
      ++checked;
      continue;
    }
    int64_t failed = -1;
    ASSERT_EQ(json.root["FailedEntryCount"].get(failed), simdjson::SUCCESS);
    int64_t expected_failed = 0;
    if (c["failed_entry_count"].get(expected_failed) != simdjson::SUCCESS) {
      expected_failed = 0;
    }
    EXPECT_EQ(failed, expected_failed);
    simdjson::dom::array expected_entries;
    if (c["result_entries"].get(expected_entries) == simdjson::SUCCESS) {
      simdjson::dom::array entries = json.root["Entries"].get_array().value();
      ASSERT_EQ(entries.size(), expected_entries.size());
      for (size_t i = 0; i < entries.size(); ++i) {
        simdjson::dom::object want = expected_entries.at(i).get_object().value();
        simdjson::dom::element got = entries.at(i).value();
        std::string_view code;
        if (want["ErrorCode"].get(code) == simdjson::SUCCESS) {
          EXPECT_EQ(got["ErrorCode"].get_string().value(), code);
          EXPECT_EQ(got["ErrorMessage"].get_string().value(),
                    want["ErrorMessage"].get_string().value());
          EXPECT_FALSE(got["EventId"].error() == simdjson::SUCCESS);
        } else {
          std::string_view event_id;
          ASSERT_EQ(got["EventId"].get(event_id), simdjson::SUCCESS);
          EXPECT_EQ(event_id.size(), 36U);
          EXPECT_EQ(event_id[14], '4');  // UUID version 4
        }
      }
    }
    simdjson::dom::array delivered;
    if (c["delivered"].get(delivered) == simdjson::SUCCESS) {
      // The first delivered envelope is the first accepted entry on the default bus.
      auto envelopes = bus_.envelopes();
      ASSERT_FALSE(envelopes.empty());
      simdjson::dom::object want = delivered.at(0).get_object().value();
      const Envelope& got = envelopes[0];
      EXPECT_EQ(got.version, "0");
      EXPECT_EQ(got.source, want["source"].get_string().value());
      EXPECT_EQ(got.detail_type, want["detail-type"].get_string().value());
      EXPECT_EQ(got.account, "123456789012");
      EXPECT_EQ(got.region, "ap-northeast-1");
      EXPECT_TRUE(got.resources.empty());
      EXPECT_EQ(got.detail_json, simdjson::minify(want["detail"].value()));
      if (id.find("test_put_events_time") == 0) {
        EXPECT_EQ(got.time, want["time"].get_string().value());
      } else if (id == "test_put_events_with_time_field") {
        EXPECT_EQ(got.time, format_event_time(now.time_since_epoch().count()).value());
      }
      std::string_view event_id;
      if (json.root["Entries"].at(0)["EventId"].get(event_id) == simdjson::SUCCESS) {
        EXPECT_EQ(got.id, event_id);
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, 20);
}

TEST_F(ApiTest, PutEventsGroupsByBusAndKeepsEntryOrder) {
  start(loopback_config());
  std::string body = R"({"Entries":[
    {"Source":"a","DetailType":"t","Detail":"{\"n\": 1.50}","Resources":["arn:x","arn:y"],"Time":"2026-03-01T10:15:02+01:00"},
    {"Source":"b","DetailType":"t","Detail":"[]"},
    {"Source":"c","DetailType":"t","Detail":"{}","EventBusName":"arn:aws:events:ap-northeast-1:123456789012:event-bus/orders-bus","Time":1767322800.9},
    {"Source":"d","DetailType":"t","Detail":"{}","EventBusName":"default"}]})";
  Reply reply = put_events(body);
  ASSERT_EQ(reply.status, 200U) << reply.body;
  Json json(reply.body);
  EXPECT_EQ(json.root["FailedEntryCount"].get_int64().value(), 1);
  auto entries = json.root["Entries"].get_array().value();
  ASSERT_EQ(entries.size(), 4U);
  EXPECT_EQ(entries.at(1)["ErrorCode"].get_string().value(), "MalformedDetail");
  auto calls = bus_.calls();
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_EQ(calls[0].bus, "default");
  ASSERT_EQ(calls[0].envelopes.size(), 2U);
  EXPECT_EQ(calls[0].envelopes[0].source, "a");
  EXPECT_EQ(calls[0].envelopes[0].time, "2026-03-01T09:15:02Z");
  EXPECT_EQ(calls[0].envelopes[0].detail_json, R"({"n":1.50})");
  EXPECT_EQ(calls[0].envelopes[0].resources, (std::vector<std::string>{"arn:x", "arn:y"}));
  EXPECT_EQ(calls[0].envelopes[0].id, entries.at(0)["EventId"].get_string().value());
  EXPECT_EQ(calls[0].envelopes[1].source, "d");
  EXPECT_EQ(calls[1].bus, "orders-bus");
  EXPECT_EQ(calls[1].envelopes[0].time, "2026-01-02T03:00:00Z");
  EXPECT_EQ(calls[1].envelopes[0].id, entries.at(2)["EventId"].get_string().value());
}

TEST_F(ApiTest, EntriesWithoutTimeGetTheClocksSecond) {
  start(loopback_config());
  clock_.advance(1500ms);
  ASSERT_EQ(put_events(entries_body({entry_json("s", "t", "{}")})).status, 200U);
  ASSERT_EQ(bus_.envelopes().size(), 1U);
  EXPECT_EQ(bus_.envelopes()[0].time, "2026-03-01T09:15:03Z");
}

TEST_F(ApiTest, EntrySizeExactlyAtTheLimitIsAcceptedOneByteOverIsNot) {
  config::ServerConfig config = loopback_config();
  config.limits.max_entry_bytes = 1000;
  start(config);
  // size = 1 (Source) + 1 (DetailType) + len(Detail) + 14 (Time)
  std::string detail = R"({"a":")" + std::string(1000 - 16 - 8, 'x') + R"("})";
  ASSERT_EQ(detail.size(), 1000U - 16);
  auto body = [&](const std::string& d) {
    return R"({"Entries":[{"Time":1767322800,"Source":"s","DetailType":"d","Detail":)" +
           json_quote(d) + "}]}";
  };
  Reply at_limit = put_events(body(detail));
  EXPECT_EQ(at_limit.status, 200U) << at_limit.body;
  EXPECT_EQ(Json(at_limit.body).root["FailedEntryCount"].get_int64().value(), 0);

  std::string over = detail;
  over.insert(6, "x");
  Reply over_limit = put_events(body(over));
  EXPECT_EQ(over_limit.status, 400U);
  Json json(over_limit.body);
  EXPECT_EQ(json.str("__type"), "ValidationException");
  EXPECT_EQ(json.str("message"), "Total size of the entries in the request is over the limit.");

  // The limit is on the request total: two entries of half the size each add up.
  std::string half = R"({"a":")" + std::string(500, 'x') + R"("})";
  Reply two = put_events(entries_body({entry_json("s", "d", half), entry_json("s", "d", half)}));
  EXPECT_EQ(two.status, 400U) << two.body;
}

TEST_F(ApiTest, DefaultEntryLimitIs256KiB) {
  start(loopback_config());
  auto body = [](size_t total) {
    // size = 1 (Source) + 1 (DetailType) + len(Detail)
    std::string detail = R"({"a":")" + std::string(total - 2 - 8, 'x') + R"("})";
    return entries_body({entry_json("s", "d", detail)});
  };
  Reply at_limit = put_events(body(262144));
  EXPECT_EQ(at_limit.status, 200U) << at_limit.body.substr(0, 200);
  Reply over_limit = put_events(body(262145));
  EXPECT_EQ(over_limit.status, 400U);
  EXPECT_EQ(Json(over_limit.body).str("__type"), "ValidationException");
  ASSERT_EQ(bus_.envelopes().size(), 1U);
  EXPECT_EQ(bus_.envelopes()[0].detail_json.size(), 262142U);
}

TEST_F(ApiTest, RequestLevelErrors) {
  start(loopback_config());

  Reply malformed = put_events(R"({"Entries": [)");
  EXPECT_EQ(malformed.status, 400U);
  EXPECT_EQ(Json(malformed.body).str("__type"), "SerializationException");

  Reply wrong_type = put_events(R"({"Entries": [{"Source": 5}]})");
  EXPECT_EQ(wrong_type.status, 400U);
  EXPECT_EQ(Json(wrong_type.body).str("__type"), "SerializationException");
  EXPECT_NE(Json(wrong_type.body).str("message").find("Entries[0].Source"), std::string::npos);

  Reply empty = put_events(R"({"Entries": []})");
  EXPECT_EQ(empty.status, 400U);
  EXPECT_EQ(Json(empty.body).str("__type"), "ValidationException");

  Reply missing = put_events(R"({})");
  EXPECT_EQ(missing.status, 400U);
  EXPECT_NE(Json(missing.body).str("message").find("'entries'"), std::string::npos);

  Reply endpoint = put_events(R"({"EndpointId":"abc.veo","Entries":[]})");
  EXPECT_EQ(Json(endpoint.body).str("__type"), "ValidationException");

  Reply unknown = request("POST", "/", "{}", amz_headers("PutRule"));
  EXPECT_EQ(unknown.status, 400U);
  EXPECT_EQ(Json(unknown.body).str("__type"), "UnknownOperationException");
  Reply foreign = request("POST", "/", "{}", {{"X-Amz-Target", "DynamoDB_20120810.GetItem"}});
  EXPECT_EQ(Json(foreign.body).str("__type"), "UnknownOperationException");
  Reply no_target = request("POST", "/", "{}");
  EXPECT_EQ(Json(no_target.body).str("__type"), "UnknownOperationException");

  Reply number_detail = put_events(entries_body({entry_json("s", "d", "5")}));
  EXPECT_EQ(number_detail.status, 200U);
  EXPECT_EQ(Json(number_detail.body).root["Entries"].at(0)["ErrorCode"].get_string().value(),
            "MalformedDetail");
  Reply long_type = put_events(entries_body({entry_json("s", std::string(129, 'x'), "{}")}));
  EXPECT_EQ(Json(long_type.body).root["Entries"].at(0)["ErrorCode"].get_string().value(),
            "InvalidArgument");
  EXPECT_TRUE(bus_.calls().empty());
}

TEST_F(ApiTest, StoreFailuresBecomeRetryableEntryErrors) {
  start(loopback_config());
  bus_.set_status(unavailable("store is down"));
  Reply reply = put_events(entries_body({entry_json("s", "d", "{}"), entry_json("", "d", "{}")}));
  ASSERT_EQ(reply.status, 200U);
  Json json(reply.body);
  EXPECT_EQ(json.root["FailedEntryCount"].get_int64().value(), 2);
  EXPECT_EQ(json.root["Entries"].at(0)["ErrorCode"].get_string().value(), "InternalFailure");
  EXPECT_EQ(json.root["Entries"].at(0)["ErrorMessage"].get_string().value(), "store is down");
  EXPECT_EQ(json.root["Entries"].at(1)["ErrorCode"].get_string().value(), "InvalidArgument");

  std::string metrics = metrics_text();
  EXPECT_NE(metrics.find("hikyaku_ingest_entries_rejected_total{path=\"put_events\",error_code="
                         "\"InternalFailure\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("error_code=\"InvalidArgument\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("hikyaku_ingest_entries_accepted_total{path=\"put_events\"} 0"),
            std::string::npos);
}

// A Detail `depth` levels deep (the Detail object itself is level 1), in several shapes.
enum class Nesting { kObjects, kObjectsWithLeaf, kArrays, kArraysWithLeaf, kMixed };
std::string nested_detail(size_t depth, Nesting shape) {
  if (depth == 1) {
    return shape == Nesting::kObjects ? "{}" : R"({"x":1})";
  }
  std::string text = R"({"pad":"[[{{\"]]","a":)";  // brackets inside strings do not count
  std::string closers = "}";
  for (size_t level = 2; level < depth; ++level) {
    const bool array = shape == Nesting::kArrays || shape == Nesting::kArraysWithLeaf ||
                       (shape == Nesting::kMixed && level % 2 == 0);
    text += array ? R"([1,"]",)" : R"({"k":"}","n":)";
    closers.push_back(array ? ']' : '}');
  }
  const bool leaf = shape != Nesting::kObjects && shape != Nesting::kArrays;
  if (shape == Nesting::kArrays || shape == Nesting::kArraysWithLeaf) {
    text += leaf ? "[true]" : "[]";
  } else {
    text += leaf ? R"({"x":null})" : "{}";
  }
  text.append(closers.rbegin(), closers.rend());
  return text;
}

TEST(NestedDetailTest, HasTheDepthAsked) {
  for (Nesting shape : {Nesting::kObjects, Nesting::kObjectsWithLeaf, Nesting::kArrays,
                        Nesting::kArraysWithLeaf, Nesting::kMixed}) {
    EXPECT_FALSE(json_nests_deeper_than(nested_detail(7, shape), 7));
    EXPECT_TRUE(json_nests_deeper_than(nested_detail(8, shape), 7));
    simdjson::dom::parser parser;
    EXPECT_EQ(parser.parse(nested_detail(30, shape)).error(), simdjson::SUCCESS)
        << nested_detail(30, shape);
  }
  EXPECT_EQ(nested_detail(3, Nesting::kObjects), R"({"pad":"[[{{\"]]","a":{"k":"}","n":{}}})");
}

// One depth limit for an event, checked at ingest: an entry past it fails alone, for good (not a
// retryable error), whatever the shape of the nesting; the rest of its batch is accepted.
TEST_F(ApiTest, AnEntryNestedPastTheEventLimitFailsAloneAndForGood) {
  start(loopback_config());
  const size_t limit = kMaxEventNestingDepth - 1;  // Detail's own levels
  size_t expected_accepted = 0;
  size_t expected_refused = 0;
  for (Nesting shape : {Nesting::kObjects, Nesting::kObjectsWithLeaf, Nesting::kArrays,
                        Nesting::kArraysWithLeaf, Nesting::kMixed}) {
    for (size_t depth : {limit - 1, limit, limit + 1, limit + 6, size_t{1030}, size_t{5000}}) {
      SCOPED_TRACE(::testing::Message()
                   << "shape " << static_cast<int>(shape) << " depth " << depth);
      bus_.clear();
      std::vector<std::string> entries;
      for (int i = 0; i < 9; ++i) {
        entries.push_back(entry_json("ok", "t", R"({"n":)" + std::to_string(i) + "}"));
      }
      entries.insert(entries.begin() + 4, entry_json("deep", "t", nested_detail(depth, shape)));
      Reply reply = put_events(entries_body(entries));
      ASSERT_EQ(reply.status, 200U) << reply.body.substr(0, 300);
      Json json(reply.body);
      const bool refused = depth > limit;
      EXPECT_EQ(json.root["FailedEntryCount"].get_int64().value(), refused ? 1 : 0);
      auto results = json.root["Entries"].get_array().value();
      ASSERT_EQ(results.size(), 10U);
      for (size_t i = 0; i < 10; ++i) {
        if (i == 4 && refused) {
          EXPECT_EQ(results.at(i)["ErrorCode"].get_string().value(), "MalformedDetail");
          const std::string message(results.at(i)["ErrorMessage"].get_string().value());
          EXPECT_NE(message.find("deeper than 999 levels"), std::string::npos) << message;
          EXPECT_EQ(results.at(i)["EventId"].error(), simdjson::NO_SUCH_FIELD);
        } else {
          EXPECT_EQ(results.at(i)["EventId"].get_string().value().size(), 36U) << i;
        }
      }
      const std::vector<Envelope> sent = bus_.envelopes();
      EXPECT_EQ(sent.size(), refused ? 9U : 10U);
      EXPECT_EQ(std::count_if(sent.begin(), sent.end(),
                              [](const Envelope& e) { return e.source == "deep"; }),
                refused ? 0 : 1);
      expected_accepted += refused ? 9 : 10;
      expected_refused += refused ? 1 : 0;
    }
  }
  const std::string metrics = metrics_text();
  EXPECT_NE(
      metrics.find(fmt::format("hikyaku_ingest_entries_accepted_total{{path=\"put_events\"}} {}\n",
                               expected_accepted)),
      std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(fmt::format(R"(error_code="MalformedDetail"}} {})", expected_refused)),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(error_code="InternalFailure"} 0)"), std::string::npos);
}

// The webhook's envelope is the event itself: level 1 is the envelope.
TEST_F(ApiTest, WebhookRefusesAnEventNestedPastTheLimitWith400) {
  start(loopback_config());
  auto envelope_with = [](const std::string& detail) {
    std::string text(kEnvelope);
    const std::string empty_detail = R"("detail":{"findings":[]})";
    text.replace(text.find(empty_detail), empty_detail.size(), "\"detail\":" + detail);
    return text;
  };
  const size_t limit = kMaxEventNestingDepth - 1;
  for (Nesting shape : {Nesting::kObjects, Nesting::kArraysWithLeaf, Nesting::kMixed}) {
    Reply at_limit = request("POST", "/events/default", envelope_with(nested_detail(limit, shape)));
    EXPECT_EQ(at_limit.status, 200U) << at_limit.body;
    for (size_t depth : {limit + 1, size_t{1100}}) {
      Reply deep = request("POST", "/events/default", envelope_with(nested_detail(depth, shape)));
      EXPECT_EQ(deep.status, 400U);
      EXPECT_EQ(Json(deep.body).str("__type"), "ValidationException");
      EXPECT_NE(Json(deep.body).str("message").find("deeper than 1000 levels"), std::string::npos);
      EXPECT_EQ(deep.headers.count("retry-after"), 0U);
    }
  }
  EXPECT_EQ(bus_.envelopes().size(), 3U);
}

// Whatever the bus says about one event stays with that event; a final refusal is final.
TEST_F(ApiTest, ABusRefusalOfOneEventFailsOnlyThatEntry) {
  start(loopback_config());
  bus_.set_status_of([](const Envelope& envelope) {
    if (envelope.source == "refused") {
      return invalid_argument("the event's deliveries are larger than the whole queue");
    }
    if (envelope.source == "busy") {
      return resource_exhausted("queue full");
    }
    if (envelope.source == "down") {
      return unavailable("store is down");
    }
    return Status();
  });
  Reply reply = put_events(entries_body(
      {entry_json("a", "t", "{}"), entry_json("refused", "t", "{}"), entry_json("busy", "t", "{}"),
       entry_json("down", "t", "{}"), entry_json("b", "t", "{}")}));
  ASSERT_EQ(reply.status, 200U) << reply.body;
  Json json(reply.body);
  EXPECT_EQ(json.root["FailedEntryCount"].get_int64().value(), 3);
  auto results = json.root["Entries"].get_array().value();
  EXPECT_EQ(results.at(0)["EventId"].get_string().value().size(), 36U);
  EXPECT_EQ(results.at(1)["ErrorCode"].get_string().value(), "InvalidArgument");
  EXPECT_EQ(results.at(1)["ErrorMessage"].get_string().value(),
            "the event's deliveries are larger than the whole queue");
  EXPECT_EQ(results.at(2)["ErrorCode"].get_string().value(), "ThrottlingException");
  EXPECT_EQ(results.at(3)["ErrorCode"].get_string().value(), "InternalFailure");
  EXPECT_EQ(results.at(4)["EventId"].get_string().value().size(), 36U);

  auto webhook = [&](std::string_view source) {
    std::string text(kEnvelope);
    text.replace(text.find("aws.securityhub"), 15, source);
    return request("POST", "/events/default", text);
  };
  Reply refused = webhook("refused");
  EXPECT_EQ(refused.status, 400U);
  EXPECT_EQ(Json(refused.body).str("__type"), "ValidationException");
  EXPECT_EQ(refused.headers.count("retry-after"), 0U);
  Reply busy = webhook("busy");
  EXPECT_EQ(busy.status, 429U);
  EXPECT_EQ(busy.headers["retry-after"], "1");
  Reply down = webhook("down");
  EXPECT_EQ(down.status, 503U);
  EXPECT_EQ(down.headers["retry-after"], "1");
  EXPECT_EQ(webhook("fine").status, 200U);

  const std::string metrics = metrics_text();
  EXPECT_NE(metrics.find("hikyaku_ingest_entries_accepted_total{path=\"put_events\"} 2\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("hikyaku_ingest_entries_accepted_total{path=\"webhook\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(path="put_events",error_code="InvalidArgument"} 1)"),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(path="webhook",error_code="InvalidArgument"} 1)"), std::string::npos);
  EXPECT_NE(metrics.find("hikyaku_ingest_requests_throttled_total{path=\"webhook\"} 1\n"),
            std::string::npos);
  // Some entries throttled is not a throttled request.
  EXPECT_NE(metrics.find("hikyaku_ingest_requests_throttled_total{path=\"put_events\"} 0\n"),
            std::string::npos);
}

// Overload: when the bus refuses every entry for lack of room, the whole request answers AWS's
// ThrottlingException (HTTP 400), which the AWS CLI and SDKs retry with back-off.
TEST_F(ApiTest, EveryEntryRefusedForOverloadIsAThrottledRequest) {
  start(loopback_config());
  bus_.set_status(resource_exhausted("queued work is over its byte bound"));
  for (size_t count : {size_t{1}, size_t{3}, size_t{9}}) {
    std::vector<std::string> entries;
    for (size_t i = 0; i < count; ++i) {
      entries.push_back(entry_json("s", "t", "{}"));
    }
    // Entries on two buses: two ingests, both refused.
    entries.push_back(R"({"Source":"s","DetailType":"t","Detail":"{}","EventBusName":"other"})");
    Reply reply = put_events(entries_body(entries));
    EXPECT_EQ(reply.status, 400U);
    EXPECT_EQ(reply.headers["content-type"], "application/x-amz-json-1.1");
    EXPECT_EQ(reply.headers["x-amzn-requestid"].size(), 36U);
    EXPECT_EQ(reply.body, R"({"__type":"ThrottlingException","message":"Rate exceeded"})");
  }
  // One entry malformed, the others throttled: the client learns about each entry.
  Reply mixed = put_events(entries_body({entry_json("s", "t", "{}"), entry_json("s", "t", "[]")}));
  ASSERT_EQ(mixed.status, 200U);
  Json json(mixed.body);
  EXPECT_EQ(json.root["Entries"].at(0)["ErrorCode"].get_string().value(), "ThrottlingException");
  EXPECT_EQ(json.root["Entries"].at(1)["ErrorCode"].get_string().value(), "MalformedDetail");

  const std::string metrics = metrics_text();
  EXPECT_NE(metrics.find("hikyaku_ingest_requests_throttled_total{path=\"put_events\"} 3\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(
      metrics.find(R"(hikyaku_http_request_errors_total{error_type="ThrottlingException"} 3)"),
      std::string::npos);
  EXPECT_NE(metrics.find(R"(path="put_events",error_code="ThrottlingException"} 17)"),
            std::string::npos);
  EXPECT_NE(metrics.find("hikyaku_ingest_entries_accepted_total{path=\"put_events\"} 0\n"),
            std::string::npos);
}

TEST_F(ApiTest, TestEventPattern) {
  start(loopback_config());
  std::string event =
      R"({"id":"1","account":"1","source":"aws.securityhub","time":"2026-01-01T00:00:00Z","region":"r","resources":[],"detail-type":"x","detail":{"n":5}})";
  auto test_pattern = [&](std::string_view pattern) {
    JsonWriter w;
    w.begin_object();
    w.key("EventPattern");
    w.string(pattern);
    w.key("Event");
    w.string(event);
    w.end_object();
    return request("POST", "/", w.take(), amz_headers("TestEventPattern"));
  };
  Reply match = test_pattern(R"({"detail":{"n":[{"numeric":[">",4]}]}})");
  EXPECT_EQ(match.status, 200U);
  EXPECT_EQ(match.body, R"({"Result":true})");
  Reply no_match = test_pattern(R"({"source":["other"]})");
  EXPECT_EQ(no_match.body, R"({"Result":false})");
  Reply invalid = test_pattern(R"({"source":[]})");
  EXPECT_EQ(invalid.status, 400U);
  Json json(invalid.body);
  EXPECT_EQ(json.str("__type"), "InvalidEventPatternException");
  EXPECT_EQ(json.str("message").rfind("Event pattern is not valid. Reason: ", 0), 0U);
}

TEST_F(ApiTest, ReadOnlyRuleOperations) {
  start(loopback_config());
  Reply rules = request("POST", "/", "{}", amz_headers("ListRules"));
  ASSERT_EQ(rules.status, 200U) << rules.body;
  Json list(rules.body);
  auto rule = list.root["Rules"].at(0);
  EXPECT_EQ(rule["Name"].get_string().value(), "findings-to-log");
  EXPECT_EQ(rule["Arn"].get_string().value(),
            "arn:aws:events:ap-northeast-1:123456789012:rule/findings-to-log");
  EXPECT_EQ(rule["State"].get_string().value(), "ENABLED");
  EXPECT_EQ(list.root["Rules"].get_array().value().size(), 1U);

  Reply custom = request("POST", "/", R"({"EventBusName":"orders-bus"})", amz_headers("ListRules"));
  Json custom_json(custom.body);
  EXPECT_EQ(custom_json.root["Rules"].at(0)["Arn"].get_string().value(),
            "arn:aws:events:ap-northeast-1:123456789012:rule/orders-bus/orders");
  EXPECT_EQ(custom_json.root["Rules"].at(0)["State"].get_string().value(), "DISABLED");

  Reply missing_bus = request("POST", "/", R"({"EventBusName":"nope"})", amz_headers("ListRules"));
  EXPECT_EQ(Json(missing_bus.body).str("message"), "Event bus nope does not exist.");

  Reply describe =
      request("POST", "/", R"({"Name":"findings-to-log"})", amz_headers("DescribeRule"));
  Json described(describe.body);
  EXPECT_EQ(described.str("EventPattern"), R"({"source":["aws.securityhub"]})");
  EXPECT_EQ(described.str("EventBusName"), "default");
  Reply unknown_rule = request("POST", "/", R"({"Name":"x"})", amz_headers("DescribeRule"));
  EXPECT_EQ(unknown_rule.status, 400U);
  EXPECT_EQ(Json(unknown_rule.body).str("__type"), "ResourceNotFoundException");
  EXPECT_EQ(Json(unknown_rule.body).str("message"), "Rule x does not exist on EventBus default.");

  Reply targets =
      request("POST", "/", R"({"Rule":"findings-to-log"})", amz_headers("ListTargetsByRule"));
  Json targets_json(targets.body);
  auto target_list = targets_json.root["Targets"].get_array().value();
  ASSERT_EQ(target_list.size(), 2U);
  EXPECT_EQ(target_list.at(1)["Arn"].get_string().value(),
            "arn:aws:events:ap-northeast-1:123456789012:api-destination/backlog-add-issue");
  EXPECT_EQ(target_list.at(1)["InputTransformer"]["InputPathsMap"]["t"].get_string().value(),
            "$.detail.title");

  Reply buses = request("POST", "/", "{}", amz_headers("ListEventBuses"));
  Json buses_json(buses.body);
  auto bus_list = buses_json.root["EventBuses"].get_array().value();
  ASSERT_EQ(bus_list.size(), 2U);
  EXPECT_EQ(bus_list.at(0)["Arn"].get_string().value(),
            "arn:aws:events:ap-northeast-1:123456789012:event-bus/default");
  EXPECT_EQ(bus_list.at(1)["Name"].get_string().value(), "orders-bus");
}

// ---------------------------------------------------------------------------------------------
// SigV4.

class SignedApiTest : public ApiTest {
 protected:
  static constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

  SignedApiTest() : ApiTest(*sigv4::parse_amz_date("20260102T030405Z")), now_(clock_.now()) {}

  void start_signed() {
    config::ServerConfig config = loopback_config();
    config.region.reset();
    config::SigV4Credential any;
    any.access_key_id = "AKIDEXAMPLE";
    any.secret_access_key = Secret(std::string(kSecret));
    config::SigV4Credential limited;
    limited.access_key_id = "AKIDLIMITED";
    limited.secret_access_key = Secret("limited-secret");
    limited.allowed_sources = {"com.example.*", "my.app"};
    config.auth.sigv4_credentials = {any, limited};
    start(config);
  }

  Reply signed_put_events(const std::string& body, std::string_view key_id, std::string_view secret,
                          std::chrono::system_clock::time_point signed_at,
                          std::string_view region = "us-west-2") {
    return request("POST", "/", body,
                   test::signed_put_events_headers(body, key_id, secret, signed_at, region));
  }

  const std::chrono::system_clock::time_point now_;
};

TEST_F(SignedApiTest, SignedRoundTripAndRefusals) {
  start_signed();
  std::string body = entries_body({entry_json("com.example.a", "t", "{}")});

  Reply ok = signed_put_events(body, "AKIDEXAMPLE", kSecret, now_);
  ASSERT_EQ(ok.status, 200U) << ok.body;
  EXPECT_EQ(Json(ok.body).root["FailedEntryCount"].get_int64().value(), 0);
  // No Server.Region: the signing region becomes the event's region.
  ASSERT_EQ(bus_.envelopes().size(), 1U);
  EXPECT_EQ(bus_.envelopes()[0].region, "us-west-2");
  EXPECT_EQ(bus_.envelopes()[0].time, "2026-01-02T03:04:05Z");

  Reply wrong_secret = signed_put_events(body, "AKIDEXAMPLE", "wrong", now_);
  EXPECT_EQ(wrong_secret.status, 403U);
  EXPECT_EQ(Json(wrong_secret.body).str("__type"), "InvalidSignatureException");
  EXPECT_EQ(wrong_secret.body.find(kSecret), std::string::npos);

  Reply skewed = signed_put_events(body, "AKIDEXAMPLE", kSecret, now_ - 6min);
  EXPECT_EQ(skewed.status, 403U);
  EXPECT_NE(Json(skewed.body).str("message").find("Signature expired"), std::string::npos);
  Reply within = signed_put_events(body, "AKIDEXAMPLE", kSecret, now_ + 4min);
  EXPECT_EQ(within.status, 200U);

  Reply unknown = signed_put_events(body, "AKIDUNKNOWN", kSecret, now_);
  EXPECT_EQ(unknown.status, 403U);
  EXPECT_EQ(Json(unknown.body).str("__type"), "UnrecognizedClientException");

  Reply unsigned_reply = put_events(body);
  EXPECT_EQ(unsigned_reply.status, 403U);
  EXPECT_EQ(Json(unsigned_reply.body).str("__type"), "MissingAuthenticationTokenException");
  EXPECT_EQ(bus_.envelopes().size(), 2U);  // only the two accepted requests reached the bus

  // AllowedSources: per-entry refusal, others in the same request accepted.
  std::string mixed =
      entries_body({entry_json("com.example.x", "t", "{}"),
                    entry_json("aws.securityhub", "t", "{}"), entry_json("my.app", "t", "{}")});
  Reply limited = signed_put_events(mixed, "AKIDLIMITED", "limited-secret", now_);
  ASSERT_EQ(limited.status, 200U) << limited.body;
  Json json(limited.body);
  EXPECT_EQ(json.root["FailedEntryCount"].get_int64().value(), 1);
  EXPECT_EQ(json.root["Entries"].at(1)["ErrorCode"].get_string().value(),
            "NotAuthorizedForSourceException");
  EXPECT_TRUE(json.root["Entries"].at(0)["EventId"].error() == simdjson::SUCCESS);
  EXPECT_TRUE(json.root["Entries"].at(2)["EventId"].error() == simdjson::SUCCESS);

  std::string metrics = metrics_text();
  EXPECT_EQ(metrics.find(kSecret), std::string::npos);
  EXPECT_EQ(metrics.find("limited-secret"), std::string::npos);
  EXPECT_NE(metrics.find("error_type=\"InvalidSignatureException\"} 2"), std::string::npos)
      << metrics;
}

TEST_F(SignedApiTest, SkewIsMeasuredOnTheInjectedClock) {
  start_signed();
  std::string body = entries_body({entry_json("com.example.a", "t", "{}")});
  const auto signed_at = now_;
  clock_.advance(6min);
  Reply late = signed_put_events(body, "AKIDEXAMPLE", kSecret, signed_at);
  EXPECT_EQ(late.status, 403U);
  EXPECT_NE(Json(late.body).str("message").find("Signature expired"), std::string::npos);
}

TEST_F(SignedApiTest, RegionIsRestrictedWhenConfigured) {
  config::ServerConfig config = loopback_config();  // Region ap-northeast-1
  config::SigV4Credential credential;
  credential.access_key_id = "AKIDEXAMPLE";
  credential.secret_access_key = Secret(std::string(kSecret));
  config.auth.sigv4_credentials = {credential};
  start(config);
  std::string body = entries_body({entry_json("s", "t", "{}")});
  EXPECT_EQ(signed_put_events(body, "AKIDEXAMPLE", kSecret, now_, "ap-northeast-1").status, 200U);
  Reply other = signed_put_events(body, "AKIDEXAMPLE", kSecret, now_, "us-east-1");
  EXPECT_EQ(other.status, 403U);
  EXPECT_EQ(Json(other.body).str("__type"), "InvalidSignatureException");
}

// ---------------------------------------------------------------------------------------------
// Webhook, health, readiness, metrics.

TEST_F(ApiTest, WebhookApiKeyAuth) {
  config::ServerConfig config = loopback_config();
  config::ApiKeyCredential key;
  key.header_name = "x-hikyaku-key";
  key.value = Secret("s3cr3t-key-value");
  config.auth.api_keys = {key};
  start(config);
  Reply missing = request("POST", "/events/default", std::string(kEnvelope));
  EXPECT_EQ(missing.status, 401U);
  Reply wrong = request("POST", "/events/default", std::string(kEnvelope),
                        {{"X-Hikyaku-Key", "s3cr3t-key-valuX"}});
  EXPECT_EQ(wrong.status, 403U);
  Reply shorter =
      request("POST", "/events/default", std::string(kEnvelope), {{"x-hikyaku-key", "s3cr3t"}});
  EXPECT_EQ(shorter.status, 403U);
  EXPECT_TRUE(bus_.calls().empty());
  Reply ok = request("POST", "/events/securityhub", std::string(kEnvelope),
                     {{"x-hikyaku-key", "s3cr3t-key-value"}});
  ASSERT_EQ(ok.status, 200U) << ok.body;
  EXPECT_EQ(Json(ok.body).str("EventId"), "6f1b3c1e-0000-4000-8000-000000000001");
  auto calls = bus_.calls();
  ASSERT_EQ(calls.size(), 1U);
  EXPECT_EQ(calls[0].bus, "securityhub");
  EXPECT_EQ(calls[0].envelopes[0].account, "111122223333");  // preserved as received
  EXPECT_EQ(calls[0].envelopes[0].time, "2026-03-01T09:15:02Z");

  Reply bad = request("POST", "/events/default", R"({"version":"0"})",
                      {{"x-hikyaku-key", "s3cr3t-key-value"}});
  EXPECT_EQ(bad.status, 400U);
  EXPECT_EQ(Json(bad.body).str("__type"), "ValidationException");

  // The PutEvents API is closed: Auth is configured but has no SigV4 credential.
  Reply api = put_events(entries_body({entry_json("s", "t", "{}")}));
  EXPECT_EQ(api.status, 403U);

  bus_.set_status(unavailable("store down"));
  Reply unavailable_reply = request("POST", "/events/default", std::string(kEnvelope),
                                    {{"x-hikyaku-key", "s3cr3t-key-value"}});
  EXPECT_EQ(unavailable_reply.status, 503U);

  for (const std::string& text :
       {metrics_text(), missing.body, wrong.body, shorter.body, bad.body}) {
    EXPECT_EQ(text.find("s3cr3t"), std::string::npos);
  }
}

TEST_F(ApiTest, HealthReadinessAndMetrics) {
  bool ready = false;
  ApiOptions options;
  options.readiness = [&] { return ready ? Status() : unavailable("store not open"); };
  options.metrics_text = [this] { return "bus_metric 1\n" + metrics_text(); };
  start(loopback_config(), std::move(options));
  EXPECT_EQ(request("GET", "/healthz").status, 200U);
  Reply not_ready = request("GET", "/readyz");
  EXPECT_EQ(not_ready.status, 503U);
  EXPECT_NE(not_ready.body.find("store not open"), std::string::npos);
  ready = true;
  EXPECT_EQ(request("GET", "/readyz").status, 200U);
  EXPECT_EQ(put_events(entries_body({entry_json("s", "t", "{}")})).status, 200U);
  Reply metrics = request("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200U);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4");
  EXPECT_EQ(metrics.body.rfind("bus_metric 1\n", 0), 0U);
  EXPECT_NE(metrics.body.find("hikyaku_ingest_entries_accepted_total{path=\"put_events\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_EQ(request("GET", "/nope").status, 404U);
  EXPECT_EQ(request("GET", "/events/default").status, 405U);
}

// /metrics names rules, targets and destinations: open on a loopback listener, behind one of
// Server.Auth.ApiKeys on any other; /healthz and /readyz stay open.
TEST_F(ApiTest, MetricsNeedAnApiKeyUnlessTheServerListensOnLoopback) {
  config::ApiKeyCredential key;
  key.header_name = "X-Scrape-Key";
  key.value = Secret("scrape-secret-7f3a");
  config::SigV4Credential signer;
  signer.access_key_id = "AKIDEXAMPLE";
  signer.secret_access_key = Secret("sigv4-secret");
  struct Case {
    std::string listen;
    bool api_key;
    bool open;
  };
  for (const Case& c : {Case{"0.0.0.0:4010", true, false}, Case{"[::]:4010", true, false},
                        Case{"192.0.2.7:0", false, false}, Case{"127.0.0.1:4010", true, true},
                        Case{"127.8.9.10:4010", false, true}, Case{"[::1]:0", true, true},
                        Case{"localhost:4010", true, true}}) {
    SCOPED_TRACE(c.listen);
    config::ServerConfig config = loopback_config();
    config.listen = c.listen;
    config.auth.sigv4_credentials = {signer};
    if (c.api_key) {
      config.auth.api_keys = {key};
    }
    start(config);
    EXPECT_EQ(request("GET", "/healthz").status, 200U);
    EXPECT_EQ(request("GET", "/readyz").status, 200U);
    Reply anonymous = request("GET", "/metrics");
    if (c.open) {
      EXPECT_EQ(anonymous.status, 200U);
      continue;
    }
    EXPECT_EQ(anonymous.status, 401U);
    EXPECT_EQ(anonymous.body.find("hikyaku_"), std::string::npos);
    if (!c.api_key) {
      continue;  // no key can open it: SigV4 credentials do not
    }
    Reply wrong = request("GET", "/metrics", "", {{"x-scrape-key", "scrape-secret-7f3b"}});
    EXPECT_EQ(wrong.status, 403U);
    EXPECT_EQ(wrong.body.find("hikyaku_"), std::string::npos);
    EXPECT_EQ(wrong.body.find("scrape-secret"), std::string::npos);
    Reply keyed = request("GET", "/metrics", "", {{"X-Scrape-Key", "scrape-secret-7f3a"}});
    EXPECT_EQ(keyed.status, 200U);
    EXPECT_NE(keyed.body.find("error_type=\"MissingAuthenticationTokenException\"} 1"),
              std::string::npos)
        << keyed.body;
    EXPECT_NE(keyed.body.find("error_type=\"AccessDeniedException\"} 1"), std::string::npos);
    EXPECT_EQ(keyed.body.find("scrape-secret"), std::string::npos);
  }
}

TEST_F(ApiTest, TheAdminApiNeedsAnAdminKeyOrALoopbackListener) {
  std::vector<AdminRequest> calls;  // handled on the calling thread here
  ApiOptions options;
  options.admin = [&calls](AdminRequest call, std::function<void(AdminAnswer)> answer) {
    calls.push_back(call);
    answer({200, "application/json", R"({"Ok":true})"});
  };
  config::ApiKeyCredential admin_key;
  admin_key.header_name = "X-Admin-Key";
  admin_key.value = Secret("admin-secret-51c2");
  config::ApiKeyCredential ingest_key;
  ingest_key.header_name = "X-Admin-Key";  // the same header, an ingest key's value
  ingest_key.value = Secret("ingest-secret-0d9e");

  // Loopback without admin keys: open.
  start(loopback_config(), options);
  Reply open = request("GET", "/admin/v1/dead-letters?rule=r1&limit=5");
  EXPECT_EQ(open.status, 200U);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "GET");
  EXPECT_EQ(calls[0].path, "/dead-letters");
  EXPECT_EQ(calls[0].query, "rule=r1&limit=5");
  EXPECT_EQ(open.headers["cache-control"], "no-store");

  // Another listener without admin keys: refused, whatever ingest key is shown.
  config::ServerConfig exposed = loopback_config();
  exposed.listen = "0.0.0.0:4010";
  exposed.auth.api_keys = {ingest_key};
  start(exposed, options);
  Reply refused = request("POST", "/admin/v1/dead-letters/redrive", R"({"All":true})",
                          {{"X-Admin-Key", "ingest-secret-0d9e"}});
  EXPECT_EQ(refused.status, 403U);
  EXPECT_NE(refused.body.find("AdminApiKeys"), std::string::npos) << refused.body;
  EXPECT_EQ(calls.size(), 1u);

  // Admin keys: needed on any listener; an ingest key is not one.
  for (const std::string listen : {"127.0.0.1:4010", "0.0.0.0:4010"}) {
    SCOPED_TRACE(listen);
    config::ServerConfig keyed = exposed;
    keyed.listen = listen;
    keyed.auth.admin_api_keys = {admin_key};
    start(keyed, options);
    const size_t before = calls.size();
    Reply missing = request("GET", "/admin/v1/rules");
    EXPECT_EQ(missing.status, 401U);
    Reply wrong = request("GET", "/admin/v1/rules", "", {{"x-admin-key", "admin-secret-51c3"}});
    EXPECT_EQ(wrong.status, 403U);
    Reply ingest = request("GET", "/admin/v1/rules", "", {{"x-admin-key", "ingest-secret-0d9e"}});
    EXPECT_EQ(ingest.status, 403U);
    for (const Reply& reply : {missing, wrong, ingest}) {
      EXPECT_EQ(reply.body.find("secret"), std::string::npos) << reply.body;
      EXPECT_EQ(reply.headers.at("content-type"), "application/json");
    }
    EXPECT_EQ(calls.size(), before);
    Reply allowed = request("POST", "/admin/v1/dead-letters/purge", R"({"Ids":[1]})",
                            {{"x-admin-key", "admin-secret-51c2"}});
    EXPECT_EQ(allowed.status, 200U);
    ASSERT_EQ(calls.size(), before + 1);
    EXPECT_EQ(calls.back().path, "/dead-letters/purge");
    EXPECT_EQ(calls.back().body, R"({"Ids":[1]})");
  }

  // Without a handler the paths do not exist.
  start(loopback_config());
  EXPECT_EQ(request("GET", "/admin/v1/rules").status, 404U);
}

// The console's files need no key (they hold no data) and carry the headers that keep a hostile
// string in the data from running as script; its data calls still need the admin key.
TEST_F(ApiTest, TheConsoleIsServedWithItsSecurityHeadersAndNoData) {
  std::vector<AdminRequest> calls;
  ApiOptions options;
  options.admin = [&calls](AdminRequest call, std::function<void(AdminAnswer)> answer) {
    calls.push_back(call);
    answer({200, "application/json", R"({"Rules":[]})"});
  };
  config::ApiKeyCredential admin_key;
  admin_key.header_name = "X-Hikyaku-Admin-Key";
  admin_key.value = Secret("admin-secret-7e21");
  config::ServerConfig keyed = loopback_config();
  keyed.listen = "0.0.0.0:4010";
  keyed.auth.admin_api_keys = {admin_key};
  start(keyed, options);

  const auto expect_console_headers = [](Reply& reply) {
    EXPECT_EQ(reply.headers["cache-control"], "no-store");
    EXPECT_EQ(reply.headers["x-content-type-options"], "nosniff");
    EXPECT_EQ(reply.headers["referrer-policy"], "no-referrer");
    const std::string policy = reply.headers["content-security-policy"];
    EXPECT_NE(policy.find("default-src 'none'"), std::string::npos) << policy;
    EXPECT_NE(policy.find("script-src 'self'"), std::string::npos) << policy;
    EXPECT_NE(policy.find("frame-ancestors 'none'"), std::string::npos) << policy;
    EXPECT_EQ(policy.find("unsafe-inline"), std::string::npos) << policy;
    EXPECT_EQ(policy.find("unsafe-eval"), std::string::npos) << policy;
  };
  for (const char* path : {"/console", "/console/", "/console/index.html"}) {
    SCOPED_TRACE(path);
    Reply page = request("GET", path);
    EXPECT_EQ(page.status, 200U);
    EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
    EXPECT_NE(page.body.find("<script src=\"/console/console.js\""), std::string::npos);
    // No inline script: the policy would refuse it anyway.
    EXPECT_EQ(page.body.find("<script>"), std::string::npos);
    expect_console_headers(page);
  }
  Reply script = request("GET", "/console/console.js");
  EXPECT_EQ(script.status, 200U);
  EXPECT_EQ(script.headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_NE(script.body.find("textContent"), std::string::npos);
  EXPECT_EQ(script.body.find("innerHTML"), std::string::npos);
  expect_console_headers(script);
  Reply style = request("GET", "/console/console.css");
  EXPECT_EQ(style.status, 200U);
  EXPECT_EQ(style.headers["content-type"], "text/css; charset=utf-8");
  expect_console_headers(style);

  // The key's header name (not a secret) for the page; never its value.
  Reply settings = request("GET", "/console/config.json");
  EXPECT_EQ(settings.status, 200U);
  EXPECT_EQ(settings.headers["content-type"], "application/json");
  EXPECT_EQ(settings.body, R"({"AdminKeyHeader":"X-Hikyaku-Admin-Key"})");
  expect_console_headers(settings);

  for (const char* path : {"/console/missing.js", "/console/../admin/v1/rules",
                           "/console/console.js/x", "/consolex", "/console/.."}) {
    SCOPED_TRACE(path);
    Reply missing = request("GET", path);
    EXPECT_EQ(missing.status, 404U);
    EXPECT_EQ(missing.body.find("Rules"), std::string::npos);
  }
  Reply posted = request("POST", "/console/", "x");
  EXPECT_EQ(posted.status, 405U);
  EXPECT_EQ(posted.headers["allow"], "GET");

  // No data without the key, even for a caller that loaded the console.
  EXPECT_EQ(request("GET", "/admin/v1/rules").status, 401U);
  EXPECT_TRUE(calls.empty());
  EXPECT_EQ(
      request("GET", "/admin/v1/rules", "", {{"X-Hikyaku-Admin-Key", "admin-secret-7e21"}}).status,
      200U);
  EXPECT_EQ(calls.size(), 1u);

  // Without admin keys (open on loopback) the page is told no key is needed.
  start(loopback_config(), options);
  EXPECT_EQ(request("GET", "/console/config.json").body, R"({"AdminKeyHeader":null})");

  // Without an admin API there is no console either.
  start(loopback_config());
  EXPECT_EQ(request("GET", "/console/").status, 404U);
}

// Every series the server has always exposed, by name and labels (dashboards read them).
TEST_F(ApiTest, MetricNamesAndLabelsAreStable) {
  start(loopback_config());
  const std::string text = metrics_text();
  std::vector<std::string> expected = {
      "hikyaku_ingest_entries_accepted_total{path=\"put_events\"} 0",
      "hikyaku_ingest_entries_accepted_total{path=\"webhook\"} 0",
      "hikyaku_http_requests_total 0",
      "hikyaku_http_connections_active 0",
      "hikyaku_http_connections_accepted_total 0",
      "hikyaku_http_connections_refused_total 0",
      "hikyaku_http_request_timeouts_total 0",
      "hikyaku_http_malformed_requests_total 0",
      "# TYPE hikyaku_http_connections_active gauge",
      "# TYPE hikyaku_http_requests_total counter",
  };
  for (std::string_view path : {"put_events", "webhook"}) {
    for (std::string_view code : ServerMetrics::kEntryErrorCodes) {
      expected.push_back(fmt::format(
          R"(hikyaku_ingest_entries_rejected_total{{path="{}",error_code="{}"}} 0)", path, code));
    }
  }
  for (std::string_view type : ServerMetrics::kRequestErrorTypes) {
    expected.push_back(
        fmt::format(R"(hikyaku_http_request_errors_total{{error_type="{}"}} 0)", type));
  }
  for (const std::string& line : expected) {
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << line << "\n" << text;
  }
}

// A bus that breaks EventBus's contract: it answers with no status at all.
class MiscountingBus : public test::FakeBus {
 public:
  void ingest(std::string_view, std::vector<Envelope>, IngestDone done) override { done({}); }
};

// A broken invariant is not served on (core/check.h): the process says why and aborts.
TEST(ApiDeathTest, BusAnsweringTheWrongNumberOfStatusesIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto call = [](std::string target, std::string body, Headers headers) {
    MiscountingBus bus;
    testing::FakeClock clock;
    Api api(loopback_config(), bus, clock, {});
    HttpRequest request;
    request.method = "POST";
    request.target = std::move(target);
    request.headers = std::move(headers);
    request.body = std::move(body);
    api.handle(request, [](const HttpResponse&) {});
  };
  EXPECT_DEATH(call("/", entries_body({entry_json("s", "t", "{}")}), amz_headers("PutEvents")),
               "the bus answered 0 statuses for 1 events");
  EXPECT_DEATH(call("/events/default", std::string(kEnvelope), {}),
               "the bus answered 0 statuses for 1 event");
}

}  // namespace
}  // namespace hikyaku::server
