// The admin API's readers of what a caller sends: query strings (filters, paging, times) and the
// redrive / purge selection bodies. Hostile text gives a value or a clear error.

#include "admin/internal/handlers.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hikyaku;  // NOLINT(google-build-using-namespace): a fuzzer's entry point
  const auto [query_text, body] = fuzz::split_first_line(fuzz::as_text(data, size));
  Result<admin::internal::Query> query = admin::internal::Query::parse(query_text);
  if (query.has_value()) {
    (void)admin::internal::filter_from_query(*query);
    (void)query->integer("limit", 1, 1000, 100);
    if (std::optional<std::string> since = query->get("since")) {
      (void)admin::internal::parse_time("since", *since);
    }
  }
  (void)admin::internal::parse_selection(body, true);
  (void)admin::internal::parse_selection(body, false);
  return 0;
}
