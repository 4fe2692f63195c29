// Event depth: every event within core/envelope.h's kMaxEventNestingDepth (1,000 levels, the
// envelope being level 1) renders in every mode, with a stack that does not grow with the event;
// a deeper one fails alone with kInvalidArgument where it is read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <vector>

#include "core/envelope.h"
#include "transform/transformer.h"

namespace hikyaku::transform {
namespace {

using ::testing::HasSubstr;

const RenderContext kContext{"rule", "arn:aws:events:us-east-1:123456789012:rule/rule",
                             "2026-03-01T09:15:02Z"};

enum class Shape { kArrays, kObjects, kMixed };

// `containers` nested containers around the scalar 1, compact; `odd` starts the mixed shape with
// an array instead of an object.
std::string chain(size_t containers, Shape shape, bool odd = false) {
  std::string open;
  std::string close;
  for (size_t i = 0; i < containers; ++i) {
    const bool object =
        shape == Shape::kObjects || (shape == Shape::kMixed && ((i % 2 == 0) != odd));
    open += object ? R"({"k":)" : "[";
    close += object ? '}' : ']';
  }
  return open + "1" + std::string(close.rbegin(), close.rend());
}

// An event nesting `levels` levels in all: the envelope (1), detail (2), and a chain of
// levels - 2 containers under detail.a.
struct DeepEvent {
  std::string json;
  std::string detail;
  std::string chain;
};
DeepEvent deep_event(size_t levels, Shape shape) {
  DeepEvent event;
  event.chain = chain(levels - 2, shape);
  event.detail = R"({"a":)" + event.chain + "}";
  event.json = R"({"version":"0","id":"e1","detail-type":"t","source":"s","account":"1",)"
               R"("time":"2026-03-01T09:15:02Z","region":"r","resources":[],"detail":)" +
               event.detail + "}";
  return event;
}

// A path `steps` containers down the chain, and the text of the value it reaches.
std::string path_into(size_t steps, Shape shape, bool wildcard) {
  std::string path = "$.detail.a";
  for (size_t i = 0; i < steps; ++i) {
    const bool object = shape == Shape::kObjects || (shape == Shape::kMixed && i % 2 == 0);
    path += object ? (wildcard ? ".*" : ".k") : (wildcard ? "[*]" : "[0]");
  }
  return path;
}

Transformer compile_ok(const TargetInput& spec) {
  Result<Transformer> t = Transformer::compile(spec);
  EXPECT_TRUE(t.has_value()) << t.error().message();
  return std::move(t).value();
}

TargetInput input_path(std::string path) {
  TargetInput spec;
  spec.input_path = std::move(path);
  return spec;
}

TargetInput template_target(std::string path, std::string input_template,
                            BodyEncoding encoding = BodyEncoding::kJson) {
  TargetInput spec;
  spec.input_transformer =
      InputTransformerSpec{{{"v", std::move(path)}}, std::move(input_template)};
  spec.body_encoding = encoding;
  return spec;
}

// Removes every '"' (a string template's rendering of an object or array).
std::string unquoted(std::string text) {
  std::erase(text, '"');
  return text;
}

struct Case {
  const char* name;
  TargetInput spec;
  std::string expected;  // for an event within the limit
};

std::vector<Case> cases_for(const DeepEvent& event, Shape shape, size_t levels) {
  constexpr size_t kSteps = 60;  // a path of ~180 characters (the limit is 256)
  std::vector<Case> cases;
  const std::string path = path_into(kSteps, shape, false);
  // The value kSteps containers down the chain.
  const std::string sub = chain(levels - 2 - kSteps, shape, /*odd=*/kSteps % 2 == 1);
  cases.push_back({"whole event", TargetInput{}, event.json});
  cases.push_back({"InputPath $", input_path("$"), event.json});
  cases.push_back({"InputPath $.detail", input_path("$.detail"), event.detail});
  cases.push_back({"InputPath deep", input_path(path), sub});
  cases.push_back({"JSON template, deep path", template_target(path, R"({"v": <v>})"),
                   R"({"v": )" + sub + "}"});
  cases.push_back({"JSON template, value in a string",
                   template_target(path, R"({"v": "x<v>"})"), "{\"v\": \"x" + [&] {
                     std::string escaped;
                     for (char c : sub) {
                       if (c == '"') {
                         escaped += '\\';
                       }
                       escaped += c;
                     }
                     return escaped;
                   }() + "\"}"});
  cases.push_back(
      {"string template, deep path", template_target(path, "v=<v>"), "v=" + unquoted(sub)});
  cases.push_back({"wildcard path",
                   template_target(path_into(kSteps, shape, true), R"({"v": <v>})"),
                   R"({"v": [)" + sub + "]}"});
  cases.push_back({"whole event in a template",
                   template_target("$.id", R"({"e": <aws.events.event.json>})"),
                   R"({"e": )" + event.json + "}"});
  return cases;
}

const Shape kShapes[] = {Shape::kArrays, Shape::kObjects, Shape::kMixed};

TEST(DepthTest, EventsUpToTheLimitRenderInEveryMode) {
  for (Shape shape : kShapes) {
    for (size_t levels : {size_t{999}, kMaxEventNestingDepth}) {
      const DeepEvent event = deep_event(levels, shape);
      for (const Case& c : cases_for(event, shape, levels)) {
        SCOPED_TRACE(::testing::Message()
                     << c.name << ", " << levels << " levels, shape " << static_cast<int>(shape));
        Result<std::string> out = compile_ok(c.spec).render(event.json, kContext);
        ASSERT_TRUE(out.has_value()) << out.error().message();
        EXPECT_EQ(*out, c.expected);
      }
    }
  }
}

TEST(DepthTest, AnEventPastTheLimitFailsWhereItIsReadAndOnlyThere) {
  for (Shape shape : kShapes) {
    const DeepEvent event = deep_event(kMaxEventNestingDepth + 1, shape);
    for (const Case& c : cases_for(event, shape, kMaxEventNestingDepth + 1)) {
      SCOPED_TRACE(::testing::Message() << c.name << ", shape " << static_cast<int>(shape));
      Result<std::string> out = compile_ok(c.spec).render(event.json, kContext);
      if (std::string_view(c.name) == "whole event") {
        // Copied as received, never parsed: nothing is read that could be too deep.
        ASSERT_TRUE(out.has_value()) << out.error().message();
        continue;
      }
      ASSERT_FALSE(out.has_value()) << out->substr(0, 100);
      EXPECT_EQ(out.error().code(), StatusCode::kInvalidArgument);
      EXPECT_THAT(out.error().message(), HasSubstr("event nests deeper than 1000 levels"));
    }
    // Paths that do not reach into the deep part still render.
    EXPECT_EQ(compile_ok(template_target("$.source", "<v>!")).render(event.json, kContext).value(),
              "s!");
  }
}

TEST(DepthTest, FormEncodingOfDeepValuesFailsCleanly) {
  for (size_t levels : {size_t{999}, kMaxEventNestingDepth, kMaxEventNestingDepth + 1}) {
    const DeepEvent event = deep_event(levels, Shape::kMixed);
    for (const TargetInput& spec :
         {template_target("$.detail.a", R"({"v": <v>})", BodyEncoding::kForm), [] {
            TargetInput whole;
            whole.body_encoding = BodyEncoding::kForm;
            return whole;
          }()}) {
      Result<std::string> out = compile_ok(spec).render(event.json, kContext);
      ASSERT_FALSE(out.has_value()) << levels;
      EXPECT_EQ(out.error().code(), StatusCode::kInvalidArgument);
    }
    // A form field taken from the deep event's shallow part is fine.
    EXPECT_EQ(compile_ok(template_target("$.source", R"({"src": <v>})", BodyEncoding::kForm))
                  .render(event.json, kContext)
                  .value(),
              "src=s");
  }
}

// Renders on a thread whose stack is far smaller than 1,000 levels of recursion would need.
TEST(DepthTest, DeepEventsRenderOnASmallStack) {
  struct Work {
    std::string event;
    bool ok = false;
    std::string out;
  };
  Work work{deep_event(kMaxEventNestingDepth, Shape::kMixed).json, false, ""};
  pthread_attr_t attributes;
  ASSERT_EQ(pthread_attr_init(&attributes), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attributes, size_t{192} * 1024), 0);
  pthread_t thread;
  ASSERT_EQ(pthread_create(
                &thread, &attributes,
                [](void* argument) -> void* {
                  auto* w = static_cast<Work*>(argument);
                  Result<Transformer> t = Transformer::compile(input_path("$"));
                  if (t.has_value()) {
                    Result<std::string> out = t->render(w->event, kContext);
                    w->ok = out.has_value();
                    w->out = out.has_value() ? *out : out.error().message();
                  }
                  return nullptr;
                },
                &work),
            0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  pthread_attr_destroy(&attributes);
  EXPECT_TRUE(work.ok) << work.out;
  EXPECT_EQ(work.out, work.event);
}

}  // namespace
}  // namespace hikyaku::transform
