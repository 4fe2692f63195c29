#include "pattern/internal/parse.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "pattern/internal/json_tree.h"

namespace hikyaku::pattern::internal {
namespace {

using Kind = MatcherSpec::Kind;
using JKind = JsonNode::Kind;

bool is_reserved_key(std::string_view k) {
  static constexpr std::string_view kReserved[] = {"exactly",
                                                   "equals-ignore-case",
                                                   "prefix",
                                                   "suffix",
                                                   "anything-but",
                                                   "exists",
                                                   "wildcard",
                                                   "numeric",
                                                   "cidr",
                                                   "=",
                                                   "<",
                                                   "<=",
                                                   ">",
                                                   ">=",
                                                   "regex",
                                                   "not-wildcard",
                                                   "not-equals-ignore-case"};
  for (std::string_view r : kReserved) {
    if (k == r) {
      return true;
    }
  }
  return k.starts_with("date-") || k.starts_with("ip-address-");
}

// A "$or" array at least one of whose object elements has an operator name as a key: EventBridge
// cannot read it as a $or and falls back to a field called "$or" (docs/event-patterns.md §9).
bool is_or_of_operators(const JsonNode& value) {
  if (value.kind != JKind::kArray) {
    return false;
  }
  for (const JsonNode& branch : value.items) {
    if (branch.kind != JKind::kObject) {
      continue;
    }
    for (const std::string& k : branch.keys) {
      if (is_reserved_key(k)) {
        return true;
      }
    }
  }
  return false;
}

std::string join_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// One alternative of an object after $or expansion: ordered (path -> field), last writer wins.
using Alternative = std::vector<FieldSpec>;

void set_field(Alternative& alt, const FieldSpec& f) {
  for (FieldSpec& existing : alt) {
    if (existing.path == f.path) {
      existing = f;
      return;
    }
  }
  alt.push_back(f);
}

class Parser {
 public:
  explicit Parser(const ParseLimits& limits) : limits_(limits) {}

  Result<std::vector<SubRule>> run(std::string_view text) {
    if (text.size() > limits_.max_pattern_bytes) {
      return invalid_argument("pattern is " + std::to_string(text.size()) +
                              " bytes; the limit is " + std::to_string(limits_.max_pattern_bytes));
    }
    Result<JsonNode> root = parse_json(text, limits_.max_depth);
    if (!root) {
      return root.error();  // "invalid JSON at offset N: ..."
    }
    if (root->kind != JKind::kObject) {
      return invalid_argument("pattern must be a JSON object, got " + to_json(*root));
    }
    std::vector<Alternative> alts;
    HK_RETURN_IF_ERROR(expand_object(*root, "", "", alts));
    std::vector<SubRule> out;
    out.reserve(alts.size());
    for (Alternative& a : alts) {
      if (a.size() > limits_.max_fields_per_sub_rule) {
        return invalid_argument("pattern has " + std::to_string(a.size()) +
                                " fields in one $or branch combination; the limit is " +
                                std::to_string(limits_.max_fields_per_sub_rule));
      }
      out.push_back(SubRule{std::move(a)});
    }
    return out;
  }

