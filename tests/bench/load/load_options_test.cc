#include "bench/load/load_options.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace sasmint::bench {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<std::string> Required(std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--target",  "127.0.0.1:50051", "--hub", "h.azure-devices.net",
                                   "--devices", "devices.json"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(LoadOptionsTest, ContractFormParses) {
  auto o = ParseLoadOptions(Required({"--mode", "batch:1000", "--concurrency", "16", "--duration",
                                      "2.5", "--rate", "50000", "--ttl", "600"}));
  ASSERT_THAT(o, IsOk());
  EXPECT_EQ(o->target, "127.0.0.1:50051");
  EXPECT_EQ(o->mode, LoadMode::kBatch);
  EXPECT_EQ(o->batch_size, 1000);
  EXPECT_EQ(o->ModeName(), "batch:1000");
  EXPECT_EQ(o->concurrency, 16);
  EXPECT_EQ(o->channels, 4);  // min(C, 4)
  EXPECT_DOUBLE_EQ(o->duration_s, 2.5);
  EXPECT_EQ(o->rate, 50000);
  EXPECT_EQ(o->ttl_seconds, 600u);
  EXPECT_DOUBLE_EQ(o->warmup_s, 1);
}

TEST(LoadOptionsTest, DefaultsAndEqualsForm) {
  auto o = ParseLoadOptions(Required({"--mode=stream:50", "--concurrency=6", "--streams=2",
                                      "--warmup=0", "--quiet", "--include-disabled"}));
  ASSERT_THAT(o, IsOk());
  EXPECT_EQ(o->mode, LoadMode::kStream);
  EXPECT_EQ(o->ModeName(), "stream:50");
  EXPECT_EQ(o->streams, 2);
  EXPECT_EQ(o->channels, 2);  // min(streams, 4)
  EXPECT_FALSE(o->rate.has_value());
  EXPECT_TRUE(o->quiet);
  EXPECT_TRUE(o->include_disabled);

  auto unary = ParseLoadOptions(Required());
  ASSERT_THAT(unary, IsOk());
  EXPECT_EQ(unary->ModeName(), "unary");
  EXPECT_EQ(unary->batch_size, 1);
  EXPECT_EQ(unary->concurrency, 1);
  EXPECT_EQ(unary->channels, 1);
}

TEST(LoadOptionsTest, TlsFlags) {
  auto plain = ParseLoadOptions(Required());
  ASSERT_THAT(plain, IsOk());
  EXPECT_FALSE(plain->tls.enabled());
  auto o = ParseLoadOptions(Required({"--tls-ca", "ca.pem", "--tls-cert=gw.pem", "--tls-key",
                                      "gw.key", "--tls-server-name", "sasmint.internal"}));
  ASSERT_THAT(o, IsOk());
  EXPECT_TRUE(o->tls.enabled());
  EXPECT_EQ(o->tls.ca_file, "ca.pem");
  EXPECT_EQ(o->tls.cert_file, "gw.pem");
  EXPECT_EQ(o->tls.key_file, "gw.key");
  EXPECT_EQ(o->tls.server_name, "sasmint.internal");
}

TEST(LoadOptionsTest, TransportDefaultsAndFlags) {
  auto unary = ParseLoadOptions(Required({"--concurrency", "64"}));
  ASSERT_THAT(unary, IsOk());
  EXPECT_EQ(unary->transport, LoadTransport::kCallback);
  EXPECT_EQ(unary->TransportName(), "callback");

  auto cq64 = ParseLoadOptions(Required({"--concurrency", "64", "--transport", "cq"}));
  ASSERT_THAT(cq64, IsOk());
  EXPECT_EQ(cq64->transport, LoadTransport::kCq);
  EXPECT_EQ(cq64->TransportName(), "cq");
  // One thread per CPU this process may run on, at most one per caller.
  EXPECT_EQ(cq64->client_threads, std::min(AffinityCpuCount(), 64));
  EXPECT_GE(AffinityCpuCount(), 1);

  auto one = ParseLoadOptions(Required({"--concurrency", "1", "--transport", "cq"}));
  ASSERT_THAT(one, IsOk());
  EXPECT_EQ(one->client_threads, 1);

  auto batch = ParseLoadOptions(Required({"--mode", "batch:10"}));
  ASSERT_THAT(batch, IsOk());
  EXPECT_EQ(batch->transport, LoadTransport::kCallback);
  auto stream = ParseLoadOptions(Required({"--mode", "stream:10"}));
  ASSERT_THAT(stream, IsOk());
  EXPECT_EQ(stream->transport, LoadTransport::kCallback);

  auto callback = ParseLoadOptions(Required({"--transport", "callback"}));
  ASSERT_THAT(callback, IsOk());
  EXPECT_EQ(callback->transport, LoadTransport::kCallback);
  EXPECT_EQ(callback->TransportName(), "callback");

  auto cq = ParseLoadOptions(Required(
      {"--mode", "batch:10", "--concurrency", "8", "--transport=cq", "--client-threads", "3"}));
  ASSERT_THAT(cq, IsOk());
  EXPECT_EQ(cq->transport, LoadTransport::kCq);
  EXPECT_EQ(cq->client_threads, 3);
}

TEST(LoadOptionsTest, BadFlagsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--hub", "h", "--devices", "d"}, "missing --target"},
      {{"--target", "t", "--devices", "d"}, "missing --hub"},
      {{"--target", "t", "--hub", "h"}, "missing --devices"},
      {Required({"--mode", "batched:5"}), "--mode must be unary, batch:N or stream:N"},
      {Required({"--mode", "batch:0"}), "N must be an integer"},
      {Required({"--mode", "stream:x"}), "N must be an integer"},
      {Required({"--concurrency", "0"}), "--concurrency must be an integer from 1"},
      {Required({"--concurrency", "many"}), "--concurrency"},
      {Required({"--duration", "0"}), "--duration must be a number of seconds > 0"},
      {Required({"--duration", "nan"}), "--duration"},
      {Required({"--warmup", "-1"}), "--warmup must be a number of seconds >= 0"},
      {Required({"--rate", "0"}), "--rate must be tokens per second > 0"},
      {Required({"--rate", "inf"}), "--rate"},
      {Required({"--ttl", "-5"}), "--ttl"},
      {Required({"--channels", "0"}), "--channels"},
      {Required({"--streams", "2"}), "--streams applies to --mode stream:N only"},
      {Required({"--mode", "stream:5", "--concurrency", "2", "--streams", "3"}), "--streams"},
      {Required({"--transport", "sync"}), "--transport must be callback or cq"},
      {Required({"--mode", "stream:5", "--transport", "cq"}),
       "--transport cq applies to unary and batch modes only"},
      {Required({"--transport", "callback", "--client-threads", "1"}),
       "--client-threads applies to --transport cq only"},
      {Required({"--client-threads", "1"}), "--client-threads applies"},  // default: callback
      {Required({"--transport", "cq", "--client-threads", "0"}),
       "--client-threads must be an integer from 1"},
      {Required({"--transport", "cq", "--concurrency", "2", "--client-threads", "3"}),
       "from 1 to 2"},
      {Required({"--bogus", "1"}), "unknown flag --bogus"},
      {Required({"--hub", "again"}), "given twice"},
      {Required({"extra"}), "unexpected argument 'extra'"},
      {Required({"--duration"}), "needs a value"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    EXPECT_THAT(ParseLoadOptions(c.args),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
}

}  // namespace
}  // namespace sasmint::bench
