#include "bench/load/load_driver.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/load/internal/caller.h"
#include "bench/load/internal/cq_caller.h"
#include "bench/load/internal/run_state.h"
#include "bench/load/internal/stream_session.h"
#include "bench/load/pacer.h"
#include "client/channel.h"

namespace sasmint::bench {
namespace {

using internal::Caller;
using internal::CqRpcCaller;
using internal::CqWorker;
using internal::RpcCaller;
using internal::RunState;
using internal::RunTimeline;
using internal::StreamSession;
using internal::StreamSlot;

constexpr int64_t kNanosPerSecond = 1000 * 1000 * 1000;

const char* StateName(grpc_connectivity_state state) {
  switch (state) {
    case GRPC_CHANNEL_IDLE:
      return "IDLE";
    case GRPC_CHANNEL_CONNECTING:
      return "CONNECTING";
    case GRPC_CHANNEL_READY:
      return "READY";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "TRANSIENT_FAILURE";
    case GRPC_CHANNEL_SHUTDOWN:
      return "SHUTDOWN";
  }
  return "UNKNOWN";
}

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> Connect(const LoadOptions& options) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < options.channels; ++i) {
    // As gateways connect (client/channel.h): round robin over every address of the target,
    // health-checked, unary calls retried on UNAVAILABLE.
    grpc::ChannelArguments args = GatewayChannelArguments();
    // Channels with equal arguments share subchannels, i.e. one TCP connection. A local
    // subchannel pool, and an argument that differs per channel, give each its own.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("sasmint.bench.channel_index", i);
    args.SetMaxReceiveMessageSize(-1);  // a batch of 100,000 tokens is about 17 MB
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeClientChannel(options.target, options.tls, args);
    if (!channel.ok()) return channel.status();
    channels.push_back(*std::move(channel));
  }
  // Start every connection before waiting for any, so they connect in parallel.
  for (const auto& channel : channels) channel->GetState(/*try_to_connect=*/true);
  const auto deadline =
      std::chrono::system_clock::now() +
      std::chrono::nanoseconds(static_cast<int64_t>(options.connect_timeout_s * 1e9));
  for (const auto& channel : channels) {
    if (!channel->WaitForConnected(deadline)) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", options.target, " within ",
                                                 options.connect_timeout_s, " s (channel state ",
                                                 StateName(channel->GetState(false)), ")"));
    }
  }
  return channels;
}

RunTimeline MakeTimeline(const LoadOptions& options, int64_t now) {
  RunTimeline t;
  t.start_ns = now;
  t.measure_start_ns = now + static_cast<int64_t>(options.warmup_s * kNanosPerSecond);
  t.measure_end_ns =
      t.measure_start_ns + static_cast<int64_t>(options.duration_s * kNanosPerSecond);
  t.give_up_ns = t.measure_end_ns;
  if (options.rate) {
    // Each caller sends one request of batch_size tokens every `interval`: C callers offer
    // C * batch_size / interval tokens per second.
    const double interval_s =
        static_cast<double>(options.concurrency) * options.batch_size / *options.rate;
    t.interval_ns = std::clamp<int64_t>(std::llround(interval_s * kNanosPerSecond), 1,
                                        int64_t{1000} * 1000 * kNanosPerSecond);
    // Requests due in the window that are overdue when it closes may still go out for this
    // long (a server at half the offered rate catches up); the rest count as unsent.
    t.give_up_ns += std::max<int64_t>(kNanosPerSecond,
                                      static_cast<int64_t>(options.duration_s * kNanosPerSecond));
  }
  return t;
}

