#include "service/audit/audit_log.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "common/log.h"
#include "service/audit/audit_chain.h"
#include "signer/crypto_backend.h"

namespace sasmint {
namespace {

// Records beyond the queue's size that `always` records may still use.
constexpr size_t kReserve = 4096;

std::string NewBootId() {
  uint8_t bytes[16] = {};
  if (!crypto::RandomBytes(absl::MakeSpan(bytes)).ok()) {
    // No CSPRNG: a boot still needs an ID that differs from the last one.
    const int64_t now = absl::ToUnixNanos(absl::Now());
    std::memcpy(bytes, &now, sizeof(now));
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

std::string AuditTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

// LastLineOf returns the last complete line of the file at `path` (without its newline) and
// whether the file ends with a newline (false for a torn last line or an empty file).
std::pair<std::string, bool> LastLineOf(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size == 0) return {"", true};
  const off_t window = std::min<off_t>(st.st_size, 1 << 20);
  std::string tail(static_cast<size_t>(window), '\0');
  if (pread(fd, tail.data(), tail.size(), st.st_size - window) != window) return {"", true};
  const bool ends_with_newline = tail.back() == '\n';
  if (ends_with_newline) tail.pop_back();
  size_t end = tail.size();
  if (!ends_with_newline) {
    // The torn last line is not part of the chain; the line before it is.
    const size_t nl = tail.rfind('\n');
    if (nl == std::string::npos) return {"", false};
    end = nl;
  }
  const size_t begin = tail.rfind('\n', end == 0 ? 0 : end - 1);
  const size_t from = begin == std::string::npos ? 0 : begin + 1;
  return {tail.substr(from, end - from), ends_with_newline};
}

}  // namespace

AuditLog::AuditLog(AuditOptions options, const Clock* clock)
    : options_(std::move(options)), clock_(clock), boot_id_(NewBootId()) {}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditOptions& options,
                                                         const Clock* clock) {
  if (options.path.empty()) return absl::InvalidArgumentError("audit: path is empty");
  if (options.queue_records == 0) return absl::InvalidArgumentError("audit: queue_records is 0");
  std::unique_ptr<AuditLog> log(new AuditLog(options, clock));
  // A reader gone from stdout must fail the write, not end the process.
  if (options.path == "-") signal(SIGPIPE, SIG_IGN);
  const bool up = log->OpenSink();
  {
    std::lock_guard<std::mutex> lock(log->mu_);
    log->sink_up_ = up;
  }
  log->writer_ = std::thread(&AuditLog::Run, log.get());
  return log;
}

AuditLog::~AuditLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (owns_fd_ && fd_ >= 0) close(fd_);
}

