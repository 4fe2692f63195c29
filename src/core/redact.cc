#include "core/redact.h"

#include <array>
#include <cctype>

namespace hikyaku {
namespace {

bool contains_ignore_case(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) {
    return false;
  }
  for (size_t start = 0; start + needle.size() <= haystack.size(); ++start) {
    bool equal = true;
    for (size_t i = 0; i < needle.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(haystack[start + i])) != needle[i]) {
        equal = false;
        break;
      }
    }
    if (equal) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool is_secret_parameter_name(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kMarkers = {
      "key", "token", "secret", "password", "passwd", "signature", "credential", "auth"};
  for (std::string_view marker : kMarkers) {
    if (contains_ignore_case(name, marker)) {
      return true;
    }
  }
  return false;
}

std::string redact_url(std::string_view url) {
  std::string out;
  out.reserve(url.size());

  // Userinfo: scheme://user:password@host -> scheme://user:***@host
  size_t authority_start = url.find("://");
  size_t rest = 0;
  if (authority_start != std::string_view::npos) {
    authority_start += 3;
    const size_t authority_end = url.find_first_of("/?#", authority_start);
    const std::string_view authority = url.substr(
        authority_start,
        (authority_end == std::string_view::npos ? url.size() : authority_end) - authority_start);
    const size_t at = authority.rfind('@');
    out.append(url.substr(0, authority_start));
    if (at != std::string_view::npos) {
      const std::string_view userinfo = authority.substr(0, at);
      const size_t colon = userinfo.find(':');
      if (colon != std::string_view::npos) {
        out.append(userinfo.substr(0, colon + 1));
        out.append("***");
      } else {
        out.append(userinfo);
      }
      out.append(authority.substr(at));
    } else {
      out.append(authority);
    }
    rest = authority_start + authority.size();
  }

  // Query: mask the value of each secret-named parameter up to the next '&' or '#'.
  const size_t query = url.find('?', rest);
  if (query == std::string_view::npos) {
    out.append(url.substr(rest));
    return out;
  }
  out.append(url.substr(rest, query + 1 - rest));
  size_t position = query + 1;
  while (position <= url.size()) {
    size_t end = url.find_first_of("&#", position);
    if (end == std::string_view::npos) {
      end = url.size();
    }
    const std::string_view parameter = url.substr(position, end - position);
    const size_t equals = parameter.find('=');
    if (equals != std::string_view::npos && is_secret_parameter_name(parameter.substr(0, equals)) &&
        equals + 1 < parameter.size()) {
      out.append(parameter.substr(0, equals + 1));
      out.append("***");
    } else {
      out.append(parameter);
    }
    if (end == url.size()) {
      break;
    }
    out += url[end];
    if (url[end] == '#') {
      out.append(url.substr(end + 1));
      break;
    }
    position = end + 1;
  }
  return out;
}

}  // namespace hikyaku
