// batch_minter.h: the batch pipeline. Authorizes, finds, resolves and signs many tokens at once.
//
// A batch item travels one way: authorized for the caller (before any lookup, so a denial reads
// the same whether or not the identity exists), found once in the identity table, resolved
// against what was found, then signed with the rest of the batch by the BatchSigner. Lookups
// into millions of identities are cache misses, and overlapping them is most of their cost, so
// the pipeline runs ahead: item i + 8 is hashed and its table line prefetched; item i + 4, whose
// line has arrived by then, is authorized, found, and its keys prefetched; item i is resolved.
//
// Items borrow their texts from the caller's request; results borrow their token texts from the
// MintScratch they were minted with. One item's failure (malformed, denied, unknown, disabled)
// fails only that item. BatchMinter is immutable and thread-safe; a MintScratch is
// thread-compatible (one per thread: the service keeps one per worker thread).
#ifndef SASMINT_SERVICE_MINT_BATCH_MINTER_H_
#define SASMINT_SERVICE_MINT_BATCH_MINTER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "service/authz/authorizer.h"
#include "service/keystore/key_store.h"
#include "service/mint/minter.h"
#include "signer/batch_signer.h"
#include "signer/sas_token.h"

namespace sasmint {

// MintItem is one token asked for. Its names are views into the caller's request, which must
// outlive the call that mints it.
struct MintItem {
  ScopeKind kind = ScopeKind::kDevice;
  absl::string_view hub;        // device, module and policy scopes
  absl::string_view device_id;  // device and module scopes
  absl::string_view module_id;  // module scopes (empty for a device)
  absl::string_view policy;     // policy scopes
  absl::string_view resource;   // policy scopes: an optional path under the hub
  absl::string_view id_scope;   // registrations (DPS)
  absl::string_view registration_id;
  uint32_t ttl_seconds = 0;  // 0: the server's default
  KeySlot key_slot = KeySlot::kActive;
  // error, if not OK, is why the request could not be read (no scope, an unknown key slot):
  // the item then fails with it, alone.
  absl::Status error;

  // Identity returns a device (module_id empty) or module item.
  static MintItem Identity(absl::string_view hub, absl::string_view device_id,
                           absl::string_view module_id = {});
  // ToScope returns the item's scope as a TokenScope (a copy of the names).
  TokenScope ToScope() const;
};

// MintOutcome is what became of one item: a token (status OK) or the error it failed with.
struct MintOutcome {
  absl::Status status;
  absl::string_view token;  // into the MintScratch of the call, until its next use
  int64_t expires_at = 0;
  int64_t renew_after = 0;
  int64_t server_time = 0;
  KeySlot key_slot = KeySlot::kPrimary;  // the slot that signed
};

// MintScratch is a thread's reusable working memory for minting: once it has grown to the
// largest batch, minting allocates nothing but error messages.
class MintScratch {
 public:
  MintScratch() = default;
  MintScratch(const MintScratch&) = delete;
  MintScratch& operator=(const MintScratch&) = delete;

 private:
  friend class BatchMinter;
  std::vector<ResolvedMint> resolved_;
  std::vector<TokenJob> jobs_;
  std::vector<uint32_t> item_of_job_;  // index into the call's items
  MintedTokens tokens_;
};

// Denials counts the items of one call refused to the caller, so that the call is logged once.
struct Denials {
  int count = 0;
  absl::Status first;  // the first of them
};

class BatchMinter {
 public:
  // `minter` must outlive the BatchMinter.
  explicit BatchMinter(const Minter* minter) : minter_(minter) {}

  // Mint mints items[i] into outcomes[i] (the spans have the same size) for `caller` (a rule
  // from the Authorizer; null is denied everything), against `table`, at `now`: every token of
  // the call shares its expiry second. Items the caller may not mint fail with
  // PERMISSION_DENIED and are counted in `denials`. Token texts live in `scratch` until its
  // next use. Aborts if the spans differ in size.
  void Mint(const IdentityTable& table, absl::Time now, const CallerRule* caller,
            absl::Span<const MintItem> items, absl::Span<MintOutcome> outcomes,
            MintScratch* scratch, Denials* denials) const;

  const Minter& minter() const { return *minter_; }

 private:
  const Minter* const minter_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_MINT_BATCH_MINTER_H_
