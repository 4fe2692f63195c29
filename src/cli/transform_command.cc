// `hikyaku transform`: renders a target's input for one event, or for a batch of requests.
//
//   hikyaku transform --event EVENT (--input-transformer T | --input-paths P --template TPL
//                     | --input J | --input-path PATH) [--rule-name NAME] [--form]
//   hikyaku transform --batch FILE|-
//
// EVENT, T, P and J are JSON text or @FILE; TPL is template text or @FILE. Bad input prints
// "error: ..." on stderr and exits 2. A batch prints one JSON line per input line:
// {"output": "..."} or {"error": "..."}, and exits 0 unless the batch itself cannot be read (or
// a line is longer than kMaxArgumentFileBytes: exit 2 after answering the lines before it).
#include <simdjson.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "core/arn.h"
#include "core/clock.h"
#include "core/file.h"
#include "core/json_writer.h"
#include "core/status.h"
#include "core/time.h"
#include "transform/transformer.h"

namespace hikyaku::cli {
namespace {

using transform::BodyEncoding;
using transform::InputTransformerSpec;
using transform::TargetInput;
using transform::Transformer;

struct TransformOptions {
  std::string event;
  std::string input_transformer;
  std::string input_paths;
  std::string template_text;
  std::string input;
  std::string input_path;
  std::string rule_name;
  std::string rule_arn;
  std::string ingestion_time;
  std::string batch;
  bool form = false;
};

// One rendering request, from the command line or a batch line.
struct Request {
  std::string event;
  TargetInput target;
  std::string rule_name;
  std::string rule_arn;        // empty: derived from the event's region and account
  std::string ingestion_time;  // empty: now
};

// "@FILE" -> the file's content (capped); anything else -> itself. Errors name the option.
Result<std::string> text_or_file(const std::string& value, const char* option) {
  Result<std::string> text = hikyaku::text_or_file(value, kMaxArgumentFileBytes);
  if (!text) {
    return text.error().with_context(option);
  }
  return text;
}

Status json_error(std::string_view what, simdjson::error_code error) {
  return invalid_argument(std::string(what) + ": not valid JSON (" +
                          simdjson::error_message(error) + ")");
}

Result<std::vector<std::pair<std::string, std::string>>> parse_paths_map(
    simdjson::dom::element element, std::string_view what) {
  simdjson::dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) {
    return invalid_argument(std::string(what) + ": must be a JSON object of name -> path");
  }
  std::vector<std::pair<std::string, std::string>> paths;
  for (auto field : object) {
    std::string_view path;
    if (field.value.get_string().get(path) != simdjson::SUCCESS) {
      return invalid_argument(std::string(what) + "." + std::string(field.key) +
                              ": the path must be a string");
    }
    paths.emplace_back(std::string(field.key), std::string(path));
  }
  return paths;
}

// {"InputPathsMap": {...}, "InputTemplate": "..."}
Result<InputTransformerSpec> parse_input_transformer(simdjson::dom::element element) {
  simdjson::dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) {
    return invalid_argument(
        "InputTransformer: must be a JSON object with InputPathsMap and InputTemplate");
  }
  InputTransformerSpec spec;
  bool has_template = false;
  for (auto field : object) {
    if (field.key == "InputPathsMap") {
      HK_ASSIGN_OR_RETURN(spec.input_paths_map,
                          parse_paths_map(field.value, "InputTransformer.InputPathsMap"));
    } else if (field.key == "InputTemplate") {
      std::string_view text;
      if (field.value.get_string().get(text) != simdjson::SUCCESS) {
        return invalid_argument("InputTransformer.InputTemplate: must be a string");
      }
      spec.input_template = std::string(text);
      has_template = true;
    } else {
      return invalid_argument("InputTransformer: unknown key \"" + std::string(field.key) +
                              "\" (expected InputPathsMap, InputTemplate)");
    }
  }
  if (!has_template) {
    return invalid_argument("InputTransformer: InputTemplate is required");
  }
  return spec;
}

Result<InputTransformerSpec> parse_input_transformer_text(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  if (auto error = parser.parse(text).get(element)) {
    return json_error("InputTransformer", error);
  }
  return parse_input_transformer(element);
}

std::string string_member(simdjson::dom::element event, const char* key) {
  std::string_view value;
  if (event[key].get_string().get(value) != simdjson::SUCCESS) {
    return "";
  }
  return std::string(value);
}

