// Integration tests: a real server on a loopback port, called through a real channel.
#include "service/rpc/token_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"
#include "gtest/gtest.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/keystore/export_loader.h"
#include "service/rpc/server.h"
#include "service/verify/certificate.h"
#include "signer/encoding.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certificate.h"
#include "tests/testing/test_identities.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr char kHub[] = "hub.azure-devices.net";
constexpr const char* kKey = testing::kTestKey;
constexpr int64_t kNow = 1700000000;

class TokenServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    auto server = Server::Start(options, &store_, &clock_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::TokenService::NewStub(channel_);
  }

  void LoadKeys() {
    std::string text;
    for (int i = 0; i < 10; ++i) text += testing::ExportLine(absl::StrCat("dev", i));
    text += testing::ExportLine("dev0", "mod");
    text += testing::ExportLine("off", "", kKey, "", "disabled");
    auto table = std::make_shared<IdentityTable>();
    ASSERT_THAT(LoadExportText(text, "test", kHub, table.get()), IsOk());
    store_.Publish(std::move(table));
    server_->SetServing(true);
  }

  static std::string Expected(const TokenScope& scope, int64_t expiry) {
    auto key = DecodeBase64Key(kKey);
    auto token = BuildToken(scope, HmacKey::FromSecret(*key), expiry);
    EXPECT_THAT(token, IsOk());
    return token.value_or("");
  }

  static v1::MintTokenRequest DeviceRequest(absl::string_view device,
                                            absl::string_view module = "") {
    v1::MintTokenRequest r;
    r.mutable_identity()->set_hub(kHub);
    r.mutable_identity()->set_device_id(std::string(device));
    r.mutable_identity()->set_module_id(std::string(module));
    return r;
  }

  grpc::Status Mint(const v1::MintTokenRequest& request, v1::MintTokenResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->MintToken(&context, request, response);
  }

  grpc::Status MintBatch(const v1::MintTokensRequest& request, v1::MintTokensResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->MintTokens(&context, request, response);
  }

  grpc::health::v1::HealthCheckResponse::ServingStatus Health(const std::string& service) {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status s = health->Check(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.status();
  }

  FakeClock clock_{absl::FromUnixSeconds(kNow)};
  KeyStore store_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
};

TEST_F(TokenServiceTest, MintedTokenEqualsSignerTokenByteForByte) {
  LoadKeys();
  v1::MintTokenResponse response;
  v1::MintTokenRequest request = DeviceRequest("dev3");
  request.set_ttl_seconds(900);
  const grpc::Status s = Mint(request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.server_time(), kNow);
  EXPECT_EQ(response.expires_at(), kNow + 900);
  EXPECT_EQ(response.token(), Expected(TokenScope::Device(kHub, "dev3"), kNow + 900));
  EXPECT_GE(response.renew_after(), kNow + 630);
  EXPECT_LE(response.renew_after(), kNow + 765);
  EXPECT_EQ(response.key_slot(), v1::KEY_SLOT_PRIMARY);

  v1::MintTokenResponse module;
  ASSERT_TRUE(Mint(DeviceRequest("dev0", "mod"), &module).ok());
  EXPECT_EQ(module.token(), Expected(TokenScope::Module(kHub, "dev0", "mod"), kNow + 3600));
}

