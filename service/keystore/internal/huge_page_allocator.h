// huge_page_allocator.h: an allocator that backs large arrays with transparent huge pages.
//
// A fleet's index arrays span hundreds of megabytes and are read at random: with 4 KiB pages
// nearly every probe also misses the TLB, and in a VM each miss is a two-level page walk that
// costs about as much as the cache miss itself. Arrays of 2 MiB or more get their own mapping,
// aligned to 2 MiB and marked MADV_HUGEPAGE (a hint: where THP is off they are simply small
// pages); smaller ones come from operator new. Stateless; for memory that holds no secrets (key
// memory has its own heap, secure_memory.h).
#ifndef SASMINT_SERVICE_KEYSTORE_INTERNAL_HUGE_PAGE_ALLOCATOR_H_
#define SASMINT_SERVICE_KEYSTORE_INTERNAL_HUGE_PAGE_ALLOCATOR_H_

#include <cstddef>
#include <new>

namespace sasmint::internal {

// MapHugeAligned maps `bytes` (rounded up to whole pages) of zeroed memory aligned to 2 MiB and
// marked MADV_HUGEPAGE, or returns nullptr with errno set. Free it with UnmapHuge. The secure
// heap maps its large blocks with it too.
inline constexpr size_t kHugePageBytes = size_t{2} << 20;
void* MapHugeAligned(size_t bytes);
// MapHuge is MapHugeAligned that throws std::bad_alloc, like operator new, when out of memory.
void* MapHuge(size_t bytes);
void UnmapHuge(void* p, size_t bytes);

template <typename T>
class HugePageAllocator {
 public:
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: allocators convert implicitly

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes >= kHugePageBytes) return static_cast<T*>(MapHuge(bytes));
    return static_cast<T*>(::operator new(bytes, std::align_val_t(alignof(T))));
  }
  void deallocate(T* p, size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes >= kHugePageBytes) {
      UnmapHuge(p, bytes);
    } else {
      ::operator delete(p, std::align_val_t(alignof(T)));
    }
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

}  // namespace sasmint::internal

#endif  // SASMINT_SERVICE_KEYSTORE_INTERNAL_HUGE_PAGE_ALLOCATOR_H_
