#include "service/keystore/key_memory.h"

#include <atomic>
#include <utility>

#include "absl/base/call_once.h"

namespace sasmint {
namespace {

std::function<void(absl::string_view)>* warning_handler = nullptr;
absl::once_flag heap_once;
SecureHeap* heap = nullptr;

}  // namespace

void SetKeyMemoryWarningHandler(std::function<void(absl::string_view)> handler) {
  if (heap != nullptr) return;
  delete warning_handler;
  warning_handler = new std::function<void(absl::string_view)>(std::move(handler));
}

SecureHeap& KeyMemoryHeap() {
  absl::call_once(heap_once, [] {
    SecureMemoryOptions options;
    options.chunk_bytes = 64 << 10;
    // Every size class of the heap would warn; the service wants to hear it once.
    auto warned = std::make_shared<std::atomic<bool>>(false);
    options.on_lock_failure = [warned](absl::string_view message) {
      if (warned->exchange(true) || warning_handler == nullptr) return;
      (*warning_handler)(message);
    };
    heap = new SecureHeap(std::move(options));
  });
  return *heap;
}

SecureMemoryStats KeyMemoryStats() { return KeyMemoryHeap().stats(); }

}  // namespace sasmint
