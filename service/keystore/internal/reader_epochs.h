// reader_epochs.h: epoch-based protection of tables read without reference counts (RCU-style).
//
// A reader announces the global epoch in its own thread's slot (one cache line, never shared
// with another thread) for the duration of a short synchronous read; a writer that has replaced
// a table bumps the epoch and waits until no slot still announces an older one, then releases
// the old table. Readers therefore never wait and never write a shared cache line (a shared_ptr
// copy writes the control block, which two reader cores then bounce between them), while the
// writer, which publishes rarely, does the waiting. Thread-safe.
#ifndef SASMINT_SERVICE_KEYSTORE_INTERNAL_READER_EPOCHS_H_
#define SASMINT_SERVICE_KEYSTORE_INTERNAL_READER_EPOCHS_H_

#include <atomic>
#include <cstdint>

namespace sasmint::internal {

// ReaderSection marks the calling thread as reading until destruction. Sections nest. Returns
// false from entered() when no slot was free (more than kMaxReaders threads reading at once):
// the caller must then keep what it reads alive another way (a shared_ptr).
class ReaderSection {
 public:
  static constexpr int kMaxReaders = 1024;

  ReaderSection();
  ~ReaderSection();
  ReaderSection(const ReaderSection&) = delete;
  ReaderSection& operator=(const ReaderSection&) = delete;

  bool entered() const { return slot_ != nullptr; }

 private:
  std::atomic<uint64_t>* slot_;
};

// WaitForReaders returns once every reader section that was open when it was called has closed
// (sections opened later are not waited for). Call it after unpublishing a pointer, before
// freeing what it pointed to. Must not be called inside a ReaderSection (it would wait for
// itself).
void WaitForReaders();

}  // namespace sasmint::internal

#endif  // SASMINT_SERVICE_KEYSTORE_INTERNAL_READER_EPOCHS_H_
