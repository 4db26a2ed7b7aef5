// Metrics and audit end to end: a real server over mutual TLS, callers allowed, denied, unknown
// and administering keys; what the metrics endpoint serves and what the audit log holds.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/channel.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/admin/key_admin.h"
#include "service/audit/audit_chain.h"
#include "service/config/config.h"
#include "service/keystore/export_loader.h"
#include "service/metrics/metrics_server.h"
#include "service/rpc/server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_certificate.h"
#include "tests/testing/test_identities.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::TestIdentity;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHub[] = "eu.azure-devices.net";
constexpr int64_t kNow = 1700000000;
// A key no one else uses: it must never come out of the server.
constexpr char kCanaryKey[] = "Q2FuYXJ5S2V5Q2FuYXJ5S2V5Q2FuYXJ5S2V5Q2FuYXI=";

// HttpGet returns the body of GET http://127.0.0.1:port/path, or "" on failure.
std::string HttpGet(int port, absl::string_view path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[65536];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class ObservabilityTest : public ::testing::Test {
 protected:
  void Start(const AuditOptions& audit) {
    dir_ = testing::MakeTempDir();
    ca_ = testing::MakeTestCa("sasmint test CA");
    const TestIdentity server =
        testing::IssueCertificate(ca_, "sasmint.test", {"DNS:sasmint.test", "IP:127.0.0.1"});
    testing::WriteFile(dir_ + "/ca.crt", ca_.cert_pem);
    testing::WriteFile(dir_ + "/server.crt", server.cert_pem);
    testing::WriteFile(dir_ + "/server.key", server.key_pem);
    gateway_ = testing::IssueCertificate(ca_, "gw-eu-1");
    ops_ = testing::IssueCertificate(ca_, "ops");
    stranger_ = testing::IssueCertificate(ca_, "stranger");
    auto config = ParseConfig(R"({
      "tls": {"cert_file": "server.crt", "key_file": "server.key", "client_ca_file": "ca.crt"},
      "callers": [
        {"name": "gateway-eu", "match": {"common_name": "gw-eu-1"},
         "allow": [{"hub": "eu.azure-devices.net", "devices": ["eu-*"], "modules": true}]},
        {"name": "ops", "match": {"common_name": "ops"}, "admin": true}]})",
                              "test", dir_);
    ASSERT_THAT(config, IsOk());
    ServerOptions options = config->server;
    options.listen_address = "127.0.0.1:0";
    metrics_ = std::make_shared<ServiceMetrics>(ServiceMetrics::Info{"t", "c", "openssl", "x"});
    options.metrics = metrics_;
    auto log = AuditLog::Open(audit, &clock_);
    ASSERT_THAT(log, IsOk());
    audit_ = std::shared_ptr<AuditLog>(std::move(*log));
    options.audit_log = audit_;
    admin_ = std::make_unique<KeyAdmin>(&store_, &clock_, KeyAdminOptions{});
    auto started = Server::Start(options, &store_, &clock_, admin_.get());
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
    auto endpoint = MetricsServer::Start("127.0.0.1:0", metrics_);
    ASSERT_THAT(endpoint, IsOk());
    endpoint_ = *std::move(endpoint);
    auto table = std::make_shared<IdentityTable>();
    std::string lines;
    for (const char* d : {"eu-1", "eu-2", "us-1"}) {
      lines += testing::ExportLine(d, "", testing::kTestKey);
    }
    ASSERT_THAT(LoadExportText(lines, "test", kHub, table.get()), IsOk());
    ASSERT_THAT(admin_->Start(std::move(table)), IsOk());
    server_->SetServing(true);
  }

  std::shared_ptr<grpc::Channel> Channel(const TestIdentity& client) {
    const std::string name = absl::StrCat(dir_, "/client", ++clients_);
    testing::WriteFile(name + ".crt", client.cert_pem);
    testing::WriteFile(name + ".key", client.key_pem);
    ClientTlsOptions tls;
    tls.ca_file = dir_ + "/ca.crt";
    tls.cert_file = name + ".crt";
    tls.key_file = name + ".key";
    tls.server_name = "sasmint.test";
    auto channel = MakeClientChannel(absl::StrCat("127.0.0.1:", server_->port()), tls);
    EXPECT_THAT(channel, IsOk());
    return channel.value_or(nullptr);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  // PutCanary puts "eu-new" with the canary key.
  static v1::PutKeysRequest PutCanary() {
    v1::PutKeysRequest put;
    v1::KeyEntry* entry = put.add_entries();
    entry->mutable_identity()->set_hub(kHub);
    entry->mutable_identity()->set_device_id("eu-new");
    entry->set_primary_key(kCanaryKey);
    return put;
  }

  static v1::MintTokenRequest Device(absl::string_view device) {
    v1::MintTokenRequest r;
    r.mutable_identity()->set_hub(kHub);
    r.mutable_identity()->set_device_id(std::string(device));
    return r;
  }

  // AuditLines closes the log (its stop line written) and returns its lines.
  std::vector<std::string> AuditLines() {
    server_.reset();
    audit_.reset();
    return ReadLines(audit_path_);
  }

  static const std::string* Find(const std::vector<std::string>& lines,
                                 std::initializer_list<absl::string_view> parts) {
    for (const std::string& line : lines) {
      bool all = true;
      for (absl::string_view p : parts) all = all && absl::StrContains(line, p);
      if (all) return &line;
    }
    return nullptr;
  }

  std::string dir_;
  std::string audit_path_;
  TestIdentity ca_, gateway_, ops_, stranger_;
  int clients_ = 0;
  FakeClock clock_{absl::FromUnixSeconds(kNow)};
  KeyStore store_;
  std::unique_ptr<KeyAdmin> admin_;
  std::shared_ptr<ServiceMetrics> metrics_;
  std::shared_ptr<AuditLog> audit_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<MetricsServer> endpoint_;
};