// MakeSample describes the interval from `since_ns` (when `tokens_before` tokens had completed)
// to `now` (when `tokens_now` had).
ProgressSample MakeSample(const RunTimeline& t, Recorder& recorder, int64_t since_ns,
                          int64_t tokens_before, int64_t now, int64_t tokens_now) {
  ProgressSample s;
  s.elapsed_s = static_cast<double>(now - t.start_ns) / kNanosPerSecond;
  s.phase = now < t.measure_start_ns ? "warmup" : now < t.measure_end_ns ? "measure" : "drain";
  const double interval = static_cast<double>(std::max<int64_t>(now - since_ns, 1));
  s.tokens_per_second =
      static_cast<double>(tokens_now - tokens_before) * kNanosPerSecond / interval;
  s.errors = recorder.live_errors();
  const LoadTotals totals = recorder.Totals();
  s.p99_ns = totals.latency.count() == 0 ? 0 : totals.latency.ValueAtPercentile(99);
  s.in_flight = recorder.in_flight();
  s.max_lag_ns = recorder.TakeMaxLag();
  return s;
}

}  // namespace

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options, RequestPayloads* payloads,
                                   const std::function<void(const ProgressSample&)>& progress) {
  auto channels = Connect(options);
  if (!channels.ok()) return channels.status();
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (const auto& channel : *channels) {
    stubs.push_back(std::make_unique<grpc::GenericStub>(channel));
  }

  Recorder recorder;
  if (!options.series_path.empty()) recorder.KeepWindows();
  LoadResult result;
  const bool stream = options.mode == LoadMode::kStream;
  const bool cq = !stream && options.transport == LoadTransport::kCq;
  // The cq transport keeps its schedule in its own threads.
  auto pacer = cq ? nullptr : std::make_unique<Pacer>();
  const RunTimeline timeline = MakeTimeline(options, MonotonicNanos());
  const int sessions_wanted = stream ? std::min(options.streams, options.concurrency) : 0;
  RunState run(&options, payloads, &recorder, pacer.get(), timeline,
               options.concurrency + sessions_wanted);

  std::vector<std::unique_ptr<StreamSession>> sessions;
  std::vector<std::unique_ptr<Caller>> callers;
  // Declared after the callers, so destroyed (joined) before them.
  std::vector<std::unique_ptr<CqWorker>> workers;
  if (stream) {
    // The whole stream must outlive the window and the drain, plus one request's deadline.
    const auto deadline =
        std::chrono::system_clock::now() +
        std::chrono::nanoseconds(timeline.give_up_ns - timeline.start_ns +
                                 static_cast<int64_t>(options.timeout_s * kNanosPerSecond));
    for (int s = 0; s < sessions_wanted; ++s) {
      const int slots = options.concurrency / sessions_wanted +
                        (s < options.concurrency % sessions_wanted ? 1 : 0);
      sessions.push_back(
          std::make_unique<StreamSession>(&run, stubs[s % stubs.size()].get(), slots, deadline));
    }
    for (int c = 0; c < options.concurrency; ++c) {
      callers.push_back(std::make_unique<StreamSlot>(&run, c, sessions[c % sessions_wanted].get()));
    }
  } else if (cq) {
    const int threads = std::clamp(options.client_threads, 1, options.concurrency);
    for (int w = 0; w < threads; ++w) workers.push_back(std::make_unique<CqWorker>());
    for (int c = 0; c < options.concurrency; ++c) {
      CqWorker* worker = workers[c % threads].get();
      auto caller = std::make_unique<CqRpcCaller>(&run, c, stubs[c % stubs.size()].get(), worker);
      worker->Add(caller.get());
      callers.push_back(std::move(caller));
    }
  } else {
    for (int c = 0; c < options.concurrency; ++c) {
      callers.push_back(std::make_unique<RpcCaller>(&run, c, stubs[c % stubs.size()].get()));
    }
  }
  for (auto& session : sessions) session->Start();
  if (cq) {
    for (auto& worker : workers) worker->Start();  // each starts its own callers
  } else {
    for (auto& caller : callers) caller->Start();
  }

  int64_t tick_ns = timeline.start_ns;
  int64_t tokens_at_tick = 0;
  while (true) {
    const int64_t next_tick = tick_ns + kNanosPerSecond;
    if (run.WaitForAllStopped(
            absl::Nanoseconds(std::max<int64_t>(next_tick - MonotonicNanos(), 0)))) {
      break;
    }
    const int64_t now = MonotonicNanos();
    const int64_t tokens_now = recorder.live_tokens();
    if (progress) {
      progress(MakeSample(timeline, recorder, tick_ns, tokens_at_tick, now, tokens_now));
    }
    if (!options.series_path.empty()) {
      SeriesRow row;
      row.elapsed_s = static_cast<double>(now - timeline.start_ns) / kNanosPerSecond;
      // An interval is in the phase its middle is in.
      const int64_t mid = tick_ns + (now - tick_ns) / 2;
      row.phase = mid < timeline.measure_start_ns ? "warmup"
                  : mid < timeline.measure_end_ns ? "measure"
                                                  : "drain";
      row.interval_s = static_cast<double>(now - tick_ns) / kNanosPerSecond;
      row.window = recorder.TakeWindow();
      result.series.push_back(std::move(row));
    }
    tokens_at_tick = tokens_now;
    tick_ns = now;
  }
  // Every participant has stopped, so no pacer task is left and no callback will come; the
  // cq workers finish as soon as their last caller has stopped.
  pacer.reset();
  workers.clear();

  result.totals = recorder.Totals();
  const int64_t window_ns = timeline.measure_end_ns - timeline.measure_start_ns;
  result.seconds = static_cast<double>(std::max(
                       window_ns, result.totals.last_completion_ns - timeline.measure_start_ns)) /
                   kNanosPerSecond;
  return result;
}

}  // namespace sasmint::bench
