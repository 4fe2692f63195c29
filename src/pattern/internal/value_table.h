#pragma once
// The matcher's value indexes: byte strings -> the ids of the matchers they satisfy.
//
// Why not std::unordered_map: with 100,000 rules a lookup that misses (most do) walked a bucket,
// a node and a key allocation, three cache misses; here a probe is one 24-byte slot in a flat
// array (keys and ids live in two arenas, read only on a hash match), so a lookup costs about one
// miss. Built once by the compiler, then frozen: read-only and thread-safe.
//
// AffixTable answers "which literals are a prefix (suffix) of this value" with one probe per
// distinct literal length no longer than the value, instead of walking a byte trie node by node.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hikyaku::pattern::internal {

class ValueTable {
 public:
  // While building: `key` -> `id` (an id added twice for one key is kept twice).
  void add(std::string_view key, uint32_t id);
  // Ends building: lays the table out flat. add() must not be called afterwards.
  void freeze();

  bool empty() const { return size_ == 0; }
  // The ids added under `key`, in insertion order; empty when none.
  std::span<const uint32_t> find(std::string_view key) const;
  size_t memory() const;

 private:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;
  struct Slot {
    uint64_t hash;
    uint32_t key_offset;
    uint32_t key_length = kEmpty;  // kEmpty: a free slot
    uint32_t ids_offset;           // the id itself when ids_count == 1
    uint32_t ids_count;
  };

  std::vector<Slot> slots_;  // a power of two, at most half full
  std::string keys_;
  std::vector<uint32_t> ids_;
  size_t size_ = 0;
  std::unordered_map<std::string, std::vector<uint32_t>> building_;
};

class AffixTable {
 public:
  enum class Side { kPrefix, kSuffix };
  explicit AffixTable(Side side) : side_(side) {}

  void add(std::string_view literal, uint32_t id);
  void freeze();
  bool empty() const { return table_.empty(); }

  // Calls `fn(id)` for each literal that is a prefix (suffix) of `value`, shortest first.
  template <typename Fn>
  void for_each_match(std::string_view value, Fn&& fn) const {
    for (uint32_t length : lengths_) {
      if (length > value.size()) {
        break;
      }
      std::string_view part =
          side_ == Side::kPrefix ? value.substr(0, length) : value.substr(value.size() - length);
      for (uint32_t id : table_.find(part)) {
        fn(id);
      }
    }
  }
  size_t memory() const { return table_.memory() + lengths_.capacity() * sizeof(uint32_t); }

 private:
  Side side_;
  ValueTable table_;
  std::vector<uint32_t> lengths_;  // distinct literal lengths, ascending
};

}  // namespace hikyaku::pattern::internal
