#include "service/etcd/etcd_client.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/status_matchers.h"

namespace sasmint {
namespace {

using ::sasmint::testing::EtcdBinary;
using ::sasmint::testing::EtcdCluster;
using ::sasmint::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

etcdserverpb::TxnRequest Puts(const std::vector<std::pair<std::string, std::string>>& kvs) {
  etcdserverpb::TxnRequest txn;
  for (const auto& [k, v] : kvs) {
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(k);
    put->set_value(v);
  }
  return txn;
}

// PutWithin retries one put until it succeeds or `timeout` passes (a cluster electing a new
// leader refuses writes for a moment); returns the last status.
absl::Status PutWithin(EtcdClient& client, const std::string& key, const std::string& value,
                       absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status write;
  do {
    write = client.Txn(Puts({{key, value}})).status();
  } while (!write.ok() && absl::Now() < deadline);
  return write;
}

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (EtcdBinary().empty()) GTEST_SKIP() << "etcd is not installed (apt install etcd-server)";
  }
  std::unique_ptr<EtcdClient> Connect(std::vector<std::string> endpoints) {
    EtcdClientOptions options;
    options.endpoints = std::move(endpoints);
    options.request_timeout = absl::Seconds(3);
    auto client = EtcdClient::Create(std::move(options));
    EXPECT_OK(client);
    return client.ok() ? *std::move(client) : nullptr;
  }
};