Result<std::string> run_request(const Request& request) {
  simdjson::dom::parser parser;
  simdjson::dom::element event;
  if (auto error = parser.parse(request.event).get(event)) {
    return json_error("event", error);
  }
  if (!event.is<simdjson::dom::object>()) {
    return invalid_argument("event: must be a JSON object (an EventBridge event envelope)");
  }
  HK_ASSIGN_OR_RETURN(const Transformer transformer, Transformer::compile(request.target));

  const std::string ingestion_time = request.ingestion_time.empty()
                                         ? format_rfc3339_seconds(SystemClock::instance().now())
                                         : request.ingestion_time;
  const std::string arn =
      request.rule_arn.empty()
          ? hikyaku::rule_arn(string_member(event, "region"), string_member(event, "account"), "",
                              request.rule_name)
          : request.rule_arn;
  const transform::RenderContext context{request.rule_name, arn, ingestion_time};
  return transformer.render(request.event, context);
}

// One batch line -> the JSON line to print.
std::string run_batch_line(std::string_view line) {
  JsonWriter out;
  out.begin_object();
  auto fail = [&out](const Status& status) {
    out.key("error");
    out.string(status.message());
    out.end_object();
    return out.take();
  };
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(line.data(), line.size()).get(root)) {
    return fail(json_error("batch line", error));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return fail(invalid_argument("batch line: must be a JSON object"));
  }
  Request request;
  bool has_event = false;
  for (auto field : object) {
    const std::string_view key = field.key;
    std::string_view text;
    const bool is_string = field.value.get_string().get(text) == simdjson::SUCCESS;
    if (key == "event") {
      // The event's JSON text as a string; an object is taken as the event itself.
      request.event = is_string ? std::string(text) : simdjson::to_string(field.value);
      has_event = true;
    } else if (key == "input_transformer") {
      Result<InputTransformerSpec> spec = is_string
                                              ? parse_input_transformer_text(std::string(text))
                                              : parse_input_transformer(field.value);
      if (!spec) {
        return fail(spec.error());
      }
      request.target.input_transformer = std::move(spec).value();
    } else if (key == "input") {
      request.target.input = is_string ? std::string(text) : simdjson::to_string(field.value);
    } else if (key == "input_path" && is_string) {
      request.target.input_path = std::string(text);
    } else if (key == "rule_name" && is_string) {
      request.rule_name = std::string(text);
    } else if (key == "rule_arn" && is_string) {
      request.rule_arn = std::string(text);
    } else if (key == "ingestion_time" && is_string) {
      request.ingestion_time = std::string(text);
    } else if (key == "body_encoding" && is_string) {
      Result<BodyEncoding> encoding = transform::parse_body_encoding(text);
      if (!encoding) {
        return fail(encoding.error());
      }
      request.target.body_encoding = *encoding;
    } else if (key == "form" && field.value.is<bool>()) {
      request.target.body_encoding =
          field.value.get_bool().value_unsafe() ? BodyEncoding::kForm : BodyEncoding::kJson;
    } else {
      return fail(
          invalid_argument("batch line: unknown or mistyped key \"" + std::string(key) + "\""));
    }
  }
  if (!has_event) {
    return fail(invalid_argument("batch line: \"event\" is required"));
  }
  Result<std::string> output = run_request(request);
  if (!output) {
    return fail(output.error());
  }
  out.key("output");
  out.string(*output);
  out.end_object();
  return out.take();
}

int run_batch(const std::string& source) {
  Result<LineReader> reader = LineReader::open(source, kMaxArgumentFileBytes);
  if (!reader.has_value()) {
    std::fprintf(stderr, "error: --batch: %s\n", reader.error().message().c_str());
    return 2;
  }
  while (true) {
    Result<std::optional<std::string_view>> line = reader->next();
    if (!line.has_value()) {
      std::fflush(stdout);
      std::fprintf(stderr, "error: --batch: %s\n", line.error().message().c_str());
      return 2;
    }
    if (!line->has_value()) {
      break;
    }
    if ((*line)->find_first_not_of(" \t") == std::string_view::npos) {
      continue;
    }
    const std::string result = run_batch_line(**line);
    std::fwrite(result.data(), 1, result.size(), stdout);
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);
  return 0;
}

