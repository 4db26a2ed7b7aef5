#include "service/keystore/secure_memory.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "service/keystore/internal/huge_page_allocator.h"
#include "signer/crypto_backend.h"

namespace sasmint {
namespace {

constexpr size_t kAlignment = 16;
constexpr size_t kLinkBytes = sizeof(uint8_t*);
constexpr size_t kMaxClassBytes = 4096;

std::string ErrnoText(int err) {
  char buf[128];
  // GNU strerror_r returns a pointer that may or may not be `buf`.
  return strerror_r(err, buf, sizeof(buf));
}

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "sasmint secure memory: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

// MapSecure maps `bytes` (a multiple of the page size) of zeroed, non-dumpable memory and locks
// it if options.lock. The first lock failure for which *warned is false fills *warning.
absl::StatusOr<uint8_t*> MapSecure(size_t bytes, const SecureMemoryOptions& options,
                                   SecureMemoryStats& stats, bool* warned, std::string* warning,
                                   bool* locked) {
  // Mappings of 2 MiB or more (a shard's identity records) are aligned to 2 MiB and asked for
  // transparent huge pages: lookups touch records at random across hundreds of megabytes, and
  // with 4 KiB pages each one also misses the TLB (a two-level page walk in a VM).
  void* p = bytes >= internal::kHugePageBytes
                ? internal::MapHugeAligned(bytes)
                : mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == nullptr || p == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("mmap of ", bytes, " bytes of key memory failed: ", ErrnoText(errno)));
  }
  if (madvise(p, bytes, MADV_DONTDUMP) != 0) ++stats.dontdump_failures;
#ifdef MADV_WIPEONFORK
  // A forked child (a helper that does not exec, a crash handler) sees zeros, not keys. Linux
  // 4.14+; older kernels answer EINVAL and the child gets a copy, as it would of any memory.
  madvise(p, bytes, MADV_WIPEONFORK);
#endif
  stats.bytes_mapped += bytes;
  *locked = false;
  if (options.lock) {
    if (mlock(p, bytes) == 0) {
      *locked = true;
      stats.bytes_locked += bytes;
    } else {
      const int err = errno;
      ++stats.lock_failures;
      if (!*warned) {
        *warned = true;
        struct rlimit rl = {};
        getrlimit(RLIMIT_MEMLOCK, &rl);
        *warning = absl::StrCat(
            "mlock of key memory failed (", ErrnoText(err),
            "); keys may be swapped to disk. Grant CAP_IPC_LOCK or raise RLIMIT_MEMLOCK (now ",
            rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                         : absl::StrCat(rl.rlim_cur, " bytes"),
            ")");
      }
    }
  }
  return static_cast<uint8_t*>(p);
}

void UnmapSecure(uint8_t* base, size_t bytes, size_t wipe_bytes, bool locked,
                 SecureMemoryStats& stats) {
  crypto::Cleanse(base, wipe_bytes);
  munmap(base, bytes);  // also unlocks
  stats.bytes_mapped -= bytes;
  if (locked) stats.bytes_locked -= bytes;
}

}  // namespace

struct SecureArena::Chunk {
  uint8_t* base = nullptr;
  size_t used_blocks = 0;  // blocks [0, used_blocks) have been handed out at least once
  bool locked = false;
  std::unique_ptr<uint64_t[]> in_use;  // one bit per block
};

struct SecureHeap::LargeBlock {
  uint8_t* base;
  size_t mapped_bytes;
  bool locked;
};

SecureArena::SecureArena(size_t block_size, SecureMemoryOptions options)
    : block_size_(block_size),
      chunk_bytes_(RoundUp(std::max<size_t>(options.chunk_bytes, 1), PageSize())),
      blocks_per_chunk_(chunk_bytes_ / block_size),
      options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<SecureArena>> SecureArena::Create(size_t block_size,
                                                                 SecureMemoryOptions options) {
  const size_t chunk = RoundUp(std::max<size_t>(options.chunk_bytes, 1), PageSize());
  if (block_size == 0 || block_size > chunk) {
    return absl::InvalidArgumentError(
        absl::StrCat("secure arena block size ", block_size, " must be in [1, ", chunk, "]"));
  }
  const size_t rounded = RoundUp(block_size, kAlignment);
  if (rounded > chunk) {
    return absl::InvalidArgumentError(absl::StrCat("secure arena block size ", rounded,
                                                   " does not fit a ", chunk, "-byte chunk"));
  }
  return std::unique_ptr<SecureArena>(new SecureArena(rounded, std::move(options)));
}

