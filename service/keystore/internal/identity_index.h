// identity_index.h: compact storage of device and module identities for the key store.
//
// Millions of identities must fit in little memory and a lookup must cost one cache miss: a miss
// to DRAM is the largest cost of a lookup in a large fleet, and a lookup that chases an index
// entry and then the record pays it twice (plus a TLB miss where the arrays are not on huge pages).
// So the identity's "hot" line (hash, lengths, hub, and the names themselves when they fit, as
// nearly all IoT Hub IDs do) sits in an open-addressing table at its hash position, one 64-byte
// entry per position: Find reads that line, compares, and is done. What only minting or listing
// needs lives apart, indexed by the identity's id (its insertion number): the two keys' HMAC
// midstates (128 bytes, in the locked, non-dumped key heap) and a small "cold" record (version,
// source, and where the hot entry is). Both grow in fixed 2 MiB chunks, so they are never copied
// while a fleet loads.
//
// Memory: 64 / load + 128 + 16 bytes per identity (load kept between 0.5 and 0.75; 0.7 after a
// Reserve or Compact: about 235 bytes), plus long names.
// Thread-compatible: built by one thread, then read by many.
#ifndef SASMINT_SERVICE_KEYSTORE_INTERNAL_IDENTITY_INDEX_H_
#define SASMINT_SERVICE_KEYSTORE_INTERNAL_IDENTITY_INDEX_H_

#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/keystore/internal/huge_page_allocator.h"
#include "service/keystore/key_memory.h"
#include "service/keystore/secure_memory.h"
#include "signer/hmac_sha256.h"

namespace sasmint::internal {

// IdentityHash combines the StableHash of the hub, the device ID and (if any) the module ID:
// stable across processes and builds like StableHash. It is the lookup hash and the renew-after
// seed of the identity.
uint64_t IdentityHash(absl::string_view hub, absl::string_view device_id,
                      absl::string_view module_id);

// Record is what Insert stores for one identity (the index keeps copies, not the pointers).
struct Record {
  enum Flags : uint8_t {
    kDisabled = 1,
    kHasPrimary = 2,
    kHasSecondary = 4,
    kHasExtra = 8,  // auth type other than sas, or thumbprints: see the table's extras
    kHidden = 16,   // an overlay's tombstone: the identity is deleted (IdentityTable::Hide)
  };
  uint64_t hash = 0;
  // At least one must be set (a tombstone passes any key): absent slots get a copy of the other,
  // never read because the flags say absent.
  const HmacKey* primary = nullptr;
  const HmacKey* secondary = nullptr;
  uint32_t version = 0;
  uint32_t source_line = 0;
  uint16_t source_file = 0;  // index into the table's source file list
  uint8_t flags = 0;
  uint8_t hub = 0;  // index into the table's hub list
};

// ChunkedArray is an array that grows by fixed 2 MiB chunks from `Alloc` (its first chunk grows
// by doubling up to that size, so a table of ten identities does not hold 2 MiB): elements never
// move once the first chunk is full, and growing a 10M fleet copies nothing. Elements are
// copy-constructed into place and never destroyed (HmacKey's destructor only wipes, and the key
// heap wipes every block it takes back): `Alloc` must do any wiping the elements need.
template <typename T, typename Alloc>
class ChunkedArray {
 public:
  static constexpr size_t kPerChunk = (size_t{2} << 20) / sizeof(T);
  static_assert((kPerChunk & (kPerChunk - 1)) == 0, "element size must be a power of two");

  explicit ChunkedArray(Alloc alloc) : alloc_(alloc) {}
  ChunkedArray(const ChunkedArray&) = delete;
  ChunkedArray& operator=(const ChunkedArray&) = delete;
  ~ChunkedArray() {
    for (size_t c = 0; c < chunks_.size(); ++c) alloc_.deallocate(chunks_[c], ChunkCapacity(c));
  }

  size_t size() const { return size_; }
  T& operator[](size_t i) { return chunks_[i / kPerChunk][i % kPerChunk]; }
  const T& operator[](size_t i) const { return chunks_[i / kPerChunk][i % kPerChunk]; }

