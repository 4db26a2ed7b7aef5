// secure_memory.h: memory for key material (HMAC midstates) that is locked, not dumped, wiped.
//
// SecureArena hands out fixed-size blocks (say 64 or 128 bytes: one midstate record) carved from
// page-aligned chunks (1 MiB by default) obtained with mmap. Every chunk is
//   - locked in RAM (mlock). If the process may not lock (no CAP_IPC_LOCK, RLIMIT_MEMLOCK too
//     small) it stays unlocked, counted in SecureMemoryStats, reported once via on_lock_failure;
//   - excluded from core dumps (MADV_DONTDUMP) and zeroed in forked children (MADV_WIPEONFORK);
//   - wiped (crypto::Cleanse) block by block on Free, and whole when the arena is destroyed.
// Allocate and Free are O(1) (bump pointer, then an intrusive free list: a freed block holds zeros
// but for its first 8 bytes, a non-secret link). Overhead: one in-use bit per block, which turns a
// double or foreign Free into an abort. Chunks live as long as the arena, so freed blocks stay
// mapped. SecureHeap serves variable sizes (power-of-two arenas 16 B..4 KiB, larger sizes in their
// own mappings); SecureAllocator<T> adapts a SecureHeap for std containers. All three are
// thread-safe; the memory they hand out is the caller's to synchronize.
#ifndef SASMINT_SERVICE_KEYSTORE_SECURE_MEMORY_H_
#define SASMINT_SERVICE_KEYSTORE_SECURE_MEMORY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sasmint {

struct SecureMemoryOptions {
  size_t chunk_bytes = size_t{1} << 20;  // rounded up to whole pages
  bool lock = true;                      // false: skip mlock (counted neither as locked nor failed)
  // on_lock_failure, if set, is called once per arena (per heap) when mlock first fails, with a
  // one-line reason (errno, RLIMIT_MEMLOCK); without locks held, so it may log but not reenter.
  std::function<void(absl::string_view message)> on_lock_failure;
};

struct SecureMemoryStats {
  size_t bytes_mapped = 0;       // bytes obtained from mmap and not yet unmapped
  size_t bytes_locked = 0;       // of those, bytes mlock accepted
  size_t lock_failures = 0;      // mappings mlock refused (they are used unlocked)
  size_t dontdump_failures = 0;  // mappings MADV_DONTDUMP refused (kernel older than 3.4)
  size_t blocks_in_use = 0;      // allocated and not yet freed
  size_t bytes_in_use = 0;       // blocks_in_use times their (rounded) sizes
};

class SecureArena {
 public:
  // Create returns an arena of `block_size`-byte blocks, rounded up to a multiple of 16 (and
  // aligned to it, up to 64). Maps nothing until the first Allocate. INVALID_ARGUMENT if
  // block_size is 0 or larger than a chunk.
  static absl::StatusOr<std::unique_ptr<SecureArena>> Create(size_t block_size,
                                                             SecureMemoryOptions options = {});
  // ~SecureArena wipes every chunk (blocks still in use included) and unmaps it.
  ~SecureArena();
  SecureArena(const SecureArena&) = delete;

  // Allocate returns a zeroed block of block_size() bytes; RESOURCE_EXHAUSTED if mmap fails.
  absl::StatusOr<uint8_t*> Allocate() ABSL_LOCKS_EXCLUDED(mu_);
  // Free wipes `block` and makes it available again. nullptr is ignored; a pointer this arena did
  // not hand out, or one already freed, aborts the process.
  void Free(uint8_t* block) ABSL_LOCKS_EXCLUDED(mu_);

  size_t block_size() const { return block_size_; }
  SecureMemoryStats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  // MappedRegionsForTesting returns each chunk's used part (tests scan it for canaries).
  std::vector<absl::Span<const uint8_t>> MappedRegionsForTesting() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Chunk;
  SecureArena(size_t block_size, SecureMemoryOptions options);
  const size_t block_size_;
  const size_t chunk_bytes_;
  const size_t blocks_per_chunk_;
  const SecureMemoryOptions options_;
  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for ThreadSanitizer,
  // which would report false races on everything an absl::Mutex guards.
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Chunk>> chunks_ ABSL_GUARDED_BY(mu_);  // sorted by address
  Chunk* bump_chunk_ ABSL_GUARDED_BY(mu_) = nullptr;  // the chunk handing out fresh blocks
  uint8_t* free_list_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool warned_ ABSL_GUARDED_BY(mu_) = false;
  SecureMemoryStats stats_ ABSL_GUARDED_BY(mu_);
};

class SecureHeap {
 public:
  // SecureHeap uses `options` for each of its 9 size classes (so prefer chunk_bytes = 64 KiB).
  explicit SecureHeap(SecureMemoryOptions options = {});
  // ~SecureHeap wipes and unmaps everything, including blocks never freed.
  ~SecureHeap();
  SecureHeap(const SecureHeap&) = delete;

  // Allocate returns `size` zeroed bytes, 16-byte aligned; INVALID_ARGUMENT if size is 0,
  // RESOURCE_EXHAUSTED if mmap fails.
  absl::StatusOr<uint8_t*> Allocate(size_t size);
  // Free wipes and releases a block; `size` must be the size passed to Allocate (else abort).
  void Free(uint8_t* block, size_t size);
  // stats returns the sum over the size classes and the large mappings.
  SecureMemoryStats stats() const;

 private:
  static constexpr int kClasses = 9;  // 16 << 0 ... 16 << 8 = 4096
  SecureMemoryOptions options_;
  std::array<std::unique_ptr<SecureArena>, kClasses> arenas_;
  mutable std::mutex mu_;  // guards the large mappings (std::mutex: see SecureArena::mu_)
  struct LargeBlock;
  std::vector<LargeBlock> large_blocks_ ABSL_GUARDED_BY(mu_);  // blocks over 4 KiB, own mappings
  SecureMemoryStats large_ ABSL_GUARDED_BY(mu_);
};

// SecureAllocator<T> is a std allocator over a SecureHeap (which must outlive it), e.g. for
// std::vector<uint8_t, SecureAllocator<uint8_t>>. allocate aborts if mmap fails (no exceptions).
template <typename T>
class SecureAllocator {
 public:
  using value_type = T;
  explicit SecureAllocator(SecureHeap* heap) : heap_(heap) {}
  template <typename U>
  SecureAllocator(const SecureAllocator<U>& other) : heap_(other.heap()) {}  // NOLINT

  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T)) std::abort();
    absl::StatusOr<uint8_t*> p = heap_->Allocate(n * sizeof(T));
    if (!p.ok()) std::abort();
    return reinterpret_cast<T*>(*p);
  }
  void deallocate(T* p, size_t n) { heap_->Free(reinterpret_cast<uint8_t*>(p), n * sizeof(T)); }
  SecureHeap* heap() const { return heap_; }
  template <typename U>
  bool operator==(const SecureAllocator<U>& o) const {
    return heap_ == o.heap();
  }

 private:
  SecureHeap* heap_;
};

// DisableCoreDumps makes the process non-dumpable (prctl PR_SET_DUMPABLE 0): no core file on a
// crash, and processes without CAP_SYS_PTRACE (even of the same user) can no longer ptrace it or
// read its /proc/<pid>/mem, environ, maps (now owned by root; the process still reads its own).
// Inherited by fork, reset by execve. Call it early in main. Returns INTERNAL if prctl fails.
absl::Status DisableCoreDumps();

}  // namespace sasmint

#endif  // SASMINT_SERVICE_KEYSTORE_SECURE_MEMORY_H_
