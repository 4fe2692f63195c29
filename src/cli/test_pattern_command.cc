// `hikyaku test-pattern`: does an event pattern match an event? (AWS's TestEventPattern, offline.)
//
//   hikyaku test-pattern --pattern PATTERN --event EVENT [--explain]
//       PATTERN and EVENT are JSON text, or @FILE. Prints "true" or "false", exit 0; with
//       --explain a "false" is followed by the reason (field and condition), one line per $or
//       combination. An invalid pattern or event: "error: ..." on stderr, exit 2.
//   hikyaku test-pattern --batch FILE          (FILE may be "-" for stdin)
//       Each line: {"pattern": "<pattern JSON as a string>", "event": "<event JSON as a string>"}.
//       Prints one line per input line, in order: "match", "nomatch", "invalid: <message>" (bad
//       pattern) or "invalid-event: <message>" (bad event, or a batch line that is not such an
//       object). Exit 0 once every line is answered; 2 if FILE cannot be read or a line is longer
//       than kMaxArgumentFileBytes (the lines before it are answered).
#include <simdjson.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "core/file.h"
#include "pattern/pattern.h"

namespace hikyaku::cli {
namespace {

// Strips the "pattern: " / "event: " context that pattern::matches() adds.
std::string without_prefix(const std::string& message, std::string_view prefix) {
  return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

std::string answer_line(simdjson::dom::parser& parser, const std::string& line) {
  simdjson::dom::element doc;
  std::string_view pattern;
  std::string_view event;
  if (parser.parse(line).get(doc) != simdjson::SUCCESS ||
      doc["pattern"].get_string().get(pattern) != simdjson::SUCCESS ||
      doc["event"].get_string().get(event) != simdjson::SUCCESS) {
    return R"(invalid-event: batch line must be {"pattern": string, "event": string})";
  }
  Result<bool> r = pattern::matches(pattern, event);
  if (r.has_value()) {
    return *r ? "match" : "nomatch";
  }
  const std::string& message = r.error().message();
  if (message.starts_with("event: ")) {
    return "invalid-event: " + without_prefix(message, "event: ");
  }
  return "invalid: " + without_prefix(message, "pattern: ");
}

int run_batch(const std::string& path) {
  Result<LineReader> reader = LineReader::open(path, kMaxArgumentFileBytes);
  if (!reader.has_value()) {
    std::fprintf(stderr, "error: %s\n", reader.error().message().c_str());
    return 2;
  }
  simdjson::dom::parser parser;
  std::string out;
  while (true) {
    Result<std::optional<std::string_view>> line = reader->next();
    if (!line.has_value()) {
      std::fflush(stdout);
      std::fprintf(stderr, "error: %s\n", line.error().message().c_str());
      return 2;
    }
    if (!line->has_value()) {
      break;
    }
    out = answer_line(parser, std::string(**line));
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  return 0;
}

int run_single(const std::string& pattern_arg, const std::string& event_arg, bool explain) {
  Result<std::string> pattern_json = text_or_file(pattern_arg, kMaxArgumentFileBytes);
  if (!pattern_json) {
    std::fprintf(stderr, "error: %s\n", pattern_json.error().message().c_str());
    return 2;
  }
  Result<std::string> event_json = text_or_file(event_arg, kMaxArgumentFileBytes);
  if (!event_json) {
    std::fprintf(stderr, "error: %s\n", event_json.error().message().c_str());
    return 2;
  }
  if (explain) {
    Result<pattern::Explanation> e = pattern::explain(*pattern_json, *event_json);
    if (!e.has_value()) {
      std::fprintf(stderr, "error: %s\n", e.error().message().c_str());
      return 2;
    }
    std::printf("%s\n", e->matched ? "true" : "false");
    if (!e->matched) {
      std::printf("%s\n", e->reason.c_str());
    }
    return 0;
  }
  Result<bool> r = pattern::matches(*pattern_json, *event_json);
  if (!r.has_value()) {
    std::fprintf(stderr, "error: %s\n", r.error().message().c_str());
    return 2;
  }
  std::printf("%s\n", *r ? "true" : "false");
  return 0;
}

}  // namespace

void add_test_pattern_command(CLI::App& app, int& exit_code) {
  auto* command = app.add_subcommand(
      "test-pattern",
      "Test an EventBridge event pattern against an event: prints true or false (exit 0); an "
      "invalid pattern or event prints \"error: ...\" and exits 2. --batch answers many cases, "
      "one JSON line each.");
  struct Options {
    std::string pattern;
    std::string event;
    std::string batch;
    bool explain = false;
  };
  auto options = std::make_shared<Options>();
  auto* pattern_opt =
      command->add_option("-p,--pattern", options->pattern, "pattern JSON, or @FILE");
  auto* event_opt = command->add_option("-e,--event", options->event, "event JSON, or @FILE");
  command->add_flag("--explain", options->explain,
                    "when the pattern does not match, say which field and condition failed");
  auto* batch_opt = command->add_option(
      "--batch", options->batch,
      "FILE (or - for stdin) of JSON lines {\"pattern\": string, \"event\": string}; prints "
      "match, nomatch, invalid: MESSAGE or invalid-event: MESSAGE per line");
  batch_opt->excludes(pattern_opt)->excludes(event_opt);
  command->callback([options, pattern_opt, event_opt, batch_opt, &exit_code] {
    if (batch_opt->count() > 0) {
      exit_code = run_batch(options->batch);
      return;
    }
    if (pattern_opt->count() == 0 || event_opt->count() == 0) {
      std::fprintf(stderr, "error: test-pattern needs --pattern and --event (or --batch FILE)\n");
      exit_code = 2;
      return;
    }
    exit_code = run_single(options->pattern, options->event, options->explain);
  });
}

}  // namespace hikyaku::cli
