#include "service/etcd/etcd_client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/pem_file.h"

namespace sasmint {

struct EtcdClient::Endpoint {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
};

EtcdClient::EtcdClient(EtcdClientOptions options) : options_(std::move(options)) {}
EtcdClient::~EtcdClient() = default;

namespace {

absl::Status FromGrpc(const grpc::Status& s, absl::string_view endpoint) {
  if (s.ok()) return absl::OkStatus();
  // gRPC and absl share the canonical code numbers.
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat("etcd ", endpoint, ": ", s.error_message()));
}

// Retryable says whether a failed call may go to the next endpoint. Reads may also move on
// after a deadline (a member that hangs); writes only when nothing reached etcd.
bool Retryable(const grpc::Status& s, bool read) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         (read && s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
}

void SetDeadline(grpc::ClientContext* context, absl::Duration timeout) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::microseconds(absl::ToInt64Microseconds(timeout)));
}

class WatchStream : public EtcdWatch {
 public:
  WatchStream(std::string endpoint, std::unique_ptr<grpc::ClientContext> context,
              std::unique_ptr<
                  grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
                  stream)
      : endpoint_(std::move(endpoint)), context_(std::move(context)), stream_(std::move(stream)) {}

  ~WatchStream() override {
    Cancel();
    if (!finished_) {
      etcdserverpb::WatchResponse drain;
      while (stream_->Read(&drain)) {
      }
      stream_->Finish().ok();
    }
  }

  absl::StatusOr<EtcdWatchBatch> Next() override {
    etcdserverpb::WatchResponse response;
    while (stream_->Read(&response)) {
      if (response.canceled()) {
        if (response.compact_revision() > 0) {
          return absl::OutOfRangeError(
              absl::StrCat("etcd ", endpoint_, ": watch start revision compacted (oldest kept ",
                           response.compact_revision(), ")"));
        }
        return absl::UnavailableError(
            absl::StrCat("etcd ", endpoint_, ": watch cancelled: ", response.cancel_reason()));
      }
      if (response.created() && response.events_size() == 0) continue;
      EtcdWatchBatch batch;
      batch.revision = response.header().revision();
      batch.events.reserve(response.events_size());
      for (const mvccpb::Event& e : response.events()) {
        EtcdEvent event;
        event.deleted = e.type() == mvccpb::Event::DELETE;
        event.kv.key = e.kv().key();
        event.kv.value = e.kv().value();
        event.kv.create_revision = e.kv().create_revision();
        event.kv.mod_revision = e.kv().mod_revision();
        batch.events.push_back(std::move(event));
      }
      return batch;
    }
    finished_ = true;
    const grpc::Status status = stream_->Finish();
    if (cancelled_.load()) return absl::CancelledError("watch cancelled");
    if (status.ok()) {
      return absl::UnavailableError(absl::StrCat("etcd ", endpoint_, ": watch stream ended"));
    }
    return FromGrpc(status, endpoint_);
  }

  void Cancel() override {
    cancelled_.store(true);
    context_->TryCancel();
  }

 private:
  const std::string endpoint_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
      stream_;
  std::atomic<bool> cancelled_{false};
  bool finished_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(EtcdClientOptions options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("etcd: at least one endpoint is needed");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // a page of records may be large
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> roots = ReadPemFile(options.tls->ca_file, "etcd CA file");
    if (!roots.ok()) return absl::InvalidArgumentError(roots.status().message());
    ssl.pem_root_certs = *std::move(roots);
    if (!options.tls->cert_file.empty()) {
      absl::StatusOr<std::string> cert =
          ReadPemFile(options.tls->cert_file, "etcd client certificate");
      if (!cert.ok()) return absl::InvalidArgumentError(cert.status().message());
      absl::StatusOr<std::string> key = ReadPemFile(options.tls->key_file, "etcd client key");
      if (!key.ok()) return absl::InvalidArgumentError(key.status().message());
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
    if (!options.tls->server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls->server_name);
    }
  }
  std::unique_ptr<EtcdClient> client(new EtcdClient(std::move(options)));
  for (const std::string& address : client->options_.endpoints) {
    auto e = std::make_unique<Endpoint>();
    e->address = address;
    e->channel = grpc::CreateCustomChannel(address, credentials, args);
    e->kv = etcdserverpb::KV::NewStub(e->channel);
    e->watch = etcdserverpb::Watch::NewStub(e->channel);
    client->endpoints_.push_back(std::move(e));
  }
  return client;
}

std::string EtcdClient::PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

size_t EtcdClient::current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

