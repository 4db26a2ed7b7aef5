#include "service/mint/batch_minter.h"

#include <cstdlib>
#include <utility>

namespace sasmint {

MintItem MintItem::Identity(absl::string_view hub, absl::string_view device_id,
                            absl::string_view module_id) {
  MintItem item;
  item.kind = module_id.empty() ? ScopeKind::kDevice : ScopeKind::kModule;
  item.hub = hub;
  item.device_id = device_id;
  item.module_id = module_id;
  return item;
}

TokenScope MintItem::ToScope() const {
  switch (kind) {
    case ScopeKind::kDevice:
      return TokenScope::Device(hub, device_id);
    case ScopeKind::kModule:
      return TokenScope::Module(hub, device_id, module_id);
    case ScopeKind::kPolicy:
      return TokenScope::Policy(hub, policy, resource);
    case ScopeKind::kRegistration:
      return TokenScope::Registration(id_scope, registration_id);
  }
  std::abort();
}

namespace {

bool IsIdentity(const MintItem& item) {
  return item.kind == ScopeKind::kDevice || item.kind == ScopeKind::kModule;
}

// Ahead is what the pipeline learnt of an item before resolving it.
struct Ahead {
  uint64_t hash = 0;
  absl::Status authorized;
  IdentityRef found;
};

}  // namespace

void BatchMinter::Mint(const IdentityTable& table, absl::Time now, const CallerRule* caller,
                       absl::Span<const MintItem> items, absl::Span<MintOutcome> outcomes,
                       MintScratch* scratch, Denials* denials) const {
  if (items.size() != outcomes.size()) std::abort();
  const int64_t now_seconds = absl::ToUnixSeconds(now);
  const int n = static_cast<int>(items.size());
  std::vector<ResolvedMint>& resolved = scratch->resolved_;
  std::vector<TokenJob>& jobs = scratch->jobs_;
  std::vector<uint32_t>& item_of_job = scratch->item_of_job_;
  jobs.clear();
  item_of_job.clear();
  size_t used = 0;

  // Item i + kAhead is hashed and its hot line prefetched; item i + kKeysAhead, whose line has
  // arrived by then, is authorized, found, and its keys prefetched; item i is resolved. A small
  // ring keeps what the first two stages learnt (kRing > kAhead: i + kAhead never overwrites i).
  constexpr int kAhead = 8;
  constexpr int kKeysAhead = 4;
  constexpr int kRing = 16;
  Ahead ring[kRing];
  const auto prefetch = [&](int i) {
    if (i >= n || !IsIdentity(items[i])) return;
    const MintItem& item = items[i];
    const uint64_t hash = IdentityTable::IdentityHash(item.hub, item.device_id, item.module_id);
    ring[i % kRing].hash = hash;
    table.PrefetchIdentity(hash);
  };
  const auto authorize_and_find = [&](int i) {
    if (i >= n || !IsIdentity(items[i])) return;
    const MintItem& item = items[i];
    Ahead& ahead = ring[i % kRing];
    ahead.found = IdentityRef();
    if (!item.error.ok()) return;
    ahead.authorized = AuthorizeIdentity(caller, item.hub, item.device_id, item.module_id);
    if (!ahead.authorized.ok()) return;
    ahead.found = table.Find(item.hub, item.device_id, item.module_id, ahead.hash);
    IdentityTable::PrefetchKeys(ahead.found);
  };

  for (int i = 0; i < kAhead; ++i) prefetch(i);
  for (int i = 0; i < kKeysAhead; ++i) authorize_and_find(i);
  for (int i = 0; i < n; ++i) {
    prefetch(i + kAhead);
    authorize_and_find(i + kKeysAhead);
    const MintItem& item = items[i];
    MintOutcome& outcome = outcomes[i];
    if (used == resolved.size()) resolved.emplace_back();
    ResolvedMint* r = &resolved[used];
    absl::Status status = item.error;
    if (!status.ok()) {
      // Malformed before anything was looked up.
    } else if (IsIdentity(item)) {
      Ahead& ahead = ring[i % kRing];
      status = std::move(ahead.authorized);
      if (status.ok()) {
        status =
            minter_->ResolveFoundInto(table, item.hub, item.device_id, item.module_id,
                                      item.ttl_seconds, item.key_slot, ahead.hash, ahead.found, r);
      }
    } else {
      MintRequest request{item.ToScope(), item.ttl_seconds, item.key_slot};
      status = Authorize(caller, request.scope);
      if (status.ok()) status = minter_->ResolveInto(table, request, r);
    }
    if (!status.ok()) {
      if (absl::IsPermissionDenied(status) && denials->count++ == 0) denials->first = status;
      outcome = MintOutcome();
      outcome.status = std::move(status);
      continue;
    }
    outcome.status = absl::OkStatus();
    item_of_job.push_back(static_cast<uint32_t>(i));
    ++used;
  }
  // The jobs point into `resolved`, so they are made once it has stopped growing.
  for (size_t k = 0; k < used; ++k) {
    const ResolvedMint& r = resolved[k];
    jobs.push_back(TokenJob{&r.key(), r.encoded_resource(), r.key_name(),
                            now_seconds + static_cast<int64_t>(r.ttl_seconds())});
  }

  const absl::Status signed_ok = minter_->signer().MintBatch(jobs, &scratch->tokens_);
  for (size_t k = 0; k < used; ++k) {
    MintOutcome& outcome = outcomes[item_of_job[k]];
    if (!signed_ok.ok()) {
      // Only an expiry past year 9999 gets here, and the whole call shares it.
      outcome.status = signed_ok;
      continue;
    }
    const MintedToken meta = minter_->Complete(resolved[k], now_seconds);
    outcome.token = scratch->tokens_[k];
    outcome.expires_at = meta.expires_at;
    outcome.renew_after = meta.renew_after;
    outcome.server_time = meta.server_time;
    outcome.key_slot = meta.key_slot;
  }
  // DPS device keys derived for this call are wiped now rather than when the slot is reused.
  for (size_t k = 0; k < used; ++k) resolved[k].ClearDerivedKey();
}

}  // namespace sasmint
