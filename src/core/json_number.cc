#include "core/json_number.h"

namespace hikyaku {
namespace {

bool is_digit_at(const char* p, const char* end) { return p < end && *p >= '0' && *p <= '9'; }

const char* skip_digits(const char* p, const char* end) {
  while (is_digit_at(p, end)) {
    ++p;
  }
  return p;
}

}  // namespace

const char* scan_json_number(const char* p, const char* end) {
  if (p < end && *p == '-') {
    ++p;
  }
  if (!is_digit_at(p, end)) {
    return nullptr;
  }
  p = *p == '0' ? p + 1 : skip_digits(p, end);
  if (p < end && *p == '.') {
    ++p;
    if (!is_digit_at(p, end)) {
      return nullptr;
    }
    p = skip_digits(p, end);
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end && (*p == '+' || *p == '-')) {
      ++p;
    }
    if (!is_digit_at(p, end)) {
      return nullptr;
    }
    p = skip_digits(p, end);
  }
  return p;
}

bool is_json_number(std::string_view text) {
  const char* end = text.data() + text.size();
  return scan_json_number(text.data(), end) == end && !text.empty();
}

}  // namespace hikyaku
