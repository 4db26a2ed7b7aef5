// sasmint-gen-export: writes a synthetic IoT Hub device export file (JSON lines) of any size,
// for load tests and key store benchmarks.
//
//   sasmint-gen-export --count N --out FILE [--seed S] [--modules-per-device M]
//                      [--disabled-every K] [--key-bytes B] [--id-prefix P]
//
// Device IDs are `<prefix><index>-<random suffix>` (so sizes and hash spread are realistic),
// keys are random bytes from a seeded xoshiro-style generator (synthetic, not secret). Lines
// have the shape IoT Hub's export writes, including fields the loader ignores.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/flags.h"
#include "signer/encoding.h"

namespace {

// SplitMix64: a small, fast, seedable generator; plenty for synthetic IDs and keys.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  void Fill(uint8_t* out, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t v = Next();
      for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<uint8_t>(v >> (8 * j));
    }
  }

 private:
  uint64_t s_;
};

int Usage(const std::string& message) {
  std::cerr << "sasmint-gen-export: " << message << "\n";
  return 2;
}

bool ParseUint(const std::optional<std::string>& text, uint64_t* out) {
  return !text || absl::SimpleAtoi(*text, out);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto flags = sasmint::Flags::Parse(
      args,
      {"count", "out", "seed", "modules-per-device", "disabled-every", "key-bytes", "id-prefix"},
      {});
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  uint64_t count = 0, seed = 1, modules = 0, disabled_every = 0, key_bytes = 32;
  if (!flags->Get("count") || !ParseUint(flags->Get("count"), &count)) {
    return Usage("--count N is required");
  }
  if (!ParseUint(flags->Get("seed"), &seed) ||
      !ParseUint(flags->Get("modules-per-device"), &modules) ||
      !ParseUint(flags->Get("disabled-every"), &disabled_every) ||
      !ParseUint(flags->Get("key-bytes"), &key_bytes) || key_bytes < 16 || key_bytes > 64) {
    return Usage("numeric flags must be non-negative integers; --key-bytes 16 to 64");
  }
  const auto out_path = flags->Get("out");
  if (!out_path) return Usage("--out FILE is required");
  const std::string prefix = flags->Get("id-prefix").value_or("dev-");
  FILE* out = std::fopen(out_path->c_str(), "wb");
  if (out == nullptr) return Usage(absl::StrCat("cannot write ", *out_path));
  std::vector<char> buffer(1 << 20);
  std::setvbuf(out, buffer.data(), _IOFBF, buffer.size());

  Rng rng(seed);
  uint8_t key[64];
  std::string line;
  const auto write_identity = [&](const std::string& id, const std::string& module, bool disabled) {
    line.clear();
    absl::StrAppend(&line, "{\"id\":\"", id, "\"");
    if (!module.empty()) absl::StrAppend(&line, ",\"moduleId\":\"", module, "\"");
    absl::StrAppend(&line, ",\"eTag\":\"MA==\",\"status\":\"", disabled ? "disabled" : "enabled",
                    "\",\"authentication\":{\"symmetricKey\":{\"primaryKey\":\"");
    rng.Fill(key, key_bytes);
    line += sasmint::Base64Encode(absl::MakeConstSpan(key, key_bytes));
    line += "\",\"secondaryKey\":\"";
    rng.Fill(key, key_bytes);
    line += sasmint::Base64Encode(absl::MakeConstSpan(key, key_bytes));
    line +=
        "\"},\"x509Thumbprint\":{\"primaryThumbprint\":null,\"secondaryThumbprint\":null},"
        "\"type\":\"sas\"},\"capabilities\":{\"iotEdge\":false}}\n";
    std::fwrite(line.data(), 1, line.size(), out);
  };
  for (uint64_t i = 0; i < count; ++i) {
    const std::string id = absl::StrCat(prefix, i, "-", absl::Hex(rng.Next() & 0xffffff));
    const bool disabled = disabled_every > 0 && i % disabled_every == disabled_every - 1;
    write_identity(id, "", disabled);
    for (uint64_t m = 0; m < modules; ++m) write_identity(id, absl::StrCat("module-", m), false);
  }
  if (std::fclose(out) != 0) return Usage(absl::StrCat("error writing ", *out_path));
  return 0;
}
