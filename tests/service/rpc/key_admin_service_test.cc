// The gRPC KeyAdmin service on a real server (loopback, port 0), called through real channels:
// status codes, pagination across a reload, put keys minting at once, no key bytes in any
// response, error or log line, a separate admin address, and minting that never fails while
// keys are put and reloaded concurrently.
#include "service/rpc/key_admin_service.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/admin/reloader.h"
#include "service/keystore/export_loader.h"
#include "service/rpc/server.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::testing::HasSubstr;

constexpr char kHub[] = "hub.azure-devices.net";
constexpr int64_t kNow = 1700000000;

std::vector<uint8_t> Bytes(int seed) {
  std::vector<uint8_t> b(32);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(seed * 31 + i * 7 + 1);
  return b;
}
std::string Text(int seed) { return Base64Encode(Bytes(seed)); }

std::shared_ptr<IdentityTable> FileTable(int rotate_d5 = 5) {
  auto table = std::make_shared<IdentityTable>();
  EXPECT_THAT(table->AddHub(kHub, {}), IsOk());
  std::string text;
  for (int i = 0; i < 10; ++i) {
    absl::StrAppend(&text, R"({"id":"d)", i,
                    R"(","authentication":{"symmetricKey":{"primaryKey":")",
                    Text(i == 5 ? rotate_d5 : i), R"("}}})", "\n");
  }
  EXPECT_THAT(LoadExportText(text, "devices.json", kHub, table.get()), IsOk());
  return table;
}

v1::KeyEntry* AddEntry(v1::PutKeysRequest& request, absl::string_view device,
                       const std::string& primary, const std::string& secondary = "") {
  v1::KeyEntry* e = request.add_entries();
  e->mutable_identity()->set_hub(kHub);
  e->mutable_identity()->set_device_id(std::string(device));
  e->set_primary_key(primary);
  e->set_secondary_key(secondary);
  return e;
}

class KeyAdminServiceTest : public ::testing::Test {
 protected:
  void StartServer(KeyAdminOptions admin_options = {}, bool separate_admin = false,
                   bool load = true, bool enabled = true) {
    admin_ = std::make_unique<KeyAdmin>(&store_, &clock_, admin_options);
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.key_admin_enabled = enabled;
    if (separate_admin) options.admin_listen_address = "127.0.0.1:0";
    auto server = Server::Start(options, &store_, &clock_, admin_.get());
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    tokens_ = v1::TokenService::NewStub(channel_);
    const int admin_port = separate_admin && enabled ? server_->admin_port() : server_->port();
    admin_channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", admin_port),
                                         grpc::InsecureChannelCredentials());
    keys_ = v1::KeyAdmin::NewStub(admin_channel_);
    if (load) {
      ASSERT_THAT(admin_->Start(FileTable()), IsOk());
      server_->SetServing(true);
    }
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }
  grpc::Status Put(const v1::PutKeysRequest& request, v1::PutKeysResponse* response) {
    grpc::Status s = keys_->PutKeys(Context().get(), request, response);
    Record(*response, s);
    return s;
  }
  grpc::Status Delete(const v1::DeleteKeysRequest& request, v1::DeleteKeysResponse* response) {
    grpc::Status s = keys_->DeleteKeys(Context().get(), request, response);
    Record(*response, s);
    return s;
  }
  grpc::Status List(const v1::ListKeysRequest& request, v1::ListKeysResponse* response) {
    grpc::Status s = keys_->ListKeys(Context().get(), request, response);
    Record(*response, s);
    return s;
  }
  grpc::Status Mint(absl::string_view device, v1::MintTokenResponse* response,
                    v1::KeySlot slot = v1::KEY_SLOT_UNSPECIFIED) {
    v1::MintTokenRequest request;
    request.mutable_identity()->set_hub(kHub);
    request.mutable_identity()->set_device_id(std::string(device));
    request.set_key_slot(slot);
    return tokens_->MintToken(Context().get(), request, response);
  }
  // Record keeps every response and error the admin API returned, for the key-bytes scan.
  void Record(const google::protobuf::Message& response, const grpc::Status& s) {
    seen_ += response.SerializeAsString();
    seen_ += s.error_message();
    seen_ += s.error_details();
  }
  static std::string Expected(absl::string_view device, int key_seed, int64_t expiry) {
    auto token =
        BuildToken(TokenScope::Device(kHub, device), HmacKey::FromBytes(Bytes(key_seed)), expiry);
    EXPECT_THAT(token, IsOk());
    return token.value_or("");
  }

  FakeClock clock_{absl::FromUnixSeconds(kNow)};
  KeyStore store_;
  std::unique_ptr<KeyAdmin> admin_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_, admin_channel_;
  std::unique_ptr<v1::TokenService::Stub> tokens_;
  std::unique_ptr<v1::KeyAdmin::Stub> keys_;
  std::string seen_;
};

