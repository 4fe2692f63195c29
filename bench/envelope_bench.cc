// Event envelope parsing (core/envelope.h) against the baseline of a bare simdjson DOM parse of
// the same bytes, on the scenario's sample events. Run from a Release build (make bench).

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <fstream>
#include <sstream>

#include "core/envelope.h"
#include "core/json_writer.h"

namespace {

std::string read_sample(const char* name) {
  std::ifstream file(std::string(HIKYAKU_TEST_DATA_DIR) + "/data/securityhub/" + name);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

const char* sample_name(int64_t index) {
  return index == 0 ? "01-fsbp-ec2-19-critical-failed.json"
                    : "14-inspector-large-near-240kb-finding.json";
}

// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_SimdjsonDomParse(benchmark::State& state) {
  const std::string event = read_sample(sample_name(state.range(0)));
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element element;
    benchmark::DoNotOptimize(parser.parse(event).get(element));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * event.size()));
}

// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_ParseEnvelope(benchmark::State& state) {
  const std::string event = read_sample(sample_name(state.range(0)));
  for (auto _ : state) {
    auto result = hikyaku::parse_envelope(event);
    benchmark::DoNotOptimize(result);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * event.size()));
}

// Escaping an event into a JSON string (what a Log target does with every body), against the
// floor of appending the same bytes unescaped.
// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_AppendBytes(benchmark::State& state) {
  const std::string event = read_sample(sample_name(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out.clear();
    out.append(event);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * event.size()));
}

// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_AppendJsonString(benchmark::State& state) {
  const std::string event = read_sample(sample_name(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out.clear();
    hikyaku::append_json_string(out, event);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * event.size()));
}

BENCHMARK(BM_SimdjsonDomParse)->Arg(0)->Arg(1);
BENCHMARK(BM_AppendBytes)->Arg(0)->Arg(1);
BENCHMARK(BM_AppendJsonString)->Arg(0)->Arg(1);
BENCHMARK(BM_ParseEnvelope)->Arg(0)->Arg(1);

}  // namespace

int main(int argc, char** argv) {
#ifndef NDEBUG
  std::fprintf(stderr,
               "WARNING: envelope_bench built without optimisation; figures mean nothing\n");
#endif
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
