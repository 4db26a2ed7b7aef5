#include "service/metrics/service_metrics.h"

#include <prometheus/text_serializer.h>

#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/metrics/families.h"

namespace sasmint {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Text(const ServiceMetrics& metrics) {
  return prometheus::TextSerializer().Serialize(metrics.Collect());
}

ServiceMetrics::Info TestInfo() { return {"1.2.3", "gcc", "openssl", "avx2"}; }

TEST(ServiceMetricsTest, EveryMethodAndCodeSeriesExistsAtZero) {
  ServiceMetrics metrics(TestInfo());
  const std::string text = Text(metrics);
  for (const char* method : {"MintToken", "MintTokens", "StreamTokens", "VerifyToken", "PutKeys",
                             "DeleteKeys", "ListKeys"}) {
    for (const char* code : {"OK", "NOT_FOUND", "UNAVAILABLE", "RESOURCE_EXHAUSTED",
                             "UNAUTHENTICATED", "PERMISSION_DENIED", "DATA_LOSS"}) {
      EXPECT_THAT(text,
                  HasSubstr(std::string("grpc_method=\"") + method + "\",grpc_type=\"" +
                            (std::string(method) == "StreamTokens" ? "bidi_stream" : "unary") +
                            "\",grpc_code=\"" + code + "\"} 0"));
    }
  }
  EXPECT_THAT(text,
              HasSubstr("sasmint_tokens_minted_total{scope=\"registration\",result=\"ok\"} 0"));
  EXPECT_THAT(
      text,
      HasSubstr("sasmint_build_info{version=\"1.2.3\",compiler=\"gcc\",crypto=\"openssl\"} 1"));
  EXPECT_THAT(text, HasSubstr("sasmint_signer_info{isa=\"avx2\"} 1"));
  EXPECT_THAT(text, HasSubstr("sasmint_inflight_calls 0"));
}

TEST(ServiceMetricsTest, CallsCountStartedHandledAndTheirTimeInBuckets) {
  ServiceMetrics metrics(TestInfo());
  metrics.CallStarted(RpcMethod::kMintToken);
  metrics.CallStarted(RpcMethod::kMintToken);
  metrics.CallHandled(RpcMethod::kMintToken, absl::StatusCode::kOk, absl::Microseconds(30));
  metrics.CallStarted(RpcMethod::kStreamTokens);
  const std::string text = Text(metrics);
  const std::string labels =
      "grpc_service=\"sasmint.v1.TokenService\",grpc_method=\"MintToken\",grpc_type=\"unary\"";
  EXPECT_THAT(text, HasSubstr("grpc_server_started_total{" + labels + "} 2"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{" + labels + ",grpc_code=\"OK\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_handling_seconds_bucket{" + labels + ",le=\"2.5e-05\"} 0"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_handling_seconds_bucket{" + labels + ",le=\"5e-05\"} 1"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_bucket{" + labels + ",le=\"+Inf\"} 1"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_count{" + labels + "} 1"));
  // One unary call and one stream still open.
  EXPECT_THAT(text, HasSubstr("sasmint_inflight_calls 2"));
  EXPECT_THAT(text, HasSubstr("sasmint_open_streams 1"));
}

TEST(ServiceMetricsTest, TalliesCountTokensByScopeAndResultOncePerBatch) {
  ServiceMetrics metrics(TestInfo());
  MintTally tally;
  for (int i = 0; i < 998; ++i) tally.Count(ScopeKind::kDevice, absl::StatusCode::kOk, 3600);
  tally.Count(ScopeKind::kModule, absl::StatusCode::kNotFound, 0);
  tally.Count(ScopeKind::kDevice, absl::StatusCode::kPermissionDenied, 0);
  tally.Count(ScopeKind::kRegistration, absl::StatusCode::kOk, 120);
  metrics.AddTally(tally);
  metrics.BatchReceived(1000);
  metrics.BatchReceived(1);
  metrics.TokenMinted(ScopeKind::kPolicy, absl::StatusCode::kFailedPrecondition, 0);
  const std::string text = Text(metrics);
  EXPECT_THAT(text, HasSubstr("sasmint_tokens_minted_total{scope=\"device\",result=\"ok\"} 998"));
  EXPECT_THAT(text,
              HasSubstr("sasmint_tokens_minted_total{scope=\"module\",result=\"not_found\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr("sasmint_tokens_minted_total{scope=\"device\",result=\"permission_denied\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("sasmint_tokens_minted_total{scope=\"registration\",result=\"ok\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr("sasmint_tokens_minted_total{scope=\"policy\",result=\"failed_precondition\"} 1"));
  EXPECT_THAT(text, HasSubstr("sasmint_mint_batch_size_bucket{le=\"1\"} 1"));
  EXPECT_THAT(text, HasSubstr("sasmint_mint_batch_size_bucket{le=\"512\"} 1"));
  EXPECT_THAT(text, HasSubstr("sasmint_mint_batch_size_bucket{le=\"1024\"} 2"));
  EXPECT_THAT(text, HasSubstr("sasmint_mint_batch_size_sum 1001"));
  // Lifetimes of the minted tokens only: 998 of an hour, one of two minutes.
  EXPECT_THAT(text, HasSubstr("sasmint_token_ttl_seconds_bucket{le=\"300\"} 1"));
  EXPECT_THAT(text, HasSubstr("sasmint_token_ttl_seconds_bucket{le=\"3600\"} 999"));
  EXPECT_THAT(text, HasSubstr("sasmint_token_ttl_seconds_count 999"));
}

TEST(ServiceMetricsTest, UpdatesFromExitedThreadsStay) {
  ServiceMetrics metrics(TestInfo());
  std::thread t([&] {
    metrics.AuthzDenied(DenialReason::kScope, 3);
    metrics.OverloadRejected(OverloadReason::kQueueFull);
    metrics.KeyReloaded(false, absl::Milliseconds(20));
  });
  t.join();
  const std::string text = Text(metrics);
  EXPECT_THAT(text, HasSubstr("sasmint_authz_denials_total{reason=\"scope\"} 3"));
  EXPECT_THAT(text, HasSubstr("sasmint_authz_denials_total{reason=\"no_rule\"} 0"));
  EXPECT_THAT(text, HasSubstr("sasmint_overload_rejections_total{reason=\"queue_full\"} 1"));
  EXPECT_THAT(text, HasSubstr("sasmint_keystore_reloads_total{result=\"error\"} 1"));
  EXPECT_THAT(text, HasSubstr("sasmint_keystore_reload_duration_seconds_bucket{le=\"0.05\"} 1"));
}

TEST(ServiceMetricsTest, CollectorsAddTheirFamilies) {
  ServiceMetrics metrics(TestInfo());
  metrics.AddCollector([](std::vector<prometheus::MetricFamily>& out) {
    AddGauge(out, "sasmint_test_gauge", "A test gauge.", 42, {{"kind", "x"}});
  });
  EXPECT_THAT(Text(metrics), HasSubstr("sasmint_test_gauge{kind=\"x\"} 42"));
  EXPECT_THAT(Text(metrics), Not(HasSubstr("sasmint_test_gauge 0")));
}

}  // namespace
}  // namespace sasmint