  // push_back copies `value` to the end.
  void push_back(const T& value) {
    const size_t c = size_ / kPerChunk;
    if (c == chunks_.size()) {
      chunks_.push_back(alloc_.allocate(c == 0 ? kFirstCapacity : kPerChunk));
      if (c == 0) first_capacity_ = kFirstCapacity;
    } else if (c == 0 && size_ == first_capacity_) {
      GrowFirst(std::min(first_capacity_ * 2, kPerChunk));
    }
    new (&chunks_[c][size_ % kPerChunk]) T(value);
    ++size_;
  }
  // ShrinkToFit trims a first chunk that is not yet full to its size.
  void ShrinkToFit() {
    if (chunks_.size() == 1 && size_ < first_capacity_) GrowFirst(std::max<size_t>(size_, 1));
  }
  size_t capacity_bytes() const {
    return chunks_.empty() ? 0 : (first_capacity_ + (chunks_.size() - 1) * kPerChunk) * sizeof(T);
  }

 private:
  static constexpr size_t kFirstCapacity = kPerChunk < 16 ? kPerChunk : 16;
  size_t ChunkCapacity(size_t c) const { return c == 0 ? first_capacity_ : kPerChunk; }
  void GrowFirst(size_t capacity) {
    T* fresh = alloc_.allocate(capacity);
    for (size_t i = 0; i < size_; ++i) new (&fresh[i]) T(chunks_[0][i]);
    alloc_.deallocate(chunks_[0], first_capacity_);
    chunks_[0] = fresh;
    first_capacity_ = capacity;
  }

  Alloc alloc_;
  std::vector<T*> chunks_;
  size_t size_ = 0;
  size_t first_capacity_ = 0;
};

class IdentityIndex {
 public:
  IdentityIndex();

  // Insert adds `record` with its names; returns false (nothing added) if an identity with the
  // same hub index, device and module is present. `*id_out` receives the identity's id: ids are
  // 0, 1, 2... in insertion order and never change.
  bool Insert(const Record& record, absl::string_view device_id, absl::string_view module_id,
              uint32_t* id_out);

  // Prefetch starts loading the line Find(hash, ...) reads first.
  void Prefetch(uint64_t hash) const;
  // Find returns the position of the identity (its hot entry), or -1. `hash` must be IdentityHash
  // of the same names. id_at turns a position into the identity's id.
  int64_t Find(uint64_t hash, uint8_t hub, absl::string_view device_id,
               absl::string_view module_id) const;
  uint32_t id_at(uint32_t position) const { return hot_[position].id_plus_one - 1; }
  // position_of returns the identity's current position (positions move when the table rehashes,
  // ids never).
  uint32_t position_of(uint32_t id) const { return cold_[id].position; }
  // PrefetchKeys starts loading both keys of `id` (a batch does it a few items ahead).
  void PrefetchKeys(uint32_t id) const {
    __builtin_prefetch(&keys_[id].keys[0]);
    __builtin_prefetch(&keys_[id].keys[1]);
  }

  // What Find compares is read from the hot entry: `position` is where the caller last saw the
  // identity (Find's answer), which saves reading its cold record; a stale or unknown one
  // (kNoPosition) is looked up.
  static constexpr uint32_t kNoPosition = UINT32_MAX;
  uint64_t hash(uint32_t id, uint32_t position = kNoPosition) const {
    return Hot(id, position).hash;
  }
  uint8_t flags(uint32_t id, uint32_t position = kNoPosition) const {
    return Hot(id, position).flags;
  }
  uint8_t hub(uint32_t id, uint32_t position = kNoPosition) const { return Hot(id, position).hub; }
  absl::string_view device_id(uint32_t id, uint32_t position = kNoPosition) const;
  absl::string_view module_id(uint32_t id, uint32_t position = kNoPosition) const;
  uint32_t version(uint32_t id) const { return cold_[id].version; }
  // set_version is for a table still being built (IdentityTable::SetVersion).
  void set_version(uint32_t id, uint32_t version) { cold_[id].version = version; }
  uint16_t source_file(uint32_t id) const { return cold_[id].source_file; }
  uint32_t source_line(uint32_t id) const { return cold_[id].source_line; }
  // key returns the primary (`which` 0) or secondary (1) key; only meaningful when flags say so.
  const HmacKey& key(uint32_t id, int which) const { return keys_[id].keys[which]; }

