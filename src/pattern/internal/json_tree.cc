#include "pattern/internal/json_tree.h"

#include <string>

#include "core/json_number.h"
#include "core/json_writer.h"
#include "pattern/internal/event_scan.h"

namespace hikyaku::pattern::internal {
namespace {

class Reader {
 public:
  Reader(std::string_view text, size_t max_depth) : s_(text), max_depth_(max_depth) {}

  Result<JsonNode> parse_document() {
    JsonNode root;
    skip_ws();
    if (pos_ >= s_.size()) {
      return fail("empty input");
    }
    HK_RETURN_IF_ERROR(parse_value(root, 0));
    skip_ws();
    if (pos_ != s_.size()) {
      return fail("unexpected content after the JSON value");
    }
    return root;
  }

 private:
  Status fail(std::string_view what) const {
    return invalid_argument("invalid JSON at offset " + std::to_string(pos_) + ": " +
                            std::string(what));
  }

  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool consume_literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) == lit) {
      pos_ += lit.size();
      return true;
    }
    return false;
  }

  // Depth counts open arrays/objects; the recursion is bounded by max_depth_.
  Status parse_value(JsonNode& out, size_t depth) {
    if (pos_ >= s_.size()) {
      return fail("unexpected end of input");
    }
    char c = s_[pos_];
    switch (c) {
      case '{':
      case '[':
        if (depth >= max_depth_) {
          return invalid_argument("JSON nesting deeper than " + std::to_string(max_depth_) +
                                  " levels (offset " + std::to_string(pos_) + ")");
        }
        return c == '{' ? parse_object(out, depth + 1) : parse_array(out, depth + 1);
      case '"':
        out.kind = JsonNode::Kind::kString;
        return parse_string(out.text);
      case 't':
        out.kind = JsonNode::Kind::kTrue;
        return consume_literal("true") ? Status() : fail("invalid literal");
      case 'f':
        out.kind = JsonNode::Kind::kFalse;
        return consume_literal("false") ? Status() : fail("invalid literal");
      case 'n':
        out.kind = JsonNode::Kind::kNull;
        return consume_literal("null") ? Status() : fail("invalid literal");
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          return parse_number(out);
        }
        return fail(std::string("unexpected character '") + c + "'");
    }
  }

  Status parse_object(JsonNode& out, size_t depth) {
    out.kind = JsonNode::Kind::kObject;
    ++pos_;  // {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return Status();
    }
    while (true) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') {
        return fail("expected a string key");
      }
      std::string key;
      HK_RETURN_IF_ERROR(parse_string(key));
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') {
        return fail("expected ':'");
      }
      ++pos_;
      skip_ws();
      out.keys.push_back(std::move(key));
      out.items.emplace_back();
      HK_RETURN_IF_ERROR(parse_value(out.items.back(), depth));
      bool more = false;
      HK_RETURN_IF_ERROR(after_item('}', &more));
      if (!more) {
        return Status();
      }
    }
  }

  // After a member or element: a ',' (`*more`) or the container's `closer`, consumed.
  Status after_item(char closer, bool* more) {
    skip_ws();
    if (pos_ < s_.size() && (s_[pos_] == ',' || s_[pos_] == closer)) {
      *more = s_[pos_] == ',';
      ++pos_;
      return Status();
    }
    return fail(closer == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
  }

  Status parse_array(JsonNode& out, size_t depth) {
    out.kind = JsonNode::Kind::kArray;
    ++pos_;  // [
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return Status();
    }
    while (true) {
      skip_ws();
      out.items.emplace_back();
      HK_RETURN_IF_ERROR(parse_value(out.items.back(), depth));
      bool more = false;
      HK_RETURN_IF_ERROR(after_item(']', &more));
      if (!more) {
        return Status();
      }
    }
  }

  Status parse_number(JsonNode& out) {
    size_t start = pos_;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        ++pos_;
      } else {
        break;
      }
    }
    // The whole run of number-ish bytes must be one token ("012" is an error here, not "0"
    // followed by junk), so the message shows all of it.
    std::string_view token = s_.substr(start, pos_ - start);
    if (!hikyaku::is_json_number(token)) {
      pos_ = start;
      return fail("invalid number '" + std::string(token) + "'");
    }
    out.kind = JsonNode::Kind::kNumber;
    out.text = std::string(token);
    return Status();
  }

  // Validates one UTF-8 sequence starting at pos_ and copies it.
  Status copy_utf8(std::string& out) {
    auto b = [&](size_t i) { return static_cast<uint8_t>(s_[i]); };
    uint8_t c0 = b(pos_);
    size_t len;
    uint32_t cp;
    if (c0 >= 0xC2 && c0 <= 0xDF) {
      len = 2;
      cp = c0 & 0x1Fu;
    } else if (c0 >= 0xE0 && c0 <= 0xEF) {
      len = 3;
      cp = c0 & 0x0Fu;
    } else if (c0 >= 0xF0 && c0 <= 0xF4) {
      len = 4;
      cp = c0 & 0x07u;
    } else {
      return fail("invalid UTF-8");
    }
    if (pos_ + len > s_.size()) {
      return fail("invalid UTF-8");
    }
    for (size_t i = 1; i < len; ++i) {
      uint8_t ci = b(pos_ + i);
      if ((ci & 0xC0) != 0x80) {
        return fail("invalid UTF-8");
      }
      cp = (cp << 6) | (ci & 0x3Fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return fail("invalid UTF-8");
    }
    out.append(s_.substr(pos_, len));
    pos_ += len;
    return Status();
  }

  Status parse_string(std::string& out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) {
        return fail("unterminated string");
      }
      auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return Status();
      }
      if (c < 0x20) {
        return fail("control character in string");
      }
      if (c == '\\') {
        const char* p = s_.data() + pos_ + 1;
        const char* error = decode_escape(p, s_.data() + s_.size(), out);
        pos_ = static_cast<size_t>(p - s_.data());
        if (error != nullptr) {
          return fail(pos_ >= s_.size() ? "unterminated string" : error);
        }
        continue;
      }
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      HK_RETURN_IF_ERROR(copy_utf8(out));
    }
  }

  std::string_view s_;
  size_t max_depth_;
  size_t pos_ = 0;
};

}  // namespace

Result<JsonNode> parse_json(std::string_view text, size_t max_depth) {
  return Reader(text, max_depth).parse_document();
}

void append_json(std::string& out, const JsonNode& node) {
  // Iterative would be nicer, but every tree we print passed parse_json's depth limit.
  switch (node.kind) {
    case JsonNode::Kind::kNull:
      out += "null";
      break;
    case JsonNode::Kind::kTrue:
      out += "true";
      break;
    case JsonNode::Kind::kFalse:
      out += "false";
      break;
    case JsonNode::Kind::kNumber:
      out += node.text;
      break;
    case JsonNode::Kind::kString:
      append_json_string(out, node.text);
      break;
    case JsonNode::Kind::kArray:
      out.push_back('[');
      for (size_t i = 0; i < node.items.size(); ++i) {
        if (i > 0) {
          out += ", ";
        }
        append_json(out, node.items[i]);
      }
      out.push_back(']');
      break;
    case JsonNode::Kind::kObject:
      out.push_back('{');
      for (size_t i = 0; i < node.items.size(); ++i) {
        if (i > 0) {
          out += ", ";
        }
        append_json_string(out, node.keys[i]);
        out += ": ";
        append_json(out, node.items[i]);
      }
      out.push_back('}');
      break;
  }
}

std::string to_json(const JsonNode& node) {
  std::string out;
  append_json(out, node);
  return out;
}

}  // namespace hikyaku::pattern::internal
