#include "service/keystore/internal/huge_page_allocator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace sasmint::internal {
namespace {

size_t PageRound(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

}  // namespace

void* MapHugeAligned(size_t bytes) {
  const size_t size = PageRound(bytes);
  // Map 2 MiB more than needed, then trim both ends so the array starts on a huge page.
  const size_t reserve = size + kHugePageBytes;
  void* p = mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (start + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  if (aligned > start) munmap(p, aligned - start);
  const uintptr_t end = start + reserve;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

void* MapHuge(size_t bytes) {
  void* p = MapHugeAligned(bytes);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void UnmapHuge(void* p, size_t bytes) { munmap(p, PageRound(bytes)); }

}  // namespace sasmint::internal
