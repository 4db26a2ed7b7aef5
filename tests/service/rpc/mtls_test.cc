// Mutual TLS and per-caller authorization end to end: a real server on loopback ports with
// certificates made at test time, called through real TLS channels.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/channel.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/admin/key_admin.h"
#include "service/config/config.h"
#include "service/keystore/export_loader.h"
#include "service/rpc/server.h"
#include "service/rpc/tls.h"
#include "signer/encoding.h"
#include "tests/testing/secret_volume.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_certificate.h"
#include "tests/testing/test_identities.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::TestIdentity;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHub[] = "eu.azure-devices.net";
constexpr const char* kKey = testing::kTestKey;
constexpr int64_t kNow = 1700000000;

std::string ExportLine(absl::string_view device, absl::string_view module = "") {
  return testing::ExportLine(device, module, kKey);
}

class MtlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    ca_ = testing::MakeTestCa("sasmint test CA");
    const TestIdentity server = testing::IssueCertificate(
        ca_, "sasmint.test", {"DNS:sasmint.test", "DNS:localhost", "IP:127.0.0.1"});
    Write("ca.crt", ca_.cert_pem);
    Write("server.crt", server.cert_pem);
    Write("server.key", server.key_pem);
    gateway_ = testing::IssueCertificate(ca_, "gw-eu-1");
    ops_ = testing::IssueCertificate(ca_, "ops");
    stranger_ = testing::IssueCertificate(ca_, "stranger");
    mesh_ = testing::IssueCertificate(ca_, "", {"URI:spiffe://example.org/ns/iot/sa/mesh"});

    auto config = ParseConfig(R"({
      "tls": {"cert_file": "server.crt", "key_file": "server.key", "client_ca_file": "ca.crt"},
      "callers": [
        {"name": "gateway-eu", "match": {"common_name": "gw-eu-1"},
         "allow": [{"hub": "eu.azure-devices.net", "devices": ["eu-*"], "modules": true}]},
        {"name": "mesh", "match": {"spiffe": "spiffe://example.org/ns/iot/sa/mesh"},
         "allow": [{"hub": "eu.azure-devices.net", "devices": ["us-1"]}]},
        {"name": "ops", "match": {"common_name": "ops"}, "admin": true}]})",
                              "test", dir_);
    ASSERT_THAT(config, IsOk());
    ServerOptions options = config->server;
    options.listen_address = "127.0.0.1:0";
    options.health_listen_address = "127.0.0.1:0";
    admin_ = std::make_unique<KeyAdmin>(&store_, &clock_, KeyAdminOptions{});
    auto started = Server::Start(options, &store_, &clock_, admin_.get());
    ASSERT_THAT(started, IsOk());
    server_ = *std::move(started);
    ASSERT_GT(server_->health_port(), 0);
    target_ = absl::StrCat("127.0.0.1:", server_->port());
  }

  void LoadKeys() {
    auto table = std::make_shared<IdentityTable>();
    ASSERT_THAT(LoadExportText(ExportLine("eu-1") + ExportLine("eu-1", "m") + ExportLine("eu-2") +
                                   ExportLine("us-1"),
                               "test", kHub, table.get()),
                IsOk());
    ASSERT_THAT(admin_->Start(std::move(table)), IsOk());
    server_->SetServing(true);
  }

  void Write(const std::string& name, const std::string& text) {
    testing::WriteFile(absl::StrCat(dir_, "/", name), text);
  }

  // Channel returns a TLS channel presenting `client` (none if null).
  std::shared_ptr<grpc::Channel> Channel(const TestIdentity* client,
                                         absl::string_view ca_file = "ca.crt") {
    ClientTlsOptions tls;
    tls.ca_file = absl::StrCat(dir_, "/", ca_file);
    if (client != nullptr) {
      const std::string name = absl::StrCat("client", ++clients_);
      Write(name + ".crt", client->cert_pem);
      Write(name + ".key", client->key_pem);
      tls.cert_file = absl::StrCat(dir_, "/", name, ".crt");
      tls.key_file = absl::StrCat(dir_, "/", name, ".key");
    }
    tls.server_name = "sasmint.test";
    auto channel = MakeClientChannel(target_, tls);
    EXPECT_THAT(channel, IsOk());
    return channel.value_or(nullptr);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  static v1::MintTokenRequest Device(absl::string_view device, absl::string_view module = "") {
    v1::MintTokenRequest r;
    r.mutable_identity()->set_hub(kHub);
    r.mutable_identity()->set_device_id(std::string(device));
    r.mutable_identity()->set_module_id(std::string(module));
    return r;
  }

  static grpc::Status Mint(const std::shared_ptr<grpc::Channel>& channel, absl::string_view device,
                           v1::MintTokenResponse* response, absl::string_view module = "") {
    return v1::TokenService::NewStub(channel)->MintToken(Context().get(), Device(device, module),
                                                         response);
  }

  static std::string Expected(const TokenScope& scope, int64_t expiry) {
    auto key = DecodeBase64Key(kKey);
    return BuildToken(scope, HmacKey::FromSecret(*key), expiry).value_or("");
  }

  std::string dir_;
  TestIdentity ca_, gateway_, ops_, stranger_, mesh_;
  int clients_ = 0;
  FakeClock clock_{absl::FromUnixSeconds(kNow)};
  KeyStore store_;
  std::unique_ptr<KeyAdmin> admin_;
  std::unique_ptr<Server> server_;
  std::string target_;
};

