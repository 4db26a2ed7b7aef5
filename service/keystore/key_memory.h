// key_memory.h: where the key store keeps key state: one process-wide SecureHeap.
//
// Identity records (HMAC midstates) are allocated from it, so they are locked in RAM where the
// process may lock memory, excluded from core dumps, and wiped when freed (on delete, on
// replace, on every reload). Thread-safe.
#ifndef SASMINT_SERVICE_KEYSTORE_KEY_MEMORY_H_
#define SASMINT_SERVICE_KEYSTORE_KEY_MEMORY_H_

#include <functional>

#include "absl/strings/string_view.h"
#include "service/keystore/secure_memory.h"

namespace sasmint {

// SetKeyMemoryWarningHandler sets what is told, once, that key memory could not be locked (no
// CAP_IPC_LOCK, or RLIMIT_MEMLOCK too small): the service logs it and continues. Call it before
// the first key is loaded; later calls have no effect.
void SetKeyMemoryWarningHandler(std::function<void(absl::string_view message)> handler);

// KeyMemoryHeap returns the heap, creating it on first use.
SecureHeap& KeyMemoryHeap();

// KeyMemoryStats returns the heap's counters (bytes locked, lock failures).
SecureMemoryStats KeyMemoryStats();

}  // namespace sasmint

#endif  // SASMINT_SERVICE_KEYSTORE_KEY_MEMORY_H_
