#pragma once
// The byte encodings that put text into URLs, form bodies and HTTP Basic credentials:
//
//   percent_encode("a b/é")   -> "a%20b%2F%C3%A9"   RFC 3986 §2.3: unreserved kept
//   form_encode("a b/é*")     -> "a+b%2F%C3%A9*"    application/x-www-form-urlencoded
//   base64_encode("user:pw")  -> "dXNlcjpwdw=="     RFC 4648 §4, padded
//
// percent_encode is for a URL's query keys and values and for a path segment: every byte but
// A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case hex), so a value never adds structure (`&`, `=`,
// `/`, `?`, `#`, `+`) to the URL, and a space is %20, which form decoders and RFC 3986 decoders
// both read as a space. form_encode is the WHATWG urlencoded byte serializer (URL Standard §5.2,
// the encoding RFC 6749 Appendix B requires for OAuth): A-Z a-z 0-9 * - . _ kept, a space becomes
// `+`, every other byte %XX. Both treat text as bytes: UTF-8 is encoded byte by byte, and no
// input is an error. base64_encode is OpenSSL's EVP_EncodeBlock.
//
// Thread safety: pure functions.

#include <string>
#include <string_view>

namespace hikyaku {

// Appends `text` percent-encoded (RFC 3986 unreserved characters kept) to `out`.
void append_percent_encoded(std::string& out, std::string_view text);
std::string percent_encode(std::string_view text);

// Appends `text` form-urlencoded (space as `+`) to `out`.
void append_form_encoded(std::string& out, std::string_view text);
std::string form_encode(std::string_view text);

// `text` with every valid %XX decoded; anything else (a `+`, a stray `%`) kept as it is.
std::string percent_decode(std::string_view text);
// percent_decode() that also reads `+` as a space (application/x-www-form-urlencoded).
std::string form_decode(std::string_view text);

// Standard base64 (`+`, `/`, `=` padding), no line breaks.
std::string base64_encode(std::string_view bytes);

}  // namespace hikyaku
