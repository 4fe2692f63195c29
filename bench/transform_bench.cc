// Input transformer rendering vs. simply parsing the same events with simdjson.
//
// Renders the scenario's transformer (docs/scenario.md) over the sample Security Hub
// events in tests/data/securityhub/ and, in the same run, parses the same events with simdjson's
// DOM parser (stage 1 + stage 2, from pre-padded buffers: the cheapest honest "parse"). Prints
// events/s for each and the ratio transform/parse; the target is >= 1.0 (the transform costs less
// than a parse, because it reads only the paths it needs).
//
//   cmake --build build-rel --target transform_bench
//   build-rel/bench/transform_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
//
// Event sets: "typical" = every sample except the two ~250 KB ones (14, 15); "all" = all 18;
// "large" = 14 and 15 only.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/envelope.h"
#include "core/file.h"
#include "transform/transformer.h"

namespace {

using hikyaku::transform::BodyEncoding;
using hikyaku::transform::InputTransformerSpec;
using hikyaku::transform::RenderContext;
using hikyaku::transform::TargetInput;
using hikyaku::transform::Transformer;

struct EventSet {
  std::vector<std::string> texts;
  std::vector<simdjson::padded_string> padded;
  size_t bytes = 0;
};

// A sample event; the samples are PutEvents entries, so none is larger than an envelope.
std::string read_sample(const std::filesystem::path& path) {
  hikyaku::Result<std::string> text = hikyaku::read_file(path.string(), hikyaku::kMaxEnvelopeBytes);
  if (!text.has_value()) {
    std::fprintf(stderr, "%s\n", text.error().message().c_str());
    std::abort();
  }
  return std::move(text).value();
}

const std::map<std::string, EventSet>& event_sets() {
  static const std::map<std::string, EventSet> sets = [] {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(
             std::filesystem::path(HIKYAKU_TEST_DATA_DIR) / "data" / "securityhub")) {
      if (entry.path().extension() == ".json") {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    std::map<std::string, EventSet> result;
    for (const auto& file : files) {
      const std::string name = file.filename().string();
      const bool large = name.rfind("14-", 0) == 0 || name.rfind("15-", 0) == 0;
      const std::string text = read_sample(file);
      for (const char* set : {"all", large ? "large" : "typical"}) {
        EventSet& s = result[set];
        s.texts.push_back(text);
        s.padded.emplace_back(text);
        s.bytes += text.size();
      }
    }
    return result;
  }();
  return sets;
}

TargetInput scenario_target(BodyEncoding encoding) {
  InputTransformerSpec spec;
  spec.input_paths_map = {
      {"Description", "$.detail.findings[0].Description"},
      {"Id", "$.detail.findings[0].Id"},
      {"Label", "$.detail.findings[0].Severity.Label"},
      {"Recommendation", "$.detail.findings[0].ProductFields.RecommendationUrl"},
      {"Resource", "$.detail.findings[0].Resources[0].Id"},
      {"Summary", "$.detail.findings[0].Title"},
  };
  spec.input_template =
      R"TPL({ "projectId": "123456", "summary": <Summary>, "description": "Description:<br /><Description><br /><br />Severity:<br /><Label><br /><br />Resource:<br /><Resource><br /><br />Links:<br />[Security Hub](https://ap-northeast-1.console.aws.amazon.com/securityhub/home?region=ap-northeast-1#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A<Id>)<br />[Recommendation](<Recommendation>)", "issueTypeId": "1234567", "priorityId": "3" })TPL";
  TargetInput target;
  target.input_transformer = std::move(spec);
  target.body_encoding = encoding;
  return target;
}

void run_transform(benchmark::State& state, const std::string& set_name, BodyEncoding encoding) {
  const EventSet& set = event_sets().at(set_name);
  hikyaku::Result<Transformer> transformer = Transformer::compile(scenario_target(encoding));
  if (!transformer) {
    state.SkipWithError(transformer.error().message().c_str());
    return;
  }
  const RenderContext context{"shub-to-backlog",
                              "arn:aws:events:ap-northeast-1:123456789012:rule/shub-to-backlog",
                              "2026-03-02T01:15:45Z"};
  std::string out;
  size_t failures = 0;
  for (auto _ : state) {
    for (const std::string& event : set.texts) {
      failures += transformer->render_to(event, context, out).ok() ? 0 : 1;
      benchmark::DoNotOptimize(out.data());
    }
  }
  if (failures != 0) {
    state.SkipWithError("render failed");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(set.texts.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(set.bytes));
}

void run_parse(benchmark::State& state, const std::string& set_name) {
  const EventSet& set = event_sets().at(set_name);
  simdjson::dom::parser parser;
  size_t failures = 0;
  for (auto _ : state) {
    for (const simdjson::padded_string& event : set.padded) {
      simdjson::dom::element root;
      failures += parser.parse(event).get(root) == simdjson::SUCCESS ? 0 : 1;
      benchmark::DoNotOptimize(root);
    }
  }
  if (failures != 0) {
    state.SkipWithError("parse failed");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(set.texts.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(set.bytes));
}

// Captures items/s per benchmark to print the ratios after the normal report.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) {
        continue;
      }
      // With repetitions, prefer the median aggregate; otherwise take the last plain run.
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      const bool plain = run.run_type == Run::RT_Iteration;
      const auto it = run.counters.find("items_per_second");
      if ((median || plain) && it != run.counters.end()) {
        std::string name = run.run_name.function_name;
        if (median || rates_.find(name) == rates_.end() || !has_median_[name]) {
          rates_[name] = it->second.value;
          has_median_[name] = has_median_[name] || median;
        }
      }
    }
  }

  void print_ratios() const {
    std::printf("\n%-10s %8s %16s %16s %8s\n", "events", "encoding", "transform ev/s", "parse ev/s",
                "ratio");
    for (const char* set : {"typical", "all", "large"}) {
      for (const char* encoding : {"json", "form"}) {
        const auto transform = rates_.find(std::string("BM_Transform/") + set + "/" + encoding);
        const auto parse = rates_.find(std::string("BM_Parse/") + set);
        if (transform == rates_.end() || parse == rates_.end()) {
          continue;
        }
        std::printf("%-10s %8s %16.0f %16.0f %8.2f\n", set, encoding, transform->second,
                    parse->second, transform->second / parse->second);
      }
    }
  }

 private:
  std::map<std::string, double> rates_;
  std::map<std::string, bool> has_median_;
};

}  // namespace

int main(int argc, char** argv) {
#ifndef NDEBUG
  std::fprintf(stderr,
               "WARNING: transform_bench built without optimisation (NDEBUG unset); build with "
               "-DCMAKE_BUILD_TYPE=Release for meaningful numbers\n");
#endif
  for (const char* set : {"typical", "all", "large"}) {
    benchmark::RegisterBenchmark((std::string("BM_Parse/") + set).c_str(),
                                 [set](benchmark::State& s) { run_parse(s, set); });
    benchmark::RegisterBenchmark(
        (std::string("BM_Transform/") + set + "/json").c_str(),
        [set](benchmark::State& s) { run_transform(s, set, BodyEncoding::kJson); });
    benchmark::RegisterBenchmark(
        (std::string("BM_Transform/") + set + "/form").c_str(),
        [set](benchmark::State& s) { run_transform(s, set, BodyEncoding::kForm); });
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return 0;
}
