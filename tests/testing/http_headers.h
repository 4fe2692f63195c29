#pragma once
// HTTP header fields as the test helpers hand them out: names lower-cased, looked up without
// regard to case (`headers.at("Retry-After")` finds "retry-after"). A field sent several times
// holds its values joined with ", ", as RFC 9110 §5.3 allows for a list.
//
// Thread safety: a plain value.

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <string_view>

namespace hikyaku::testing {

struct CaseInsensitiveLess {
  using is_transparent = void;  // NOLINT(readability-identifier-naming): the standard's name
  bool operator()(std::string_view a, std::string_view b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](unsigned char x, unsigned char y) { return std::tolower(x) < std::tolower(y); });
  }
  static bool equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && !CaseInsensitiveLess()(a, b) && !CaseInsensitiveLess()(b, a);
  }
};

using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;

// The value of `name`, or "" when it is absent.
inline std::string header_value(const Headers& headers, std::string_view name) {
  const auto found = headers.find(name);
  return found == headers.end() ? std::string() : found->second;
}

}  // namespace hikyaku::testing
