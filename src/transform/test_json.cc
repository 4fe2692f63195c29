#include "transform/test_json.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "core/file.h"

namespace hikyaku::transform::testing {
namespace {

namespace dom = simdjson::dom;

// Far above any file under tests/data; a cap only so a wrong path cannot read without bound.
constexpr size_t kMaxTestDataBytes = size_t{64} * 1024 * 1024;

bool values_equal(dom::element a, dom::element b, const std::string& where, std::string* why) {
  auto fail = [&](const std::string& what) {
    if (why != nullptr) {
      *why = where + ": " + what + " (" + to_json(a) + " vs " + to_json(b) + ")";
    }
    return false;
  };
  if (a.type() != b.type()) {
    return fail("different types");
  }
  switch (a.type()) {
    case dom::element_type::OBJECT: {
      dom::object oa = a.get_object().value_unsafe();
      dom::object ob = b.get_object().value_unsafe();
      if (oa.size() != ob.size()) {
        return fail("different member counts");
      }
      auto ib = ob.begin();
      for (auto ia = oa.begin(); ia != oa.end(); ++ia, ++ib) {
        if (ia.key() != ib.key()) {
          return fail("different keys \"" + std::string(ia.key()) + "\" / \"" +
                      std::string(ib.key()) + "\"");
        }
        if (!values_equal(ia.value(), ib.value(), where + "." + std::string(ia.key()), why)) {
          return false;
        }
      }
      return true;
    }
    case dom::element_type::ARRAY: {
      dom::array aa = a.get_array().value_unsafe();
      dom::array ab = b.get_array().value_unsafe();
      if (aa.size() != ab.size()) {
        return fail("different lengths");
      }
      size_t i = 0;
      auto ib = ab.begin();
      for (auto ia = aa.begin(); ia != aa.end(); ++ia, ++ib, ++i) {
        if (!values_equal(*ia, *ib, where + "[" + std::to_string(i) + "]", why)) {
          return false;
        }
      }
      return true;
    }
    case dom::element_type::STRING:
      return a.get_string().value_unsafe() == b.get_string().value_unsafe() ||
             fail("different strings");
    case dom::element_type::INT64:
      return a.get_int64().value_unsafe() == b.get_int64().value_unsafe() ||
             fail("different numbers");
    case dom::element_type::UINT64:
      return a.get_uint64().value_unsafe() == b.get_uint64().value_unsafe() ||
             fail("different numbers");
    case dom::element_type::DOUBLE:
      return a.get_double().value_unsafe() == b.get_double().value_unsafe() ||
             fail("different numbers");
    case dom::element_type::BOOL:
      return a.get_bool().value_unsafe() == b.get_bool().value_unsafe() ||
             fail("different booleans");
    case dom::element_type::NULL_VALUE:
      return true;
  }
  return fail("unknown type");
}

}  // namespace

std::string read_file(const std::string& path) {
  Result<std::string> text = hikyaku::read_file(path, kMaxTestDataBytes);
  if (!text.has_value()) {
    std::fprintf(stderr, "test data: %s\n", text.error().message().c_str());
    std::abort();
  }
  return std::move(text).value();
}

bool is_valid_json(std::string_view text) {
  dom::parser parser;
  dom::element root;
  return parser.parse(text.data(), text.size(), true).get(root) == simdjson::SUCCESS;
}

bool json_equal(std::string_view a, std::string_view b, std::string* why) {
  dom::parser pa;
  dom::parser pb;
  dom::element ea;
  dom::element eb;
  if (pa.parse(a.data(), a.size(), true).get(ea) != simdjson::SUCCESS) {
    if (why != nullptr) {
      *why = "left side is not valid JSON: " + std::string(a);
    }
    return false;
  }
  if (pb.parse(b.data(), b.size(), true).get(eb) != simdjson::SUCCESS) {
    if (why != nullptr) {
      *why = "right side is not valid JSON: " + std::string(b);
    }
    return false;
  }
  return values_equal(ea, eb, "$", why);
}

std::string to_json(simdjson::dom::element element) { return simdjson::to_string(element); }

}  // namespace hikyaku::transform::testing