void EtcdClient::MoveOn(size_t from) {
  absl::MutexLock lock(&mu_);
  if (current_ == from) current_ = (from + 1) % endpoints_.size();
}

std::string EtcdClient::endpoint() const { return endpoints_[current()]->address; }

absl::StatusOr<EtcdRangeResult> EtcdClient::Range(absl::string_view key,
                                                  absl::string_view range_end, int64_t revision,
                                                  int64_t page) {
  EtcdRangeResult result;
  std::string from(key);
  result.revision = revision;
  for (;;) {
    etcdserverpb::RangeRequest request;
    request.set_key(from);
    request.set_range_end(std::string(range_end));
    request.set_limit(page);
    request.set_revision(result.revision);
    etcdserverpb::RangeResponse response;
    absl::Status status =
        Unary(/*read=*/true, [&](etcdserverpb::KV::Stub& kv, grpc::ClientContext* context) {
          return kv.Range(context, request, &response);
        });
    if (!status.ok()) return status;
    if (result.revision <= 0) result.revision = response.header().revision();
    for (mvccpb::KeyValue& kv : *response.mutable_kvs()) {
      EtcdKeyValue out;
      out.key = std::move(*kv.mutable_key());
      out.value = std::move(*kv.mutable_value());
      out.create_revision = kv.create_revision();
      out.mod_revision = kv.mod_revision();
      result.kvs.push_back(std::move(out));
    }
    if (!response.more() || response.kvs_size() == 0) return result;
    from = result.kvs.back().key;
    from.push_back('\0');  // the next key after the last one returned
  }
}

absl::Status EtcdClient::Unary(
    bool read,
    absl::FunctionRef<grpc::Status(etcdserverpb::KV::Stub&, grpc::ClientContext*)> call) {
  grpc::Status status;
  std::string address;
  for (size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const size_t i = current();
    grpc::ClientContext context;
    SetDeadline(&context, options_.request_timeout);
    status = call(*endpoints_[i]->kv, &context);
    address = endpoints_[i]->address;
    if (status.ok() || !Retryable(status, read)) break;
    MoveOn(i);
  }
  return FromGrpc(status, address);
}

absl::StatusOr<etcdserverpb::TxnResponse> EtcdClient::Txn(const etcdserverpb::TxnRequest& request) {
  etcdserverpb::TxnResponse response;
  absl::Status status =
      Unary(/*read=*/false, [&](etcdserverpb::KV::Stub& kv, grpc::ClientContext* context) {
        response.Clear();
        return kv.Txn(context, request, &response);
      });
  if (!status.ok()) return status;
  return response;
}

absl::Status EtcdClient::Compact(int64_t revision) {
  etcdserverpb::CompactionRequest request;
  request.set_revision(revision);
  request.set_physical(true);
  etcdserverpb::CompactionResponse response;
  // Compaction to a revision is idempotent: it may move on after a deadline as reads do.
  return Unary(/*read=*/true, [&](etcdserverpb::KV::Stub& kv, grpc::ClientContext* context) {
    return kv.Compact(context, request, &response);
  });
}

absl::StatusOr<std::unique_ptr<EtcdWatch>> EtcdClient::Watch(absl::string_view key,
                                                             absl::string_view range_end,
                                                             int64_t start_revision) {
  etcdserverpb::WatchRequest request;
  etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(std::string(key));
  create->set_range_end(std::string(range_end));
  create->set_start_revision(start_revision);
  create->set_progress_notify(true);
  grpc::Status status;
  std::string address;
  for (size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const size_t i = current();
    Endpoint& e = *endpoints_[i];
    address = e.address;
    // A watch on a member cut off from the leader would stay silent: etcd ends it instead when
    // asked with this metadata (clientv3's WithRequireLeader).
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("hasleader", "true");
    const auto deadline =
        std::chrono::system_clock::now() +
        std::chrono::microseconds(absl::ToInt64Microseconds(options_.dial_timeout));
    if (!e.channel->WaitForConnected(deadline)) {
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot connect");
      MoveOn(i);
      continue;
    }
    auto stream = e.watch->Watch(context.get());
    if (stream == nullptr || !stream->Write(request)) {
      status = stream != nullptr ? stream->Finish()
                                 : grpc::Status(grpc::StatusCode::UNAVAILABLE, "no stream");
      if (status.ok()) status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream closed");
      MoveOn(i);
      continue;
    }
    return std::unique_ptr<EtcdWatch>(
        new WatchStream(e.address, std::move(context), std::move(stream)));
  }
  return FromGrpc(status, address);
}

}  // namespace sasmint