 private:
  // `prefix` is the dotted event path; `where` is the location in the pattern for messages
  // (includes $or[i]).
  Status expand_object(const JsonNode& obj, const std::string& prefix, const std::string& where,
                       std::vector<Alternative>& out) {
    if (obj.items.empty()) {
      return invalid_argument((where.empty() ? std::string("pattern") : where) +
                              ": empty objects are not allowed");
    }
    std::vector<Alternative> alts(1);
    for (size_t i = 0; i < obj.items.size(); ++i) {
      const std::string& key = obj.keys[i];
      const JsonNode& value = obj.items[i];
      std::string path = prefix + key;  // prefix is "" at the top, else "<parent path>."
      std::string loc = join_path(where, key);
      if (key == "$or" && !is_or_of_operators(value)) {
        std::vector<Alternative> branches;
        HK_RETURN_IF_ERROR(expand_or(value, prefix, loc, branches));
        HK_RETURN_IF_ERROR(cross(alts, branches, loc));
        continue;
      }
      if (key == "$or") {
        // EventBridge reads a "$or" whose branches use operator names as keys as a field literally
        // named "$or" with those objects as its matchers (docs/event-patterns.md §9); so does
        // hikyaku, when they are valid matchers. Otherwise the $or error stands.
        FieldSpec field;
        field.path = path;
        if (!parse_leaf(value, loc, field).ok()) {
          std::vector<Alternative> unused;
          return expand_or(value, prefix, loc, unused);
        }
        for (Alternative& a : alts) {
          set_field(a, field);
        }
        continue;
      }
      if (value.kind == JKind::kObject) {
        std::vector<Alternative> sub;
        HK_RETURN_IF_ERROR(expand_object(value, path + ".", loc, sub));
        HK_RETURN_IF_ERROR(cross(alts, sub, loc));
        continue;
      }
      if (value.kind != JKind::kArray) {
        return invalid_argument(loc + ": must be an object or an array, got " + to_json(value));
      }
      FieldSpec field;
      field.path = path;
      HK_RETURN_IF_ERROR(parse_leaf(value, loc, field));
      for (Alternative& a : alts) {
        set_field(a, field);
      }
    }
    out = std::move(alts);
    return Status();
  }

  Status expand_or(const JsonNode& value, const std::string& prefix, const std::string& loc,
                   std::vector<Alternative>& out) {
    if (value.kind != JKind::kArray || value.items.size() < 2) {
      return invalid_argument(loc + ": \"$or\" needs an array of at least two objects, got " +
                              to_json(value));
    }
    for (size_t b = 0; b < value.items.size(); ++b) {
      const JsonNode& branch = value.items[b];
      std::string bloc = loc + "[" + std::to_string(b) + "]";
      if (branch.kind != JKind::kObject) {
        return invalid_argument(bloc + ": \"$or\" needs an array of at least two objects, got " +
                                to_json(branch));
      }
      for (const std::string& k : branch.keys) {
        if (is_reserved_key(k)) {
          std::string msg = bloc;
          msg += R"(: ")";
          msg += k;
          msg += R"(" is a match operator and cannot be a field name in a $or branch; )";
          msg += "put it inside a field's array";
          return invalid_argument(msg);
        }
      }
      std::vector<Alternative> sub;
      HK_RETURN_IF_ERROR(expand_object(branch, prefix, bloc, sub));
      for (Alternative& a : sub) {
        if (out.size() >= limits_.max_sub_rules) {
          return too_many(loc);
        }
        out.push_back(std::move(a));
      }
    }
    return Status();
  }

  Status too_many(const std::string& loc) const {
    return invalid_argument(loc + ": $or expands to more than " +
                            std::to_string(limits_.max_sub_rules) + " combinations");
  }

  // alts := alts x other (merge in order: `other` fields override earlier ones).
  Status cross(std::vector<Alternative>& alts, std::vector<Alternative>& other,
               const std::string& loc) {
    if (other.size() == 1) {
      for (Alternative& a : alts) {
        for (const FieldSpec& f : other.front()) {
          set_field(a, f);
        }
      }
      return Status();
    }
    if (alts.size() * other.size() > limits_.max_sub_rules) {
      return too_many(loc);
    }
    std::vector<Alternative> result;
    result.reserve(alts.size() * other.size());
    for (const Alternative& a : alts) {
      for (const Alternative& o : other) {
        Alternative merged = a;
        for (const FieldSpec& f : o) {
          set_field(merged, f);
        }
        result.push_back(std::move(merged));
      }
    }
    alts = std::move(result);
    return Status();
  }

  Status parse_leaf(const JsonNode& arr, const std::string& loc, FieldSpec& field) {
    if (arr.items.empty()) {
      return invalid_argument(loc + ": empty arrays are not allowed");
    }
    for (size_t i = 0; i < arr.items.size(); ++i) {
      std::string eloc = loc + "[" + std::to_string(i) + "]";
      MatcherSpec m;
      HK_RETURN_IF_ERROR(parse_element(arr.items[i], eloc, m));
      m.json = to_json(arr.items[i]);
      field.matchers.push_back(std::move(m));
    }
    return Status();
  }

  static Status bad(const std::string& loc, std::string_view what, const JsonNode& got) {
    return invalid_argument(loc + ": " + std::string(what) + ", got " + to_json(got));
  }

