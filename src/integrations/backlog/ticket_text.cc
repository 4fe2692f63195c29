#include "integrations/backlog/ticket_text.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "core/url_encoding.h"

namespace hikyaku::integrations::backlog {
namespace {

using securityhub::FieldChange;
using securityhub::Finding;
using securityhub::LifecycleState;

constexpr std::string_view kWordJoiner = "\u2060";
constexpr std::string_view kNoBreakSpace = "\u00a0";
constexpr char32_t kReplacementCharacter = 0xFFFD;
constexpr std::string_view kEllipsis = "…";
constexpr std::string_view kArrow = " → ";

// Caps on single fields, in UTF-16 code units of the escaped text. They keep everything but the
// finding's description well under kDescriptionLimit however large a hostile finding is (the
// worst case is tested), so the description always keeps a few thousand characters.
constexpr size_t kTitleLimit = 600;
constexpr size_t kShortFieldLimit = 64;
constexpr size_t kNameLimit = 256;
constexpr size_t kResourceTypeLimit = 128;
constexpr size_t kResourceIdLimit = 400;
constexpr size_t kFindingIdLimit = 1100;
constexpr size_t kProductArnLimit = 2100;
constexpr size_t kRemediationTextLimit = 2000;
constexpr size_t kUrlLimit = 2048;
constexpr size_t kUnlinkedUrlLimit = 500;
constexpr size_t kChangeValueLimit = 1500;

struct Decoded {
  char32_t code_point;
  size_t length;
};

// One code point of UTF-8 at `pos`; a malformed sequence reads as U+FFFD, one byte long.
Decoded decode(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    return {lead, 1};
  }
  size_t length = 0;
  char32_t code_point = 0;
  char32_t minimum = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, code_point = lead & 0x1F, minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0F, minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code_point = lead & 0x07, minimum = 0x10000;
  } else {
    return {kReplacementCharacter, 1};
  }
  if (pos + length > text.size()) {
    return {kReplacementCharacter, 1};
  }
  for (size_t i = 1; i < length; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) {
      return {kReplacementCharacter, 1};
    }
    code_point = (code_point << 6) | (byte(pos + i) & 0x3F);
  }
  if (code_point < minimum || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return {kReplacementCharacter, 1};
  }
  return {code_point, length};
}

void append_utf8(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

bool is_line_break(char32_t c) { return c == 0x0D || c == 0x85 || c == 0x2028 || c == 0x2029; }

bool is_disguising_control(char32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069);
}

// The text as code points, line breaks as '\n', disguising controls as U+FFFD.
std::u32string cleaned(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const Decoded decoded = decode(text, pos);
    pos += decoded.length;
    const char32_t c = decoded.code_point;
    if (c == 0x0D && pos < text.size() && text[pos] == '\n') {
      continue;  // the '\n' of CR LF follows
    }
    const bool kept = c == '\n' || c == '\t';
    if (!kept && is_line_break(c)) {
      out += U'\n';
    } else if (!kept && is_disguising_control(c)) {
      out += kReplacementCharacter;
    } else {
      out += c;
    }
  }
  return out;
}

// Runs of spaces, tabs and line breaks as one space, none at either end.
std::u32string on_one_line(const std::u32string& text) {
  std::u32string out;
  bool pending_space = false;
  for (const char32_t c : text) {
    if (c == U' ' || c == U'\t' || c == U'\n') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) {
      out += U' ';
      pending_space = false;
    }
    out += c;
  }
  return out;
}

