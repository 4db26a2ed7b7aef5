#include "service/keystore/internal/identity_index.h"

#include <algorithm>
#include <cstring>

#include "service/keystore/internal/hash_mixing.h"
#include "service/keystore/key_store.h"  // StableHash

namespace sasmint::internal {
namespace {

// Load factors, as fractions of ten: an unreserved table grows at 3/4 full to half full;
// Reserve and Compact aim at 7/10 (about 1.7 probes per found identity with linear probing).
constexpr size_t kMinPositions = 64;
size_t PositionsFor(size_t identities) { return std::max(kMinPositions, identities * 10 / 7 + 1); }

}  // namespace

uint64_t IdentityHash(absl::string_view hub, absl::string_view device_id,
                      absl::string_view module_id) {
  // Each name is hashed where it lies and the results are combined: copying hub, "/devices/"
  // and the ID into one buffer first put the copies (and the loads that straddle them, which
  // store forwarding cannot serve) on the critical path of every lookup, ahead of its cache
  // miss. The three hashes are independent, so they overlap.
  const uint64_t hub_hash = StableHash(hub);
  const uint64_t device_hash = StableHash(device_id);
  uint64_t h = Mum(device_hash ^ 0x9e3779b97f4a7c15ull, hub_hash ^ 0xc2b2ae3d27d4eb4full);
  if (!module_id.empty()) {
    h = Mum(h ^ 0x165667b19e3779f9ull, StableHash(module_id) ^ 0xd6e8feb86659fd93ull);
  }
  return Mix(h);
}

IdentityIndex::IdentityIndex()
    : keys_(SecureAllocator<KeyPair>(&KeyMemoryHeap())), cold_(HugePageAllocator<Cold>()) {}

absl::string_view IdentityIndex::Names(const HotEntry& e) const {
  const size_t size = size_t{e.device_len} + e.module_len;
  return absl::string_view(e.names_inline() ? e.inline_names : names_.data() + e.name_offset, size);
}

bool IdentityIndex::SameNames(const HotEntry& e, uint8_t hub, absl::string_view device_id,
                              absl::string_view module_id) const {
  // Views are compared as views: an empty one may have a null pointer, which memcmp must not see.
  if (e.hub != hub || e.device_len != device_id.size() || e.module_len != module_id.size()) {
    return false;
  }
  const absl::string_view names = Names(e);
  return names.substr(0, e.device_len) == device_id && names.substr(e.device_len) == module_id;
}

uint32_t IdentityIndex::Place(std::vector<HotEntry, HugePageAllocator<HotEntry>>& table,
                              const HotEntry& e) {
  const size_t n = table.size();
  size_t pos = HomeIn(e.hash, n);
  while (table[pos].id_plus_one != 0) pos = pos + 1 == n ? 0 : pos + 1;
  table[pos] = e;
  return static_cast<uint32_t>(pos);
}

void IdentityIndex::Rehash(size_t capacity) {
  std::vector<HotEntry, HugePageAllocator<HotEntry>> table(capacity);
  // In position order, so entries that shared a probe run keep their relative order.
  for (const HotEntry& e : hot_) {
    if (e.id_plus_one != 0) cold_[e.id_plus_one - 1].position = Place(table, e);
  }
  hot_.swap(table);
}

bool IdentityIndex::Insert(const Record& record, absl::string_view device_id,
                           absl::string_view module_id, uint32_t* id_out) {
  // One probe both checks for a duplicate and finds the free position; only a rehash (the table
  // 3/4 full: linear probing stays short below that) makes the position be looked for again.
  size_t free = 0;
  if (!hot_.empty() && Probe(record.hash, record.hub, device_id, module_id, &free) >= 0) {
    return false;
  }
  const size_t n = size();
  if (n >= UINT32_MAX - 1) std::abort();  // ids are 32-bit; a fleet is far smaller
  const bool rehash = (n + 1) * 4 > hot_.size() * 3;
  if (rehash) Rehash(std::max(kMinPositions, (n + 1) * 2));

  HotEntry e;
  e.hash = record.hash;
  e.id_plus_one = static_cast<uint32_t>(n + 1);
  e.device_len = static_cast<uint8_t>(device_id.size());
  e.module_len = static_cast<uint8_t>(module_id.size());
  e.hub = record.hub;
  e.flags = record.flags;
  if (e.names_inline()) {
    if (!device_id.empty()) std::memcpy(e.inline_names, device_id.data(), device_id.size());
    if (!module_id.empty()) {
      std::memcpy(e.inline_names + device_id.size(), module_id.data(), module_id.size());
    }
  } else {
    e.name_offset = static_cast<uint32_t>(names_.size());
    names_.append(device_id.data(), device_id.size());
    names_.append(module_id.data(), module_id.size());
  }
  const HmacKey* any = record.primary != nullptr ? record.primary : record.secondary;
  if (any == nullptr) std::abort();  // the caller's bug: see Record
  keys_.push_back(KeyPair{{record.primary != nullptr ? *record.primary : *any,
                           record.secondary != nullptr ? *record.secondary : *any}});
  uint32_t position = static_cast<uint32_t>(free);
  if (rehash) {
    position = Place(hot_, e);
  } else {
    hot_[position] = e;
  }
  cold_.push_back(Cold{position, record.version, record.source_line, record.source_file, 0});
  *id_out = static_cast<uint32_t>(n);
  return true;
}

void IdentityIndex::Prefetch(uint64_t hash) const {
  if (hot_.empty()) return;
  __builtin_prefetch(&hot_[Home(hash)]);
}

int64_t IdentityIndex::Find(uint64_t hash, uint8_t hub, absl::string_view device_id,
                            absl::string_view module_id) const {
  if (hot_.empty()) return -1;
  size_t free = 0;
  return Probe(hash, hub, device_id, module_id, &free);
}

int64_t IdentityIndex::Probe(uint64_t hash, uint8_t hub, absl::string_view device_id,
                             absl::string_view module_id, size_t* free) const {
  const size_t n = hot_.size();
  size_t pos = Home(hash);
  // A third of identities sit past their home position (linear probing at 7/10 full), nearly all in
  // the next line: ask for it now, so that the second probe's miss overlaps the first's.
  __builtin_prefetch(&hot_[pos + 1 == n ? 0 : pos + 1]);
  for (;;) {
    const HotEntry& e = hot_[pos];
    if (e.id_plus_one == 0) {
      *free = pos;
      return -1;
    }
    if (e.hash == hash && SameNames(e, hub, device_id, module_id)) return static_cast<int64_t>(pos);
    pos = pos + 1 == n ? 0 : pos + 1;
  }
}

absl::string_view IdentityIndex::device_id(uint32_t id, uint32_t position) const {
  const HotEntry& e = Hot(id, position);
  return Names(e).substr(0, e.device_len);
}

absl::string_view IdentityIndex::module_id(uint32_t id, uint32_t position) const {
  const HotEntry& e = Hot(id, position);
  return Names(e).substr(e.device_len);
}

void IdentityIndex::Reserve(size_t n) {
  const size_t want = size() + n;
  if (want * 10 > hot_.size() * 7) Rehash(PositionsFor(want));
}

void IdentityIndex::Compact() {
  // Below 6/10 full (a Reserve that overestimated, or deletions never happen here: tables are
  // rebuilt), a rehash to 7/10 returns the spare positions.
  if (hot_.size() > kMinPositions && size() * 10 < hot_.size() * 6) Rehash(PositionsFor(size()));
  keys_.ShrinkToFit();
  cold_.ShrinkToFit();
  names_.shrink_to_fit();
}

size_t IdentityIndex::MemoryBytes() const {
  return hot_.capacity() * sizeof(HotEntry) + keys_.capacity_bytes() + cold_.capacity_bytes() +
         names_.capacity();
}

}  // namespace sasmint::internal