  Status parse_element(const JsonNode& e, const std::string& loc, MatcherSpec& m) {
    switch (e.kind) {
      case JKind::kString:
        m.kind = Kind::kExactString;
        m.text = e.text;
        return Status();
      case JKind::kNumber:
        m.kind = Kind::kExactNumber;
        m.text = e.text;
        m.number = analyze_number(e.text);
        return Status();
      case JKind::kTrue:
        m.kind = Kind::kExactTrue;
        return Status();
      case JKind::kFalse:
        m.kind = Kind::kExactFalse;
        return Status();
      case JKind::kNull:
        m.kind = Kind::kExactNull;
        return Status();
      case JKind::kArray:
        return bad(loc,
                   "a match value must be a string, number, true, false, null or a "
                   "one-key matcher object",
                   e);
      case JKind::kObject:
        break;
    }
    if (e.items.empty()) {
      return invalid_argument(loc + ": empty matcher object {}");
    }
    if (e.items.size() > 1) {
      return bad(loc, "a matcher object must have exactly one key", e);
    }
    const std::string& op = e.keys[0];
    const JsonNode& v = e.items[0];
    std::string oloc = loc + "." + op;
    std::string quoted = "\"" + op + "\"";
    if (op == "prefix" || op == "suffix") {
      bool prefix = op == "prefix";
      if (v.kind == JKind::kString) {
        m.kind = prefix ? Kind::kPrefix : Kind::kSuffix;
        m.text = v.text;
        return Status();
      }
      if (v.kind == JKind::kObject && v.items.size() == 1 && v.keys[0] == "equals-ignore-case") {
        if (v.items[0].kind != JKind::kString) {
          return bad(loc, quoted + " with \"equals-ignore-case\" needs a string", v.items[0]);
        }
        m.kind = prefix ? Kind::kPrefixIgnoreCase : Kind::kSuffixIgnoreCase;
        m.text = v.items[0].text;
        return Status();
      }
      return bad(loc, quoted + " needs a string or {\"equals-ignore-case\": string}", v);
    }
    if (op == "equals-ignore-case" || op == "exactly") {
      if (v.kind != JKind::kString) {
        return bad(loc, quoted + " needs a string", v);
      }
      m.kind = op == "exactly" ? Kind::kExactly : Kind::kEqualsIgnoreCase;
      m.text = v.text;
      return Status();
    }
    if (op == "wildcard") {
      if (v.kind != JKind::kString) {
        return bad(loc, "\"wildcard\" needs a string", v);
      }
      HK_RETURN_IF_ERROR(check_wildcard(v.text, loc));
      m.kind = Kind::kWildcard;
      m.text = v.text;
      return Status();
    }
    if (op == "anything-but") {
      return parse_anything_but(v, loc, m);
    }
    if (op == "numeric") {
      return parse_numeric(v, loc, m);
    }
    if (op == "exists") {
      if (v.kind == JKind::kTrue) {
        m.kind = Kind::kExistsTrue;
        return Status();
      }
      if (v.kind == JKind::kFalse) {
        m.kind = Kind::kExistsFalse;
        return Status();
      }
      return bad(loc, "\"exists\" needs true or false", v);
    }
    if (op == "cidr") {
      if (v.kind != JKind::kString) {
        return bad(loc, R"("cidr" needs a string such as "10.0.0.0/24")", v);
      }
      std::string error;
      std::optional<CidrRange> range = parse_cidr(v.text, error);
      if (!range) {
        return invalid_argument(loc + R"(: "cidr" value ")" + v.text + R"(" is invalid: )" + error);
      }
      m.kind = Kind::kCidr;
      m.text = v.text;
      m.cidr = *range;
      return Status();
    }
    return invalid_argument(loc + ": unrecognized match type \"" + op +
                            "\" (operators are case-sensitive)");
  }

  Status check_wildcard(const std::string& text, const std::string& loc) {
    std::string error;
    std::optional<Wildcard> w = parse_wildcard(text, error);
    if (!w) {
      return invalid_argument(loc + R"(: "wildcard" value ")" + text + R"(" is invalid: )" + error);
    }
    if (w->star_count > limits_.max_wildcard_stars) {
      return invalid_argument(loc + R"(: "wildcard" value ")" + text + R"(" is too complex: )" +
                              std::to_string(w->star_count) + " '*' characters, at most " +
                              std::to_string(limits_.max_wildcard_stars) + " allowed");
    }
    return Status();
  }