  size_t size() const { return cold_.size(); }
  // Reserve prepares room for `n` more identities (loads know roughly how many lines they will
  // add), so that loading does not rehash while growing.
  void Reserve(size_t n);
  // Compact rehashes a table left sparse by a generous Reserve down to the normal load.
  void Compact();
  // MemoryBytes returns the bytes held (capacity) by hot entries, keys, cold records and names.
  size_t MemoryBytes() const;
  // ForEach calls fn(id) for every identity, in id order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (uint32_t id = 0; id < size(); ++id) fn(id);
  }

 private:
  // One position of the open-addressing table: exactly one cache line.
  struct alignas(64) HotEntry {
    static constexpr size_t kInlineNames = 44;
    bool names_inline() const { return size_t{device_len} + module_len <= kInlineNames; }
    uint64_t hash = 0;
    uint32_t id_plus_one = 0;  // 0: an empty position
    uint32_t name_offset = 0;  // in names_ (long names only)
    uint8_t device_len = 0;
    uint8_t module_len = 0;
    uint8_t hub = 0;
    uint8_t flags = 0;                     // Record::Flags
    char inline_names[kInlineNames] = {};  // device ID then module ID, when together they fit
  };
  static_assert(sizeof(HotEntry) == 64, "a hot entry is one cache line");
  struct Cold {
    uint32_t position;  // the identity's HotEntry
    uint32_t version;
    uint32_t source_line;
    uint16_t source_file;
    uint16_t reserved;
  };
  static_assert(sizeof(Cold) == 16);
  // Absent keys are copies of the present one (an HmacKey has no cheap empty state), never read.
  struct alignas(64) KeyPair {
    HmacKey keys[2];
  };
  static_assert(sizeof(KeyPair) == 128, "two keys, two cache lines");

  const HotEntry& Hot(uint32_t id, uint32_t position) const {
    if (position < hot_.size() && hot_[position].id_plus_one == id + 1) return hot_[position];
    return hot_[cold_[id].position];
  }
  // HomeIn is the position a hash starts probing from in a table of `positions` positions.
  // Multiply-shift maps the hash onto any table size (not only powers of two), so the load can be
  // held near its target instead of halving on every doubling.
  static size_t HomeIn(uint64_t hash, size_t positions) {
    return static_cast<size_t>((static_cast<unsigned __int128>(hash) * positions) >> 64);
  }
  size_t Home(uint64_t hash) const { return HomeIn(hash, hot_.size()); }
  // Probe walks the probe run of `hash`: returns the identity's position, or -1 with `*free` set to
  // the empty position that ends the run (where Insert puts a new identity). The table must not be
  // empty.
  int64_t Probe(uint64_t hash, uint8_t hub, absl::string_view device_id,
                absl::string_view module_id, size_t* free) const;
  // Rehash moves every entry into a table of `capacity` positions.
  void Rehash(size_t capacity);
  // Place puts the entry in the first free position from its home and returns that position.
  static uint32_t Place(std::vector<HotEntry, HugePageAllocator<HotEntry>>& table,
                        const HotEntry& e);
  absl::string_view Names(const HotEntry& e) const;
  bool SameNames(const HotEntry& e, uint8_t hub, absl::string_view device_id,
                 absl::string_view module_id) const;

  std::vector<HotEntry, HugePageAllocator<HotEntry>> hot_;
  // Keys hold key midstates: they live in the key heap (locked, not dumped, wiped on free).
  ChunkedArray<KeyPair, SecureAllocator<KeyPair>> keys_;
  ChunkedArray<Cold, HugePageAllocator<Cold>> cold_;
  std::string names_;
};

}  // namespace sasmint::internal

#endif  // SASMINT_SERVICE_KEYSTORE_INTERNAL_IDENTITY_INDEX_H_
