// libFuzzer differential target: BatchSigner (every ISA this CPU runs) against the portable
// HmacKey::Sign, and MintBatch against FormatToken, on fuzzer-chosen keys, messages and batch
// shapes. Any difference traps. Build and run: tests/fuzz/README.md.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "signer/batch_signer.h"
#include "signer/hmac_sha256.h"
#include "signer/internal/cpu_features.h"
#include "signer/sas_token.h"

namespace {

using sasmint::BatchSigner;
using sasmint::HmacKey;
using sasmint::Isa;
using sasmint::Mac;

const std::vector<BatchSigner>& Signers() {
  static const auto* signers = [] {
    auto* v = new std::vector<BatchSigner>;
    for (Isa isa : {Isa::kPortable, Isa::kShani, Isa::kAvx2, Isa::kAvx512}) {
      if (!sasmint::internal::IsaSupported(isa)) continue;
      v->push_back(BatchSigner::Create(isa).value());
    }
    return v;
  }();
  return *signers;
}

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<HmacKey> keys;
  const size_t num_keys = in.ConsumeIntegralInRange<size_t>(1, 4);
  for (size_t k = 0; k < num_keys; ++k) {
    const std::string key = in.ConsumeRandomLengthString(200);
    keys.push_back(HmacKey::FromBytes(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(key.data()), key.size())));
  }
  // Messages share one buffer (at fuzzer-chosen offsets and lengths, so they overlap and sit at
  // every alignment); lengths reach past the lane kernels' limit (1015 bytes).
  const std::string pool = in.ConsumeRandomLengthString(1500);
  const size_t num_jobs = in.ConsumeIntegralInRange<size_t>(0, 40);
  std::vector<sasmint::SignJob> jobs;
  for (size_t j = 0; j < num_jobs; ++j) {
    const size_t offset = in.ConsumeIntegralInRange<size_t>(0, pool.size());
    const size_t length = in.ConsumeIntegralInRange<size_t>(0, pool.size() - offset);
    jobs.push_back({&keys[in.ConsumeIntegralInRange<size_t>(0, keys.size() - 1)],
                    reinterpret_cast<const uint8_t*>(pool.data()) + offset, length});
  }
  std::vector<Mac> want(jobs.size());
  for (size_t j = 0; j < jobs.size(); ++j) {
    want[j] = jobs[j].key->Sign(absl::MakeConstSpan(jobs[j].message, jobs[j].length));
  }
  std::vector<Mac> got(jobs.size());
  for (const BatchSigner& signer : Signers()) {
    signer.Sign(jobs, absl::MakeSpan(got));
    Check(got == want);
  }

  // Tokens: any non-empty resource text and key name (FormatToken takes them as given).
  std::vector<std::string> resources;
  std::vector<sasmint::TokenJob> token_jobs;
  const size_t num_tokens = in.ConsumeIntegralInRange<size_t>(0, 20);
  for (size_t t = 0; t < num_tokens; ++t) resources.push_back(in.ConsumeRandomLengthString(1100));
  const std::string key_name = in.ConsumeRandomLengthString(20);
  for (size_t t = 0; t < num_tokens; ++t) {
    if (resources[t].empty()) resources[t] = "r";
    token_jobs.push_back({&keys[t % keys.size()], resources[t],
                          t % 2 == 0 ? absl::string_view() : absl::string_view(key_name),
                          in.ConsumeIntegralInRange<int64_t>(1, sasmint::kMaxExpiry)});
  }
  sasmint::MintedTokens tokens;
  for (const BatchSigner& signer : Signers()) {
    Check(signer.MintBatch(token_jobs, &tokens).ok());
    Check(tokens.size() == token_jobs.size());
    for (size_t t = 0; t < token_jobs.size(); ++t) {
      const sasmint::TokenJob& job = token_jobs[t];
      const std::string sts = sasmint::StringToSign(job.encoded_resource, job.expiry);
      const Mac mac = job.key->Sign(
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(sts.data()), sts.size()));
      Check(tokens[t] == sasmint::FormatToken(job.encoded_resource, mac, job.expiry, job.key_name));
    }
  }
  return 0;
}