  Status parse_anything_but(const JsonNode& v, const std::string& loc, MatcherSpec& m) {
    static constexpr std::string_view kShape =
        "\"anything-but\" needs a string, a number, a non-empty list of strings or of numbers, or "
        "one of {\"prefix\"|\"suffix\"|\"equals-ignore-case\"|\"wildcard\": string or list}";
    switch (v.kind) {
      case JKind::kString:
        m.kind = Kind::kAnythingButStrings;
        m.list.push_back(v.text);
        return Status();
      case JKind::kNumber:
        m.kind = Kind::kAnythingButNumbers;
        m.list.push_back(v.text);
        return Status();
      case JKind::kArray: {
        if (v.items.empty()) {
          return bad(loc, kShape, v);
        }
        JKind first = v.items[0].kind;
        if (first != JKind::kString && first != JKind::kNumber) {
          return bad(loc, "an \"anything-but\" list may hold only strings or only numbers", v);
        }
        for (const JsonNode& x : v.items) {
          if (x.kind != first) {
            return bad(loc, "an \"anything-but\" list may hold only strings or only numbers", v);
          }
          m.list.push_back(x.text);
        }
        m.kind = first == JKind::kString ? Kind::kAnythingButStrings : Kind::kAnythingButNumbers;
        return Status();
      }
      case JKind::kObject:
        break;
      default:
        return bad(loc, kShape, v);
    }
    if (v.items.size() != 1) {
      return bad(loc, kShape, v);
    }
    const std::string& op = v.keys[0];
    const JsonNode& inner = v.items[0];
    Kind kind;
    if (op == "prefix") {
      kind = Kind::kAnythingButPrefix;
    } else if (op == "suffix") {
      kind = Kind::kAnythingButSuffix;
    } else if (op == "equals-ignore-case") {
      kind = Kind::kAnythingButIgnoreCase;
    } else if (op == "wildcard") {
      kind = Kind::kAnythingButWildcard;
    } else {
      return bad(loc, kShape, v);
    }
    std::string what = R"("anything-but" with ")";
    what += op;
    what += R"(" needs a string or a non-empty list of strings)";
    std::vector<const JsonNode*> values;
    if (inner.kind == JKind::kString) {
      values.push_back(&inner);
    } else if (inner.kind == JKind::kArray && !inner.items.empty()) {
      for (const JsonNode& x : inner.items) {
        values.push_back(&x);
      }
    } else {
      return bad(loc, what, inner);
    }
    for (const JsonNode* x : values) {
      if (x->kind != JKind::kString) {
        return bad(loc, what, inner);
      }
      if (x->text.empty() &&
          (kind == Kind::kAnythingButPrefix || kind == Kind::kAnythingButSuffix)) {
        std::string msg = loc;
        msg += R"(: "anything-but" with ")";
        msg += op;
        msg += R"(" needs non-empty strings (an empty )";
        msg += op;
        msg += " would exclude everything)";
        return invalid_argument(msg);
      }
      if (kind == Kind::kAnythingButWildcard) {
        HK_RETURN_IF_ERROR(check_wildcard(x->text, loc));
      }
      m.list.push_back(x->text);
    }
    m.kind = kind;
    return Status();
  }

  Status parse_numeric(const JsonNode& v, const std::string& loc, MatcherSpec& m) {
    auto bad_shape = [&loc](const JsonNode& got) {
      return invalid_argument(loc + ": \"numeric\" needs [op, number] pairs, got " + to_json(got) +
                              " (op is one of = < <= > >=; a range is [\">\" or \">=\", low, "
                              "\"<\" or \"<=\", high])");
    };
    if (v.kind != JKind::kArray || (v.items.size() != 2 && v.items.size() != 4)) {
      return bad_shape(v);
    }
    m.kind = Kind::kNumeric;
    for (size_t i = 0; i < v.items.size(); i += 2) {
      const JsonNode& op = v.items[i];
      const JsonNode& num = v.items[i + 1];
      if (op.kind != JKind::kString || num.kind != JKind::kNumber) {
        return bad_shape(v);
      }
      NumberInfo info = analyze_number(num.text);
      if (!info.comparable) {
        return invalid_argument(loc + ": \"numeric\" bound " + num.text +
                                " cannot be represented exactly as a double");
      }
      const std::string& o = op.text;
      if (i == 0 && o == "=") {
        if (v.items.size() != 2) {
          return bad_shape(v);
        }
        m.lo = m.hi = info.value;
        m.lo_inclusive = m.hi_inclusive = true;
      } else if (i == 0 && (o == ">" || o == ">=")) {
        m.lo = info.value;
        m.lo_inclusive = o == ">=";
      } else if (o == "<" || o == "<=") {
        if (i == 2 && !m.lo) {
          return bad_shape(v);
        }
        m.hi = info.value;
        m.hi_inclusive = o == "<=";
      } else {
        return bad_shape(v);
      }
      if (i == 0 && v.items.size() == 4 && !m.lo) {
        return bad_shape(v);  // ["<", 5, ...]
      }
    }
    if (v.items.size() == 4 && *m.lo >= *m.hi) {
      return bad(loc, "\"numeric\" lower bound must be less than the upper bound", v);
    }
    constexpr double kMax = std::numeric_limits<double>::max();
    if ((m.lo && !m.lo_inclusive && *m.lo == kMax) || (m.hi && !m.hi_inclusive && *m.hi == -kMax)) {
      return bad(loc, "\"numeric\" range can match no number", v);
    }
    return Status();
  }

  const ParseLimits& limits_;
};

