#pragma once
// Internal to the admin API: the query-string and body readers every route shares, the error
// answers, and one function per route (admin_api.cc routes to them).
//
// Thread safety: pure functions of their arguments and the Sources' thread-safe parts.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_api.h"
#include "core/status.h"
#include "store/store.h"

namespace hikyaku::admin::internal {

// A decoded query string ("a=1&b=x%20y"); the last of repeated names wins.
class Query {
 public:
  static Result<Query> parse(std::string_view query);
  // The value of `name`, or nullopt when absent.
  std::optional<std::string> get(std::string_view name) const;
  // An integer in [min, max] (`fallback` when absent). kInvalidArgument naming the parameter.
  Result<int64_t> integer(std::string_view name, int64_t min, int64_t max, int64_t fallback) const;

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

// A time given as RFC 3339 or as epoch seconds; milliseconds since the epoch.
Result<int64_t> parse_time(std::string_view what, std::string_view text);

// The dead-letter filter of a query (rule, target, error_code, since, until).
Result<store::DeadLetterFilter> filter_from_query(const Query& query);

// Which letters a redrive or purge concerns: {"Ids": [...]} or {"All": true, "Rule", "Target",
// "ErrorCode", "Since", "Until"}; "AsRecorded" for a redrive.
struct Selection {
  std::vector<int64_t> ids;
  bool all = false;
  store::DeadLetterFilter filter;
  bool as_recorded = false;
};
Result<Selection> parse_selection(std::string_view body, bool allow_as_recorded);

// {"Error": {"Code": code, "Message": message}}.
Response error_response(unsigned status, std::string_view code, std::string_view message);
// The answer for a Status that is not ok (kInvalidArgument 400, kNotFound 404, else 503).
Response status_response(const Status& status);

Response list_dead_letters(const Sources& sources, const Query& query);
Response show_dead_letter(const Sources& sources, int64_t id);
Response redrive_dead_letters(const Sources& sources, std::string_view body);
Response purge_dead_letters(const Sources& sources, std::string_view body);
Response list_deliveries(const Sources& sources, const Query& query);
Response list_destinations(const Sources& sources);
Response list_tickets(const Sources& sources, const Query& query);
Response list_rules(const Sources& sources);
Response show_counts(const Sources& sources);
Response test_event(const Sources& sources, const Query& query, std::string_view body);

// Epoch milliseconds as RFC 3339 with milliseconds ("2026-12-04T01:02:03.456Z").
std::string time_text(int64_t epoch_ms);

}  // namespace hikyaku::admin::internal
