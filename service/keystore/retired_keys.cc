#include "service/keystore/retired_keys.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/keystore/key_memory.h"

namespace sasmint {
namespace {

constexpr absl::string_view kDevices = "/devices/";
constexpr absl::string_view kModules = "/modules/";

}  // namespace

RetiredKeyList NewRetiredKeyList() {
  return RetiredKeyList(SecureAllocator<RetiredKey>(&KeyMemoryHeap()));
}

size_t ApplyRetention(RetiredKeyList& keys, const RetentionOptions& retention, int64_t now) {
  const size_t before = keys.size();
  size_t keep = std::min<size_t>(keys.size(), retention.keep_count);
  if (retention.keep_seconds <= 0) keep = 0;
  // Newest first: the expired keys are a suffix.
  while (keep > 0 && keys[keep - 1].retired_at < now - retention.keep_seconds) --keep;
  keys.erase(keys.begin() + keep, keys.end());
  return before - keys.size();
}

std::string IdentityName(absl::string_view hub, absl::string_view device_id,
                         absl::string_view module_id) {
  if (module_id.empty()) return absl::StrCat(hub, kDevices, device_id);
  return absl::StrCat(hub, kDevices, device_id, kModules, module_id);
}

bool SplitIdentityName(absl::string_view name, absl::string_view* hub, absl::string_view* device_id,
                       absl::string_view* module_id) {
  const size_t devices = name.find(kDevices);
  if (devices == absl::string_view::npos) return false;
  *hub = name.substr(0, devices);
  absl::string_view rest = name.substr(devices + kDevices.size());
  const size_t modules = rest.find(kModules);
  if (modules == absl::string_view::npos) {
    *device_id = rest;
    *module_id = absl::string_view();
  } else {
    *device_id = rest.substr(0, modules);
    *module_id = rest.substr(modules + kModules.size());
  }
  return !hub->empty() && !device_id->empty();
}

RetiredKeyIndex::RetiredKeyIndex() : shards_(size_t{1} << kShardBits), owned_(shards_.size()) {}

RetiredKeyIndex::RetiredKeyIndex(const RetiredKeyIndex& other)
    : shards_(other.shards_),
      owned_(shards_.size(), false),
      identities_(other.identities_),
      keys_(other.keys_),
      oldest_(other.oldest_) {}

RetiredKeyIndex::~RetiredKeyIndex() = default;

RetiredKeyIndex::Shard& RetiredKeyIndex::Mutable(size_t s) {
  if (!owned_[s]) {
    shards_[s] =
        shards_[s] == nullptr ? std::make_shared<Shard>() : std::make_shared<Shard>(*shards_[s]);
    owned_[s] = true;
  }
  return *shards_[s];
}

const RetiredKeyList* RetiredKeyIndex::Find(absl::string_view name) const {
  const Shard* shard = shards_[StableHash(name) >> (64 - kShardBits)].get();
  if (shard == nullptr) return nullptr;
  auto it = shard->find(name);
  return it == shard->end() ? nullptr : &it->second;
}

void RetiredKeyIndex::Set(absl::string_view name, RetiredKeyList keys) {
  const size_t s = StableHash(name) >> (64 - kShardBits);
  if (keys.empty() && (shards_[s] == nullptr || !shards_[s]->contains(name))) return;
  Shard& shard = Mutable(s);
  auto it = shard.find(name);
  if (it != shard.end()) {
    keys_ -= it->second.size();
    --identities_;
    if (keys.empty()) {
      shard.erase(it);
      return;
    }
  }
  for (const RetiredKey& k : keys) oldest_ = std::min(oldest_, k.retired_at);
  keys_ += keys.size();
  ++identities_;
  if (it != shard.end()) {
    it->second = std::move(keys);
  } else {
    shard.emplace(std::string(name), std::move(keys));
  }
}

size_t RetiredKeyIndex::Prune(const RetentionOptions& retention, int64_t now) {
  const int64_t cutoff = retention.keep_seconds <= 0 ? INT64_MAX : now - retention.keep_seconds;
  if (oldest_ >= cutoff) return 0;
  size_t dropped = 0;
  int64_t oldest = INT64_MAX;
  for (size_t s = 0; s < shards_.size(); ++s) {
    if (shards_[s] == nullptr) continue;
    bool expired = false;
    for (const auto& [name, keys] : *shards_[s]) {
      if (keys.back().retired_at < cutoff) expired = true;
    }
    if (expired) {
      Shard& shard = Mutable(s);
      for (auto it = shard.begin(); it != shard.end();) {
        RetiredKeyList& keys = it->second;
        const size_t before = keys.size();
        keys.erase(std::find_if(keys.begin(), keys.end(),
                                [cutoff](const RetiredKey& k) { return k.retired_at < cutoff; }),
                   keys.end());
        dropped += before - keys.size();
        keys_ -= before - keys.size();
        if (keys.empty()) {
          --identities_;
          shard.erase(it++);
        } else {
          ++it;
        }
      }
    }
    for (const auto& [name, keys] : *shards_[s]) oldest = std::min(oldest, keys.back().retired_at);
  }
  oldest_ = oldest;
  return dropped;
}

void RetiredKeyIndex::ForEach(
    const std::function<void(absl::string_view, const RetiredKeyList&)>& fn) const {
  for (const auto& shard : shards_) {
    if (shard == nullptr) continue;
    for (const auto& [name, keys] : *shard) fn(name, keys);
  }
}

}  // namespace sasmint
