// conversions.h: sasmint.v1 protobuf messages to and from the mint, verify and admin types.
//
// The only translation between the wire and the service's rooms: requests become MintItems,
// VerifyRequests and AdminKeyEntries (views into the messages where the message outlives the
// work, copies where it does not), and outcomes and reports become responses. Keys arrive as
// strict base64 and leave this file as HMAC midstates; nothing here writes a key into a
// message. Thread-safe (no state).
#ifndef SASMINT_SERVICE_RPC_CONVERSIONS_H_
#define SASMINT_SERVICE_RPC_CONVERSIONS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sasmint/v1/sasmint.pb.h"
#include "service/admin/key_admin.h"
#include "service/mint/batch_minter.h"
#include "service/verify/report.h"
#include "service/verify/verify_request.h"

namespace sasmint {

// ToGrpcStatus converts an absl::Status to a grpc::Status with the same code and message (the
// codes are the same google.rpc.Code values).
grpc::Status ToGrpcStatus(const absl::Status& status);

// ToKeySlot converts a protobuf key slot; INVALID_ARGUMENT for values this server does not know.
absl::StatusOr<KeySlot> ToKeySlot(v1::KeySlot slot);
// ToProtoSlot converts a key slot that signed (kActive is never one): primary or secondary.
v1::KeySlot ToProtoSlot(KeySlot slot);

// ToRight converts a protobuf right (0 when unspecified); INVALID_ARGUMENT for unknown values.
absl::StatusOr<uint32_t> ToRight(v1::Right right);
// ToProtoRight converts a Right; RIGHT_UNSPECIFIED for 0 or a combination.
v1::Right ToProtoRight(uint32_t right);

// ToMintItem converts one request into a MintItem borrowing its texts from `request`. A request
// without a scope, or with an unknown key slot, becomes an item whose `error` says so.
MintItem ToMintItem(const v1::MintTokenRequest& request);
// ToMintRequest fills a request for `scope` (the command-line client's).
void ToMintRequest(const TokenScope& scope, v1::MintTokenRequest* request);
// FillMintResponse writes a minted token (outcome.status OK) into `response`.
void FillMintResponse(const MintOutcome& outcome, v1::MintTokenResponse* response);
// FillMintResult writes an outcome, token or error, into `result`.
void FillMintResult(const MintOutcome& outcome, v1::MintResult* result);

// ToVerifyRequest converts a VerifyToken request, borrowing its texts; INVALID_ARGUMENT for an
// unknown right.
absl::StatusOr<VerifyRequest> ToVerifyRequest(const v1::VerifyTokenRequest& request);
// FillVerifyResponse writes a report into a response.
void FillVerifyResponse(const VerifyReport& report, v1::VerifyTokenResponse* response);
// ReportFromResponse turns a server's answer back into a report (for printing by the CLI).
VerifyReport ReportFromResponse(const v1::VerifyTokenResponse& response);

// ToAdminIdentity converts an identity.
AdminIdentity ToAdminIdentity(const v1::Identity& identity);
// ToAdminKeyEntries converts PutKeys entries; INVALID_ARGUMENT naming "entries[i].<field>" for
// a missing identity or a key that is not strict base64 of 16-64 bytes (identities are checked
// by KeyAdmin::PutKeys). Error messages never contain key text.
absl::StatusOr<std::vector<AdminKeyEntry>> ToAdminKeyEntries(const v1::PutKeysRequest& request);
// FillKeyInfo writes an identity's metadata (never keys) into `info`.
void FillKeyInfo(const KeyInfoData& data, v1::KeyInfo* info);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_RPC_CONVERSIONS_H_