// Walks a valid pattern's objects for field names that are operator names (see lint_pattern).
class Linter {
 public:
  std::vector<std::string> run(const JsonNode& root) {
    visit(root, "", 0);
    return std::move(warnings_);
  }

 private:
  // `or_depth` counts the $or branches `obj` sits in.
  void visit(const JsonNode& obj, const std::string& where, int or_depth) {
    for (size_t i = 0; i < obj.items.size(); ++i) {
      const std::string& key = obj.keys[i];
      const JsonNode& value = obj.items[i];
      const std::string loc = join_path(where, key);
      if (key == "$or" && is_or_of_operators(value)) {
        warnings_.push_back(loc +
                            ": a branch uses an operator name as a key, so this is read as a field "
                            "called \"$or\" whose value must match one of these operators, as "
                            "EventBridge does; to match either condition, put each operator inside "
                            "a field's array: {\"$or\": [{\"field\": [{\"numeric\": ...}]}, ...]}");
        continue;
      }
      if (key == "$or") {
        for (size_t b = 0; b < value.items.size(); ++b) {
          visit(value.items[b], loc + "[" + std::to_string(b) + "]", or_depth + 1);
        }
        continue;
      }
      if (is_reserved_key(key)) {
        warn(loc, key, or_depth > 0);
      }
      if (value.kind == JKind::kObject) {
        visit(value, loc, or_depth);
      }
    }
  }

  void warn(const std::string& loc, const std::string& key, bool inside_or) {
    std::string w = loc + ": \"" + key +
                    "\" is a match operator, used here as a field name: the pattern matches an "
                    "event field called \"" +
                    key + "\" (an operator goes inside a field's array, as in [{\"" + key +
                    "\": ...}])";
    if (inside_or) {
      w += "; AWS EventBridge rejects operator names as field names inside a $or branch";
    }
    warnings_.push_back(std::move(w));
  }

  std::vector<std::string> warnings_;
};

}  // namespace

Result<std::vector<SubRule>> parse_pattern(std::string_view pattern_json,
                                           const ParseLimits& limits) {
  return Parser(limits).run(pattern_json);
}

std::vector<std::string> lint_pattern(std::string_view pattern_json, const ParseLimits& limits) {
  if (!parse_pattern(pattern_json, limits).has_value()) {
    return {};  // validate_pattern reports what is wrong
  }
  Result<JsonNode> root = parse_json(pattern_json, limits.max_depth);
  return Linter().run(*root);
}

}  // namespace hikyaku::pattern::internal
