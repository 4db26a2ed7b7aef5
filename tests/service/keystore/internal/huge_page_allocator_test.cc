// The huge-page allocator: large arrays get 2 MiB-aligned, zeroed mappings; small ones come from
// operator new; both hold and return what is written to them.
#include "service/keystore/internal/huge_page_allocator.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace sasmint::internal {
namespace {

TEST(HugePageAllocatorTest, LargeMappingsAreAlignedAndZeroed) {
  const size_t bytes = 3 * kHugePageBytes + 123;
  void* p = MapHugeAligned(bytes);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHugePageBytes, 0u);
  const auto* bytes_p = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < bytes; i += 4096) ASSERT_EQ(bytes_p[i], 0) << i;
  EXPECT_EQ(bytes_p[bytes - 1], 0);
  std::memset(p, 0xab, bytes);  // all of it is writable
  UnmapHuge(p, bytes);
}

TEST(HugePageAllocatorTest, VectorsOfEitherSizeKeepTheirContents) {
  for (size_t n : {size_t{10}, kHugePageBytes / sizeof(uint64_t) * 2 + 7}) {
    std::vector<uint64_t, HugePageAllocator<uint64_t>> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = i * 2654435761u;
    if (n * sizeof(uint64_t) >= kHugePageBytes) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % kHugePageBytes, 0u);
    }
    v.resize(n + 1000);  // moves to a new allocation; the old one is returned
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(v[i], i * 2654435761u);
  }
  HugePageAllocator<int> a;
  HugePageAllocator<char> b(a);
  EXPECT_TRUE(a == b);
}

TEST(HugePageAllocatorTest, MapHugeThrowsLikeNewWhenNothingCanBeMapped) {
  EXPECT_THROW(MapHuge(size_t{1} << 62), std::bad_alloc);
}

}  // namespace
}  // namespace sasmint::internal