Result<Request> request_from_options(const TransformOptions& options) {
  Request request;
  HK_ASSIGN_OR_RETURN(request.event, text_or_file(options.event, "--event"));
  const int forms = static_cast<int>(!options.input_transformer.empty()) +
                    static_cast<int>(!options.template_text.empty()) +
                    static_cast<int>(!options.input.empty()) +
                    static_cast<int>(!options.input_path.empty());
  if (forms > 1) {
    return invalid_argument(
        "give only one of --input-transformer, --input-paths/--template, --input, --input-path");
  }
  if (!options.input_paths.empty() && options.template_text.empty()) {
    return invalid_argument("--input-paths needs --template");
  }
  if (!options.input_transformer.empty()) {
    HK_ASSIGN_OR_RETURN(const std::string text,
                        text_or_file(options.input_transformer, "--input-transformer"));
    HK_ASSIGN_OR_RETURN(request.target.input_transformer, parse_input_transformer_text(text));
  } else if (!options.template_text.empty()) {
    InputTransformerSpec spec;
    HK_ASSIGN_OR_RETURN(spec.input_template, text_or_file(options.template_text, "--template"));
    if (!options.input_paths.empty()) {
      HK_ASSIGN_OR_RETURN(const std::string text,
                          text_or_file(options.input_paths, "--input-paths"));
      simdjson::dom::parser parser;
      simdjson::dom::element element;
      if (auto error = parser.parse(text).get(element)) {
        return json_error("--input-paths", error);
      }
      HK_ASSIGN_OR_RETURN(spec.input_paths_map, parse_paths_map(element, "InputPathsMap"));
    }
    request.target.input_transformer = std::move(spec);
  } else if (!options.input.empty()) {
    HK_ASSIGN_OR_RETURN(request.target.input, text_or_file(options.input, "--input"));
  } else if (!options.input_path.empty()) {
    request.target.input_path = options.input_path;
  }
  request.target.body_encoding = options.form ? BodyEncoding::kForm : BodyEncoding::kJson;
  request.rule_name = options.rule_name;
  request.rule_arn = options.rule_arn;
  request.ingestion_time = options.ingestion_time;
  return request;
}

int run_transform(const TransformOptions& options) {
  if (!options.batch.empty()) {
    if (!options.event.empty()) {
      std::fputs("error: --batch cannot be combined with --event\n", stderr);
      return 2;
    }
    return run_batch(options.batch);
  }
  if (options.event.empty()) {
    std::fputs("error: --event (or --batch) is required\n", stderr);
    return 2;
  }
  Result<Request> request = request_from_options(options);
  if (!request) {
    std::fprintf(stderr, "error: %s\n", request.error().message().c_str());
    return 2;
  }
  Result<std::string> output = run_request(*request);
  if (!output) {
    std::fprintf(stderr, "error: %s\n", output.error().message().c_str());
    return 2;
  }
  std::fwrite(output->data(), 1, output->size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace

void add_transform_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<TransformOptions>();
  CLI::App* command = app.add_subcommand(
      "transform",
      "Render what a rule target receives for an event (Input, InputPath or InputTransformer, "
      "EventBridge-compatible; JSON templates always give valid JSON)");
  command->add_option("--event", options->event, "The event envelope: JSON text or @FILE");
  command->add_option("--input-transformer", options->input_transformer,
                      R"({"InputPathsMap": {...}, "InputTemplate": "..."}: JSON text or @FILE)");
  command->add_option("--input-paths", options->input_paths,
                      "InputPathsMap (name -> JSONPath): JSON text or @FILE");
  command->add_option("--template", options->template_text,
                      "InputTemplate: template text or @FILE");
  command->add_option("--input", options->input, "Input, a constant JSON text: text or @FILE");
  command->add_option("--input-path", options->input_path,
                      "InputPath, a JSONPath such as $.detail");
  command->add_option("--rule-name", options->rule_name, "Value of <aws.events.rule-name>");
  command->add_option("--rule-arn", options->rule_arn,
                      "Value of <aws.events.rule-arn> (default: built from the event's region, "
                      "account and --rule-name)");
  command->add_option("--ingestion-time", options->ingestion_time,
                      "Value of <aws.events.event.ingestion-time> (default: now, "
                      "YYYY-MM-DDTHH:MM:SSZ)");
  command->add_flag("--form", options->form,
                    "BodyEncoding FORM: send the JSON output as application/x-www-form-urlencoded");
  command->add_option("--batch", options->batch,
                      "Render each line of FILE (- for stdin): {\"event\": \"...\", "
                      "\"input_transformer\"|\"input\"|\"input_path\": ...}");
  command->callback([options, &exit_code] { exit_code = run_transform(*options); });
}

}  // namespace hikyaku::cli