bool is_ascii_letter(char32_t c) { return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z'); }
bool is_ascii_digit(char32_t c) { return c >= U'0' && c <= U'9'; }

// The length of the run of ASCII letters (and, with `digits`, digits) at `pos`.
size_t word_length(const std::u32string& text, size_t pos, bool digits) {
  size_t end = pos;
  while (end < text.size() &&
         (is_ascii_letter(text[end]) || (digits && is_ascii_digit(text[end])))) {
    ++end;
  }
  return end - pos;
}

// "&name;" or "&#123;" / "&#x1F;" at `pos` (the "&"): an HTML character reference.
bool opens_character_reference(const std::u32string& text, size_t pos) {
  size_t name = pos + 1;
  if (name < text.size() && text[name] == U'#') {
    ++name;
  }
  const size_t length = word_length(text, name, true);
  return length > 0 && name + length < text.size() && text[name + length] == U';';
}

// Backlog notation's "&br;", "&color(red) { ... }", "#image(...)", "#contents" at `pos`.
bool opens_backlog_macro(const std::u32string& text, size_t pos) {
  const size_t length = word_length(text, pos + 1, false);
  if (length == 0) {
    return false;
  }
  const size_t after = pos + 1 + length;
  const char32_t next = after < text.size() ? text[after] : 0;
  if (text[pos] == U'&') {
    return next == U';' || next == U'(';
  }
  return next == U'(' || text.compare(pos + 1, length, U"contents") == 0;
}

size_t utf16_units(char32_t c) { return c >= 0x10000 ? 2 : 1; }

// Escaped text is built from one piece per input code point, so that a cut never splits an
// escape sequence from the character it protects.
struct Piece {
  std::string text;
  size_t units = 0;
};

void add(Piece& piece, std::string_view ascii_or_utf8, size_t units) {
  piece.text += ascii_or_utf8;
  piece.units += units;
}
void add(Piece& piece, char32_t c) {
  append_utf8(piece.text, c);
  piece.units += utf16_units(c);
}

enum class Shape { kLine, kBlock };

std::vector<Piece> markdown_pieces(const std::u32string& text, Shape shape) {
  std::vector<Piece> pieces(text.size());
  size_t escape_at = std::u32string::npos;  // the "." or ")" of a line-start "12." / "12)"
  // A one-line value is escaped as if it began a line too: it may begin a list item.
  bool at_line_start = true;
  bool in_indent = shape == Shape::kBlock;
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    Piece& piece = pieces[i];
    if (c == U'\n') {
      add(piece, "  \n", 3);  // a hard line break
      at_line_start = in_indent = true;
      continue;
    }
    if (in_indent && (c == U' ' || c == U'\t')) {
      const size_t width = c == U'\t' ? 4 : 1;
      for (size_t k = 0; k < width; ++k) {
        add(piece, kNoBreakSpace, 1);
      }
      continue;
    }
    in_indent = false;
    if (at_line_start) {
      at_line_start = false;
      if (c == U'>' || c == U'-' || c == U'+' || c == U'=') {
        add(piece, "\\", 1);
        add(piece, c);
        continue;
      }
      if (is_ascii_digit(c)) {
        size_t end = i;
        while (end < text.size() && is_ascii_digit(text[end])) {
          ++end;
        }
        if (end < text.size() && (text[end] == U'.' || text[end] == U')')) {
          escape_at = end;
        }
      }
    }
    switch (c) {
      case U'\\':
      case U'`':
      case U'*':
      case U'_':
      case U'[':
      case U']':
      case U'<':
      case U'#':
      case U'|':
      case U'~':
        add(piece, "\\", 1);
        add(piece, c);
        break;
      case U'&':
        if (opens_character_reference(text, i)) {
          add(piece, "\\", 1);
        }
        add(piece, c);
        break;
      case U'@':
        add(piece, c);
        add(piece, kWordJoiner, 1);
        break;
      default:
        if (i == escape_at) {
          add(piece, "\\", 1);
        }
        add(piece, c);
    }
  }
  return pieces;
}

std::vector<Piece> backlog_pieces(const std::u32string& text) {
  std::vector<Piece> pieces(text.size());
  bool at_line_start = true;
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    const char32_t next = i + 1 < text.size() ? text[i + 1] : 0;
    Piece& piece = pieces[i];
    if (c == U'\n') {
      add(piece, c);
      at_line_start = true;
      continue;
    }
    if (at_line_start && c != U' ' && c != U'\t') {
      at_line_start = false;
      if (c == U'*' || c == U'-' || c == U'+' || c == U'>' || c == U'|') {
        add(piece, kWordJoiner, 1);
      }
    }
    add(piece, c);
    const bool doubled_marker = (c == U'\'' || c == U'%' || c == U'[' || c == U']') && next == c;
    const bool macro_opening = (c == U'{' && (is_ascii_letter(next) || next == U'/')) ||
                               ((c == U'&' || c == U'#') && opens_backlog_macro(text, i));
    if (doubled_marker || macro_opening || c == U'@') {
      add(piece, kWordJoiner, 1);
    }
  }
  return pieces;
}