TEST_F(ObservabilityTest, AMixedRunIsCountedAndAuditedLineByLine) {
  audit_path_ = testing::MakeTempDir() + "/audit.jsonl";
  AuditOptions audit;
  audit.path = audit_path_;
  audit.list_ids = 2;
  Start(audit);
  auto gateway = Channel(gateway_);
  auto tokens = v1::TokenService::NewStub(gateway);
  v1::MintTokenResponse one;
  {
    auto context = Context();
    context->AddMetadata("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ASSERT_TRUE(tokens->MintToken(context.get(), Device("eu-1"), &one).ok());
  }
  EXPECT_EQ(tokens->MintToken(Context().get(), Device("us-1"), &one).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(tokens->MintToken(Context().get(), Device("eu-9"), &one).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::MintTokensRequest batch;
  for (const char* d : {"eu-1", "eu-2", "us-1"}) *batch.add_requests() = Device(d);
  v1::MintTokensResponse batch_response;
  ASSERT_TRUE(tokens->MintTokens(Context().get(), batch, &batch_response).ok());
  {
    auto context = Context();
    auto stream = tokens->StreamTokens(context.get());
    v1::MintTokensResponse streamed;
    for (int i = 0; i < 2; ++i) {
      v1::MintTokensRequest small;
      *small.add_requests() = Device("eu-2");
      ASSERT_TRUE(stream->Write(small));
      ASSERT_TRUE(stream->Read(&streamed));
    }
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  auto stranger = v1::TokenService::NewStub(Channel(stranger_));
  EXPECT_EQ(stranger->MintToken(Context().get(), Device("eu-1"), &one).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto keys = v1::KeyAdmin::NewStub(Channel(ops_));
  const v1::PutKeysRequest put = PutCanary();
  v1::PutKeysResponse put_response;
  ASSERT_TRUE(keys->PutKeys(Context().get(), put, &put_response).ok());
  ASSERT_TRUE(tokens->MintToken(Context().get(), Device("eu-new"), &one).ok());

  // Metrics: what the endpoint serves over HTTP.
  const std::string text = HttpGet(endpoint_->port(), "/metrics");
  const std::string mint =
      "grpc_service=\"sasmint.v1.TokenService\",grpc_method=\"MintToken\",grpc_type=\"unary\"";
  EXPECT_THAT(text, HasSubstr("grpc_server_started_total{" + mint + "} 5"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{" + mint + ",grpc_code=\"OK\"} 2"));
  EXPECT_THAT(
      text, HasSubstr("grpc_server_handled_total{" + mint + ",grpc_code=\"PERMISSION_DENIED\"} 2"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{" + mint + ",grpc_code=\"NOT_FOUND\"} 1"));
  // 2 unary + 2 of the batch + 2 streamed.
  EXPECT_THAT(text, HasSubstr("sasmint_tokens_minted_total{scope=\"device\",result=\"ok\"} 6"));
  EXPECT_THAT(
      text,
      HasSubstr("sasmint_tokens_minted_total{scope=\"device\",result=\"permission_denied\"} 2"));
  EXPECT_THAT(text,
              HasSubstr("sasmint_tokens_minted_total{scope=\"device\",result=\"not_found\"} 1"));
  EXPECT_THAT(text, HasSubstr("sasmint_authz_denials_total{reason=\"scope\"} 2"));
  EXPECT_THAT(text, HasSubstr("sasmint_authz_denials_total{reason=\"no_rule\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_msg_received_total{grpc_service=\"sasmint.v1.TokenService\","
                        "grpc_method=\"StreamTokens\",grpc_type=\"bidi_stream\"} 2"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{grpc_service=\"sasmint.v1.KeyAdmin\","
                              "grpc_method=\"PutKeys\",grpc_type=\"unary\",grpc_code=\"OK\"} 1"));
  EXPECT_THAT(text, HasSubstr("sasmint_mint_batch_size_count 3"));
  EXPECT_THAT(text, HasSubstr("sasmint_inflight_calls 0"));
  EXPECT_THAT(text, Not(HasSubstr(kCanaryKey)));
  EXPECT_THAT(text, Not(HasSubstr("eu-1")));  // no identity IDs as labels

  // Audit: one line per call, chained.
  const std::vector<std::string> lines = AuditLines();
  std::ifstream in(audit_path_);
  const ChainReport report = VerifyAuditChain(in);
  EXPECT_TRUE(report.intact) << report.reason;
  for (const std::string& line : lines) EXPECT_THAT(line, Not(HasSubstr(kCanaryKey)));
  for (const std::string& line : lines) EXPECT_THAT(line, Not(HasSubstr("SharedAccessSignature")));
  EXPECT_NE(Find(lines, {R"("method":"MintToken")", R"("decision":"allowed")",
                         R"("rule":"gateway-eu")", R"("cn":"gw-eu-1")", R"("ids":["eu-1"])",
                         R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736")", R"("ttl_seconds":)",
                         R"("generation":1)"}),
            nullptr);
  EXPECT_NE(Find(lines, {R"("method":"MintToken")", R"("decision":"denied")",
                         R"("code":"PERMISSION_DENIED")", R"("ids":["us-1"])", R"("denied":1)"}),
            nullptr);
  EXPECT_NE(Find(lines, {R"("method":"MintToken")", R"("code":"NOT_FOUND")",
                         R"("failed":{"NOT_FOUND":1})", R"("ids":["eu-9"])"}),
            nullptr);
  // Three IDs, above list_ids: a digest of the sorted names.
  EXPECT_NE(Find(lines, {R"("method":"MintTokens")", R"("decision":"partial")",
                         R"("requested":3,"minted":2,"failed":{"PERMISSION_DENIED":1})",
                         R"("ids_count":3,"ids_sha256":")"}),
            nullptr);
  EXPECT_NE(Find(lines, {R"("event":"stream_open")", R"("method":"StreamTokens")"}), nullptr);
  EXPECT_NE(Find(lines, {R"("event":"stream_close")", R"("code":"OK")", R"("stream_batches":2)",
                         R"("stream_minted":2)"}),
            nullptr);
  EXPECT_NE(Find(lines, {R"("decision":"denied")", R"("cn":"stranger")", R"("rule":"")"}), nullptr);
  EXPECT_NE(Find(lines, {R"("method":"KeyAdmin.PutKeys")", R"("rule":"ops")", R"("entries":1)",
                         R"("added":1)", R"("ids":["eu-new"])"}),
            nullptr);
  EXPECT_NE(Find(lines, {R"("ids":["eu-new"])", R"("method":"MintToken")", R"("generation":2)"}),
            nullptr);
  EXPECT_THAT(lines.back(), HasSubstr(R"("event":"stop")"));
}

TEST_F(ObservabilityTest, RequiredAuditWithAnUnwritableSinkHandsOutNothing) {
  AuditOptions audit;
  audit.path = "/dev/full";
  audit.required = true;
  Start(audit);
  auto tokens = v1::TokenService::NewStub(Channel(gateway_));
  v1::MintTokenResponse one;
  const grpc::Status unary = tokens->MintToken(Context().get(), Device("eu-1"), &one);
  EXPECT_EQ(unary.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(unary.error_message(), HasSubstr("audit"));
  EXPECT_TRUE(one.token().empty());
  v1::MintTokensRequest batch;
  for (int i = 0; i < 300; ++i) *batch.add_requests() = Device(i % 2 ? "eu-1" : "eu-2");
  v1::MintTokensResponse batch_response;
  EXPECT_EQ(tokens->MintTokens(Context().get(), batch, &batch_response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(batch_response.results_size(), 0);
  auto context = Context();
  auto stream = tokens->StreamTokens(context.get());
  stream->Write(batch);
  v1::MintTokensResponse streamed;
  EXPECT_FALSE(stream->Read(&streamed));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  // KeyAdmin changes are not made unaudited.
  auto keys = v1::KeyAdmin::NewStub(Channel(ops_));
  const v1::PutKeysRequest put = PutCanary();
  v1::PutKeysResponse put_response;
  EXPECT_EQ(keys->PutKeys(Context().get(), put, &put_response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(tokens->MintToken(Context().get(), Device("eu-new"), &one).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  const std::string text = HttpGet(endpoint_->port(), "/metrics");
  EXPECT_THAT(
      text,
      HasSubstr("grpc_server_handled_total{grpc_service=\"sasmint.v1.TokenService\","
                "grpc_method=\"MintToken\",grpc_type=\"unary\",grpc_code=\"UNAVAILABLE\"} 2"));
  // Two unary calls, the batch, the stream's open line and the refused PutKeys.
  EXPECT_EQ(audit_->stats().refused, 5u);
  EXPECT_FALSE(audit_->stats().sink_up);
}

}  // namespace
}  // namespace sasmint
