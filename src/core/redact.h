#pragma once
// Redaction of secrets in text that is about to leave the process or reach disk (logs, error
// messages, dead-letter records, metrics labels, admin output). Two nets, applied together by
// Redactor::redact():
//
// 1. By value (Redactor): every configured secret value (API keys, passwords, client secrets,
//    IsValueSecret parameters, ingest keys, SigV4 secret keys) is replaced by "***" wherever it
//    occurs, also in the encodings a value reaches text in:
//      - percent-encoding, either hex case, `+` or %20 for a space (URLs, form bodies);
//      - JSON string escapes (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs);
//      - base64 (standard and URL alphabets): the value encoded on its own, and the part of
//        the value that survives encoding at any offset inside a longer base64 text (so the
//        password inside a Basic `Authorization` header is found whatever the user name);
//    one layer of encoding, percent and JSON escapes mixed freely in it, and up to
//    kMaxEscapeLayers layers of escapes (JSON quoted in JSON quoted in an error message: an
//    answer that echoes a document that echoes the request). Overlapping or adjacent
//    occurrences merge into one mask. Values shorter than kMinSecretBytes are not matched by
//    value: masking every occurrence of two or three common characters would wreck every line
//    and point at the secret; such values are still covered by the name rules.
//    The secret `+` and space are treated alike (form encoding), so a text that differs from a
//    secret only there is masked too: redaction errs on the side of masking.
//
// 2. By name (redact_url, is_secret_parameter_name): in any text, not only URLs,
//      - the userinfo of every `scheme://userinfo@host` (user and password, or a lone token:
//        https://TOKEN@host) becomes `scheme://***@host`;
//      - the value of every `name=value` whose name is credential-like becomes `name=***`;
//        the name is percent-decoded and compared case-insensitively, and may follow any
//        separator (`?`, `&`, `;`, `#`, `/`, a space, a quote...), so a fragment, a matrix
//        parameter or a repeated parameter is covered; the value runs to the next `&`, `;`,
//        `#`, quote, angle bracket, backslash, space or control character.
//    This catches credentials that are not configured values (a token pasted into a URL).
//
// Thread safety: Redactor is immutable once built and safe to share between threads (hold it
// in a shared_ptr<const Redactor>); the free functions are stateless.
//
// Cost: a Redactor scans the text once through one Aho-Corasick automaton for all values and
// encodings (a second pass, over the decoded text, only when it holds `%` or `\`), so the time
// does not grow with the number of secrets; with no values it only applies the name rules.
// Memory: about (total bytes of the patterns) x (distinct bytes in them) x 4 bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hikyaku {

// True for a query-parameter or header name that conventionally carries a credential. The name
// is percent-decoded and lower-cased, then it either contains one of "key", "token", "secret",
// "passw", "passphrase", "signature", "credential", "auth", "session", "cookie", "bearer",
// "jwt" (apiKey, api_key, access_token, X-Amz-Signature, Authorization, PASSWORD...), or one of
// its words (split at non-alphanumerics and lower-to-upper case changes) is "pw", "pwd", "pass",
// "pswd" or "sig" (pwd, db_pass, urlSig; not "passenger" or "signal").
bool is_secret_parameter_name(std::string_view name);

// Returns `text` with the name rules above applied:
//   https://u:pw@x.backlog.com/api/v2/issues?apiKey=abc&x=1#sig=s ->
//   https://***@x.backlog.com/api/v2/issues?apiKey=***&x=1#sig=***
std::string redact_url(std::string_view text);

class Redactor {
 public:
  static constexpr size_t kMinSecretBytes = 4;
  static constexpr int kMaxEscapeLayers = 3;
  static constexpr std::string_view kMask = "***";

  // Redacts by name only.
  Redactor() = default;
  // `secrets`: every configured secret value; empty and short ones are skipped, duplicates are
  // fine.
  explicit Redactor(const std::vector<std::string>& secrets);

  // True when no value is redacted (only the name rules apply).
  bool empty() const { return max_pattern_ == 0; }
  // Number of distinct byte patterns the values expanded into (for tests and sizing).
  size_t pattern_count() const { return pattern_count_; }

  // `text` with every secret value (in any encoding above) and every name-rule match masked.
  std::string redact(std::string_view text) const;
  // Like redact(), but leaves `out` alone and returns false when there is nothing to mask, so a
  // caller that has nothing to hide pays no copy.
  bool redact_into(std::string_view text, std::string& out) const;
  // True when `text` holds a secret value in any encoding above (name rules not applied).
  bool contains_secret(std::string_view text) const;

 private:
  struct Span {
    size_t begin;
    size_t end;
  };
  // Appends the spans (merged, in order) covering every secret value found in `text`.
  void find_values(std::string_view text, std::vector<Span>& spans) const;
  void scan_raw(std::string_view text, std::vector<Span>& spans) const;
  void scan_decoded(std::string_view text, std::vector<Span>& spans) const;
  // Appends what the second and deeper layers of escapes hide to `found` (scan_decoded's, which
  // then orders and merges them with its own).
  void scan_nested(std::string_view text, std::vector<Span>& found) const;
  void add_pattern(std::string_view pattern);
  void build_automaton();

  // Trie under construction (children by byte); cleared once the automaton is built.
  std::vector<std::vector<std::pair<uint8_t, int32_t>>> trie_;
  std::vector<uint32_t> trie_match_;  // length of the pattern ending at each trie node, or 0
  // The automaton: next_[state * classes_ + class_of_[byte]]; match_[state] = the longest
  // pattern ending in `state` (its own or through its failure links), 0 when none.
  std::vector<uint16_t> class_of_ = std::vector<uint16_t>(256, 0);
  size_t classes_ = 1;
  std::vector<int32_t> next_;
  std::vector<uint32_t> match_;
  size_t max_pattern_ = 0;
  size_t pattern_count_ = 0;
};

}  // namespace hikyaku
