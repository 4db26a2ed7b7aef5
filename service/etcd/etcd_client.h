// etcd_client.h: the part of etcd's v3 API that the shared admin store needs, over gRPC.
//
// EtcdClient reads key ranges (paged, all pages at one revision), runs transactions, compacts,
// and opens watches, against a list of endpoints ("HOST:PORT"; plaintext unless TLS options are
// given, mTLS with a client certificate). One endpoint is used at a time; a call that finds it
// unreachable (UNAVAILABLE) moves to the next and retries there, until every endpoint has been
// tried once. Transactions are retried only on UNAVAILABLE before any reply: callers make them
// idempotent with compares. etcd's own errors keep their gRPC codes: OUT_OF_RANGE for a
// compacted revision, INVALID_ARGUMENT for a request over its size or operation limits.
// Thread-safe; an EtcdWatch is used by one reader thread (Cancel may come from any thread).
#ifndef SASMINT_SERVICE_ETCD_ETCD_CLIENT_H_
#define SASMINT_SERVICE_ETCD_ETCD_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcd/etcdserverpb/rpc.grpc.pb.h"

namespace sasmint {

struct EtcdTlsOptions {
  std::string ca_file;      // PEM roots that etcd's server certificate must chain to
  std::string cert_file;    // client certificate (mTLS); empty: none
  std::string key_file;     // its private key
  std::string server_name;  // name expected in etcd's certificate; empty: the host
};

struct EtcdClientOptions {
  std::vector<std::string> endpoints;  // HOST:PORT, at least one
  std::optional<EtcdTlsOptions> tls;
  absl::Duration dial_timeout = absl::Seconds(2);     // to connect to one endpoint
  absl::Duration request_timeout = absl::Seconds(5);  // per call
};

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

struct EtcdRangeResult {
  std::vector<EtcdKeyValue> kvs;  // in key order
  int64_t revision = 0;           // the revision every page was read at
};

struct EtcdEvent {
  bool deleted = false;
  EtcdKeyValue kv;  // for a deletion, key and mod_revision only
};

struct EtcdWatchBatch {
  int64_t revision = 0;  // the store's revision when sent (progress, even without events)
  std::vector<EtcdEvent> events;
};

class EtcdWatch {
 public:
  virtual ~EtcdWatch() = default;
  // Next blocks for the next batch of events (or a progress notification). OUT_OF_RANGE if the
  // start revision was compacted (re-read, then watch again); CANCELLED after Cancel;
  // UNAVAILABLE when the stream breaks or its endpoint loses the cluster leader.
  virtual absl::StatusOr<EtcdWatchBatch> Next() = 0;
  // Cancel ends the watch; a blocked Next returns CANCELLED. Thread-safe.
  virtual void Cancel() = 0;
};

class EtcdClient {
 public:
  // Create builds channels to every endpoint (it connects lazily). INVALID_ARGUMENT for no
  // endpoints or an unreadable TLS file.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(EtcdClientOptions options);

  // PrefixEnd returns the range end that covers every key starting with `prefix`.
  static std::string PrefixEnd(absl::string_view prefix);
  ~EtcdClient();

  // Range returns every key in [key, range_end) at `revision` (0: the newest), read `page`
  // keys at a time at one revision.
  absl::StatusOr<EtcdRangeResult> Range(absl::string_view key, absl::string_view range_end,
                                        int64_t revision = 0, int64_t page = 500);
  // Txn runs one transaction and returns etcd's answer (`succeeded` says which branch ran).
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& request);
  // Compact drops history before `revision` (tests and operators).
  absl::Status Compact(int64_t revision);
  // Watch starts a watch of [key, range_end) from `start_revision` (inclusive) on the current
  // endpoint, with progress notifications; requires the endpoint to have a leader.
  absl::StatusOr<std::unique_ptr<EtcdWatch>> Watch(absl::string_view key,
                                                   absl::string_view range_end,
                                                   int64_t start_revision);

  // endpoint returns the endpoint calls go to now.
  std::string endpoint() const ABSL_LOCKS_EXCLUDED(mu_);
  const EtcdClientOptions& options() const { return options_; }

 private:
  struct Endpoint;
  explicit EtcdClient(EtcdClientOptions options);
  // Unary runs `call` on the current endpoint and, while it fails in a way that allows it (see
  // Retryable), on the next ones, each tried once. Returns the last status, naming the endpoint
  // that gave it.
  absl::Status Unary(
      bool read,
      absl::FunctionRef<grpc::Status(etcdserverpb::KV::Stub&, grpc::ClientContext*)> call);
  size_t current() const ABSL_LOCKS_EXCLUDED(mu_);
  void MoveOn(size_t from) ABSL_LOCKS_EXCLUDED(mu_);

  const EtcdClientOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  mutable absl::Mutex mu_;
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_ETCD_ETCD_CLIENT_H_
