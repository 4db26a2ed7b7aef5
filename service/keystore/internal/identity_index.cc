#include "service/keystore/internal/identity_index.h"

#include <cstring>

#include "service/keystore/key_store.h"

namespace sasmint::internal {
namespace {

constexpr absl::string_view kDevices = "/devices/";
constexpr absl::string_view kModules = "/modules/";

uint32_t ShardOf(uint64_t hash) {
  return static_cast<uint32_t>(hash >> (64 - IdentityIndex::kShardBits));
}
uint32_t Tag(uint64_t hash) { return static_cast<uint32_t>(hash >> 32); }

}  // namespace

uint64_t IdentityHash(absl::string_view hub, absl::string_view device_id,
                      absl::string_view module_id) {
  // Valid names always fit (hub <= 253, IDs <= 128); longer ones are hashed from a heap copy
  // so the result stays defined for any input.
  char stack[768];
  const size_t size = hub.size() + kDevices.size() + device_id.size() +
                      (module_id.empty() ? 0 : kModules.size() + module_id.size());
  std::string heap;
  char* p = stack;
  if (size > sizeof(stack)) {
    heap.resize(size);
    p = heap.data();
  }
  char* const begin = p;
  const auto put = [&p](absl::string_view s) {
    if (s.empty()) return;  // memcpy from an empty view's null pointer is undefined
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  put(hub);
  put(kDevices);
  put(device_id);
  if (!module_id.empty()) {
    put(kModules);
    put(module_id);
  }
  return StableHash(absl::string_view(begin, size));
}

absl::string_view IdentityIndex::Names(const Shard& shard, const Record& r) {
  const size_t size = size_t{r.device_len} + r.module_len;
  return absl::string_view(r.names_inline() ? r.inline_names : shard.names.data() + r.name_offset,
                           size);
}

bool IdentityIndex::SameNames(const Shard& shard, const Record& r, uint8_t hub,
                              absl::string_view device_id, absl::string_view module_id) {
  // Views are compared as views: an empty one may have a null pointer, which memcmp must not see.
  if (r.hub != hub || r.device_len != device_id.size() || r.module_len != module_id.size()) {
    return false;
  }
  const absl::string_view names = Names(shard, r);
  return names.substr(0, r.device_len) == device_id && names.substr(r.device_len) == module_id;
}

void IdentityIndex::Grow(Shard& shard) {
  const size_t capacity = shard.slots.empty() ? 64 : shard.slots.size() * 2;
  std::vector<uint64_t, HugePageAllocator<uint64_t>> slots(capacity, 0);
  const size_t mask = capacity - 1;
  for (uint32_t i = 0; i < shard.records.size(); ++i) {
    const uint64_t hash = shard.records[i].hash;
    size_t pos = hash & mask;
    while (slots[pos] != 0) pos = (pos + 1) & mask;
    slots[pos] = uint64_t{Tag(hash)} << 32 | (i + 1);
  }
  shard.slots.swap(slots);
}

bool IdentityIndex::Insert(const Record& record, absl::string_view device_id,
                           absl::string_view module_id, uint32_t* id_out) {
  const uint32_t s = ShardOf(record.hash);
  Shard& shard = shards_[s];
  if (Find(record.hash, record.hub, device_id, module_id) >= 0) return false;
  // Load factor at most 3/4 keeps linear probes short.
  if ((shard.records.size() + 1) * 4 > shard.slots.size() * 3) Grow(shard);
  const uint32_t index = static_cast<uint32_t>(shard.records.size());
  shard.records.push_back(record);
  Record& stored = shard.records.back();
  stored.device_len = static_cast<uint8_t>(device_id.size());
  stored.module_len = static_cast<uint8_t>(module_id.size());
  if (stored.names_inline()) {
    if (!device_id.empty()) std::memcpy(stored.inline_names, device_id.data(), device_id.size());
    if (!module_id.empty()) {
      std::memcpy(stored.inline_names + device_id.size(), module_id.data(), module_id.size());
    }
  } else {
    stored.name_offset = static_cast<uint32_t>(shard.names.size());
    shard.names.append(device_id.data(), device_id.size());
    shard.names.append(module_id.data(), module_id.size());
  }
  const size_t mask = shard.slots.size() - 1;
  size_t pos = record.hash & mask;
  while (shard.slots[pos] != 0) pos = (pos + 1) & mask;
  shard.slots[pos] = uint64_t{Tag(record.hash)} << 32 | (index + 1);
  ++size_;
  *id_out = s << 26 | index;
  return true;
}

void IdentityIndex::Prefetch(uint64_t hash) const {
  const Shard& shard = shards_[ShardOf(hash)];
  if (shard.slots.empty()) return;
  __builtin_prefetch(&shard.slots[hash & (shard.slots.size() - 1)]);
}

int64_t IdentityIndex::Find(uint64_t hash, uint8_t hub, absl::string_view device_id,
                            absl::string_view module_id) const {
  const uint32_t s = ShardOf(hash);
  const Shard& shard = shards_[s];
  if (shard.slots.empty()) return -1;
  const size_t mask = shard.slots.size() - 1;
  const uint32_t tag = Tag(hash);
  for (size_t pos = hash & mask;; pos = (pos + 1) & mask) {
    const uint64_t slot = shard.slots[pos];
    if (slot == 0) return -1;
    if (static_cast<uint32_t>(slot >> 32) != tag) continue;
    const uint32_t index = static_cast<uint32_t>(slot) - 1;
    const Record& r = shard.records[index];
    if (r.hash == hash && SameNames(shard, r, hub, device_id, module_id)) {
      return int64_t{s} << 26 | index;
    }
  }
}

absl::string_view IdentityIndex::device_id(uint32_t id) const {
  const Shard& shard = shards_[id >> 26];
  const Record& r = shard.records[id & kIdMask];
  return Names(shard, r).substr(0, r.device_len);
}

absl::string_view IdentityIndex::module_id(uint32_t id) const {
  const Shard& shard = shards_[id >> 26];
  const Record& r = shard.records[id & kIdMask];
  return Names(shard, r).substr(r.device_len);
}

void IdentityIndex::Reserve(size_t n) {
  // Hashes spread evenly; 1/16 more than the mean absorbs the variation between shards.
  const size_t per_shard = n / kShards + n / kShards / 16 + 16;
  for (Shard& shard : shards_) {
    const size_t want = shard.records.size() + per_shard;
    shard.records.reserve(want);
    size_t capacity = shard.slots.empty() ? 64 : shard.slots.size();
    while (want * 4 > capacity * 3) capacity *= 2;
    while (shard.slots.size() < capacity) Grow(shard);
  }
}

void IdentityIndex::Compact() {
  for (Shard& shard : shards_) {
    shard.records.shrink_to_fit();
    shard.names.shrink_to_fit();
  }
}

size_t IdentityIndex::MemoryBytes() const {
  size_t bytes = 0;
  for (const Shard& shard : shards_) {
    bytes += shard.records.capacity() * sizeof(Record) + shard.names.capacity() +
             shard.slots.capacity() * sizeof(uint64_t);
  }
  return bytes;
}

}  // namespace sasmint::internal
