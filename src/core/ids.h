#pragma once
// Identifiers for events.
//
// Thread safety: all functions are thread-safe (per-thread random state).

#include <string>

namespace hikyaku {

// A random version-4 UUID, lower-case hex ("6a7e8feb-b491-4cf7-a9f1-bf3703467718"), as
// EventBridge gives every event.
std::string new_uuid_v4();

}  // namespace hikyaku