bool AuditLog::OpenSink() {
  if (options_.path == "-") {
    fd_ = STDOUT_FILENO;
    owns_fd_ = false;
    if (prev_hash_.empty()) prev_hash_ = std::string(kGenesisHash);
  } else {
    if (owns_fd_ && fd_ >= 0) close(fd_);
    fd_ = open(options_.path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    owns_fd_ = fd_ >= 0;
    if (fd_ < 0) {
      Log(LogLevel::kError, "audit log cannot be opened",
          {{"path", options_.path}, {"error", std::strerror(errno)}});
      return false;
    }
    if (prev_hash_.empty()) {
      // Continue the chain of the file: its last line's hash, or the genesis of a new file.
      auto [last, clean] = LastLineOf(fd_);
      const absl::string_view hash = LineHash(last);
      prev_hash_ = hash.empty() ? std::string(kGenesisHash) : std::string(hash);
      if (!last.empty() && hash.empty()) {
        Log(LogLevel::kWarning, "audit log's last line is not a sealed record; chaining anew",
            {{"path", options_.path}});
      }
      if (!clean && !WriteLines("\n")) return false;
    }
  }
  if (seq_ == 0) {
    // The boot's first line. It is written synchronously (from Open, or when a sink that was
    // down at start comes up) so that nothing of this boot precedes it.
    AuditRecord start{clock_->Now(),
                      absl::StrCat("\"event\":\"start\",\"pid\":", getpid(),
                                   ",\"required\":", options_.required ? "true" : "false"),
                      true};
    const std::string line = Seal(start);
    if (!WriteLines(line)) {
      seq_ = 0;
      return false;
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.written;
  }
  return true;
}

std::string AuditLog::Seal(const AuditRecord& record) {
  std::string line = absl::StrCat("{\"time\":\"", AuditTime(record.time), "\",\"seq\":", ++seq_,
                                  ",\"boot\":\"", boot_id_, "\",", record.body);
  if (lost_ > 0) {
    absl::StrAppend(&line, ",\"lost\":", lost_);
    lost_ = 0;
  }
  prev_hash_ = SealLine(prev_hash_, &line);
  line.push_back('\n');
  return line;
}

bool AuditLog::WriteLines(const std::string& lines) {
  struct stat st {};
  const bool regular = fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  size_t done = 0;
  while (done < lines.size()) {
    const ssize_t n = write(fd_, lines.data() + done, lines.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Log(LogLevel::kError, "audit log write failed",
          {{"path", options_.path}, {"error", std::strerror(n < 0 ? errno : EIO)}});
      // A torn line would break the chain for good: take the partial write back.
      if (regular && done > 0 && ftruncate(fd_, st.st_size) != 0) {
        Log(LogLevel::kError, "audit log cannot be truncated after a failed write",
            {{"path", options_.path}});
      }
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

bool AuditLog::Submit(AuditRecord record) {
  std::unique_lock<std::mutex> lock(mu_);
  const size_t limit = options_.queue_records + (record.always ? kReserve : 0);
  if ((!sink_up_ && !record.always) || queue_.size() >= limit || stopping_) {
    if (options_.required) {
      ++stats_.refused;
    } else {
      ++stats_.dropped;
    }
    ++lost_pending_;
    return false;
  }
  const bool was_empty = queue_.empty();
  queue_.push_back(std::move(record));
  lock.unlock();
  if (was_empty) wake_.notify_one();
  return true;
}

bool AuditLog::Accepting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sink_up_ && queue_.size() < options_.queue_records && !stopping_;
}

AuditLog::Stats AuditLog::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s = stats_;
  s.queued = queue_.size();
  s.sink_up = sink_up_;
  return s;
}

void AuditLog::Run() {
  std::vector<AuditRecord> batch;
  std::string lines;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!sink_up_) {
      // Retry every second; at stop, one last try.
      if (!stopping_) wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
      lock.unlock();
      const bool up = OpenSink();
      lock.lock();
      sink_up_ = up;
      if (up) Log(LogLevel::kInfo, "audit log writable again", {{"path", options_.path}});
      if (!up && stopping_) break;
      continue;
    }
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) break;
    batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    lost_ += std::exchange(lost_pending_, 0);
    lock.unlock();
    const uint64_t seq_before = seq_;
    const uint64_t lost_before = lost_;
    const std::string prev_before = prev_hash_;
    lines.clear();
    for (const AuditRecord& r : batch) lines += Seal(r);
    const bool ok = WriteLines(lines);
    if (!ok) {
      // Not written: the file's chain still ends where it did; the next line says what was lost.
      seq_ = seq_before;
      prev_hash_ = prev_before;
      lost_ = lost_before + batch.size();
    }
    lock.lock();
    if (ok) {
      stats_.written += batch.size();
    } else {
      stats_.write_errors += batch.size();
      sink_up_ = false;
    }
  }
  if (sink_up_) {
    lost_ += std::exchange(lost_pending_, 0);
    AuditRecord stop{clock_->Now(),
                     absl::StrCat("\"event\":\"stop\",\"written\":", stats_.written + 1,
                                  ",\"dropped\":", stats_.dropped, ",\"refused\":", stats_.refused,
                                  ",\"write_errors\":", stats_.write_errors),
                     true};
    lock.unlock();
    const bool ok = WriteLines(Seal(stop));
    lock.lock();
    if (ok) ++stats_.written;
  }
}

}  // namespace sasmint
