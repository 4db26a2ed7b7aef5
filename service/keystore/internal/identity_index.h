// identity_index.h: compact storage of device and module identities for the key store.
//
// Millions of identities must fit in little memory and be found in one or two cache misses.
// Each identity is one fixed-size Record (hash, flags, names, source, and both keys' HMAC
// midstates: 192 bytes) in a per-shard vector; IDs too long to fit in it live in the shard's name
// blob; the shard's open-addressing index maps the identity hash to the record. Shards (by hash)
// keep each index small enough to rebuild or copy cheaply. Lookups can be split into Prefetch +
// Find so a batch overlaps its cache misses. Thread-compatible: built by one thread, then read by
// many.
#ifndef SASMINT_SERVICE_KEYSTORE_INTERNAL_IDENTITY_INDEX_H_
#define SASMINT_SERVICE_KEYSTORE_INTERNAL_IDENTITY_INDEX_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/keystore/internal/huge_page_allocator.h"
#include "service/keystore/key_memory.h"
#include "service/keystore/secure_memory.h"
#include "signer/hmac_sha256.h"

namespace sasmint::internal {

// IdentityHash returns StableHash of "{hub}/devices/{device}[/modules/{module}]", computed
// without allocating. It is the lookup hash and the renew-after seed of the identity.
uint64_t IdentityHash(absl::string_view hub, absl::string_view device_id,
                      absl::string_view module_id);

// Record is one identity. Its first cache line holds everything Find compares (hash, lengths,
// hub, and the names themselves when they fit, as nearly all IoT Hub IDs do), so a lookup costs
// the index slot and that one line; the keys fill the next two lines, which minting then reads.
struct Record {
  // Records are built from real keys only: HmacKey's default constructor hashes, and a table of
  // millions must not pay for keys it then overwrites.
  Record(const HmacKey& primary, const HmacKey& secondary) : keys{primary, secondary} {}

  enum Flags : uint8_t {
    kDisabled = 1,
    kHasPrimary = 2,
    kHasSecondary = 4,
    kHasExtra = 8,  // auth type other than sas, or thumbprints: see the shard's extras
    kHidden = 16,   // an overlay's tombstone: the identity is deleted (IdentityTable::Hide)
  };
  // Device ID then module ID are stored here when together they fit, else in the shard's name
  // blob at name_offset.
  static constexpr size_t kInlineNames = 36;

  bool names_inline() const { return size_t{device_len} + module_len <= kInlineNames; }

  uint64_t hash = 0;
  uint32_t name_offset = 0;  // in the shard's name blob (long names only)
  uint8_t device_len = 0;
  uint8_t module_len = 0;
  uint8_t flags = 0;
  uint8_t hub = 0;  // index into the table's hub list
  uint32_t version = 0;
  uint16_t source_file = 0;  // index into the table's source file list
  uint16_t reserved = 0;
  uint32_t source_line = 0;
  char inline_names[kInlineNames] = {};
  HmacKey keys[2];  // primary, secondary (only meaningful when its flag is set)
};
static_assert(sizeof(Record) == 192, "a Record is three cache lines, names in the first");

class IdentityIndex {
 public:
  static constexpr int kShardBits = 6;
  static constexpr int kShards = 1 << kShardBits;

  // Insert adds `record` with its names; returns false (nothing added) if an identity with the
  // same hub index, device and module is present. `*index_out` receives the record's id.
  bool Insert(const Record& record, absl::string_view device_id, absl::string_view module_id,
              uint32_t* id_out);

  // Prefetch starts loading the index slot of `hash` into the cache.
  void Prefetch(uint64_t hash) const;
  // Find returns the id of the identity, or -1. `hash` must be IdentityHash of the same names.
  int64_t Find(uint64_t hash, uint8_t hub, absl::string_view device_id,
               absl::string_view module_id) const;

  // Ids are (shard << 26 | index within shard).
  const Record& record(uint32_t id) const { return shards_[id >> 26].records[id & kIdMask]; }
  // mutable_record is for a table still being built (IdentityTable::SetVersion).
  Record& mutable_record(uint32_t id) { return shards_[id >> 26].records[id & kIdMask]; }
  absl::string_view device_id(uint32_t id) const;
  absl::string_view module_id(uint32_t id) const;

  size_t size() const { return size_; }
  // Reserve prepares room for `n` more identities spread over the shards (loads know roughly
  // how many lines they will add), so that loading does not copy records while growing.
  void Reserve(size_t n);
  // Compact drops spare capacity (vectors grow by doubling while loading).
  void Compact();
  // MemoryBytes returns the bytes held (capacity) by records, names and indexes.
  size_t MemoryBytes() const;
  // ForEach calls fn(id) for every identity, shard by shard.
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (uint32_t s = 0; s < kShards; ++s) {
      for (uint32_t i = 0; i < shards_[s].records.size(); ++i) fn(s << 26 | i);
    }
  }

 private:
  static constexpr uint32_t kIdMask = (1u << 26) - 1;
  // Records hold key midstates: they live in the key heap (locked, not dumped, wiped on free).
  using RecordVector = std::vector<Record, SecureAllocator<Record>>;
  struct Shard {
    RecordVector records{SecureAllocator<Record>(&KeyMemoryHeap())};
    std::string names;
    // 0 = empty, else (hash high 32 bits << 32) | (index + 1)
    std::vector<uint64_t, HugePageAllocator<uint64_t>> slots;
  };
  static void Grow(Shard& shard);
  // Names returns the record's device ID followed by its module ID.
  static absl::string_view Names(const Shard& shard, const Record& r);
  static bool SameNames(const Shard& shard, const Record& r, uint8_t hub,
                        absl::string_view device_id, absl::string_view module_id);

  std::array<Shard, kShards> shards_;
  size_t size_ = 0;
};

}  // namespace sasmint::internal

#endif  // SASMINT_SERVICE_KEYSTORE_INTERNAL_IDENTITY_INDEX_H_