SecureArena::~SecureArena() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& chunk : chunks_) {
    UnmapSecure(chunk->base, chunk_bytes_, chunk->used_blocks * block_size_, chunk->locked, stats_);
  }
}

absl::StatusOr<uint8_t*> SecureArena::Allocate() {
  std::string warning;
  uint8_t* block = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Chunk* chunk = nullptr;
    if (free_list_ != nullptr) {
      block = free_list_;
      std::memcpy(&free_list_, block, kLinkBytes);
      std::memset(block, 0, kLinkBytes);
      auto it = std::upper_bound(chunks_.begin(), chunks_.end(), block,
                                 [](uint8_t* p, const std::unique_ptr<Chunk>& c) {
                                   return std::less<uint8_t*>()(p, c->base);
                                 });
      chunk = std::prev(it)->get();
    } else {
      if (bump_chunk_ == nullptr || bump_chunk_->used_blocks == blocks_per_chunk_) {
        auto fresh = std::make_unique<Chunk>();
        absl::StatusOr<uint8_t*> base =
            MapSecure(chunk_bytes_, options_, stats_, &warned_, &warning, &fresh->locked);
        if (!base.ok()) return base.status();
        fresh->base = *base;
        fresh->in_use = std::make_unique<uint64_t[]>((blocks_per_chunk_ + 63) / 64);
        bump_chunk_ = fresh.get();
        auto pos = std::upper_bound(chunks_.begin(), chunks_.end(), fresh->base,
                                    [](uint8_t* p, const std::unique_ptr<Chunk>& c) {
                                      return std::less<uint8_t*>()(p, c->base);
                                    });
        chunks_.insert(pos, std::move(fresh));
      }
      chunk = bump_chunk_;
      block = chunk->base + chunk->used_blocks++ * block_size_;
    }
    const size_t index = static_cast<size_t>(block - chunk->base) / block_size_;
    chunk->in_use[index / 64] |= uint64_t{1} << (index % 64);
    ++stats_.blocks_in_use;
    stats_.bytes_in_use += block_size_;
  }
  if (!warning.empty() && options_.on_lock_failure) options_.on_lock_failure(warning);
  return block;
}

void SecureArena::Free(uint8_t* block) {
  if (block == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::upper_bound(chunks_.begin(), chunks_.end(), block,
                             [](uint8_t* p, const std::unique_ptr<Chunk>& c) {
                               return std::less<uint8_t*>()(p, c->base);
                             });
  if (it == chunks_.begin()) Die("Free of a pointer this arena did not allocate");
  Chunk& chunk = **std::prev(it);
  const uintptr_t offset =
      reinterpret_cast<uintptr_t>(block) - reinterpret_cast<uintptr_t>(chunk.base);
  if (offset >= chunk.used_blocks * block_size_ || offset % block_size_ != 0) {
    Die("Free of a pointer this arena did not allocate");
  }
  const size_t index = offset / block_size_;
  const uint64_t bit = uint64_t{1} << (index % 64);
  if ((chunk.in_use[index / 64] & bit) == 0) Die("double Free of a key memory block");
  chunk.in_use[index / 64] &= ~bit;
  crypto::Cleanse(block, block_size_);
  std::memcpy(block, &free_list_, kLinkBytes);
  free_list_ = block;
  --stats_.blocks_in_use;
  stats_.bytes_in_use -= block_size_;
}

SecureMemoryStats SecureArena::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::vector<absl::Span<const uint8_t>> SecureArena::MappedRegionsForTesting() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<absl::Span<const uint8_t>> regions;
  for (const auto& chunk : chunks_) {
    regions.emplace_back(chunk->base, chunk->used_blocks * block_size_);
  }
  return regions;
}

