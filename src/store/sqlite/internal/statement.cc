#include "store/sqlite/internal/statement.h"

#include <fmt/format.h>

namespace hikyaku::store::internal {

Status sqlite_error(sqlite3* db, std::string_view doing) {
  return unavailable(fmt::format("sqlite: {}: {}", doing, sqlite3_errmsg(db)));
}

Status exec(sqlite3* db, const char* sql, std::string_view doing) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return unavailable(fmt::format("sqlite: {}: {}", doing, text));
  }
  return ok_status();
}

}  // namespace hikyaku::store::internal
