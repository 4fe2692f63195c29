#include "core/url_encoding.h"

#include <gtest/gtest.h>

#include <string>

namespace hikyaku {
namespace {

TEST(UrlEncodingTest, PercentEncodingKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode("a b"), "a%20b");
  EXPECT_EQ(percent_encode("&=?#/+%*:@"), "%26%3D%3F%23%2F%2B%25%2A%3A%40");
  EXPECT_EQ(percent_encode("é"), "%C3%A9");  // UTF-8 byte by byte, upper-case hex
  EXPECT_EQ(percent_encode(std::string("\0\x7F\xFF", 3)), "%00%7F%FF");
  EXPECT_EQ(percent_encode(""), "");
}

TEST(UrlEncodingTest, FormEncodingFollowsRfc6749AppendixB) {
  // The example of RFC 6749 Appendix B.
  EXPECT_EQ(form_encode(" %&+\xC2\xA3\xE2\x82\xAC"), "+%25%26%2B%C2%A3%E2%82%AC");
  EXPECT_EQ(form_encode("AZaz09*-._"), "AZaz09*-._");
  EXPECT_EQ(form_encode("~:/="), "%7E%3A%2F%3D");  // '~' is kept by RFC 3986, not by forms
}

TEST(UrlEncodingTest, AppendersAppend) {
  std::string out = "k=";
  append_form_encoded(out, "a b");
  out += "&q=";
  append_percent_encoded(out, "a b");
  EXPECT_EQ(out, "k=a+b&q=a%20b");
}

TEST(UrlEncodingTest, Base64IsPaddedStandardBase64) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");  // RFC 4648 §10
  EXPECT_EQ(base64_encode("\xFB\xFF"), "+/8=");
  const std::string long_input(100, 'x');  // no line breaks, whatever the length
  EXPECT_EQ(base64_encode(long_input).find('\n'), std::string::npos);
  EXPECT_EQ(base64_encode(long_input).size(), 136u);
}

TEST(UrlEncodingTest, DecodingUndoesEncodingAndKeepsWhatIsNotAnEscape) {
  const std::string text = "a b+c/&=%~\xE3\x81\x82";
  EXPECT_EQ(percent_decode(percent_encode(text)), text);
  EXPECT_EQ(form_decode(form_encode(text)), text);
  EXPECT_EQ(percent_decode("%41%4a%4A"), "AJJ");  // either hex case
  EXPECT_EQ(percent_decode("a+b"), "a+b");        // `+` is a space only in forms
  EXPECT_EQ(form_decode("a+b"), "a b");
  EXPECT_EQ(percent_decode("100%"), "100%");  // stray or short escapes stay as written
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_EQ(percent_decode("%zz%"), "%zz%");
}

}  // namespace
}  // namespace hikyaku
