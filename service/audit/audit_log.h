// audit_log.h: the audit trail: one sealed JSON line per record (audit_chain.h), written in
// order by a writer thread of its own.
//
// Callers Submit records from any thread; a bounded queue hands them to the writer, which gives
// each its sequence number, chains it to the line before and appends it to the sink (a file,
// opened for appending and continuing the chain of its last line, or stdout). Open writes the
// boot's "start" line before returning, so a sink that cannot be written is known at once. A
// write that fails marks the sink down: the writer retries every second (reopening a file),
// records it could not write are counted and the next line written says how many ("lost").
// While the sink is down or the queue is full, Submit refuses records; with `required` the
// caller must then refuse its call (fail closed). Records marked `always` (denials, KeyAdmin
// changes) may use a reserve beyond the queue's size. Never given key bytes, tokens or
// signatures: callers build the bodies (audit_record.h). Thread-safe.
#ifndef SASMINT_SERVICE_AUDIT_AUDIT_LOG_H_
#define SASMINT_SERVICE_AUDIT_AUDIT_LOG_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace sasmint {

struct AuditOptions {
  std::string path;       // "-": stdout; a file otherwise (created 0600, appended to)
  bool required = false;  // fail closed: calls whose record cannot be queued fail
  size_t queue_records = 65536;
  size_t list_ids = 16;  // calls with at most this many identities list them; others digest
  absl::Duration stream_interval = absl::Seconds(1);  // one stream line per interval at most
};

// AuditRecord is one line before sequencing: its time and the fields after "boot" (JSON
// object members, comma-separated, starting with "event").
struct AuditRecord {
  absl::Time time;
  std::string body;
  bool always = false;  // a denial or a KeyAdmin change: may use the reserve
};

class AuditLog {
 public:
  // Counts of records, for metrics.
  struct Stats {
    uint64_t written = 0;
    uint64_t dropped = 0;       // not queued, call served (not required)
    uint64_t refused = 0;       // not queued, call refused (required)
    uint64_t write_errors = 0;  // queued, could not be written
    uint64_t queued = 0;        // waiting for the writer now
    bool sink_up = false;
  };

  // Open starts the log and writes its start line. INVALID_ARGUMENT for an empty path or a zero
  // queue; a sink that cannot be opened or written is not an error here (the log starts down,
  // says so in the error log, and keeps retrying).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const AuditOptions& options,
                                                        const Clock* clock);
  // The destructor writes the "stop" line after every queued record.
  ~AuditLog();

  // Submit queues `record`; returns false (counted as dropped or, with required, refused) when
  // the sink is down or the queue full.
  bool Submit(AuditRecord record);
  // Accepting returns whether Submit would take an ordinary record now.
  bool Accepting() const;

  const AuditOptions& options() const { return options_; }
  bool required() const { return options_.required; }
  const std::string& boot_id() const { return boot_id_; }
  Stats stats() const;

 private:
  AuditLog(AuditOptions options, const Clock* clock);

  bool OpenSink();  // writer side (or Open, before the writer starts); true if usable
  bool WriteLines(const std::string& lines);
  std::string Seal(const AuditRecord& record);  // writer side: seq, chain
  void Run();

  const AuditOptions options_;
  const Clock* const clock_;
  std::string boot_id_;
  int fd_ = -1;  // writer side (and Open, before the writer starts)
  bool owns_fd_ = false;
  std::string prev_hash_;  // writer side
  uint64_t seq_ = 0;       // writer side: the last seq written
  uint64_t lost_ = 0;      // writer side: records not written since the last line

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<AuditRecord> queue_;  // guarded by mu_
  bool stopping_ = false;          // guarded by mu_
  uint64_t lost_pending_ = 0;      // guarded by mu_: refused by Submit, not yet in a line
  bool sink_up_ = false;           // guarded by mu_
  Stats stats_;                    // guarded by mu_ (queued, sink_up filled on read)
  std::thread writer_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_AUDIT_AUDIT_LOG_H_