TEST_F(MtlsTest, ClientsWithoutAVerifiedCertificateFailTheHandshake) {
  LoadKeys();
  v1::MintTokenResponse response;
  // No certificate: the server requires one.
  auto none = Channel(nullptr);
  EXPECT_EQ(Mint(none, "eu-1", &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  // A certificate from another CA.
  const TestIdentity other_ca = testing::MakeTestCa("other CA");
  const TestIdentity forged = testing::IssueCertificate(other_ca, "gw-eu-1");
  auto wrong = Channel(&forged);
  EXPECT_EQ(Mint(wrong, "eu-1", &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  // Plaintext to the TLS port.
  auto plain = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
  EXPECT_EQ(Mint(plain, "eu-1", &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  // The client also checks the server: a CA that did not sign the server's certificate.
  Write("other-ca.crt", other_ca.cert_pem);
  auto untrusted = Channel(&gateway_, "other-ca.crt");
  EXPECT_EQ(Mint(untrusted, "eu-1", &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  // And the right certificate works on the same server.
  auto good = Channel(&gateway_);
  EXPECT_TRUE(Mint(good, "eu-1", &response).ok());
}

TEST_F(MtlsTest, UnknownCallerIsDeniedEveryCall) {
  LoadKeys();
  auto channel = Channel(&stranger_);
  auto stub = v1::TokenService::NewStub(channel);
  v1::MintTokenResponse one;
  const grpc::Status s = Mint(channel, "eu-1", &one);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("CN=stranger matches no rule"));
  v1::MintTokensRequest batch;
  *batch.add_requests() = Device("eu-1");
  v1::MintTokensResponse batch_response;
  EXPECT_EQ(stub->MintTokens(Context().get(), batch, &batch_response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(batch_response.results_size(), 0);
  auto context = Context();
  auto stream = stub->StreamTokens(context.get());
  stream->Write(batch);
  v1::MintTokensResponse streamed;
  EXPECT_FALSE(stream->Read(&streamed));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::VerifyTokenRequest verify;
  verify.set_token(Expected(TokenScope::Device(kHub, "eu-1"), kNow + 600));
  v1::VerifyTokenResponse verified;
  EXPECT_EQ(stub->VerifyToken(Context().get(), verify, &verified).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto keys = v1::KeyAdmin::NewStub(channel);
  v1::ListKeysResponse listed;
  EXPECT_EQ(keys->ListKeys(Context().get(), v1::ListKeysRequest(), &listed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(MtlsTest, AllowedIdentitiesMintAndOthersCannotProbe) {
  LoadKeys();
  auto channel = Channel(&gateway_);
  v1::MintTokenResponse response;
  grpc::Status s = Mint(channel, "eu-1", &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.token(), Expected(TokenScope::Device(kHub, "eu-1"), kNow + 3600));
  s = Mint(channel, "eu-1", &response, "m");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.token(), Expected(TokenScope::Module(kHub, "eu-1", "m"), kNow + 3600));
  // Allowed but absent: the caller may learn that (it may mint for it).
  EXPECT_EQ(Mint(channel, "eu-404", &response).error_code(), grpc::StatusCode::NOT_FOUND);

  // Not allowed: the same answer whether or not the device exists.
  const grpc::Status existing = Mint(channel, "us-1", &response);
  const grpc::Status absent = Mint(channel, "us-404", &response);
  EXPECT_EQ(existing.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(absent.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(existing.error_message(), absl::StrReplaceAll(absent.error_message(), {{"404", "1"}}));
  EXPECT_THAT(existing.error_message(),
              HasSubstr("caller 'gateway-eu' may not mint for device 'us-1' of hub '"));
  // Another hub: same.
  v1::MintTokenRequest other_hub = Device("eu-1");
  other_hub.mutable_identity()->set_hub("us.azure-devices.net");
  EXPECT_EQ(v1::TokenService::NewStub(channel)
                ->MintToken(Context().get(), other_hub, &response)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // A SPIFFE caller gets its own grant, and not the gateway's.
  auto mesh = Channel(&mesh_);
  EXPECT_TRUE(Mint(mesh, "us-1", &response).ok());
  EXPECT_EQ(Mint(mesh, "eu-1", &response).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(MtlsTest, BatchAndStreamItemsFailAlone) {
  LoadKeys();
  auto channel = Channel(&gateway_);
  auto stub = v1::TokenService::NewStub(channel);
  v1::MintTokensRequest batch;
  batch.set_batch_id(5);
  for (const char* device : {"eu-1", "us-1", "eu-2", "us-404", "eu-404"}) {
    *batch.add_requests() = Device(device);
  }
  batch.add_requests()->mutable_policy()->set_hub(kHub);  // no policy grant
  batch.mutable_requests(5)->mutable_policy()->set_policy("iothubowner");
  batch.add_requests()->mutable_registration()->set_id_scope("0ne000A1B2C");
  batch.mutable_requests(6)->mutable_registration()->set_registration_id("eu-1");
  const auto check = [&](const v1::MintTokensResponse& r) {
    ASSERT_EQ(r.results_size(), 7);
    EXPECT_EQ(r.batch_id(), 5u);
    EXPECT_EQ(r.results(0).token().token(),
              Expected(TokenScope::Device(kHub, "eu-1"), kNow + 3600));
    EXPECT_EQ(r.results(2).token().token(),
              Expected(TokenScope::Device(kHub, "eu-2"), kNow + 3600));
    for (int i : {1, 3, 5, 6}) {
      SCOPED_TRACE(i);
      ASSERT_TRUE(r.results(i).has_error());
      EXPECT_EQ(r.results(i).error().code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
    }
    EXPECT_EQ(r.results(1).error().message(),
              absl::StrReplaceAll(r.results(3).error().message(), {{"404", "1"}}));
    EXPECT_EQ(r.results(4).error().code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  };
  v1::MintTokensResponse response;
  const grpc::Status s = stub->MintTokens(Context().get(), batch, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  check(response);

  auto context = Context();
  auto stream = stub->StreamTokens(context.get());
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(stream->Write(batch));
    v1::MintTokensResponse streamed;
    ASSERT_TRUE(stream->Read(&streamed));
    check(streamed);
  }
  stream->WritesDone();
  const grpc::Status finished = stream->Finish();
  EXPECT_TRUE(finished.ok()) << finished.error_message();
}

TEST_F(MtlsTest, VerifyTokenIsAuthorizedLikeMinting) {
  LoadKeys();
  auto stub = v1::TokenService::NewStub(Channel(&gateway_));
  v1::VerifyTokenRequest own;
  own.set_token(Expected(TokenScope::Device(kHub, "eu-1"), kNow + 600));
  v1::VerifyTokenResponse response;
  grpc::Status s = stub->VerifyToken(Context().get(), own, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.verdict(), "VALID");

  for (const char* device : {"us-1", "us-404"}) {
    v1::VerifyTokenRequest foreign;
    foreign.set_token(Expected(TokenScope::Device(kHub, device), kNow + 600));
    v1::VerifyTokenResponse denied;
    s = stub->VerifyToken(Context().get(), foreign, &denied);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << device;
    EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat("device '", device, "'")));
    EXPECT_EQ(denied.verdict(), "");
  }
  const TestIdentity cert = testing::IssueCertificate(ca_, "us-1");
  v1::VerifyTokenRequest cert_check;
  cert_check.set_certificate_pem(cert.cert_pem);
  cert_check.mutable_identity()->set_hub(kHub);
  cert_check.mutable_identity()->set_device_id("us-1");
  EXPECT_EQ(stub->VerifyToken(Context().get(), cert_check, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(MtlsTest, KeyAdminNeedsAnAdminCaller) {
  LoadKeys();
  v1::PutKeysRequest put;
  v1::KeyEntry* e = put.add_entries();
  e->mutable_identity()->set_hub(kHub);
  e->mutable_identity()->set_device_id("eu-9");
  e->set_primary_key(kKey);
  v1::PutKeysResponse put_response;
  v1::ListKeysResponse listed;
  v1::ListKeysRequest list;
  list.set_hub(kHub);

  auto gateway = v1::KeyAdmin::NewStub(Channel(&gateway_));
  const grpc::Status denied = gateway->PutKeys(Context().get(), put, &put_response);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denied.error_message(), HasSubstr("admin: true"));
  EXPECT_EQ(gateway->ListKeys(Context().get(), list, &listed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::DeleteKeysRequest del;
  *del.add_identities() = Device("eu-1").identity();
  v1::DeleteKeysResponse deleted;
  EXPECT_EQ(gateway->DeleteKeys(Context().get(), del, &deleted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  auto ops = v1::KeyAdmin::NewStub(Channel(&ops_));
  grpc::Status s = ops->PutKeys(Context().get(), put, &put_response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(put_response.added(), 1u);
  s = ops->ListKeys(Context().get(), list, &listed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(listed.keys_size(), 5);
  // The admin may not mint: minting is granted by allow lists only.
  v1::MintTokenResponse minted;
  auto ops_channel = Channel(&ops_);
  EXPECT_EQ(Mint(ops_channel, "eu-9", &minted).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // The key the admin put is minted for the gateway.
  auto gateway_channel = Channel(&gateway_);
  EXPECT_TRUE(Mint(gateway_channel, "eu-9", &minted).ok());
}

TEST_F(MtlsTest, PlaintextHealthPortFollowsServingWhileMainPortNeedsCertificates) {
  auto health_channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->health_port()),
                                            grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(health_channel);
  const auto check = [&](const std::string& service) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status s = health->Check(Context().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.status();
  };
  // Readiness waits for keys; liveness is SERVING from the start (a pod loading 10M identities
  // must not be restarted for it).
  EXPECT_EQ(check(""), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(check("sasmint.v1.TokenService"), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(check("liveness"), grpc::health::v1::HealthCheckResponse::SERVING);
  LoadKeys();
  EXPECT_EQ(check(""), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(check("sasmint.v1.TokenService"), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(check("liveness"), grpc::health::v1::HealthCheckResponse::SERVING);
  // Draining: readiness goes first, so endpoints drop the pod; liveness stays.
  server_->SetServing(false);
  EXPECT_EQ(check("sasmint.v1.TokenService"), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(check("liveness"), grpc::health::v1::HealthCheckResponse::SERVING);
  server_->SetServing(true);
  // Health only: no TokenService on the plaintext port.
  v1::MintTokenResponse response;
  EXPECT_EQ(Mint(health_channel, "eu-1", &response).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  // The main port still refuses a plaintext probe.
  auto plain = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
  auto main_health = grpc::health::v1::Health::NewStub(plain);
  grpc::health::v1::HealthCheckResponse ignored;
  EXPECT_EQ(main_health->Check(Context().get(), grpc::health::v1::HealthCheckRequest(), &ignored)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// The server's certificate and client CA come from a kubelet-style Secret volume (as
// cert-manager's Secret is mounted); a renewal, a CA rotation and a broken update are published
// the way the kubelet does, while the server runs.
TEST(TlsReloadTest, RenewedCertificateAndClientCaAreServedWithoutARestart) {
  const std::string dir = testing::MakeTempDir();
  const std::string mount = dir + "/tls";
  ASSERT_EQ(mkdir(mount.c_str(), 0755), 0);
  testing::FakeSecretVolume volume(mount);
  const TestIdentity old_ca = testing::MakeTestCa("old CA");
  const TestIdentity new_ca = testing::MakeTestCa("new CA");
  const std::vector<std::string> sans = {"DNS:sasmint.test"};
  const TestIdentity old_server = testing::IssueCertificate(old_ca, "sasmint.test", sans);
  const TestIdentity new_server = testing::IssueCertificate(new_ca, "sasmint.test", sans);
  const TestIdentity old_client = testing::IssueCertificate(old_ca, "gw");
  const TestIdentity new_client = testing::IssueCertificate(new_ca, "gw");
  volume.Update({{"tls.crt", old_server.cert_pem},
                 {"tls.key", old_server.key_pem},
                 {"ca.crt", old_ca.cert_pem}});
  for (const auto& [name, pem] :
       {std::pair<std::string, std::string>{"old-ca.crt", old_ca.cert_pem},
        {"new-ca.crt", new_ca.cert_pem},
        {"old.crt", old_client.cert_pem},
        {"old.key", old_client.key_pem},
        {"new.crt", new_client.cert_pem},
        {"new.key", new_client.key_pem}}) {
    testing::WriteFile(dir + "/" + name, pem);
  }

  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.tls = {mount + "/tls.crt", mount + "/tls.key", mount + "/ca.crt", std::nullopt};
  options.tls.reload_interval_seconds = 1;
  options.health_listen_address = "127.0.0.1:0";
  KeyStore store;
  FakeClock clock{absl::FromUnixSeconds(kNow)};
  KeyAdmin admin(&store, &clock, KeyAdminOptions{});
  auto table = std::make_shared<IdentityTable>();
  ASSERT_THAT(LoadExportText(ExportLine("eu-1"), "test", kHub, table.get()), IsOk());
  ASSERT_THAT(admin.Start(std::move(table)), IsOk());
  auto server = Server::Start(options, &store, &clock, &admin);
  ASSERT_THAT(server, IsOk());
  (*server)->SetServing(true);
  const std::string target = absl::StrCat("127.0.0.1:", (*server)->port());

  // A fresh channel each time: a handshake happens per connection, and only new handshakes see
  // new credentials.
  const auto mint = [&](const std::string& ca, const std::string& client) {
    ClientTlsOptions tls;
    tls.ca_file = dir + "/" + ca;
    tls.cert_file = dir + "/" + client + ".crt";
    tls.key_file = dir + "/" + client + ".key";
    tls.server_name = "sasmint.test";
    auto channel = MakeClientChannel(target, tls);
    EXPECT_THAT(channel, IsOk());
    v1::MintTokenResponse response;
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    v1::MintTokenRequest request;
    request.mutable_identity()->set_hub(kHub);
    request.mutable_identity()->set_device_id("eu-1");
    return v1::TokenService::NewStub(*channel)->MintToken(context.get(), request, &response).ok();
  };
  const auto eventually = [&](const std::string& ca, const std::string& client) {
    for (const absl::Time end = absl::Now() + absl::Seconds(10); absl::Now() < end;) {
      if (mint(ca, client)) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  };
  ASSERT_TRUE(mint("old-ca.crt", "old"));
  EXPECT_FALSE(mint("new-ca.crt", "new"));

  // Both rotated at once: the new server certificate and the new client CA.
  volume.Update({{"tls.crt", new_server.cert_pem},
                 {"tls.key", new_server.key_pem},
                 {"ca.crt", new_ca.cert_pem}});
  EXPECT_TRUE(eventually("new-ca.crt", "new"));
  EXPECT_FALSE(mint("old-ca.crt", "old"));  // neither the old server chain nor the old client CA

  // A broken update (the key of another certificate) breaks handshakes (gRPC takes it), so
  // readiness reports it until the files are fixed; liveness does not (a restart would not help).
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*server)->health_port()), grpc::InsecureChannelCredentials()));
  const auto status = [&](const std::string& service) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    EXPECT_TRUE(health->Check(&context, request, &response).ok());
    return response.status();
  };
  const auto readiness_becomes = [&](grpc::health::v1::HealthCheckResponse::ServingStatus want) {
    for (const absl::Time end = absl::Now() + absl::Seconds(10); absl::Now() < end;) {
      if (status("sasmint.v1.TokenService") == want) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  };
  EXPECT_EQ(status("sasmint.v1.TokenService"), grpc::health::v1::HealthCheckResponse::SERVING);
  volume.Update({{"tls.crt", old_server.cert_pem},
                 {"tls.key", new_server.key_pem},
                 {"ca.crt", new_ca.cert_pem}});
  EXPECT_TRUE(readiness_becomes(grpc::health::v1::HealthCheckResponse::NOT_SERVING));
  EXPECT_EQ(status(""), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(status("liveness"), grpc::health::v1::HealthCheckResponse::SERVING);
  volume.Update({{"tls.crt", new_server.cert_pem},
                 {"tls.key", new_server.key_pem},
                 {"ca.crt", new_ca.cert_pem}});
  EXPECT_TRUE(readiness_becomes(grpc::health::v1::HealthCheckResponse::SERVING));
  EXPECT_TRUE(eventually("new-ca.crt", "new"));
  // Keys unloaded (draining) keeps readiness off whatever TLS says.
  (*server)->SetServing(false);
  EXPECT_EQ(status("sasmint.v1.TokenService"), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  (*server)->Shutdown(absl::ZeroDuration(), absl::ZeroDuration());
}

// A server certificate that has expired (at the server's clock) starts, but is never ready:
// clients would refuse every handshake.
TEST(TlsReloadTest, ExpiredCertificateAtStartIsNotReady) {
  const std::string dir = testing::MakeTempDir();
  const TestIdentity ca = testing::MakeTestCa("CA");
  const TestIdentity server_id = testing::IssueCertificate(ca, "sasmint.test");  // a day
  testing::WriteFile(dir + "/tls.crt", server_id.cert_pem);
  testing::WriteFile(dir + "/tls.key", server_id.key_pem);
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.health_listen_address = "127.0.0.1:0";
  options.tls = {dir + "/tls.crt", dir + "/tls.key", "", std::nullopt};
  KeyStore store;
  FakeClock clock{absl::Now() + absl::Hours(48)};
  auto server = Server::Start(options, &store, &clock);
  ASSERT_THAT(server, IsOk());
  (*server)->SetServing(true);
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*server)->health_port()), grpc::InsecureChannelCredentials()));
  for (const std::string service : {"sasmint.v1.TokenService", "liveness"}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(), service == "liveness"
                                     ? grpc::health::v1::HealthCheckResponse::SERVING
                                     : grpc::health::v1::HealthCheckResponse::NOT_SERVING)
        << service;
  }
  EXPECT_THAT(CheckTlsMaterial(options.tls, clock.Now()).message(), HasSubstr("expired at"));
  EXPECT_THAT(CheckTlsMaterial(options.tls, absl::Now()), IsOk());
}

TEST(TlsOptionsTest, BadMaterialIsRefusedAtStartWithTheFileName) {
  const std::string dir = testing::MakeTempDir();
  const TestIdentity ca = testing::MakeTestCa("ca");
  const TestIdentity a = testing::IssueCertificate(ca, "a");
  const TestIdentity b = testing::IssueCertificate(ca, "b");
  testing::WriteFile(dir + "/a.crt", a.cert_pem);
  testing::WriteFile(dir + "/b.key", b.key_pem);
  testing::WriteFile(dir + "/junk", "not a certificate");
  TlsOptions mismatched{dir + "/a.crt", dir + "/b.key", "", std::nullopt};
  absl::Status s = MakeServerCredentials(mismatched).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("does not hold the key of certificate"));
  EXPECT_THAT(s.message(), Not(HasSubstr("PRIVATE KEY")));
  TlsOptions missing{dir + "/nope.crt", dir + "/b.key", "", std::nullopt};
  EXPECT_EQ(MakeServerCredentials(missing).status().code(), absl::StatusCode::kNotFound);
  TlsOptions junk_cert{dir + "/junk", dir + "/b.key", "", std::nullopt};
  EXPECT_THAT(MakeServerCredentials(junk_cert).status().message(),
              HasSubstr("holds no PEM certificate"));
  TlsOptions junk_key{dir + "/a.crt", dir + "/junk", "", std::nullopt};
  EXPECT_THAT(MakeServerCredentials(junk_key).status().message(),
              HasSubstr("holds no PEM private key"));
}

}  // namespace
}  // namespace sasmint
