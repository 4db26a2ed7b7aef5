#include "service/keystore/export_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string_view>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "signer/batch_signer.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"
#include "simdjson.h"

namespace sasmint {
namespace {

absl::string_view View(std::string_view v) { return absl::string_view(v.data(), v.size()); }

// ParsedLine holds the fields of one export line; string views point into the parser's buffer.
struct ParsedLine {
  std::string_view id;
  std::string_view module_id;
  std::string_view status = "enabled";
  std::string_view auth_type;
  std::string_view primary_key;
  std::string_view secondary_key;
  std::string_view primary_thumbprint;
  std::string_view secondary_thumbprint;
};

// OptionalString reads a string or null; anything else is an error naming `field`.
absl::Status OptionalString(simdjson::dom::element value, absl::string_view field,
                            std::string_view* out) {
  if (value.is_null()) return absl::OkStatus();
  std::string_view s;
  if (value.get_string().get(s) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be a string or null"));
  }
  *out = s;
  return absl::OkStatus();
}

absl::Status ParseAuthentication(simdjson::dom::element auth, ParsedLine* line) {
  if (auth.is_null()) return absl::OkStatus();
  simdjson::dom::object obj;
  if (auth.get_object().get(obj) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("authentication must be an object");
  }
  for (auto field : obj) {
    if (field.key == "type") {
      if (auto s = OptionalString(field.value, "authentication.type", &line->auth_type); !s.ok()) {
        return s;
      }
    } else if (field.key == "symmetricKey" || field.key == "x509Thumbprint") {
      const bool keys = field.key == "symmetricKey";
      if (field.value.is_null()) continue;
      simdjson::dom::object inner;
      if (field.value.get_object().get(inner) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError(
            absl::StrCat("authentication.", View(field.key), " must be an object"));
      }
      for (auto f : inner) {
        std::string_view* out = nullptr;
        if (keys && f.key == "primaryKey") out = &line->primary_key;
        if (keys && f.key == "secondaryKey") out = &line->secondary_key;
        if (!keys && f.key == "primaryThumbprint") out = &line->primary_thumbprint;
        if (!keys && f.key == "secondaryThumbprint") out = &line->secondary_thumbprint;
        if (out == nullptr) continue;
        if (auto s = OptionalString(
                f.value, absl::StrCat("authentication.", View(field.key), ".", View(f.key)), out);
            !s.ok()) {
          return s;
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseLine(simdjson::dom::element doc, ParsedLine* line) {
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("line is not a JSON object");
  }
  bool have_id = false;
  for (auto field : obj) {
    if (field.key == "id") {
      if (field.value.get_string().get(line->id) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError("id must be a string");
      }
      have_id = true;
    } else if (field.key == "moduleId") {
      if (auto s = OptionalString(field.value, "moduleId", &line->module_id); !s.ok()) return s;
    } else if (field.key == "status") {
      if (auto s = OptionalString(field.value, "status", &line->status); !s.ok()) return s;
    } else if (field.key == "authentication") {
      if (auto s = ParseAuthentication(field.value, line); !s.ok()) return s;
    }
  }
  if (!have_id) return absl::InvalidArgumentError("missing id");
  return absl::OkStatus();
}

// PendingIdentity is a parsed, checked line waiting for its keys' midstates: lines are
// gathered into chunks so that BatchSigner::PrepareKeys computes many keys at once in SIMD lanes
// (two compressions per key: most of the cost of loading a key). Reused across chunks.
struct PendingIdentity {
  std::string device_id;
  std::string module_id;
  IdentityStatus status = IdentityStatus::kEnabled;
  std::string auth_type;
  std::string primary_thumbprint;
  std::string secondary_thumbprint;
  int primary = -1;  // index of the decoded key in the chunk, or -1
  int secondary = -1;
  uint32_t line = 0;
};

// KeyChunk holds up to kChunk identities' decoded keys; the key bytes are wiped after use.
class KeyChunk {
 public:
  static constexpr size_t kChunk = 256;
  KeyChunk() : pending_(kChunk) {}
  ~KeyChunk() { crypto::Cleanse(key_bytes_, sizeof(key_bytes_)); }

  bool full() const { return count_ == kChunk; }
  // mark / Rollback undo the keys a line decoded before it turned out malformed.
  size_t mark() const { return keys_; }
  void Rollback(size_t mark) {
    crypto::Cleanse(key_bytes_[mark], (keys_ - mark) * kSlotBytes);
    keys_ = mark;
  }
  PendingIdentity& Next() { return pending_[count_]; }

  // DecodeKey decodes a base64 key of the current line into the chunk; returns its index, -1
  // for an absent key, or the error.
  absl::StatusOr<int> DecodeKey(std::string_view b64, absl::string_view what) {
    if (b64.empty()) return -1;
    const size_t index = keys_;
    uint8_t* slot = key_bytes_[index];
    // Longer text is refused by the length check below anyway; decoding it needs more room.
    if (b64.size() > 4 * (kMaxKeyBytes / 3 + 1)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " is ", b64.size(),
                                                     " characters of base64; IoT Hub keys are ",
                                                     kMinKeyBytes, " to ", kMaxKeyBytes, " bytes"));
    }
    auto n = Base64DecodeTo(View(b64), what, absl::MakeSpan(slot, kSlotBytes));
    if (!n.ok()) return n.status();
    if (*n < kMinKeyBytes || *n > kMaxKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat(what, " decodes to ", *n,
                                                     " bytes; IoT Hub keys are ", kMinKeyBytes,
                                                     " to ", kMaxKeyBytes, " bytes"));
    }
    key_views_[index] = absl::MakeConstSpan(slot, *n);
    ++keys_;
    return static_cast<int>(index);
  }

  void Commit() { ++count_; }

  // Flush prepares every key of the chunk and adds its identities to `table`.
  absl::Status Flush(const BatchSigner& signer, absl::string_view hub, uint16_t source_file,
                     absl::string_view source_name, IdentityTable* table,
                     const std::function<absl::Status(absl::Status)>& on_error) {
    signer.PrepareKeys(absl::MakeConstSpan(key_views_, keys_), absl::MakeSpan(hmacs_, keys_));
    crypto::Cleanse(key_bytes_, keys_ * kSlotBytes);
    IdentityKeys keys;
    // Each insert first looks the identity up (duplicates are refused), a cache miss into an
    // index of up to hundreds of megabytes: hash the chunk's identities once, and start those
    // misses a few identities ahead.
    constexpr size_t kAhead = 8;
    for (size_t i = 0; i < count_; ++i) {
      hashes_[i] = IdentityTable::IdentityHash(hub, pending_[i].device_id, pending_[i].module_id);
      if (i < kAhead) table->PrefetchIdentity(hashes_[i]);
    }
    for (size_t i = 0; i < count_; ++i) {
      if (i + kAhead < count_) table->PrefetchIdentity(hashes_[i + kAhead]);
      const PendingIdentity& p = pending_[i];
      keys.status = p.status;
      keys.primary.reset();
      keys.secondary.reset();
      if (p.primary >= 0) keys.primary.emplace(hmacs_[p.primary]);
      if (p.secondary >= 0) keys.secondary.emplace(hmacs_[p.secondary]);
      keys.auth_type = p.auth_type;
      keys.primary_thumbprint = p.primary_thumbprint;
      keys.secondary_thumbprint = p.secondary_thumbprint;
      keys.source_file = source_file;
      keys.source_line = p.line;
      if (auto s = table->Add(hub, p.device_id, p.module_id, keys, hashes_[i]); !s.ok()) {
        absl::Status e = on_error(
            absl::Status(s.code(), absl::StrCat(source_name, ":", p.line, ": ", s.message())));
        if (!e.ok()) return e;
      }
    }
    count_ = 0;
    keys_ = 0;
    return absl::OkStatus();
  }

 private:
  static constexpr size_t kSlotBytes = 96;  // room for 88 base64 characters
  std::vector<PendingIdentity> pending_;
  size_t count_ = 0;
  size_t keys_ = 0;
  uint8_t key_bytes_[2 * kChunk][kSlotBytes];
  absl::Span<const uint8_t> key_views_[2 * kChunk];
  HmacKey hmacs_[2 * kChunk];
  uint64_t hashes_[kChunk];  // IdentityHash of each pending identity, during Flush
};

// CheckLine validates a parsed line and fills the chunk's next entry (not yet committed).
absl::Status CheckLine(const ParsedLine& line, uint32_t line_no, KeyChunk* chunk) {
  if (auto s = ValidateIdentityId(View(line.id), "device ID (id)"); !s.ok()) return s;
  if (!line.module_id.empty()) {
    if (auto s = ValidateIdentityId(View(line.module_id), "module ID (moduleId)"); !s.ok()) {
      return s;
    }
  }
  PendingIdentity& p = chunk->Next();
  if (line.status == "enabled") {
    p.status = IdentityStatus::kEnabled;
  } else if (line.status == "disabled") {
    p.status = IdentityStatus::kDisabled;
  } else {
    return absl::InvalidArgumentError("status must be \"enabled\" or \"disabled\"");
  }
  p.auth_type.assign(line.auth_type.empty() ? std::string_view("sas") : line.auth_type);
  auto primary = chunk->DecodeKey(line.primary_key, "primary key");
  if (!primary.ok()) return primary.status();
  auto secondary = chunk->DecodeKey(line.secondary_key, "secondary key");
  if (!secondary.ok()) return secondary.status();
  if (p.auth_type == "sas" && *primary < 0 && *secondary < 0) {
    return absl::InvalidArgumentError(
        "authentication type is sas but symmetricKey has neither primaryKey nor secondaryKey");
  }
  p.primary = *primary;
  p.secondary = *secondary;
  p.device_id.assign(line.id);
  p.module_id.assign(line.module_id);
  p.primary_thumbprint.assign(line.primary_thumbprint);
  p.secondary_thumbprint.assign(line.secondary_thumbprint);
  p.line = line_no;
  chunk->Commit();
  return absl::OkStatus();
}

// ParserWiper wipes the parser's string buffer when the load ends: simdjson unescapes every
// string of a line there, keys included, and would free it unwiped.
class ParserWiper {
 public:
  explicit ParserWiper(simdjson::dom::parser* parser) : parser_(parser) {}
  ~ParserWiper() {
    if (parser_->doc.string_buf != nullptr) {
      // The buffer holds at least 5/3 of the capacity plus padding (document::allocate).
      crypto::Cleanse(parser_->doc.string_buf.get(),
                      5 * parser_->doc.capacity() / 3 + simdjson::SIMDJSON_PADDING);
    }
  }

 private:
  simdjson::dom::parser* parser_;
};

// LoaderSigner is the BatchSigner that prepares keys: the best for this CPU (SASMINT_ISA is
// honoured; an unusable value falls back to portable here and is reported by the server).
const BatchSigner& LoaderSigner() {
  static const BatchSigner* const kSigner = [] {
    absl::StatusOr<BatchSigner> best = BatchSigner::Best();
    return new BatchSigner(best.ok() ? *best : *BatchSigner::Create(Isa::kPortable));
  }();
  return *kSigner;
}

// CountLines returns the number of lines in `text` (a last line without '\n' counts).
size_t CountLines(const char* base, size_t total) {
  size_t lines = 0;
  for (const char* p = base; (p = static_cast<const char*>(std::memchr(p, '\n', base + total - p)));
       ++p) {
    ++lines;
  }
  return lines + (total > 0 && base[total - 1] != '\n' ? 1 : 0);
}

// ExportParser turns export text into identities. The text arrives in pieces of whole lines
// (Feed), so that a file of millions of lines is read through one reused window rather than
// copied whole into fresh memory (gigabytes for a large fleet, whose fresh pages the kernel
// must also zero). Each piece must be followed by SIMDJSON_PADDING
// readable bytes: simdjson reads past the end of what it parses, so lines are parsed in place.
class ExportParser {
 public:
  ExportParser(absl::string_view source_name, absl::string_view hub, IdentityTable* table,
               const ExportLoadOptions& options, ExportLoadStats* stats)
      : source_name_(source_name),
        hub_(hub),
        table_(table),
        options_(options),
        counts_(stats != nullptr ? *stats : local_counts_),
        signer_(LoaderSigner()),
        chunk_(std::make_unique<KeyChunk>()),
        wiper_(&parser_),
        size_before_(table->size()) {}

  absl::Status Begin() {
    if (auto s = ValidateHubHost(hub_); !s.ok()) return s;
    source_file_ = table_->AddSourceFile(source_name_);
    return absl::OkStatus();
  }

  // Feed parses every line of [base, base + total); a last line without '\n' is whole too.
  absl::Status Feed(const char* base, size_t total) {
    size_t pos = 0;
    if (line_no_ == 0 && total >= 3 && static_cast<uint8_t>(base[0]) == 0xEF &&
        static_cast<uint8_t>(base[1]) == 0xBB && static_cast<uint8_t>(base[2]) == 0xBF) {
      pos = 3;  // UTF-8 byte order mark, as written by some Windows tools.
    }
    while (pos < total) {
      ++line_no_;
      const void* newline = std::memchr(base + pos, '\n', total - pos);
      const size_t end = newline == nullptr
                             ? total
                             : static_cast<size_t>(static_cast<const char*>(newline) - base);
      size_t len = end - pos;
      if (len > 0 && base[pos + len - 1] == '\r') --len;
      const size_t line_start = pos;
      pos = end + 1;
      if (auto s = Line(base + line_start, len); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Finish adds what is still pending and counts the load.
  absl::Status Finish() {
    if (auto s = Flush(); !s.ok()) return s;
    counts_.loaded += table_->size() - size_before_;
    return absl::OkStatus();
  }

 private:
  absl::Status Flush() {
    return chunk_->Flush(signer_, hub_, source_file_, source_name_, table_,
                         [this](absl::Status e) { return OnError(std::move(e)); });
  }

  // OnError fails a strict load; a lenient one counts the line and goes on.
  absl::Status OnError(absl::Status error) {
    if (!options_.lenient) return error;
    ++counts_.skipped;
    if (counts_.first_errors.size() < 10) counts_.first_errors.emplace_back(error.message());
    return absl::OkStatus();
  }

  absl::Status Line(const char* text, size_t len) {
    bool blank = true;
    for (size_t i = 0; i < len; ++i) {
      if (text[i] != ' ' && text[i] != '\t') {
        blank = false;
        break;
      }
    }
    if (blank) return absl::OkStatus();
    const auto where = [&] { return absl::StrCat(source_name_, ":", line_no_); };
    simdjson::dom::element doc;
    if (auto err = parser_.parse(text, len, false).get(doc); err != simdjson::SUCCESS) {
      return OnError(absl::InvalidArgumentError(
          absl::StrCat(where(), ": malformed JSON: ", simdjson::error_message(err))));
    }
    ParsedLine line;
    if (auto s = ParseLine(doc, &line); !s.ok()) {
      return OnError(absl::InvalidArgumentError(absl::StrCat(where(), ": ", s.message())));
    }
    const size_t mark = chunk_->mark();
    if (auto s = CheckLine(line, static_cast<uint32_t>(line_no_), chunk_.get()); !s.ok()) {
      chunk_->Rollback(mark);
      return OnError(absl::Status(s.code(), absl::StrCat(where(), ": ", s.message())));
    }
    return chunk_->full() ? Flush() : absl::OkStatus();
  }

  const absl::string_view source_name_;
  const absl::string_view hub_;
  IdentityTable* const table_;
  const ExportLoadOptions& options_;
  ExportLoadStats local_counts_;
  ExportLoadStats& counts_;
  const BatchSigner& signer_;
  std::unique_ptr<KeyChunk> chunk_;
  simdjson::dom::parser parser_;
  const ParserWiper wiper_;
  const size_t size_before_;
  uint16_t source_file_ = 0;
  size_t line_no_ = 0;
};

// WipedPadded is a padded copy of key-bearing text that is wiped when it goes out of scope.
class WipedPadded {
 public:
  explicit WipedPadded(size_t size) : buffer_(size) {}
  ~WipedPadded() { crypto::Cleanse(buffer_.data(), buffer_.size()); }
  char* data() { return buffer_.data(); }
  size_t size() const { return buffer_.size(); }

 private:
  simdjson::padded_string buffer_;
};

}  // namespace

absl::Status LoadExportText(absl::string_view text, absl::string_view source_name,
                            absl::string_view hub, IdentityTable* table,
                            const ExportLoadOptions& options, ExportLoadStats* stats) {
  ExportParser parser(source_name, hub, table, options, stats);
  if (auto s = parser.Begin(); !s.ok()) return s;
  WipedPadded buffer(text.size());
  if (!text.empty()) std::memcpy(buffer.data(), text.data(), text.size());
  // The table grows once rather than by doubling.
  table->ReserveIdentities(CountLines(buffer.data(), buffer.size()));
  if (auto s = parser.Feed(buffer.data(), buffer.size()); !s.ok()) return s;
  return parser.Finish();
}

absl::Status LoadExportFile(const std::string& path, absl::string_view hub, IdentityTable* table,
                            const ExportLoadOptions& options, ExportLoadStats* stats) {
  // Plain read(2) into a wiped window: a stdio or iostream buffer would keep a copy of the key
  // text in freed memory. The window is reused for the whole file (whole lines at a time; a
  // line longer than the window grows it).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open device export file ", path));
  const auto close_fd = absl::MakeCleanup([fd] { ::close(fd); });
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size < 0) {
    return absl::DataLossError(absl::StrCat("cannot read device export file ", path));
  }
  const size_t file_size = static_cast<size_t>(st.st_size);
  ExportParser parser(path, hub, table, options, stats);
  if (auto s = parser.Begin(); !s.ok()) return s;
  auto window = std::make_unique<WipedPadded>(
      std::max<size_t>(1, std::min(file_size, options.read_window_bytes)));
  size_t held = 0;  // bytes at the window's start not yet parsed (a partial line)
  bool reserved = false;
  size_t bytes_read = 0, lines_read = 0;  // for options.progress
  for (;;) {
    if (held == window->size()) {
      // One line fills the window: grow it (keeping, then wiping, what it held).
      auto bigger = std::make_unique<WipedPadded>(window->size() * 2);
      std::memcpy(bigger->data(), window->data(), held);
      window = std::move(bigger);
    }
    const ssize_t n = ::read(fd, window->data() + held, window->size() - held);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::DataLossError(absl::StrCat("error reading device export file ", path));
    const bool eof = n == 0;
    held += static_cast<size_t>(n);
    if (!eof && held < window->size()) continue;  // fill the window before parsing
    // Parse up to the last complete line (everything, at the end of the file).
    size_t usable = held;
    if (!eof) {
      const void* last = memrchr(window->data(), '\n', held);
      usable = last == nullptr
                   ? 0
                   : static_cast<size_t>(static_cast<const char*>(last) - window->data()) + 1;
    }
    if (!reserved && usable > 0) {
      // Size the table once, from the first window's lines per byte (plus 1 %): growing by
      // doubling would copy millions of records and leave spare memory locked.
      reserved = true;
      const size_t lines = CountLines(window->data(), usable);
      table->ReserveIdentities(
          eof ? lines
              : static_cast<size_t>(static_cast<double>(lines) * file_size / usable * 1.01));
    }
    if (usable > 0) {
      if (auto s = parser.Feed(window->data(), usable); !s.ok()) return s;
      if (options.progress) {
        bytes_read += usable;
        lines_read += CountLines(window->data(), usable);
        options.progress(bytes_read, lines_read, file_size);
      }
    }
    if (eof) break;
    // Keep the partial last line at the start of the window. The key text behind it is
    // overwritten by the next read, and the whole window is wiped when the load ends.
    std::memmove(window->data(), window->data() + usable, held - usable);
    held -= usable;
  }
  return parser.Finish();
}

}  // namespace sasmint
