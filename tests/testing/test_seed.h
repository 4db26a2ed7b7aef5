// test_seed.h: the one seeded, printed source of randomness for signer/ tests (test-only).
//
// TestSeed() is SASMINT_TEST_SEED from the environment (decimal) when set, otherwise a fresh
// random value; either way it is printed once to stdout and recorded as the gtest property
// "seed", so any failure can be replayed with SASMINT_TEST_SEED=<seed>. Thread-safe.
#ifndef SASMINT_TESTS_TESTING_TEST_SEED_H_
#define SASMINT_TESTS_TESTING_TEST_SEED_H_

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"

namespace sasmint::testing {

inline uint64_t TestSeed() {
  static const uint64_t seed = [] {
    uint64_t s = 0;
    const char* env = std::getenv("SASMINT_TEST_SEED");
    if (env != nullptr && *env != '\0') {
      if (!absl::SimpleAtoi(env, &s)) {
        std::cerr << "SASMINT_TEST_SEED='" << env << "' is not a decimal uint64\n";
        std::abort();
      }
    } else {
      std::random_device rd;
      s = (uint64_t{rd()} << 32) ^ rd();
    }
    std::cout << "SASMINT_TEST_SEED=" << s << " (set it to replay this run)" << std::endl;
    return s;
  }();
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

// RandomBytes returns `n` bytes from `rng`.
inline std::vector<uint8_t> RandomBytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

}  // namespace sasmint::testing

#endif  // SASMINT_TESTS_TESTING_TEST_SEED_H_
