#include "service/keystore/secure_memory.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace sasmint {
namespace {

using ::sasmint::testing::StatusIs;
using ::testing::HasSubstr;

constexpr size_t kMiB = size_t{1} << 20;

// The sanitizer runtimes intercept mlock and make it a successful no-op (locking their shadow
// memory would be ruinous), so under them "locked" cannot be observed.
#if defined(ABSL_HAVE_ADDRESS_SANITIZER) || defined(ABSL_HAVE_THREAD_SANITIZER) || \
    defined(ABSL_HAVE_MEMORY_SANITIZER)
constexpr bool kMlockIsReal = false;
#else
constexpr bool kMlockIsReal = true;
#endif

// A key-like pattern that occurs nowhere else by chance.
std::vector<uint8_t> Canary(size_t size) {
  std::vector<uint8_t> c(size);
  for (size_t i = 0; i < size; ++i) c[i] = static_cast<uint8_t>(0xA5 ^ (i * 37 + 11));
  return c;
}

bool RegionsContain(const std::vector<absl::Span<const uint8_t>>& regions,
                    const std::vector<uint8_t>& needle) {
  for (absl::Span<const uint8_t> r : regions) {
    if (std::search(r.begin(), r.end(), needle.begin(), needle.end()) != r.end()) return true;
  }
  return false;
}

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

// Mapping is what /proc/self/smaps says about the mapping that contains an address.
struct Mapping {
  bool found = false;
  std::vector<std::string> vm_flags;
  long locked_kb = -1;
  bool HasFlag(absl::string_view flag) const {
    return std::find(vm_flags.begin(), vm_flags.end(), flag) != vm_flags.end();
  }
};

Mapping FindMapping(const void* address) {
  const auto addr = reinterpret_cast<uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  Mapping m;
  bool inside = false;
  std::string line;
  while (std::getline(smaps, line)) {
    unsigned long start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &start, &end) == 2) {
      inside = addr >= start && addr < end;
      m.found |= inside;
      continue;
    }
    if (!inside) continue;
    if (absl::StartsWith(line, "VmFlags:")) {
      m.vm_flags = absl::StrSplit(line.substr(8), ' ', absl::SkipWhitespace());
    } else if (absl::StartsWith(line, "Locked:")) {
      std::sscanf(line.c_str(), "Locked: %ld kB", &m.locked_kb);
    }
  }
  return m;
}

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// RunInChild runs `body` in a forked child and returns its exit code (or -1 if it crashed), so
// that process-wide changes (dumpable flag, capabilities, rlimits) do not touch the test process.
template <typename F>
int RunInChild(F body) {
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

std::unique_ptr<SecureArena> MakeArena(size_t block_size, SecureMemoryOptions options = {}) {
  absl::StatusOr<std::unique_ptr<SecureArena>> arena =
      SecureArena::Create(block_size, std::move(options));
  if (!arena.ok()) abort();
  return *std::move(arena);
}

TEST(SecureArenaTest, AllocatesZeroedAlignedDistinctBlocks) {
  for (size_t size : {1, 48, 64, 100, 128}) {
    auto arena = MakeArena(size);
    const size_t rounded = (size + 15) / 16 * 16;
    EXPECT_EQ(arena->block_size(), rounded);
    std::vector<uint8_t*> blocks;
    for (int i = 0; i < 20000; ++i) {  // spans several 1 MiB chunks for small sizes
      ASSERT_OK_AND_ASSIGN(uint8_t * b, arena->Allocate());
      ASSERT_TRUE(AllZero(b, rounded));
      ASSERT_EQ(reinterpret_cast<uintptr_t>(b) % std::min<size_t>(rounded & -rounded, 64), 0u);
      std::memset(b, 0xFF, rounded);  // a neighbour overlapping it would show in a later check
      blocks.push_back(b);
    }
    std::sort(blocks.begin(), blocks.end());
    EXPECT_EQ(std::adjacent_find(blocks.begin(), blocks.end()), blocks.end());
  }
}

TEST(SecureArenaTest, CreateRejectsBadSizes) {
  EXPECT_THAT(SecureArena::Create(0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0")));
  EXPECT_THAT(SecureArena::Create(2 * kMiB),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block size")));
}

TEST(SecureArenaTest, FreeWipesTheBlockAndReuseReturnsZeros) {
  auto arena = MakeArena(64);
  const std::vector<uint8_t> canary = Canary(64);
  ASSERT_OK_AND_ASSIGN(uint8_t * keep, arena->Allocate());
  ASSERT_OK_AND_ASSIGN(uint8_t * block, arena->Allocate());
  std::memcpy(keep, canary.data(), 32);  // half a canary stays in use next door
  std::memcpy(block, canary.data(), canary.size());
  ASSERT_TRUE(RegionsContain(arena->MappedRegionsForTesting(), canary));  // the scan works

  arena->Free(block);
  EXPECT_FALSE(RegionsContain(arena->MappedRegionsForTesting(), canary));
  // The freed slot, read through the arena's own mapping: zeros but for the free-list link.
  EXPECT_TRUE(AllZero(block + 8, 56));
  EXPECT_EQ(std::memcmp(keep, canary.data(), 32), 0);

  ASSERT_OK_AND_ASSIGN(uint8_t * again, arena->Allocate());
  EXPECT_EQ(again, block);  // LIFO reuse
  EXPECT_TRUE(AllZero(again, 64));
}

TEST(SecureArenaTest, MappingsAreExcludedFromCoreDumps) {
  auto arena = MakeArena(64);
  ASSERT_OK_AND_ASSIGN(uint8_t * block, arena->Allocate());
  const Mapping m = FindMapping(block);
  ASSERT_TRUE(m.found);
  EXPECT_TRUE(m.HasFlag("dd")) << "VmFlags: " << absl::StrJoin(m.vm_flags, " ");
  EXPECT_EQ(arena->stats().dontdump_failures, 0u);
}

TEST(SecureArenaTest, MappingsAreLockedWhenTheProcessMay) {
  if (!kMlockIsReal) GTEST_SKIP() << "sanitizer build: mlock is a no-op";
  auto arena = MakeArena(128);
  ASSERT_OK_AND_ASSIGN(uint8_t * block, arena->Allocate());
  const SecureMemoryStats stats = arena->stats();
  if (stats.lock_failures > 0) {
    GTEST_SKIP() << "mlock refused here (no CAP_IPC_LOCK and RLIMIT_MEMLOCK too small); "
                    "the lock-failure path is covered by LockFailureIsReportedOnceAndTolerated";
  }
  EXPECT_EQ(stats.bytes_locked, stats.bytes_mapped);
  EXPECT_EQ(stats.bytes_mapped, kMiB);
  const Mapping m = FindMapping(block);
  ASSERT_TRUE(m.found);
  EXPECT_TRUE(m.HasFlag("lo")) << "VmFlags: " << absl::StrJoin(m.vm_flags, " ");
  EXPECT_GE(m.locked_kb, 1024);
}

TEST(SecureArenaTest, ForkedChildrenSeeZerosWhereTheKernelSupportsIt) {
  auto arena = MakeArena(64);
  ASSERT_OK_AND_ASSIGN(uint8_t * block, arena->Allocate());
  const std::vector<uint8_t> canary = Canary(64);
  std::memcpy(block, canary.data(), canary.size());
  if (!FindMapping(block).HasFlag("wf")) GTEST_SKIP() << "kernel without MADV_WIPEONFORK";
  EXPECT_EQ(RunInChild([&] { return AllZero(block, 64) ? 0 : 1; }), 0);
  EXPECT_EQ(std::memcmp(block, canary.data(), 64), 0);  // the parent's copy is intact
}

// Drops CAP_IPC_LOCK and RLIMIT_MEMLOCK so that mlock fails, as in an unprivileged container.
bool ForbidMemoryLocking() {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
  if (syscall(SYS_capset, &header, data) != 0) return false;
  const struct rlimit none = {0, 0};
  return setrlimit(RLIMIT_MEMLOCK, &none) == 0;
}

TEST(SecureArenaTest, LockFailureIsReportedOnceAndTolerated) {
  if (!kMlockIsReal) GTEST_SKIP() << "sanitizer build: mlock is a no-op";
  const int code = RunInChild([] {
    if (!ForbidMemoryLocking()) return 77;
    int warnings = 0;
    std::string warning;
    SecureMemoryOptions options;
    options.chunk_bytes = 64 * 1024;
    options.on_lock_failure = [&](absl::string_view message) {
      ++warnings;
      warning = std::string(message);
    };
    auto arena = MakeArena(64, options);
    for (int i = 0; i < 3 * 1024; ++i) {  // three chunks of 1024 blocks
      absl::StatusOr<uint8_t*> b = arena->Allocate();
      if (!b.ok()) return 2;
      std::memset(*b, 0x5A, 64);  // usable although unlocked
    }
    const SecureMemoryStats s = arena->stats();
    if (s.lock_failures != 3 || s.bytes_locked != 0 || s.bytes_mapped != 3 * 64 * 1024) return 3;
    if (warnings != 1 || warning.find("RLIMIT_MEMLOCK") == std::string::npos) return 4;
    if (!FindMapping(arena->MappedRegionsForTesting()[0].data()).HasFlag("dd")) return 5;
    return 0;
  });
  if (code == 77) GTEST_SKIP() << "cannot drop CAP_IPC_LOCK / RLIMIT_MEMLOCK here";
  EXPECT_EQ(code, 0) << "1: crash, 2: allocation failed, 3: stats, 4: warning, 5: madvise";
}

TEST(SecureArenaTest, StatsCountBlocksAndBytes) {
  SecureMemoryOptions options;
  options.lock = false;
  auto arena = MakeArena(100, options);  // rounded to 112
  std::vector<uint8_t*> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(*arena->Allocate());
  for (int i = 0; i < 3; ++i) arena->Free(blocks[i]);
  arena->Free(nullptr);
  const SecureMemoryStats s = arena->stats();
  EXPECT_EQ(s.blocks_in_use, 7u);
  EXPECT_EQ(s.bytes_in_use, 7u * 112);
  EXPECT_EQ(s.bytes_mapped, kMiB);
  EXPECT_EQ(s.bytes_locked, 0u);
  EXPECT_EQ(s.lock_failures, 0u);
}

TEST(SecureArenaTest, AllocFreeCyclesReuseMemory) {
  auto arena = MakeArena(128);
  constexpr int kBlocks = 50000;  // about 6 MiB
  std::vector<uint8_t*> blocks(kBlocks);
  size_t mapped_after_first = 0;
  size_t rss_after_first = 0;
  for (int cycle = 0; cycle < 20; ++cycle) {
    for (auto& b : blocks) {
      ASSERT_OK_AND_ASSIGN(b, arena->Allocate());
      b[0] = static_cast<uint8_t>(cycle + 1);
    }
    // Free in a different order each cycle, so the free list is shuffled.
    std::rotate(blocks.begin(), blocks.begin() + cycle * 997 % kBlocks, blocks.end());
    for (uint8_t* b : blocks) arena->Free(b);
    if (cycle == 0) {
      mapped_after_first = arena->stats().bytes_mapped;
      rss_after_first = ResidentBytes();
    }
  }
  EXPECT_EQ(arena->stats().bytes_mapped, mapped_after_first);
  EXPECT_LE(mapped_after_first, 7 * kMiB);
  EXPECT_EQ(arena->stats().blocks_in_use, 0u);
  EXPECT_LT(ResidentBytes(), rss_after_first + 2 * kMiB);
}

TEST(SecureArenaTest, ConcurrentAllocateAndFree) {
  auto arena = MakeArena(64);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&arena, t] {
      std::vector<uint8_t*> mine;
      for (int i = 0; i < 20000; ++i) {
        absl::StatusOr<uint8_t*> b = arena->Allocate();
        if (!b.ok() || !AllZero(*b, 64)) abort();
        std::memset(*b, t + 1, 64);
        mine.push_back(*b);
        if (i % 3 == 2) {
          arena->Free(mine.back());
          mine.pop_back();
        }
      }
      for (uint8_t* b : mine) arena->Free(b);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(arena->stats().blocks_in_use, 0u);
}

TEST(SecureArenaDeathTest, DoubleOrForeignFreeAborts) {
  auto arena = MakeArena(64);
  ASSERT_OK_AND_ASSIGN(uint8_t * block, arena->Allocate());
  ASSERT_OK_AND_ASSIGN(uint8_t * second, arena->Allocate());
  arena->Free(block);
  EXPECT_DEATH(arena->Free(block), "double Free");
  EXPECT_DEATH(arena->Free(second + 8), "did not allocate");
  uint8_t elsewhere[64];
  EXPECT_DEATH(arena->Free(elsewhere), "did not allocate");
}

TEST(SecureHeapTest, ServesEverySizeZeroedAndWipes) {
  SecureMemoryOptions options;
  options.chunk_bytes = 64 * 1024;
  SecureHeap heap(options);
  EXPECT_THAT(heap.Allocate(0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0")));
  for (size_t size : {1, 16, 17, 64, 100, 4096, 4097, 100000}) {
    ASSERT_OK_AND_ASSIGN(uint8_t * b, heap.Allocate(size));
    EXPECT_TRUE(AllZero(b, size)) << size;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 16, 0u);
    std::memset(b, 0x77, size);
    heap.Free(b, size);
  }
  const SecureMemoryStats s = heap.stats();
  EXPECT_EQ(s.blocks_in_use, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.bytes_mapped, 5 * 64 * 1024u) << "five size classes used; large blocks unmapped";
}

TEST(SecureHeapTest, AllocatorWorksWithStandardContainers) {
  SecureMemoryOptions options;
  options.chunk_bytes = 64 * 1024;
  SecureHeap heap(options);
  {
    std::vector<uint64_t, SecureAllocator<uint64_t>> v{SecureAllocator<uint64_t>(&heap)};
    for (uint64_t i = 0; i < 100000; ++i) v.push_back(i * i);
    for (uint64_t i = 0; i < 100000; ++i) ASSERT_EQ(v[i], i * i);
    EXPECT_GT(heap.stats().blocks_in_use, 0u);
    using Bytes = std::basic_string<char, std::char_traits<char>, SecureAllocator<char>>;
    Bytes secret("a shared access key long enough to leave the small-string buffer",
                 SecureAllocator<char>(&heap));
    EXPECT_EQ(secret.size(), 64u);
  }
  EXPECT_EQ(heap.stats().blocks_in_use, 0u);
}

TEST(DisableCoreDumpsTest, MakesTheProcessNonDumpable) {
  ASSERT_EQ(prctl(PR_GET_DUMPABLE), 1) << "test process should start dumpable";
  const int code = RunInChild([] {
    if (!DisableCoreDumps().ok()) return 2;
    return prctl(PR_GET_DUMPABLE) == 0 ? 0 : 3;
  });
  EXPECT_EQ(code, 0);
  EXPECT_EQ(prctl(PR_GET_DUMPABLE), 1) << "only the child changed";
}

}  // namespace
}  // namespace sasmint
