#include "core/redact.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/json_writer.h"
#include "core/secret.h"

namespace hikyaku {
namespace {

// ---- encoders of our own, written plainly, to attack the redactor with -------------------

std::string percent(std::string_view text, bool lower_hex, bool every_byte, bool plus_space) {
  std::string out;
  for (unsigned char c : text) {
    const bool unreserved = std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~';
    if (plus_space && c == ' ') {
      out += '+';
    } else if (unreserved && !every_byte) {
      out += static_cast<char>(c);
    } else {
      out += lower_hex ? fmt::format("%{:02x}", c) : fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string json_escaped(std::string_view text) {
  std::string out;
  append_json_escaped(out, text);
  return out;
}

// Every ASCII byte as \u00XX (what an encoder that escapes everything writes); other bytes as
// they are (\u00XX above 0x7f would name a code point, not the byte).
std::string json_u_escaped(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    out += c < 0x80 ? fmt::format("\\u{:04x}", c) : std::string(1, static_cast<char>(c));
  }
  return out;
}

std::string base64(std::string_view bytes, bool url = false) {
  const char* alphabet = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += url ? "" : "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t n =
        (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += url ? "" : "=";
  }
  return out;
}

struct Encoding {
  const char* name;
  std::function<std::string(const std::string&)> encode;
};

const std::vector<Encoding>& encodings() {
  static const std::vector<Encoding> kEncodings = {
      {"raw", [](const std::string& s) { return s; }},
      {"percent upper", [](const std::string& s) { return percent(s, false, false, false); }},
      {"percent lower", [](const std::string& s) { return percent(s, true, false, false); }},
      {"percent every byte", [](const std::string& s) { return percent(s, false, true, false); }},
      {"percent every byte lower",
       [](const std::string& s) { return percent(s, true, true, false); }},
      {"form", [](const std::string& s) { return percent(s, false, false, true); }},
      {"json", [](const std::string& s) { return json_escaped(s); }},
      {"json \\u", [](const std::string& s) { return json_u_escaped(s); }},
      {"json of percent",
       [](const std::string& s) { return json_escaped(percent(s, false, false, false)); }},
      {"base64", [](const std::string& s) { return base64(s); }},
      {"base64url", [](const std::string& s) { return base64(s, true); }},
      {"basic, user a", [](const std::string& s) { return "Basic " + base64("a:" + s); }},
      {"basic, user ab", [](const std::string& s) { return "Basic " + base64("ab:" + s); }},
      {"basic, user abc", [](const std::string& s) { return "Basic " + base64("abc:" + s); }},
      {"basic, user alice", [](const std::string& s) { return "Basic " + base64("alice:" + s); }},
      {"base64 at offset 1 then more",
       [](const std::string& s) { return base64("x" + s + "tail"); }},
  };
  return kEncodings;
}

// Secrets of different shapes: plain, with every character percent and JSON escaping touch,
// non-ASCII, binary.
const std::vector<std::string>& shaped_secrets() {
  static const std::vector<std::string> kSecrets = {
      "plainSecretValue123",
      "p@ss w+rd/=&;#?\"\\x",
      "tab\there\nnewline",
      std::string("bin\0\x01\x7f\xff\xfe"
                  "ary",
                  12),
      "caf\xc3\xa9-\xf0\x9f\x94\x91-key",
      "abcd",  // exactly the minimum
  };
  return kSecrets;
}

TEST(RedactorTest, EveryEncodingOfEveryShapeIsMaskedInEveryPlacement) {
  const Redactor redactor(shaped_secrets());
  for (const std::string& secret : shaped_secrets()) {
    for (const Encoding& encoding : encodings()) {
      const std::string encoded = encoding.encode(secret);
      const std::vector<std::pair<const char*, std::string>> placements = {
          {"alone", encoded},
          {"start", encoded + " trailing words"},
          {"end", "leading words " + encoded},
          {"middle", "leading " + encoded + " trailing"},
          {"glued", "zz" + encoded + "zz"},
          {"twice adjacent", encoded + encoded},
          {"json body", R"({"echo":")" + encoded + R"(","n":1})"},
          {"url", "https://h.example/p?q=" + encoded + "&x=1"},
      };
      for (const auto& [placement, text] : placements) {
        const std::string redacted = redactor.redact(text);
        EXPECT_TRUE(redactor.contains_secret(text)) << encoding.name << " / " << placement;
        EXPECT_EQ(redacted.find(encoded), std::string::npos)
            << "secret " << json_quote(secret) << " encoding " << encoding.name << " placement "
            << placement << ": " << json_quote(redacted);
        EXPECT_FALSE(redactor.contains_secret(redacted))
            << encoding.name << " / " << placement << ": " << json_quote(redacted);
        EXPECT_NE(redacted.find(Redactor::kMask), std::string::npos);
      }
    }
  }
}

TEST(RedactorTest, KeepsTheTextAroundAMatch) {
  const Redactor redactor({"s3cr3tValue"});
  EXPECT_EQ(redactor.redact("before s3cr3tValue after"), "before *** after");
  EXPECT_EQ(redactor.redact("s3cr3tValue"), "***");
  EXPECT_EQ(redactor.redact("s3cr3tValues3cr3tValue"), "***");  // adjacent occurrences merge
  EXPECT_EQ(redactor.redact("x=s3cr3t%56alue;"), "x=***;");
  EXPECT_EQ(redactor.redact(R"({"a":"s3cr3t\u0056alue"})"), R"({"a":"***"})");
  EXPECT_EQ(redactor.redact("no secret here"), "no secret here");
  // A non-BMP character written as a surrogate pair, as ASCII-only JSON encoders do.
  const Redactor emoji({"caf\xc3\xa9-\xf0\x9f\x94\x91-key"});
  EXPECT_EQ(emoji.redact(R"(["caf\u00e9-\ud83d\udd11-key"])"), R"(["***"])");
}

TEST(RedactorTest, OverlappingAndNestedValuesMergeIntoOneMask) {
  const Redactor redactor({"abcdef", "defghi", "bcde", "xabcdefghiy"});
  EXPECT_EQ(redactor.redact("--abcdefghi--"), "--***--");
  EXPECT_EQ(redactor.redact("--xabcdefghiy--"), "--***--");
  EXPECT_EQ(redactor.redact("--abcdefXdefghi--"), "--***X***--");
  EXPECT_EQ(redactor.redact("-bcde-"), "-***-");
}

// A literal `\` or `%` right before an escaped secret could be read as the start of an escape
// and hide it (found by fuzz/backlog_response_fuzzer.cc): every reading is tried.
TEST(RedactorTest, ALiteralEscapeCharacterBeforeAnEscapedSecretDoesNotHideIt) {
  const Redactor redactor(std::vector<std::string>{"fuzz-api-key/+7c="});
  EXPECT_EQ(redactor.redact(R"(<b>j\fuzz-api-key%2F%2B7c%3D</b>)"), R"(<b>j\***</b>)");
  EXPECT_EQ(redactor.redact("x%2fuzz-api-key%2F%2B7c%3D"), "x%2***");
  EXPECT_EQ(redactor.redact("x%2fuzz-api-key%2f%2b7c%3d"), "x%2***");
  const Redactor hex_start(std::vector<std::string>{"ab12cd34/ef56"});
  EXPECT_EQ(hex_start.redact(R"(50%ab12cd34\/ef56 done)"), R"(50%*** done)");
}

// An error answer that quotes a JSON document that quotes the request: the secret sits under
// two or three layers of escapes, with `/` written `\/` at each (PHP's json_encode), and `"` and
// `\` doubled at each layer.
TEST(RedactorTest, SecretsUnderSeveralLayersOfEscapesAreMasked) {
  const std::string password = "basic PASS/w+rd-\"q\\44556677";
  const Redactor redactor({password});
  auto php_escaped = [](std::string_view text) {
    std::string out;
    for (char c : json_escaped(text)) {
      out += c == '/' ? std::string("\\/") : std::string(1, c);
    }
    return out;
  };
  std::string layered = password;
  for (int layer = 1; layer <= Redactor::kMaxEscapeLayers; ++layer) {
    layered = php_escaped(layered);
    const std::string text = R"({"error":"cannot take {\"echo\":\")" + layered + "\\\"}\"}";
    const std::string redacted = redactor.redact(text);
    EXPECT_EQ(redacted.find("44556677"), std::string::npos) << layer << " layers: " << redacted;
    EXPECT_EQ(redacted.find("PASS"), std::string::npos) << layer << " layers: " << redacted;
    EXPECT_NE(redacted.find(R"({"error":"cannot take {\"echo\":\")"), std::string::npos)
        << "the text around the secret is kept: " << redacted;
    // Percent-encoded, then escaped for JSON.
    const std::string encoded = percent(password, false, false, false);
    const std::string in_json = php_escaped(php_escaped(encoded));
    EXPECT_EQ(redactor.redact("x " + in_json + " y"), "x *** y") << in_json;
  }
}

TEST(RedactorTest, ValuePrefixOfAnotherIsStillFound) {
  // The automaton must fall back from a failed longer match to the shorter value inside it.
  const Redactor redactor({"aaab", "aaaaaaaaaaX"});
  EXPECT_EQ(redactor.redact("aaaaaaaaab"), "aaaaaa***");
}

TEST(RedactorTest, ShortValuesAreNotMatchedByValue) {
  const Redactor redactor({"abc", "", "xy"});
  EXPECT_TRUE(redactor.empty());
  EXPECT_EQ(redactor.redact("abc xy"), "abc xy");
  // The name rules still apply.
  EXPECT_EQ(redactor.redact("https://h/?pw=abc"), "https://h/?pw=***");
}

TEST(RedactorTest, NothingToMaskCostsNoCopy) {
  const Redactor none;
  std::string out = "untouched";
  EXPECT_FALSE(none.redact_into("a log line without secrets", out));
  EXPECT_EQ(out, "untouched");
  const Redactor some({"topsecret"});
  EXPECT_FALSE(some.redact_into("a log line without secrets", out));
  EXPECT_EQ(out, "untouched");
  EXPECT_TRUE(some.redact_into("a topsecret line", out));
  EXPECT_EQ(out, "a *** line");
}

TEST(RedactorTest, ManySecretsAndLongText) {
  std::vector<std::string> secrets;
  for (int i = 0; i < 2000; ++i) {
    secrets.push_back(fmt::format("secret-{:05d}-value", i));
  }
  const Redactor redactor(secrets);
  EXPECT_GT(redactor.pattern_count(), secrets.size());
  std::string text(1 << 20, 'a');
  text.replace(0, secrets[7].size(), secrets[7]);
  text.replace(text.size() / 2, secrets[1999].size(), percent(secrets[1999], true, true, false));
  text.append(secrets[1234]);
  const std::string redacted = redactor.redact(text);
  for (const std::string& secret : {secrets[7], secrets[1999], secrets[1234]}) {
    EXPECT_EQ(redacted.find(secret), std::string::npos) << secret;
  }
  EXPECT_FALSE(redactor.contains_secret(redacted));
  EXPECT_EQ(redacted.find(percent(secrets[1999], true, true, false)), std::string::npos);
  EXPECT_EQ(std::count(redacted.begin(), redacted.end(), '*'), 9);
}

TEST(RedactorTest, BrokenEscapesNeitherCrashNorHideASecret) {
  const Redactor redactor({"secretvalue"});
  for (const std::string& text :
       {std::string("%"), std::string("%4"), std::string("\\"), std::string("\\u12"),
        std::string("\\ud83d"), std::string("\\ud83d\\u0041secretvalue"),
        std::string("%%secretvalue"), std::string("\\secretvalue"), std::string("%4secretvalue%"),
        std::string("secretvalu%65")}) {
    const std::string redacted = redactor.redact(text);
    EXPECT_EQ(redacted.find("secretvalue"), std::string::npos) << text;
    EXPECT_EQ(redacted.find("secretvalu%65"), std::string::npos) << text;
  }
}

TEST(RedactorTest, SharedBetweenThreads) {
  const Redactor redactor({"threadsecret", "another-one"});
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&redactor, &failures, t] {
      for (int i = 0; i < 2000; ++i) {
        if (redactor.redact(fmt::format("{} threadsecret {} another%2Done", t, i)) !=
            fmt::format("{} *** {} ***", t, i)) {
          ++failures[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

// ---- name rules ----------------------------------------------------------------------------

struct NameCase {
  std::string text;
  std::string expected;
};

TEST(RedactUrlTest, NameRulesTable) {
  const std::vector<NameCase> cases = {
      {"https://example.backlog.com/api/v2/issues?apiKey=s3cr3t",
       "https://example.backlog.com/api/v2/issues?apiKey=***"},
      {"https://h/p?projectId=1&apiKey=abc&access_token=t&count=2#frag",
       "https://h/p?projectId=1&apiKey=***&access_token=***&count=2#frag"},
      // percent-encoded names, either hex case
      {"https://h/?api%4Bey=v1", "https://h/?api%4Bey=***"},
      {"https://h/?api%4bey=v1&%70wd=v2", "https://h/?api%4bey=***&%70wd=***"},
      // every separator
      // a value runs on through `/` and `?` (both legal in a query value): masking errs long
      {"https://h/p;apiKey=v1?x=1", "https://h/p;apiKey=***"},
      {"https://h/p#apiKey=v1", "https://h/p#apiKey=***"},
      {"https://h/p?x=1#a=1&token=v2", "https://h/p?x=1#a=1&token=***"},
      {"https://h/p/apiKey=v1/x", "https://h/p/apiKey=***"},
      // short names, as whole words of the name
      {"?pwd=v1&pass=v2&pw=v3&sig=v4&PWD=v5", "?pwd=***&pass=***&pw=***&sig=***&PWD=***"},
      {"?db_pass=v1&urlSig=v2&user-pw=v3", "?db_pass=***&urlSig=***&user-pw=***"},
      {"?passenger=v1&signal=v2&summary=v3", "?passenger=v1&signal=v2&summary=v3"},
      // case and repeats
      {"?APIKEY=v1&apikey=v2&ApiKey=v3", "?APIKEY=***&apikey=***&ApiKey=***"},
      {"?Password=v1&X-Amz-Signature=v2&client_secret=v3",
       "?Password=***&X-Amz-Signature=***&client_secret=***"},
      // userinfo in every form
      {"https://TOKEN123@h.example/x", "https://***@h.example/x"},
      {"https://alice:pw@h.example/x", "https://***@h.example/x"},
      {"https://:pw@h.example", "https://***@h.example"},
      {"redis://u:p%40ss@h:6379/0", "redis://***@h:6379/0"},
      {"https://h.example/x?next=a@b", "https://h.example/x?next=a@b"},
      // anywhere in free text, more than one URL, quoted
      {"error: GET https://tok@h/a?key=v1 failed; retry https://u:p@g/b",
       "error: GET https://***@h/a?key=*** failed; retry https://***@g/b"},
      {R"({"url":"https://h/?apiKey=v1","ok":false})",
       R"({"url":"https://h/?apiKey=***","ok":false})"},
      {"apiKey=v1", "apiKey=***"},
      {"token=v1 and more", "token=*** and more"},
      // nothing to hide
      {"https://h.example/api/v2/issues", "https://h.example/api/v2/issues"},
      {"https://h.example/p?apiKey=", "https://h.example/p?apiKey="},
      {"a == b, c = d", "a == b, c = d"},
      {"", ""},
  };
  for (const NameCase& c : cases) {
    EXPECT_EQ(redact_url(c.text), c.expected) << c.text;
  }
}

TEST(RedactUrlTest, SecretNeverSurvivesInAnyPosition) {
  const std::string secret = "ZZsecretZZ";
  for (const std::string& url : {"https://h/?apiKey=" + secret, "https://h/?a=1&APIKEY=" + secret,
                                 "https://u:" + secret + "@h/", "https://" + secret + "@h/",
                                 "https://h/?token=" + secret + "#x", "https://h/#sig=" + secret,
                                 "https://h/?x-amz-signature=" + secret,
                                 "https://h/;pass=" + secret, "https://h/?api%4Bey=" + secret}) {
    EXPECT_EQ(redact_url(url).find(secret), std::string::npos) << url;
    // The same through a Redactor that knows no values.
    EXPECT_EQ(Redactor().redact(url).find(secret), std::string::npos) << url;
  }
}

TEST(SecretParameterNameTest, RecognisesCredentialNames) {
  for (const char* name :
       {"apiKey", "Authorization", "client_secret", "api%4Bey", "PWD", "pw", "pass", "sig",
        "X-Amz-Signature", "sessionId", "refresh_token", "passphrase", "x-hikyaku-key"}) {
    EXPECT_TRUE(is_secret_parameter_name(name)) << name;
  }
  for (const char* name : {"projectId", "summary", "passenger", "signal", "issueTypeId", ""}) {
    EXPECT_FALSE(is_secret_parameter_name(name)) << name;
  }
}

TEST(SecretTest, FormatsAsMask) {
  Secret secret("hunter2");
  EXPECT_EQ(fmt::format("{}", secret), "***");
  EXPECT_EQ(fmt::format("{}", Secret()), "");
  EXPECT_EQ(secret.reveal(), "hunter2");
}

}  // namespace
}  // namespace hikyaku