TEST_F(TokenServiceTest, StatusCodes) {
  LoadKeys();
  v1::MintTokenResponse response;
  EXPECT_EQ(Mint(DeviceRequest("ghost"), &response).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::MintTokenRequest other_hub = DeviceRequest("dev1");
  other_hub.mutable_identity()->set_hub("elsewhere.azure-devices.net");
  EXPECT_EQ(Mint(other_hub, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Mint(DeviceRequest("off"), &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  const grpc::Status no_scope = Mint(v1::MintTokenRequest(), &response);
  EXPECT_EQ(no_scope.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(no_scope.error_message(), HasSubstr("no scope"));
  EXPECT_EQ(Mint(DeviceRequest("bad/id"), &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::MintTokenRequest bad_slot = DeviceRequest("dev1");
  bad_slot.set_key_slot(static_cast<v1::KeySlot>(42));
  EXPECT_EQ(Mint(bad_slot, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::MintTokenRequest secondary = DeviceRequest("dev1");
  secondary.set_key_slot(v1::KEY_SLOT_SECONDARY);
  EXPECT_EQ(Mint(secondary, &response).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(TokenServiceTest, UnavailableAndNotServingUntilKeysAreLoaded) {
  v1::MintTokenResponse response;
  EXPECT_EQ(Mint(DeviceRequest("dev1"), &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Health(""), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Health("sasmint.v1.TokenService"), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  LoadKeys();
  EXPECT_EQ(Health(""), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(Health("sasmint.v1.TokenService"), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(Mint(DeviceRequest("dev1"), &response).ok());
}

TEST_F(TokenServiceTest, BatchOfThousandWithBadItemsKeepsOrder) {
  LoadKeys();
  v1::MintTokensRequest request;
  request.set_batch_id(77);
  for (int i = 0; i < 1000; ++i) {
    if (i % 100 == 7) {
      *request.add_requests() = DeviceRequest("ghost");
    } else if (i % 100 == 13) {
      request.add_requests();  // no scope
    } else if (i % 100 == 42) {
      *request.add_requests() = DeviceRequest("off");
    } else {
      *request.add_requests() = DeviceRequest(absl::StrCat("dev", i % 10));
    }
  }
  v1::MintTokensResponse response;
  const grpc::Status s = MintBatch(request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.batch_id(), 77u);
  ASSERT_EQ(response.results_size(), 1000);
  for (int i = 0; i < 1000; ++i) {
    SCOPED_TRACE(i);
    const v1::MintResult& r = response.results(i);
    if (i % 100 == 7) {
      ASSERT_TRUE(r.has_error());
      EXPECT_EQ(r.error().code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
      EXPECT_THAT(r.error().message(), HasSubstr("ghost"));
    } else if (i % 100 == 13) {
      ASSERT_TRUE(r.has_error());
      EXPECT_EQ(r.error().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    } else if (i % 100 == 42) {
      ASSERT_TRUE(r.has_error());
      EXPECT_EQ(r.error().code(), static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
    } else {
      ASSERT_TRUE(r.has_token());
      EXPECT_EQ(r.token().token(),
                Expected(TokenScope::Device(kHub, absl::StrCat("dev", i % 10)), kNow + 3600));
    }
  }
}

TEST_F(TokenServiceTest, OversizedBatchFailsWhole) {
  LoadKeys();
  v1::MintTokensRequest request;
  for (int i = 0; i < 10001; ++i) *request.add_requests() = DeviceRequest("dev1");
  v1::MintTokensResponse response;
  const grpc::Status s = MintBatch(request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("exceeds the maximum of 10000"));
  request.mutable_requests()->RemoveLast();
  EXPECT_TRUE(MintBatch(request, &response).ok());
  EXPECT_EQ(response.results_size(), 10000);
}

TEST_F(TokenServiceTest, EmptyBatchIsAnswered) {
  LoadKeys();
  v1::MintTokensResponse response;
  EXPECT_TRUE(MintBatch(v1::MintTokensRequest(), &response).ok());
  EXPECT_EQ(response.results_size(), 0);
}

TEST_F(TokenServiceTest, StreamCarriesHundredThousandTokensInOrder) {
  LoadKeys();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = stub_->StreamTokens(&context);
  constexpr int kBatches = 100, kPerBatch = 1000;
  // The writer runs beside the reader: the server answers while later batches are in flight.
  std::thread writer([&] {
    for (int b = 0; b < kBatches; ++b) {
      v1::MintTokensRequest request;
      request.set_batch_id(1000 + b);
      for (int i = 0; i < kPerBatch; ++i) {
        *request.add_requests() = DeviceRequest(absl::StrCat("dev", (b + i) % 10));
      }
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  const std::string expected0 = Expected(TokenScope::Device(kHub, "dev0"), kNow + 3600);
  int batches = 0;
  int64_t tokens = 0;
  v1::MintTokensResponse response;
  while (stream->Read(&response)) {
    ASSERT_EQ(response.batch_id(), 1000u + batches);
    ASSERT_EQ(response.results_size(), kPerBatch);
    for (int i = 0; i < kPerBatch; ++i) {
      ASSERT_TRUE(response.results(i).has_token());
      if ((batches + i) % 10 == 0) {
        ASSERT_EQ(response.results(i).token().token(), expected0);
      }
      ++tokens;
    }
    ++batches;
  }
  writer.join();
  const grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(batches, kBatches);
  EXPECT_EQ(tokens, 100000);
}

TEST_F(TokenServiceTest, StreamEndsWithInvalidArgumentOnOversizedBatch) {
  LoadKeys();
  grpc::ClientContext context;
  auto stream = stub_->StreamTokens(&context);
  v1::MintTokensRequest good;
  good.set_batch_id(1);
  *good.add_requests() = DeviceRequest("dev1");
  ASSERT_TRUE(stream->Write(good));
  v1::MintTokensResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.batch_id(), 1u);
  v1::MintTokensRequest big;
  for (int i = 0; i < 10001; ++i) *big.add_requests() = DeviceRequest("dev1");
  stream->Write(big);
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("exceeds the maximum"));
}

TEST_F(TokenServiceTest, StreamCancelledMidwayLeavesTheServerServing) {
  LoadKeys();
  for (int round = 0; round < 20; ++round) {
    grpc::ClientContext context;
    auto stream = stub_->StreamTokens(&context);
    v1::MintTokensRequest request;
    for (int i = 0; i < 500; ++i) *request.add_requests() = DeviceRequest("dev2");
    for (int b = 0; b < 5; ++b) {
      request.set_batch_id(b);
      if (!stream->Write(request)) break;
    }
    v1::MintTokensResponse response;
    if (round % 2 == 0) {
      ASSERT_TRUE(stream->Read(&response));
    }
    context.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  v1::MintTokenResponse response;
  EXPECT_TRUE(Mint(DeviceRequest("dev2"), &response).ok());
}

TEST_F(TokenServiceTest, StreamDeadlineExceeded) {
  LoadKeys();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  auto stream = stub_->StreamTokens(&context);
  v1::MintTokensRequest request;
  *request.add_requests() = DeviceRequest("dev1");
  ASSERT_TRUE(stream->Write(request));
  v1::MintTokensResponse response;
  ASSERT_TRUE(stream->Read(&response));
  // The client keeps the stream open past its deadline.
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(TokenServiceTest, NotYetImplementedMethodsSayUnimplemented) {
  LoadKeys();
  auto admin = v1::KeyAdmin::NewStub(channel_);
  grpc::ClientContext admin_context;
  v1::ListKeysResponse list;
  EXPECT_EQ(admin->ListKeys(&admin_context, v1::ListKeysRequest(), &list).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

// --- VerifyToken
// ----------------------------------------------------------------------------------

class VerifyTokenTest : public TokenServiceTest {
 protected:
  static constexpr const char* kOtherKey = testing::kTestKey2;

  // LoadKeySource publishes dev1 (kKey), the disabled "off", the X.509 device "cam" with the
  // given thumbprint, and a registryRead policy (kOtherKey).
  void LoadKeySource(absl::string_view cam_thumbprint = "00") {
    auto table = std::make_shared<IdentityTable>();
    ASSERT_THAT(table->AddHub(kHub, HubSettings{}), IsOk());
    const std::string text = absl::StrCat(
        R"({"id":"dev1","authentication":{"symmetricKey":{"primaryKey":")", kKey, R"("}}})", "\n",
        R"({"id":"off","status":"disabled","authentication":{"symmetricKey":{"primaryKey":")", kKey,
        R"("}}})", "\n", R"({"id":"cam","authentication":{"type":"selfSigned","x509Thumbprint":{)",
        R"("primaryThumbprint":")", cam_thumbprint, R"(","secondaryThumbprint":null}}})", "\n");
    ASSERT_THAT(LoadExportText(text, "devices.json", kHub, table.get()), IsOk());
    auto key = DecodeBase64Key(kOtherKey);
    ASSERT_THAT(key, IsOk());
    StoredKey stored{HmacKey::FromSecret(*key), {}};
    stored.fingerprint = stored.hmac.Fingerprint();
    ASSERT_THAT(table->AddPolicy(
                    kHub, PolicyEntry{"registryRead", kRegistryRead, stored, std::nullopt, "test"}),
                IsOk());
    store_.Publish(std::move(table));
    server_->SetServing(true);
  }

  // Token signs any expiry, even those BuildToken refuses.
  static std::string Token(const TokenScope& scope, const char* key, int64_t expiry) {
    auto secret = DecodeBase64Key(key);
    EXPECT_THAT(secret, IsOk());
    const std::string sr = EncodedResource(scope);
    const std::string sts = StringToSign(sr, expiry);
    const Mac mac = HmacKey::FromSecret(*secret).Sign(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(sts.data()), sts.size()));
    return FormatToken(sr, mac, expiry, KeyName(scope));
  }

  grpc::Status Verify(const v1::VerifyTokenRequest& request, v1::VerifyTokenResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->VerifyToken(&context, request, response);
  }

  v1::VerifyTokenResponse VerifyOk(absl::string_view token,
                                   v1::Right right = v1::RIGHT_UNSPECIFIED) {
    v1::VerifyTokenRequest request;
    request.set_token(std::string(token));
    request.set_right(right);
    v1::VerifyTokenResponse response;
    const grpc::Status s = Verify(request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }
};

TEST_F(VerifyTokenTest, OneTokenPerVerdictAgainstTheServersKeys) {
  LoadKeySource();
  struct Case {
    std::string token;
    v1::Right right;
    std::string verdict;
    std::string message;
  };
  const std::string good = Token(TokenScope::Device(kHub, "dev1"), kKey, kNow + 600);
  const std::vector<Case> cases = {
      {good, v1::RIGHT_UNSPECIFIED, "VALID", "matches the primary key of device 'dev1'"},
      {"SharedAccessSignature sr=x", v1::RIGHT_UNSPECIFIED, "MALFORMED", "no sig field"},
      {Token(TokenScope::Device(kHub, "dev1"), kKey, kNow - 301), v1::RIGHT_UNSPECIFIED, "EXPIRED",
       "The specified SAS token is expired"},
      {Token(TokenScope::Device(kHub, "dev1"), kOtherKey, kNow + 600), v1::RIGHT_UNSPECIFIED,
       "SIGNATURE_MISMATCH", "does not match either the primary or secondary key"},
      {Token(TokenScope::Device("other.azure-devices.net", "dev1"), kKey, kNow + 600),
       v1::RIGHT_UNSPECIFIED, "UNKNOWN_HUB", "not served here"},
      {Token(TokenScope::Device(kHub, "ghost"), kKey, kNow + 600), v1::RIGHT_UNSPECIFIED,
       "UNKNOWN_IDENTITY", "IotHub 'hub' does not contain the specified device 'ghost'"},
      {Token(TokenScope::Device(kHub, "off"), kKey, kNow + 600), v1::RIGHT_UNSPECIFIED,
       "IDENTITY_DISABLED", "disabled"},
      {Token(TokenScope::Policy(kHub, "nope"), kKey, kNow + 600), v1::RIGHT_UNSPECIFIED,
       "UNKNOWN_POLICY", "no shared access policy 'nope'"},
      {Token(TokenScope::Policy(kHub, "registryRead"), kOtherKey, kNow + 600),
       v1::RIGHT_SERVICE_CONNECT, "POLICY_LACKS_RIGHT",
       "Authorization rule 'registryRead' does not allow access for 'ServiceConnect'"},
      {absl::StrReplaceAll(good, {{"%2Fdevices%2Fdev1", "/devices/dev+1"}}), v1::RIGHT_UNSPECIFIED,
       "ENCODING_MISMATCH", "raw '+'"},
      {Token(TokenScope::Device(kHub, "dev1"), kKey, kMaxExpiry + 1), v1::RIGHT_UNSPECIFIED,
       "EXPIRES_TOO_LATE", "9999-12-31"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.token);
    const v1::VerifyTokenResponse r = VerifyOk(c.token, c.right);
    EXPECT_EQ(r.verdict(), c.verdict) << r.message();
    EXPECT_THAT(r.message(), HasSubstr(c.message));
    EXPECT_EQ(r.server_time(), kNow);
    if (c.verdict != "VALID") {
      ASSERT_GE(r.findings_size(), 1);
      EXPECT_EQ(r.findings(0).verdict(), c.verdict);
    }
    // Neither a key nor the signature the server computes ever leaves it.
    const std::string all = r.DebugString();
    EXPECT_THAT(all, Not(HasSubstr(kKey)));
    EXPECT_THAT(all, Not(HasSubstr(kOtherKey)));
    const size_t sig = good.find("sig=") + 4;
    EXPECT_THAT(all, Not(HasSubstr(good.substr(sig, good.find('&', sig) - sig))));
  }
}

TEST_F(VerifyTokenTest, ReportsTheMatchedKeyAndJudgesAtTheServersClock) {
  LoadKeySource();
  const std::string token = Token(TokenScope::Device(kHub, "dev1"), kKey, kNow + 600);
  v1::VerifyTokenResponse r = VerifyOk(token);
  EXPECT_EQ(r.verdict(), "VALID");
  EXPECT_EQ(r.expires_at(), kNow + 600);
  ASSERT_TRUE(r.has_matched_key());
  EXPECT_EQ(r.matched_key().slot(), v1::KEY_SLOT_PRIMARY);
  EXPECT_EQ(r.matched_key().version(), 1u);
  EXPECT_FALSE(r.matched_key().retired());
  EXPECT_THAT(r.notes(), ::testing::ElementsAre(HasSubstr("expires at")));
  // 10 minutes later the token is 4 minutes inside the allowance; 2 more and it is refused.
  clock_.Advance(absl::Minutes(14));
  r = VerifyOk(token);
  EXPECT_EQ(r.verdict(), "VALID");
  EXPECT_THAT(r.notes(0), HasSubstr("inside IoT Hub's 5 min clock-skew allowance"));
  clock_.Advance(absl::Minutes(2));
  r = VerifyOk(token);
  EXPECT_EQ(r.verdict(), "EXPIRED");
  EXPECT_EQ(r.server_time(), kNow + 16 * 60);
}

TEST_F(VerifyTokenTest, ReportsEveryFindingInOrder) {
  LoadKeySource();
  const std::string token = absl::StrReplaceAll(
      Token(TokenScope::Device(kHub, "off"), kOtherKey, kNow - 3600), {{"%3D", "="}});
  const v1::VerifyTokenResponse r = VerifyOk(token);
  std::vector<std::string> verdicts;
  for (const v1::Finding& f : r.findings()) verdicts.push_back(f.verdict());
  EXPECT_THAT(verdicts, ::testing::ElementsAre("MALFORMED", "IDENTITY_DISABLED",
                                               "SIGNATURE_MISMATCH", "EXPIRED"));
  EXPECT_EQ(r.verdict(), "MALFORMED");
}

TEST_F(VerifyTokenTest, CertificateAgainstTheRegisteredThumbprint) {
  const testing::TestCertificate cert =
      testing::MakeSelfSignedCertificate("cam", kNow - 86400, kNow + 86400);
  auto info = ParseCertificatePem(cert.pem);
  ASSERT_THAT(info, IsOk());
  // Registered as tools print it: lowercase with colons.
  std::string colons;
  for (size_t i = 0; i < info->sha256_thumbprint.size(); i += 2) {
    absl::StrAppend(&colons, i == 0 ? "" : ":",
                    absl::AsciiStrToLower(info->sha256_thumbprint.substr(i, 2)));
  }
  LoadKeySource(colons);
  v1::VerifyTokenRequest request;
  request.set_certificate_pem(cert.pem);
  request.mutable_identity()->set_hub(kHub);
  request.mutable_identity()->set_device_id("cam");
  v1::VerifyTokenResponse r;
  ASSERT_TRUE(Verify(request, &r).ok());
  EXPECT_EQ(r.verdict(), "VALID") << r.message();
  EXPECT_EQ(r.certificate().sha1_thumbprint(), info->sha1_thumbprint);
  EXPECT_EQ(r.certificate().sha256_thumbprint(), info->sha256_thumbprint);
  EXPECT_EQ(r.certificate().not_after(), kNow + 86400);
  EXPECT_EQ(r.matched_key().slot(), v1::KEY_SLOT_PRIMARY);

  request.mutable_identity()->set_device_id("dev1");  // a SAS device: no thumbprint registered
  ASSERT_TRUE(Verify(request, &r).ok());
  EXPECT_EQ(r.verdict(), "THUMBPRINT_MISMATCH");
  EXPECT_THAT(r.message(), HasSubstr(absl::StrCat("SHA2Hash=", info->sha256_thumbprint,
                                                  "; Configuration: PrimaryThumbprint=null")));

  clock_.Advance(absl::Hours(48));
  request.mutable_identity()->set_device_id("cam");
  ASSERT_TRUE(Verify(request, &r).ok());
  EXPECT_EQ(r.verdict(), "CERT_EXPIRED");
}

TEST_F(VerifyTokenTest, BadRequestsAndNotReady) {
  v1::VerifyTokenResponse r;
  v1::VerifyTokenRequest token_only;
  token_only.set_token("SharedAccessSignature sr=a&sig=b&se=1");
  EXPECT_EQ(Verify(token_only, &r).error_code(), grpc::StatusCode::UNAVAILABLE);
  LoadKeySource();
  EXPECT_EQ(Verify(v1::VerifyTokenRequest(), &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::VerifyTokenRequest both = token_only;
  both.set_certificate_pem("x");
  EXPECT_EQ(Verify(both, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::VerifyTokenRequest bad_pem;
  bad_pem.set_certificate_pem("not a certificate");
  bad_pem.mutable_identity()->set_hub(kHub);
  bad_pem.mutable_identity()->set_device_id("cam");
  const grpc::Status pem_status = Verify(bad_pem, &r);
  EXPECT_EQ(pem_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(pem_status.error_message(), HasSubstr("no PEM certificate"));
  bad_pem.mutable_identity()->set_device_id("bad/id");
  EXPECT_EQ(Verify(bad_pem, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::VerifyTokenRequest bad_right = token_only;
  bad_right.set_right(static_cast<v1::Right>(99));
  EXPECT_EQ(Verify(bad_right, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A token IoT Hub would reject is an answer, not an error.
  EXPECT_TRUE(Verify(token_only, &r).ok());
  EXPECT_EQ(r.verdict(), "MALFORMED");
}

TEST_F(TokenServiceTest, ReflectionListsTheServices) {
  // The method path of grpc.reflection.v1alpha.ServerReflection, with our wire-compatible
  // messages (see protos/grpc/reflection/v1alpha/reflection.proto).
  const grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING, channel_);
  grpc::ClientContext context;
  using Request = sasmint::testing::reflection::ServerReflectionRequest;
  using Response = sasmint::testing::reflection::ServerReflectionResponse;
  std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> stream(
      grpc::internal::ClientReaderWriterFactory<Request, Response>::Create(channel_.get(), method,
                                                                           &context));
  Request request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  Response response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"sasmint.v1.TokenService", "sasmint.v1.KeyAdmin",
                                              "grpc.health.v1.Health"}));
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace sasmint
