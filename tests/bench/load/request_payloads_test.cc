// RequestPayloads and ScanBatch hand-assemble and hand-read protobuf wire format; these tests
// check both against the generated protobuf code.
#include "bench/load/request_payloads.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/load/response_scan.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sasmint/v1/sasmint.pb.h"
#include "tests/testing/status_matchers.h"

namespace sasmint::bench {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::StatusIs;

constexpr char kHub[] = "load-hub.azure-devices.net";

std::string Bytes(const grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  EXPECT_TRUE(buffer.DumpToSingleSlice(&slice).ok());
  return std::string(reinterpret_cast<const char*>(slice.begin()), slice.size());
}

grpc::ByteBuffer Buffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::vector<IdentityRef> Identities(int n) {
  std::vector<IdentityRef> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({absl::StrCat("dev-", i), i % 3 == 2 ? absl::StrCat("mod-", i) : ""});
  }
  return out;
}

void ExpectIdentity(const v1::MintTokenRequest& request, const IdentityRef& id, uint32_t ttl) {
  EXPECT_EQ(request.identity().hub(), kHub);
  EXPECT_EQ(request.identity().device_id(), id.device_id);
  EXPECT_EQ(request.identity().module_id(), id.module_id);
  EXPECT_EQ(request.ttl_seconds(), ttl);
}

TEST(RequestPayloadsTest, UnaryRequestsParseAsMintTokenRequests) {
  const std::vector<IdentityRef> ids = Identities(5);
  auto payloads = RequestPayloads::Build(ids, kHub, 900, 1);
  ASSERT_THAT(payloads, IsOk());
  EXPECT_EQ((*payloads)->identity_count(), 5u);
  for (size_t i = 0; i < ids.size(); ++i) {
    v1::MintTokenRequest request;
    ASSERT_TRUE(request.ParseFromString(Bytes((*payloads)->MintToken(i))));
    ExpectIdentity(request, ids[i], 900);
  }
}

TEST(RequestPayloadsTest, BatchesWrapAroundAndCarryTheirBatchId) {
  const std::vector<IdentityRef> ids = Identities(7);
  for (int batch : {1, 3, 7, 20}) {
    SCOPED_TRACE(batch);
    auto payloads = RequestPayloads::Build(ids, kHub, 0, batch);
    ASSERT_THAT(payloads, IsOk());
    for (size_t window = 0; window < ids.size(); ++window) {
      for (uint64_t batch_id : {uint64_t{0}, uint64_t{1}, uint64_t{300}, ~uint64_t{0}}) {
        v1::MintTokensRequest request;
        ASSERT_TRUE(request.ParseFromString(Bytes((*payloads)->MintTokens(window, batch_id))));
        EXPECT_EQ(request.batch_id(), batch_id);
        ASSERT_EQ(request.requests_size(), batch);
        for (int i = 0; i < batch; ++i) {
          ExpectIdentity(request.requests(i), ids[(window + i) % ids.size()], 0);
        }
      }
    }
  }
}

TEST(RequestPayloadsTest, WindowsVisitEveryIdentity) {
  auto payloads = RequestPayloads::Build(Identities(10), kHub, 0, 4);
  ASSERT_THAT(payloads, IsOk());
  std::vector<size_t> windows;
  for (int i = 0; i < 5; ++i) windows.push_back((*payloads)->NextWindow());
  EXPECT_THAT(windows, ::testing::ElementsAre(0, 4, 8, 2, 6));
}

TEST(RequestPayloadsTest, RejectsNothingToSend) {
  EXPECT_THAT(RequestPayloads::Build({}, kHub, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("no identities")));
  EXPECT_THAT(RequestPayloads::Build(Identities(1), kHub, 0, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("below 1")));
}

TEST(ScanBatchTest, CountsTokensAndPerItemErrorsByCode) {
  v1::MintTokensResponse response;
  response.set_batch_id(77);
  for (int i = 0; i < 10; ++i) {
    v1::MintResult* result = response.add_results();
    if (i % 4 == 1) {
      result->mutable_error()->set_code(5);  // NOT_FOUND
      result->mutable_error()->set_message("no such device");
    } else if (i == 6) {
      result->mutable_error()->set_code(9);  // FAILED_PRECONDITION
    } else if (i == 8) {
      result->mutable_error()->set_code(-4);  // not a google.rpc.Code
    } else {
      result->mutable_token()->set_token("SharedAccessSignature sr=x&sig=y&se=1");
      result->mutable_token()->set_expires_at(1);
    }
  }
  response.add_results();  // neither token nor error: counted as UNKNOWN
  std::string bytes = response.SerializeAsString();
  // A field this version does not know (number 99, varint) must be skipped.
  bytes += std::string("\x98\x06\x01", 3);
  grpc::ByteBuffer buffer = Buffer(bytes);
  auto scan = ScanBatch(&buffer);
  ASSERT_THAT(scan, IsOk());
  EXPECT_EQ(scan->results, 11);
  EXPECT_EQ(scan->batch_id, 77u);
  EXPECT_EQ(scan->outcome.tokens, 5);
  EXPECT_EQ(scan->outcome.errors, 6);
  EXPECT_EQ(scan->outcome.errors_by_code[5], 3);
  EXPECT_EQ(scan->outcome.errors_by_code[9], 1);
  EXPECT_EQ(scan->outcome.errors_by_code[2], 1);
  EXPECT_EQ(scan->outcome.errors_by_code[kCodeSlots - 1], 1);
  EXPECT_EQ(ErrorCodeName(kCodeSlots - 1), "INVALID_CODE");
  EXPECT_EQ(ErrorCodeName(5), "NOT_FOUND");
}

TEST(ScanBatchTest, EmptyResponseAndMalformedBytes) {
  grpc::ByteBuffer empty = Buffer("");
  auto scan = ScanBatch(&empty);
  ASSERT_THAT(scan, IsOk());
  EXPECT_EQ(scan->results, 0);

  v1::MintTokensResponse response;
  response.add_results()->mutable_token()->set_token("t");
  const std::string good = response.SerializeAsString();
  for (const std::string& bad : {good.substr(0, good.size() - 1), std::string("\x0a\x05\x0a", 3),
                                 std::string("\x0b", 1) /* group start */}) {
    grpc::ByteBuffer buffer = Buffer(bad);
    EXPECT_THAT(ScanBatch(&buffer), StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
  }
}

}  // namespace
}  // namespace sasmint::bench