TEST_F(KeyAdminServiceTest, PutKeyMintsImmediatelyAndDeleteStopsIt) {
  StartServer();
  v1::MintTokenResponse minted;
  EXPECT_EQ(Mint("fresh", &minted).error_code(), grpc::StatusCode::NOT_FOUND);

  v1::PutKeysRequest put;
  AddEntry(put, "fresh", Text(100), Text(101));
  AddEntry(put, "d1", Text(102));
  v1::PutKeysResponse put_response;
  ASSERT_TRUE(Put(put, &put_response).ok());
  EXPECT_EQ(put_response.added(), 1u);
  EXPECT_EQ(put_response.changed(), 1u);

  ASSERT_TRUE(Mint("fresh", &minted).ok());
  EXPECT_EQ(minted.token(), Expected("fresh", 100, minted.expires_at()));
  ASSERT_TRUE(Mint("fresh", &minted, v1::KEY_SLOT_SECONDARY).ok());
  EXPECT_EQ(minted.token(), Expected("fresh", 101, minted.expires_at()));
  ASSERT_TRUE(Mint("d1", &minted).ok());
  EXPECT_EQ(minted.token(), Expected("d1", 102, minted.expires_at()));
  ASSERT_TRUE(Mint("d2", &minted).ok());
  EXPECT_EQ(minted.token(), Expected("d2", 2, minted.expires_at()));

  // A disabled put refuses minting; a delete makes the identity unknown.
  v1::PutKeysRequest disable;
  AddEntry(disable, "d2", Text(2))->set_disabled(true);
  ASSERT_TRUE(Put(disable, &put_response).ok());
  EXPECT_EQ(Mint("d2", &minted).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::DeleteKeysRequest del;
  *del.add_identities() = put.entries(0).identity();
  v1::Identity* ghost = del.add_identities();
  ghost->set_hub(kHub);
  ghost->set_device_id("ghost");
  v1::DeleteKeysResponse del_response;
  ASSERT_TRUE(Delete(del, &del_response).ok());
  EXPECT_EQ(del_response.deleted(), 1u);
  EXPECT_EQ(Mint("fresh", &minted).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(KeyAdminServiceTest, StatusCodes) {
  KeyAdminOptions options;
  options.max_entries_per_request = 3;
  StartServer(options, /*separate_admin=*/false, /*load=*/false);
  v1::PutKeysRequest put;
  AddEntry(put, "d1", Text(1));
  v1::PutKeysResponse response;
  EXPECT_EQ(Put(put, &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  v1::ListKeysRequest list;
  list.set_hub(kHub);
  v1::ListKeysResponse listed;
  EXPECT_EQ(List(list, &listed).error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_THAT(admin_->Start(FileTable()), IsOk());

  const auto put_error = [&](const v1::PutKeysRequest& request) {
    v1::PutKeysResponse r;
    return Put(request, &r);
  };
  v1::PutKeysRequest bad_base64;
  AddEntry(bad_base64, "d1", Text(1));
  AddEntry(bad_base64, "d2", "not*base64");
  grpc::Status s = put_error(bad_base64);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("entries[1].primary_key"));
  v1::PutKeysRequest short_key;
  AddEntry(short_key, "d1", Text(1), Base64Encode(std::vector<uint8_t>(8, 1)));
  s = put_error(short_key);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("entries[0].secondary_key"));
  v1::PutKeysRequest no_key;
  AddEntry(no_key, "d1", "");
  EXPECT_EQ(put_error(no_key).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::PutKeysRequest no_identity;
  no_identity.add_entries()->set_primary_key(Text(1));
  EXPECT_EQ(put_error(no_identity).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::PutKeysRequest unknown_hub;
  AddEntry(unknown_hub, "d1", Text(1))->mutable_identity()->set_hub("typo.azure-devices.net");
  EXPECT_EQ(put_error(unknown_hub).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::PutKeysRequest too_many;
  for (int i = 0; i < 4; ++i) AddEntry(too_many, absl::StrCat("n", i), Text(1));
  EXPECT_EQ(put_error(too_many).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::DeleteKeysRequest del;
  v1::Identity* unknown = del.add_identities();
  unknown->set_hub("typo.azure-devices.net");
  unknown->set_device_id("d1");
  v1::DeleteKeysResponse deleted;
  ASSERT_TRUE(Delete(del, &deleted).ok());
  EXPECT_EQ(deleted.deleted(), 0u);

  EXPECT_EQ(List(v1::ListKeysRequest(), &listed).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  list.set_hub("typo.azure-devices.net");
  EXPECT_EQ(List(list, &listed).error_code(), grpc::StatusCode::NOT_FOUND);
  list.set_hub(kHub);
  list.set_page_token("garbage");
  EXPECT_EQ(List(list, &listed).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(KeyAdminServiceTest, PaginationIsStableAcrossAReload) {
  StartServer();
  v1::ListKeysRequest list;
  list.set_hub(kHub);
  list.set_page_size(4);
  v1::ListKeysResponse page;
  ASSERT_TRUE(List(list, &page).ok());
  ASSERT_EQ(page.keys_size(), 4);
  EXPECT_EQ(page.keys(3).identity().device_id(), "d3");
  EXPECT_EQ(page.keys(0).source(), "devices.json:1");
  EXPECT_EQ(page.keys(0).status(), "enabled");
  EXPECT_EQ(page.keys(0).version(), 1u);
  EXPECT_EQ(page.keys(0).primary_fingerprint(), HmacKey::FromBytes(Bytes(0)).Fingerprint());
  // Files rotate d5 between pages: the listing continues after d3 and shows d5's new version.
  admin_->PublishFileTable(FileTable(/*rotate_d5=*/55));
  list.set_page_token(page.next_page_token());
  ASSERT_TRUE(List(list, &page).ok());
  ASSERT_EQ(page.keys_size(), 4);
  EXPECT_EQ(page.keys(0).identity().device_id(), "d4");
  EXPECT_EQ(page.keys(1).identity().device_id(), "d5");
  EXPECT_EQ(page.keys(1).version(), 2u);
  EXPECT_EQ(page.keys(1).primary_fingerprint(), HmacKey::FromBytes(Bytes(55)).Fingerprint());
  list.set_page_token(page.next_page_token());
  ASSERT_TRUE(List(list, &page).ok());
  ASSERT_EQ(page.keys_size(), 2);
  EXPECT_EQ(page.next_page_token(), "");
}

TEST_F(KeyAdminServiceTest, NoKeyBytesInResponsesErrorsOrLogs) {
  // Capture the log (stderr) while the admin API works with the keys.
  const std::string log_path = testing::MakeTempDir() + "/log";
  fflush(stderr);
  const int saved = dup(2);
  FILE* log = fopen(log_path.c_str(), "w");
  ASSERT_NE(log, nullptr);
  dup2(fileno(log), 2);

  StartServer();
  std::vector<int> seeds = {200, 201, 202, 203};
  v1::PutKeysRequest put;
  AddEntry(put, "s1", Text(200), Text(201));
  AddEntry(put, "d1", Text(202));
  v1::PutKeysResponse response;
  grpc::Status s = Put(put, &response);
  v1::PutKeysRequest rotate;
  AddEntry(rotate, "s1", Text(203), Text(200));
  Put(rotate, &response);
  // Errors that involve the key text.
  v1::PutKeysRequest bad;
  AddEntry(bad, "s2", Text(200).substr(0, 43) + "*");
  Put(bad, &response);
  v1::PutKeysRequest unknown_hub;
  AddEntry(unknown_hub, "s3", Text(201))->mutable_identity()->set_hub("typo.azure-devices.net");
  Put(unknown_hub, &response);
  v1::ListKeysRequest list;
  list.set_hub(kHub);
  v1::ListKeysResponse listed;
  ASSERT_TRUE(List(list, &listed).ok());
  EXPECT_EQ(listed.keys_size(), 11);
  server_.reset();

  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  fclose(log);
  std::ifstream in(log_path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string logged = buffer.str();
  EXPECT_THAT(logged, HasSubstr("admin PutKeys"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  for (int seed : seeds) {
    const std::vector<uint8_t> raw = Bytes(seed);
    const std::string raw_text(raw.begin(), raw.end());
    const std::string b64 = Text(seed);
    for (const std::string* where : {static_cast<const std::string*>(&seen_), &logged}) {
      EXPECT_EQ(where->find(b64), std::string::npos) << "key text of seed " << seed;
      EXPECT_EQ(where->find(b64.substr(0, 20)), std::string::npos) << "key text of seed " << seed;
      EXPECT_EQ(where->find(raw_text), std::string::npos) << "raw key of seed " << seed;
    }
  }
}

// Replicas without a shared admin store keep KeyAdmin off: the files are the only source.
TEST_F(KeyAdminServiceTest, DisabledKeyAdminAnswersUnimplementedAndOpensNoListener) {
  StartServer({}, /*separate_admin=*/true, /*load=*/true, /*enabled=*/false);
  EXPECT_EQ(server_->admin_port(), 0);
  v1::ListKeysRequest list;
  list.set_hub(kHub);
  v1::ListKeysResponse listed;
  EXPECT_EQ(List(list, &listed).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  v1::PutKeysRequest put;
  AddEntry(put, "d1", Text(102));
  v1::PutKeysResponse answer;
  EXPECT_EQ(keys_->PutKeys(Context().get(), put, &answer).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  v1::MintTokenResponse minted;
  EXPECT_TRUE(Mint("d1", &minted).ok());
}

TEST_F(KeyAdminServiceTest, SeparateAdminAddressServesKeyAdminOnly) {
  StartServer({}, /*separate_admin=*/true);
  ASSERT_GT(server_->admin_port(), 0);
  EXPECT_NE(server_->admin_port(), server_->port());
  v1::ListKeysRequest list;
  list.set_hub(kHub);
  v1::ListKeysResponse listed;
  ASSERT_TRUE(List(list, &listed).ok());
  EXPECT_EQ(listed.keys_size(), 10);
  // Not on the main address ...
  auto main_admin = v1::KeyAdmin::NewStub(channel_);
  EXPECT_EQ(main_admin->ListKeys(Context().get(), list, &listed).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  // ... and no minting on the admin address.
  auto admin_tokens = v1::TokenService::NewStub(admin_channel_);
  v1::MintTokenRequest mint;
  mint.mutable_identity()->set_hub(kHub);
  mint.mutable_identity()->set_device_id("d1");
  v1::MintTokenResponse minted;
  EXPECT_EQ(admin_tokens->MintToken(Context().get(), mint, &minted).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  ASSERT_TRUE(Mint("d1", &minted).ok());
}

TEST_F(KeyAdminServiceTest, MintingNeverFailsWhileKeysArePutAndReloaded) {
  KeyAdminOptions options;
  options.authoritative = true;  // "hot" (admin-only) must survive the reloads too
  StartServer(options);
  const std::string dir = testing::MakeTempDir();
  testing::WriteFile(dir + "/devices.json", "");
  std::atomic<int> generation{0};
  auto reloader = KeyReloader::Start(
      {dir + "/devices.json"},
      [&]() -> absl::StatusOr<std::shared_ptr<IdentityTable>> {
        return FileTable(/*rotate_d5=*/1000 + generation.load());
      },
      admin_.get());
  ASSERT_THAT(reloader, IsOk());
  v1::PutKeysRequest hot;
  AddEntry(hot, "hot", Text(500));
  v1::PutKeysResponse put_response;
  ASSERT_TRUE(Put(hot, &put_response).ok());

  // Every key each identity may be signed with, as the writer rotates them.
  absl::Mutex mu;
  std::map<std::string, std::set<int>> allowed = {{"hot", {500}}, {"d3", {3}}, {"d5", {5}}};
  for (int i = 0; i < 10; ++i) allowed[absl::StrCat("d", i)].insert(i);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, mismatches{0}, mints{0};
  const auto minter = [&](int seed) {
    const std::vector<std::string> ids = {"hot", "d3", "d5", absl::StrCat("d", seed)};
    for (int n = 0; !stop.load(); ++n) {
      const std::string& id = ids[n % ids.size()];
      v1::MintTokenResponse minted;
      const grpc::Status s = Mint(id, &minted);
      if (!s.ok()) {
        ++failures;
        ADD_FAILURE() << id << ": " << s.error_message();
        continue;
      }
      ++mints;
      absl::MutexLock lock(&mu);
      bool matched = false;
      for (int key : allowed[id])
        matched |= minted.token() == Expected(id, key, minted.expires_at());
      if (!matched) ++mismatches;
    }
  };
  std::thread a(minter, 1), b(minter, 2);
  for (int round = 1; round <= 40; ++round) {
    v1::PutKeysRequest rotate;
    {
      absl::MutexLock lock(&mu);
      allowed["hot"].insert(500 + round);
      allowed["d3"].insert(300 + round);
      allowed["d5"].insert(1000 + round);
    }
    AddEntry(rotate, "hot", Text(500 + round));
    if (round % 2 == 0) AddEntry(rotate, "d3", Text(300 + round));
    ASSERT_TRUE(Put(rotate, &put_response).ok());
    generation.store(round);
    ASSERT_THAT((*reloader)->ReloadNow("test"), IsOk());
    absl::SleepFor(absl::Milliseconds(10));
  }
  stop.store(true);
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_GT(mints.load(), 100);
  // The history the rotations left: retired keys for hot and d5, within the count.
  const auto table = store_.Snapshot();
  EXPECT_EQ(table->RetiredKeys(table->Find(kHub, "hot", "")).size(), 2u);
  EXPECT_EQ(table->RetiredKeys(table->Find(kHub, "d5", "")).size(), 2u);
  EXPECT_EQ(table->Find(kHub, "d5", "").version(), 41u);
}

}  // namespace
}  // namespace sasmint