// The pieces joined, cut with "…" when they exceed `limit` units.
std::string joined(const std::vector<Piece>& pieces, size_t limit, bool* was_cut = nullptr) {
  size_t total = 0;
  for (const Piece& piece : pieces) {
    total += piece.units;
  }
  std::string out;
  const bool cut = total > limit;
  const size_t room = cut ? (limit > 0 ? limit - 1 : 0) : limit;
  size_t used = 0;
  for (const Piece& piece : pieces) {
    if (used + piece.units > room) {
      break;
    }
    out += piece.text;
    used += piece.units;
  }
  if (cut && limit > 0) {
    out += kEllipsis;
  }
  if (was_cut != nullptr) {
    *was_cut = cut;
  }
  return out;
}

std::string escaped(const std::u32string& text, TextFormat format, Shape shape, size_t limit,
                    bool* was_cut = nullptr) {
  return joined(
      format == TextFormat::kMarkdown ? markdown_pieces(text, shape) : backlog_pieces(text), limit,
      was_cut);
}

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != prefix[i]) {
      return false;
    }
  }
  return true;
}

// `url` fit to be a link target in either syntax, or nullopt when it is not an http(s) URL or is
// too long.
std::optional<std::string> linkable_url(std::string_view url) {
  while (!url.empty() && (url.front() == ' ' || url.front() == '\t')) {
    url.remove_prefix(1);
  }
  while (!url.empty() && (url.back() == ' ' || url.back() == '\t')) {
    url.remove_suffix(1);
  }
  size_t authority = 0;
  if (starts_with_ignoring_case(url, "https://")) {
    authority = 8;
  } else if (starts_with_ignoring_case(url, "http://")) {
    authority = 7;
  } else {
    return std::nullopt;
  }
  if (url.size() == authority || url[authority] == '/') {
    return std::nullopt;
  }
  constexpr std::string_view kEncoded = "\"'<>[]{}()|\\^`;@";
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < url.size(); ++i) {
    const auto byte = static_cast<unsigned char>(url[i]);
    const bool percent_escape =
        byte == '%' && i + 2 < url.size() && is_hex_digit(url[i + 1]) && is_hex_digit(url[i + 2]);
    if (byte <= 0x20 || byte >= 0x7F || kEncoded.find(static_cast<char>(byte)) != kEncoded.npos ||
        (byte == '%' && !percent_escape)) {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0F];
    } else {
      out += static_cast<char>(byte);
    }
  }
  if (out.size() > kUrlLimit) {
    return std::nullopt;
  }
  return out;
}

