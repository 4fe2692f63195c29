#pragma once
// Names in NATS subjects and KV keys. A target key, an archive name or a KV key may hold any
// byte, but a subject token may not hold '.', spaces, '*' or '>', and a KV key only
// [-/_=.A-Za-z0-9]. escape() keeps A-Z a-z 0-9 '-' '_' '/' as they are (the usual names read
// the same in `nats` tools) and writes every other byte as '=' and two upper-case hex digits;
// unescape() undoes it. The empty name is "=" (a token may not be empty); no result holds '.'.

#include <optional>
#include <string>
#include <string_view>

namespace hikyaku::store::internal {

std::string escape_name(std::string_view name);
// None when `token` is not something escape_name() wrote.
std::optional<std::string> unescape_name(std::string_view token);

}  // namespace hikyaku::store::internal
