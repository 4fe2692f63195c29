#pragma once
// Secret: a string that must never reach a log, an error, a metric, a DLQ record or admin output.
//
// It has no operator<< and its fmt formatter prints "***"; the only way to the clear text is
// reveal(), used where the value is actually needed (building the outgoing request). Grep for
// reveal() to audit every place a secret is used.
//
// Thread safety: a plain value.

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>

namespace hikyaku {

class Secret {
 public:
  static constexpr std::string_view kMask = "***";

  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

  // "***" when set, "" when empty: what any display of the secret shows.
  std::string_view masked() const { return value_.empty() ? std::string_view() : kMask; }

  friend bool operator==(const Secret&, const Secret&) = default;

 private:
  std::string value_;
};

}  // namespace hikyaku

template <>
struct fmt::formatter<hikyaku::Secret> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const hikyaku::Secret& secret, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(secret.masked(), ctx);
  }
};