bool is_region_name(std::string_view region) {
  return !region.empty() && region.size() <= 32 &&
         std::all_of(region.begin(), region.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

std::string_view arn_partition(std::string_view arn) {
  if (!arn.starts_with("arn:")) {
    return {};
  }
  arn.remove_prefix(4);
  return arn.substr(0, arn.find(':'));
}

// The markup of one format around text that is already escaped (or is hikyaku's own).
class Syntax {
 public:
  explicit Syntax(TextFormat format) : format_(format) {}

  bool markdown() const { return format_ == TextFormat::kMarkdown; }

  std::string heading(int level, std::string_view text) const {
    return std::string(static_cast<size_t>(level), markdown() ? '#' : '*') + " " +
           std::string(text) + "\n\n";
  }
  std::string bold(std::string_view text) const {
    const std::string_view mark = markdown() ? "**" : "''";
    return std::string(mark) + std::string(text) + std::string(mark);
  }
  std::string item(std::string_view text) const { return "- " + std::string(text) + "\n"; }
  std::string fact(std::string_view label, std::string_view value) const {
    return item(bold(label) + " " + std::string(value));
  }
  std::string link(std::string_view label, std::string_view url) const {
    return markdown() ? "[" + std::string(label) + "](" + std::string(url) + ")"
                      : "[[" + std::string(label) + ">" + std::string(url) + "]]";
  }

  // Untrusted text on one line (inside a list item, a heading, after a label).
  std::string line(std::string_view text, size_t limit) const {
    return escaped(on_one_line(cleaned(text)), format_, Shape::kLine, limit);
  }
  // Untrusted text as paragraphs, its line breaks kept.
  std::string block(std::string_view text, size_t limit, bool* was_cut = nullptr) const {
    return escaped(cleaned(text), format_, Shape::kBlock, limit, was_cut);
  }

  // A link when `url` can be one, else the URL as text.
  std::string url_line(std::string_view label, std::string_view url) const {
    if (const std::optional<std::string> target = linkable_url(url)) {
      return link(label, *target);
    }
    return std::string(label) + " (not linked): " + line(url, kUnlinkedUrlLimit);
  }

 private:
  TextFormat format_;
};

std::string severity_text(const Syntax& syntax, const Finding& finding) {
  std::string text = finding.severity_label.empty()
                         ? std::string("unknown")
                         : syntax.line(finding.severity_label, kShortFieldLimit);
  std::vector<std::string> details;
  if (!finding.severity_original.empty() && finding.severity_original != finding.severity_label) {
    details.push_back("original: " + syntax.line(finding.severity_original, kNameLimit));
  }
  if (finding.severity_normalized.has_value()) {
    details.push_back("normalized: " + std::to_string(*finding.severity_normalized));
  }
  for (size_t i = 0; i < details.size(); ++i) {
    text += (i == 0 ? " (" : "; ") + details[i];
  }
  if (!details.empty()) {
    text += ")";
  }
  return text;
}

std::string change_list(const Syntax& syntax, const std::vector<FieldChange>& changes) {
  std::string text;
  for (const FieldChange& change : changes) {
    const auto value = [&](const std::string& v) {
      return v.empty() ? std::string("(none)") : syntax.line(v, kChangeValueLimit);
    };
    text += syntax.item(syntax.line(change.field, kShortFieldLimit) + ":" + " " +
                        value(change.before) + std::string(kArrow) + value(change.after));
  }
  return text;
}

std::string state_now(const Syntax& syntax, const Finding& finding) {
  std::string text;
  if (finding.compliance_status.has_value()) {
    text += "Compliance.Status " + syntax.line(*finding.compliance_status, kShortFieldLimit) + ", ";
  }
  text += "Workflow.Status " + syntax.line(finding.workflow_status, kShortFieldLimit) +
          ", RecordState " + syntax.line(finding.record_state, kShortFieldLimit);
  return text;
}

// What every comment ends with: when Security Hub last updated the finding, and where to see it.
std::string comment_footer(const Syntax& syntax, const Finding& finding) {
  std::string text = "Severity now: " + severity_text(syntax, finding) + ". Updated at " +
                     syntax.line(finding.updated_at, kShortFieldLimit) + ".\n\n";
  text += syntax.link("Open this finding in the Security Hub console", console_link(finding));
  return text;
}

std::string what_changed(const Syntax& syntax, const std::vector<FieldChange>& changes) {
  if (changes.empty()) {
    return {};
  }
  return "What changed:\n\n" + change_list(syntax, changes) + "\n";
}

// A comment is built from bounded parts; the cut is a last guard, not the usual path.
std::string bounded(std::string text) {
  if (text_length(text) <= kDescriptionLimit) {
    return text;
  }
  std::vector<Piece> pieces;
  const std::u32string code_points = [&] {
    std::u32string out;
    for (size_t pos = 0; pos < text.size();) {
      const Decoded decoded = decode(text, pos);
      out += decoded.code_point;
      pos += decoded.length;
    }
    return out;
  }();
  for (const char32_t c : code_points) {
    Piece piece;
    add(piece, c);
    pieces.push_back(std::move(piece));
  }
  return joined(pieces, kDescriptionLimit);
}

}  // namespace

TextFormat text_format_of(std::string_view text_formatting_rule) {
  return text_formatting_rule == "markdown" ? TextFormat::kMarkdown : TextFormat::kBacklog;
}

std::string finding_marker(const securityhub::FindingKey& key) {
  std::string_view hex = key.str();
  hex.remove_prefix(securityhub::FindingKey::kPrefix.size());
  std::string marker(kFindingMarkerPrefix);
  for (const char digit : hex) {
    marker += static_cast<char>(digit <= '9' ? 'a' + (digit - '0') : 'k' + (digit - 'a'));
  }
  return marker;
}

size_t text_length(std::string_view utf8) {
  size_t units = 0;
  for (size_t pos = 0; pos < utf8.size();) {
    const Decoded decoded = decode(utf8, pos);
    units += utf16_units(decoded.code_point);
    pos += decoded.length;
  }
  return units;
}

std::string neutralized(std::string_view text, TextFormat format) {
  return escaped(cleaned(text), format, Shape::kBlock, std::string_view::npos);
}

std::string console_link(const Finding& finding) {
  std::string_view partition = arn_partition(finding.product_arn);
  std::string_view region;
  if (is_region_name(finding.region)) {
    region = finding.region;
  }
  for (const securityhub::Resource& resource : finding.resources) {
    if (partition.empty() && !resource.partition.empty()) {
      partition = resource.partition;
    }
    if (region.empty() && is_region_name(resource.region)) {
      region = resource.region;
    }
  }
  if (partition.empty()) {
    partition = region.starts_with("cn-")       ? "aws-cn"
                : region.starts_with("us-gov-") ? "aws-us-gov"
                                                : "aws";
  }
  std::string link;
  if (partition == "aws-cn") {
    link = "https://console.amazonaws.cn/securityhub/home";
  } else if (partition == "aws-us-gov") {
    link = "https://console.amazonaws-us-gov.com/securityhub/home";
  } else if (region.empty()) {
    link = "https://console.aws.amazon.com/securityhub/home";
  } else {
    link = "https://" + std::string(region) + ".console.aws.amazon.com/securityhub/home";
  }
  if (!region.empty()) {
    link += "?region=" + std::string(region);
  }
  // The console's search takes "Id=\operator\:EQUALS\:<value>", and the console decodes the
  // fragment's parameter twice, so the Id is percent-encoded twice like the operator around it.
  link += "#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A";
  link += percent_encode(percent_encode(finding.id));
  return link;
}

TicketText ticket_text(const Finding& finding, TextFormat format) {
  const Syntax syntax(format);
  TicketText ticket;

  // Summary: plain text on one line.
  {
    std::string summary;
    if (!finding.severity_label.empty()) {
      summary += "[" + finding.severity_label + "] ";
    }
    if (!finding.security_control_id.empty()) {
      summary += finding.security_control_id + " ";
    }
    summary += finding.title.empty() ? "Security Hub finding" : finding.title;
    std::vector<Piece> pieces;
    for (const char32_t c : on_one_line(cleaned(summary))) {
      Piece piece;
      add(piece, c);
      pieces.push_back(std::move(piece));
    }
    ticket.summary = joined(pieces, kSummaryLimit);
  }

  // Everything around the finding's description, which gets the room that is left.
  std::string head = syntax.heading(
      2, syntax.line(finding.title.empty() ? "Security Hub finding" : finding.title, kTitleLimit));
  head += syntax.fact("Severity:", severity_text(syntax, finding));
  if (!finding.security_control_id.empty()) {
    head += syntax.fact("Security control:",
                        syntax.line(finding.security_control_id, kShortFieldLimit));
  }
  if (finding.compliance_status.has_value()) {
    head += syntax.fact("Compliance:", syntax.line(*finding.compliance_status, kShortFieldLimit));
  }
  std::string product = syntax.line(finding.product_name, kNameLimit);
  if (!finding.company_name.empty()) {
    product += " (" + syntax.line(finding.company_name, kNameLimit) + ")";
  }
  head += syntax.fact("Product:", product);
  head += syntax.fact("Account:", syntax.line(finding.aws_account_id, kShortFieldLimit));
  head += syntax.fact("Region:", syntax.line(finding.region, kShortFieldLimit));
  head += syntax.fact("Status:", state_now(syntax, finding));
  head += "\n";

  head += syntax.heading(3, "Resources");
  const size_t listed = std::min(finding.resources.size(), kMaxListedResources);
  for (size_t i = 0; i < listed; ++i) {
    const securityhub::Resource& resource = finding.resources[i];
    head += syntax.item((resource.type.empty() ? std::string("Resource")
                                               : syntax.line(resource.type, kResourceTypeLimit)) +
                        ": " + syntax.line(resource.id, kResourceIdLimit));
  }
  if (finding.resources.size() > listed) {
    head += syntax.item("… and " + std::to_string(finding.resources.size() - listed) +
                        " more (the Security Hub console lists them all)");
  }
  if (finding.resources.empty()) {
    head += "(none listed)\n";
  }
  head += "\n";
  head += syntax.heading(3, "Description");

  std::string tail = "\n\n";
  if (!finding.remediation_text.empty() || !finding.remediation_url.empty()) {
    tail += syntax.heading(3, "Remediation");
    if (!finding.remediation_text.empty()) {
      tail += syntax.block(finding.remediation_text, kRemediationTextLimit) + "\n\n";
    }
    if (!finding.remediation_url.empty()) {
      tail += syntax.url_line("Remediation instructions", finding.remediation_url) + "\n\n";
    }
  }
  tail += syntax.heading(3, "Links");
  tail += syntax.item(
      syntax.link("Open this finding in the Security Hub console", console_link(finding)));
  if (!finding.source_url.empty()) {
    tail += syntax.item(syntax.url_line("The finding at its provider", finding.source_url));
  }
  tail += "\n";
  tail += syntax.heading(3, "Timeline");
  const std::pair<std::string_view, const std::string*> times[] = {
      {"Created:", &finding.created_at},
      {"Updated:", &finding.updated_at},
      {"First observed:", &finding.first_observed_at},
      {"Last observed:", &finding.last_observed_at},
  };
  for (const auto& [label, value] : times) {
    if (!value->empty()) {
      tail += syntax.fact(label, syntax.line(*value, kShortFieldLimit));
    }
  }
  tail += "\n";
  tail += syntax.heading(3, "Identifiers");
  tail += syntax.fact("Finding Id:", syntax.line(finding.id, kFindingIdLimit));
  tail += syntax.fact("ProductArn:", syntax.line(finding.product_arn, kProductArnLimit));
  tail +=
      syntax.fact("Ticket marker:", finding_marker(finding.key) +
                                        " (hikyaku finds this ticket again by it; please keep it)");

  const std::string cut_notice = "\n\n(The description is cut here to keep this ticket under " +
                                 std::to_string(kDescriptionLimit) +
                                 " characters; the Security Hub console shows it whole.)";
  const size_t fixed = text_length(head) + text_length(tail) + text_length(cut_notice);
  const size_t room = fixed < kDescriptionLimit ? kDescriptionLimit - fixed : 0;
  bool cut = false;
  std::string body = finding.description.empty() ? std::string("(The finding has no description.)")
                                                 : syntax.block(finding.description, room, &cut);
  if (cut) {
    body += cut_notice;
  }
  ticket.description = bounded(head + body + tail);
  return ticket;
}

std::string update_comment(const Finding& finding, const std::vector<FieldChange>& changes,
                           TextFormat format) {
  const Syntax syntax(format);
  std::string text = syntax.bold("Security Hub updated this finding.") + "\n\n";
  if (changes.empty()) {
    text +=
        "None of what this ticket follows (severity, compliance, workflow, record state, "
        "resources) changed.\n\n";
  } else {
    text += what_changed(syntax, changes);
  }
  return bounded(text + comment_footer(syntax, finding));
}

std::string resolve_comment(const Finding& finding, const LifecycleState& lifecycle,
                            const std::vector<FieldChange>& changes, TextFormat format) {
  const Syntax syntax(format);
  std::string text = syntax.bold("Security Hub reports this finding as resolved.") + "\n\n";
  text += "Why: " + syntax.line(lifecycle.explanation(), kNameLimit) + "\n\n";
  text += what_changed(syntax, changes);
  return bounded(text + comment_footer(syntax, finding));
}

std::string reopen_comment(const Finding& finding, const std::vector<FieldChange>& changes,
                           TextFormat format) {
  const Syntax syntax(format);
  std::string text =
      syntax.bold("Security Hub reports this finding as active again, so the ticket is reopened.") +
      "\n\n";
  text += "Now: " + state_now(syntax, finding) + ".\n\n";
  text += what_changed(syntax, changes);
  return bounded(text + comment_footer(syntax, finding));
}

}  // namespace hikyaku::integrations::backlog