SecureHeap::SecureHeap(SecureMemoryOptions options) : options_(std::move(options)) {
  if (options_.on_lock_failure) {
    // One warning per heap, whichever size class or large mapping fails first.
    auto once = std::make_shared<std::atomic<bool>>(false);
    options_.on_lock_failure =
        [once, report = std::move(options_.on_lock_failure)](absl::string_view message) {
          if (!once->exchange(true)) report(message);
        };
  }
  for (int c = 0; c < kClasses; ++c) {
    absl::StatusOr<std::unique_ptr<SecureArena>> arena =
        SecureArena::Create(kAlignment << c, options_);
    if (!arena.ok()) Die("cannot create a size class arena");
    arenas_[c] = *std::move(arena);
  }
}

SecureHeap::~SecureHeap() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const LargeBlock& b : large_blocks_) {
    UnmapSecure(b.base, b.mapped_bytes, b.mapped_bytes, b.locked, large_);
  }
}

absl::StatusOr<uint8_t*> SecureHeap::Allocate(size_t size) {
  if (size == 0) return absl::InvalidArgumentError("secure heap allocation of 0 bytes");
  if (size <= kMaxClassBytes) {
    int c = 0;
    while ((kAlignment << c) < size) ++c;
    return arenas_[c]->Allocate();
  }
  if (size > SIZE_MAX - PageSize()) {
    return absl::ResourceExhaustedError(absl::StrCat("secure heap allocation of ", size, " bytes"));
  }
  const size_t bytes = RoundUp(size, PageSize());
  std::string warning;
  uint8_t* base = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool warned = false;  // options_.on_lock_failure already reports once per heap
    bool locked = false;
    absl::StatusOr<uint8_t*> mapped =
        MapSecure(bytes, options_, large_, &warned, &warning, &locked);
    if (!mapped.ok()) return mapped.status();
    base = *mapped;
    large_blocks_.push_back({base, bytes, locked});
    ++large_.blocks_in_use;
    large_.bytes_in_use += bytes;
  }
  if (!warning.empty() && options_.on_lock_failure) options_.on_lock_failure(warning);
  return base;
}

void SecureHeap::Free(uint8_t* block, size_t size) {
  if (block == nullptr) return;
  if (size == 0) Die("secure heap Free with size 0");
  if (size <= kMaxClassBytes) {
    int c = 0;
    while ((kAlignment << c) < size) ++c;
    arenas_[c]->Free(block);  // aborts if the block is not of this class
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(large_blocks_.begin(), large_blocks_.end(),
                         [block](const LargeBlock& b) { return b.base == block; });
  if (it == large_blocks_.end() || it->mapped_bytes != RoundUp(size, PageSize())) {
    Die("secure heap Free of a pointer or size it did not allocate");
  }
  UnmapSecure(it->base, it->mapped_bytes, it->mapped_bytes, it->locked, large_);
  --large_.blocks_in_use;
  large_.bytes_in_use -= it->mapped_bytes;
  large_blocks_.erase(it);
}

SecureMemoryStats SecureHeap::stats() const {
  SecureMemoryStats total;
  {
    std::lock_guard<std::mutex> lock(mu_);
    total = large_;
  }
  for (const auto& arena : arenas_) {
    const SecureMemoryStats s = arena->stats();
    total.bytes_mapped += s.bytes_mapped;
    total.bytes_locked += s.bytes_locked;
    total.lock_failures += s.lock_failures;
    total.dontdump_failures += s.dontdump_failures;
    total.blocks_in_use += s.blocks_in_use;
    total.bytes_in_use += s.bytes_in_use;
  }
  return total;
}

absl::Status DisableCoreDumps() {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return absl::InternalError(
        absl::StrCat("prctl(PR_SET_DUMPABLE, 0) failed: ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

}  // namespace sasmint