TEST(EtcdClientStaticTest, PrefixEnd) {
  EXPECT_EQ(EtcdClient::PrefixEnd("/sasmint/"), "/sasmint0");
  EXPECT_EQ(EtcdClient::PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(EtcdClient::PrefixEnd(""), std::string(1, '\0'));
  EXPECT_THAT(EtcdClient::Create({}), StatusIs(absl::StatusCode::kInvalidArgument, _));
}

TEST_F(EtcdClientTest, TxnRangeInPagesAtOneRevision) {
  ASSERT_OK_AND_ASSIGN(EtcdCluster etcd, EtcdCluster::Start(1));
  auto client = Connect(etcd.endpoints());
  ASSERT_OK_AND_ASSIGN(
      etcdserverpb::TxnResponse put,
      client->Txn(Puts({{"/p/a", "1"}, {"/p/b", "2"}, {"/p/c", "3"}, {"/q/x", "outside"}})));
  EXPECT_TRUE(put.succeeded());
  const int64_t revision = put.header().revision();
  // A later change is not seen by a read at the earlier revision, across pages.
  ASSERT_OK(client->Txn(Puts({{"/p/d", "4"}})).status());
  ASSERT_OK_AND_ASSIGN(EtcdRangeResult at,
                       client->Range("/p/", EtcdClient::PrefixEnd("/p/"), revision, /*page=*/2));
  ASSERT_EQ(at.kvs.size(), 3u);
  EXPECT_EQ(at.revision, revision);
  EXPECT_EQ(at.kvs[0].key, "/p/a");
  EXPECT_EQ(at.kvs[2].value, "3");
  EXPECT_EQ(at.kvs[2].create_revision, revision);
  ASSERT_OK_AND_ASSIGN(EtcdRangeResult now,
                       client->Range("/p/", EtcdClient::PrefixEnd("/p/"), 0, /*page=*/1));
  EXPECT_EQ(now.kvs.size(), 4u);
  EXPECT_GT(now.revision, revision);

  // A compare that fails runs the failure branch.
  etcdserverpb::TxnRequest guarded = Puts({{"/p/a", "new"}});
  etcdserverpb::Compare* c = guarded.add_compare();
  c->set_key("/p/a");
  c->set_target(etcdserverpb::Compare::CREATE);
  c->set_result(etcdserverpb::Compare::EQUAL);
  c->set_create_revision(0);  // "does not exist yet"
  ASSERT_OK_AND_ASSIGN(etcdserverpb::TxnResponse refused, client->Txn(guarded));
  EXPECT_FALSE(refused.succeeded());
}

TEST_F(EtcdClientTest, EtcdLimitsKeepTheirCodes) {
  ASSERT_OK_AND_ASSIGN(EtcdCluster etcd, EtcdCluster::Start(1));
  auto client = Connect(etcd.endpoints());
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 129; ++i) many.emplace_back(absl::StrCat("/ops/", i), "v");
  EXPECT_THAT(client->Txn(Puts(many)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too many operations")));
  EXPECT_THAT(client->Txn(Puts({{"/big", std::string(1600 * 1024, 'x') /* over 1.5 MiB */}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too large")));
}

TEST_F(EtcdClientTest, WatchSeesChangesInOrderAndCompactionIsOutOfRange) {
  ASSERT_OK_AND_ASSIGN(EtcdCluster etcd, EtcdCluster::Start(1));
  auto client = Connect(etcd.endpoints());
  ASSERT_OK_AND_ASSIGN(etcdserverpb::TxnResponse first, client->Txn(Puts({{"/w/a", "1"}})));
  const int64_t start = first.header().revision();
  ASSERT_OK(client->Txn(Puts({{"/w/b", "2"}, {"/other", "x"}})).status());
  etcdserverpb::TxnRequest del;
  del.add_success()->mutable_request_delete_range()->set_key("/w/a");
  ASSERT_OK(client->Txn(del).status());

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EtcdWatch> watch,
                       client->Watch("/w/", EtcdClient::PrefixEnd("/w/"), start));
  std::vector<EtcdEvent> seen;
  while (seen.size() < 3) {
    ASSERT_OK_AND_ASSIGN(EtcdWatchBatch batch, watch->Next());
    for (EtcdEvent& e : batch.events) seen.push_back(std::move(e));
  }
  EXPECT_EQ(seen[0].kv.key, "/w/a");
  EXPECT_FALSE(seen[0].deleted);
  EXPECT_EQ(seen[1].kv.key, "/w/b");
  EXPECT_EQ(seen[1].kv.value, "2");
  EXPECT_EQ(seen[2].kv.key, "/w/a");
  EXPECT_TRUE(seen[2].deleted);
  EXPECT_LT(seen[0].kv.mod_revision, seen[1].kv.mod_revision);

  // Cancel from another thread ends a blocked Next.
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    watch->Cancel();
  });
  absl::StatusOr<EtcdWatchBatch> next = watch->Next();
  while (next.ok()) next = watch->Next();  // progress notifications may come first
  EXPECT_THAT(next, StatusIs(absl::StatusCode::kCancelled, _));
  canceller.join();

  ASSERT_OK_AND_ASSIGN(EtcdRangeResult now, client->Range("/", EtcdClient::PrefixEnd("/")));
  ASSERT_OK(client->Compact(now.revision));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EtcdWatch> stale,
                       client->Watch("/w/", EtcdClient::PrefixEnd("/w/"), start));
  EXPECT_THAT(stale->Next(), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("compacted")));
  EXPECT_THAT(client->Range("/w/", EtcdClient::PrefixEnd("/w/"), start),
              StatusIs(absl::StatusCode::kOutOfRange, _));
}

TEST_F(EtcdClientTest, MovesToTheNextEndpointWhenOneIsDown) {
  ASSERT_OK_AND_ASSIGN(EtcdCluster etcd, EtcdCluster::Start(3));
  auto client = Connect(etcd.endpoints());
  ASSERT_OK(client->Txn(Puts({{"/f/a", "1"}})).status());
  const std::string first = client->endpoint();
  int in_use = -1;
  for (int i = 0; i < etcd.size(); ++i) {
    if (etcd.endpoint(i) == first) in_use = i;
  }
  ASSERT_GE(in_use, 0);
  etcd.Kill(in_use);
  // Quorum remains (two of three): reads and writes go on through another member.
  ASSERT_OK(PutWithin(*client, "/f/b", "2", absl::Seconds(15)));
  EXPECT_NE(client->endpoint(), first);
  ASSERT_OK_AND_ASSIGN(EtcdRangeResult r, client->Range("/f/", EtcdClient::PrefixEnd("/f/")));
  EXPECT_EQ(r.kvs.size(), 2u);

  // With every member down, calls fail UNAVAILABLE (or time out), naming etcd.
  for (int i = 0; i < etcd.size(); ++i) etcd.Kill(i);
  absl::Status down = client->Range("/f/", EtcdClient::PrefixEnd("/f/")).status();
  EXPECT_TRUE(absl::IsUnavailable(down) || absl::IsDeadlineExceeded(down)) << down;
  EXPECT_THAT(std::string(down.message()), HasSubstr("etcd "));
  EXPECT_FALSE(client->Watch("/f/", EtcdClient::PrefixEnd("/f/"), 0).ok());
}

TEST_F(EtcdClientTest, LeaderIsFoundAndAClusterSurvivesItsLoss) {
  ASSERT_OK_AND_ASSIGN(EtcdCluster etcd, EtcdCluster::Start(3));
  absl::StatusOr<int> leader = etcd.Leader();
  for (int i = 0; i < 50 && !leader.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    leader = etcd.Leader();
  }
  ASSERT_OK(leader);
  etcd.Kill(*leader);
  auto client = Connect(etcd.endpoints());
  EXPECT_OK(PutWithin(*client, "/l/a", "1", absl::Seconds(15)));
  ASSERT_OK(etcd.Restart(*leader));
}

}  // namespace
}  // namespace sasmint
