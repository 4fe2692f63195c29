#pragma once
// A target's SplitBy (hikyaku's key): one event in, one event per element of an array in it out,
// each the original event with that array holding only that element. With
// `SplitBy: "$.detail.findings"`, a Security Hub event carrying three findings becomes three
// events of one finding each, so a template's `$.detail.findings[0]` paths address each finding
// in turn (docs/input-transformer.md §9).
//
//   HK_ASSIGN_OR_RETURN(EventSplitter splitter, EventSplitter::compile("$.detail.findings"));
//   std::vector<std::string> pieces;
//   HK_RETURN_IF_ERROR(splitter.split(event_json, pieces));
//
// Each piece keeps every byte of the event outside the array as it was; the element is copied as
// written. When the path leads nowhere or to something that is not an array, the event is one
// piece as it is (a target with SplitBy still receives events without the array); an empty
// array gives no piece.
//
// Thread safety: immutable once compiled; split() may run on many threads at once.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hikyaku::transform {

class EventSplitter {
 public:
  // `path`: `$` followed by one or more `.name` steps (names of letters, digits, `-`, `_`, `/`).
  // Errors: kInvalidArgument saying what is wrong with the path.
  static Result<EventSplitter> compile(std::string_view path);

  const std::string& path() const { return path_; }

  // Replaces `pieces` with the pieces of `event_json`. Errors: kInvalidArgument when the event is
  // not a JSON object.
  Status split(std::string_view event_json, std::vector<std::string>& pieces) const;

 private:
  EventSplitter(std::string path, std::vector<std::string> names)
      : path_(std::move(path)), names_(std::move(names)) {}
  std::string path_;
  std::vector<std::string> names_;  // the member names the path walks through
};

}  // namespace hikyaku::transform
