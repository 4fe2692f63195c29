#include "config/internal/yaml_expansion.h"

#include <fmt/format.h>
#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "config/internal/yaml_reader.h"

namespace hikyaku::config::internal {
namespace {

// Weights: a scalar counts its characters and two more (quotes or a separator), null four, a
// list or a mapping two and then its items, an alias what its anchored node counted.
constexpr size_t kCollectionWeight = 2;
constexpr size_t kScalarOverhead = 2;
constexpr size_t kNullWeight = 4;

class ExpansionCounter : public YAML::EventHandler {
 public:
  std::optional<ExpansionProblem> take_problem() { return std::move(problem_); }

  void OnDocumentStart(const YAML::Mark& /*mark*/) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    leaf(mark, anchor, kNullWeight, "");
  }

  void OnScalar(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                const std::string& value) override {
    leaf(mark, anchor, value.size() + kScalarOverhead, value);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (problem_) {
      return;
    }
    const std::string path = child_path();
    ++aliases_;
    if (aliases_ > kMaxYamlAliases) {
      fail(mark, path, fmt::format("the file uses more than {} YAML aliases", kMaxYamlAliases));
      return;
    }
    const auto weight = weights_.find(anchor);
    if (weight == weights_.end()) {
      fail(mark, path,
           fmt::format("the alias *{} refers to a node that contains it (a cycle)", name(anchor)));
      return;
    }
    if (!add(weight->second)) {
      fail(mark, path,
           fmt::format("expands to more than {} bytes through YAML aliases (the alias *{} here "
                       "stands for {} bytes)",
                       kMaxExpandedConfigBytes, name(anchor), weight->second));
      return;
    }
    finish_item("", weight->second);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    open(mark, anchor, false);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    open(mark, anchor, true);
  }
  void OnMapEnd() override { close(); }

  void OnAnchor(const YAML::Mark& /*mark*/, const std::string& anchor_name) override {
    names_.push_back(anchor_name);  // anchor ids count from 1 in the order anchors appear
  }

 private:
  struct Frame {
    bool is_map = false;
    YAML::anchor_t anchor = YAML::NullAnchor;
    size_t weight = kCollectionWeight;
    std::string path;
    size_t items = 0;         // events completed inside (a mapping: keys and values)
    std::string pending_key;  // a mapping's key, while its value is read
  };

  // The key path of the item about to start in the innermost collection.
  std::string child_path() const {
    if (stack_.empty()) {
      return "";
    }
    const Frame& frame = stack_.back();
    if (!frame.is_map) {
      return index(frame.path, frame.items);
    }
    return frame.items % 2 == 0 ? frame.path : join(frame.path, frame.pending_key);
  }

  // Counts `weight` towards the document; false once that passes the limit.
  bool add(size_t weight) {
    total_ += weight;
    return total_ <= kMaxExpandedConfigBytes;
  }

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, size_t weight,
            const std::string& value) {
    if (problem_) {
      return;
    }
    const std::string path = child_path();
    if (!add(weight)) {
      fail(mark, path,
           fmt::format("expands to more than {} bytes through YAML aliases",
                       kMaxExpandedConfigBytes));
      return;
    }
    if (anchor != YAML::NullAnchor) {
      weights_[anchor] = weight;
    }
    finish_item(value, weight);
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    if (problem_) {
      return;
    }
    const std::string path = child_path();
    if (!add(kCollectionWeight)) {
      fail(mark, path,
           fmt::format("expands to more than {} bytes through YAML aliases",
                       kMaxExpandedConfigBytes));
      return;
    }
    stack_.push_back({is_map, anchor, kCollectionWeight, path, 0, ""});
  }

  void close() {
    if (problem_ || stack_.empty()) {
      return;
    }
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    if (frame.anchor != YAML::NullAnchor) {
      weights_[frame.anchor] = frame.weight;
    }
    finish_item("", frame.weight);
  }

  // One node (of `weight`) completed inside the innermost collection.
  void finish_item(const std::string& scalar, size_t weight) {
    if (stack_.empty()) {
      return;
    }
    Frame& frame = stack_.back();
    frame.weight += weight;
    if (frame.is_map && frame.items % 2 == 0) {
      frame.pending_key = scalar.empty() ? "?" : scalar;
    }
    ++frame.items;
  }

  std::string name(YAML::anchor_t anchor) const {
    return anchor >= 1 && anchor <= names_.size() ? names_[anchor - 1] : "?";
  }

  void fail(const YAML::Mark& mark, const std::string& path, std::string message) {
    problem_ = ExpansionProblem{{mark.line + 1, mark.column + 1}, path, std::move(message)};
  }

  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, size_t> weights_;
  std::vector<std::string> names_;
  size_t total_ = 0;
  size_t aliases_ = 0;
  std::optional<ExpansionProblem> problem_;
};

}  // namespace

std::optional<ExpansionProblem> check_yaml_expansion(std::string_view text) {
  std::istringstream in{std::string(text)};
  ExpansionCounter counter;
  try {
    YAML::Parser parser(in);
    parser.HandleNextDocument(counter);
  } catch (const YAML::Exception&) {
    return std::nullopt;  // YAML::Load reports it with its position
  }
  return counter.take_problem();
}

}  // namespace hikyaku::config::internal
