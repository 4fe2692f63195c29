#include "pattern/internal/value_table.h"

#include <algorithm>
#include <cstring>

namespace hikyaku::pattern::internal {

namespace {

// A multiply-xorshift hash over 8-byte words: keys are short (field values), and the table is
// built from rules, not from events, so events cannot aim collisions at it.
uint64_t hash_bytes(std::string_view key) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (key.size() * 0xC2B2AE3D27D4EB4Full);
  const char* p = key.data();
  size_t left = key.size();
  auto mix = [&h](uint64_t word) {
    h = (h ^ word) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  };
  while (left >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    mix(word);
    p += 8;
    left -= 8;
  }
  if (left > 0) {
    uint64_t word = 0;
    std::memcpy(&word, p, left);
    mix(word);
  }
  h ^= h >> 29;
  h *= 0x94D049BB133111EBull;
  h ^= h >> 32;
  return h;
}

}  // namespace

void ValueTable::add(std::string_view key, uint32_t id) {
  building_[std::string(key)].push_back(id);
}

void ValueTable::freeze() {
  size_ = building_.size();
  size_t capacity = 4;
  while (capacity < size_ * 2) {
    capacity *= 2;
  }
  slots_.assign(size_ == 0 ? 0 : capacity, Slot{});
  keys_.clear();
  ids_.clear();
  const size_t mask = capacity - 1;
  for (auto& [key, ids] : building_) {
    Slot slot;
    slot.hash = hash_bytes(key);
    slot.key_offset = static_cast<uint32_t>(keys_.size());
    slot.key_length = static_cast<uint32_t>(key.size());
    keys_ += key;
    slot.ids_count = static_cast<uint32_t>(ids.size());
    if (ids.size() == 1) {
      slot.ids_offset = ids[0];
    } else {
      slot.ids_offset = static_cast<uint32_t>(ids_.size());
      ids_.insert(ids_.end(), ids.begin(), ids.end());
    }
    size_t i = slot.hash & mask;
    while (slots_[i].key_length != kEmpty) {
      i = (i + 1) & mask;
    }
    slots_[i] = slot;
  }
  building_ = {};
  keys_.shrink_to_fit();
  ids_.shrink_to_fit();
}

std::span<const uint32_t> ValueTable::find(std::string_view key) const {
  if (size_ == 0) {
    return {};
  }
  const uint64_t hash = hash_bytes(key);
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.key_length == kEmpty) {
      return {};
    }
    if (slot.hash == hash && slot.key_length == key.size() &&
        std::memcmp(keys_.data() + slot.key_offset, key.data(), key.size()) == 0) {
      if (slot.ids_count == 1) {
        return {&slot.ids_offset, 1};
      }
      return {ids_.data() + slot.ids_offset, slot.ids_count};
    }
  }
}

size_t ValueTable::memory() const {
  return slots_.capacity() * sizeof(Slot) + keys_.capacity() + ids_.capacity() * sizeof(uint32_t);
}

void AffixTable::add(std::string_view literal, uint32_t id) {
  table_.add(literal, id);
  auto length = static_cast<uint32_t>(literal.size());
  if (std::find(lengths_.begin(), lengths_.end(), length) == lengths_.end()) {
    lengths_.push_back(length);
  }
}

void AffixTable::freeze() {
  table_.freeze();
  std::sort(lengths_.begin(), lengths_.end());
  lengths_.shrink_to_fit();
}

}  // namespace hikyaku::pattern::internal
