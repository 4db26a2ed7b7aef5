#include "bench/load/request_payloads.h"

#include <grpcpp/support/slice.h>

#include "absl/strings/str_cat.h"
#include "sasmint/v1/sasmint.pb.h"

namespace sasmint::bench {
namespace {

// Protobuf wire format: tag = field_number << 3 | wire_type (0 varint, 2 length-delimited).
constexpr uint8_t kRequestsTag = (1 << 3) | 2;  // MintTokensRequest.requests
constexpr uint8_t kBatchIdTag = (2 << 3) | 0;   // MintTokensRequest.batch_id

size_t AppendVarint(uint64_t v, std::string* out) {
  size_t n = 0;
  do {
    uint8_t byte = v & 0x7F;
    v >>= 7;
    if (v != 0) byte |= 0x80;
    out->push_back(static_cast<char>(byte));
    ++n;
  } while (v != 0);
  return n;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RequestPayloads>> RequestPayloads::Build(
    absl::Span<const IdentityRef> identities, const std::string& hub, uint32_t ttl_seconds,
    int batch_size) {
  if (identities.empty()) return absl::InvalidArgumentError("no identities to send");
  if (batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch size ", batch_size, " is below 1"));
  }
  std::unique_ptr<RequestPayloads> p(new RequestPayloads());
  p->identity_count_ = identities.size();
  p->batch_size_ = batch_size;
  const size_t entries = identities.size() + static_cast<size_t>(batch_size) - 1;
  p->entry_start_.reserve(entries + 1);
  p->body_start_.reserve(entries);
  // Serialized by the generated code, so the encoding matches what any protobuf client sends.
  std::vector<std::string> bodies(identities.size());
  v1::MintTokenRequest request;
  request.set_ttl_seconds(ttl_seconds);
  for (size_t i = 0; i < identities.size(); ++i) {
    v1::Identity* id = request.mutable_identity();
    id->set_hub(hub);
    id->set_device_id(identities[i].device_id);
    id->set_module_id(identities[i].module_id);
    request.SerializeToString(&bodies[i]);
  }
  for (size_t j = 0; j < entries; ++j) {
    const std::string& body = bodies[j % identities.size()];
    p->entry_start_.push_back(p->bytes_.size());
    p->bytes_.push_back(static_cast<char>(kRequestsTag));
    AppendVarint(body.size(), &p->bytes_);
    p->body_start_.push_back(p->bytes_.size());
    p->bytes_.append(body);
  }
  p->entry_start_.push_back(p->bytes_.size());
  return p;
}

grpc::ByteBuffer RequestPayloads::MintToken(size_t window) const {
  const size_t begin = body_start_[window];
  grpc::Slice slice(bytes_.data() + begin, entry_start_[window + 1] - begin,
                    grpc::Slice::STATIC_SLICE);
  return grpc::ByteBuffer(&slice, 1);
}

grpc::ByteBuffer RequestPayloads::MintTokens(size_t window, uint64_t batch_id) const {
  const size_t begin = entry_start_[window];
  const size_t end = entry_start_[window + static_cast<size_t>(batch_size_)];
  grpc::Slice slices[2] = {
      grpc::Slice(bytes_.data() + begin, end - begin, grpc::Slice::STATIC_SLICE), grpc::Slice()};
  if (batch_id == 0) return grpc::ByteBuffer(slices, 1);
  std::string id_field(1, static_cast<char>(kBatchIdTag));
  AppendVarint(batch_id, &id_field);
  slices[1] = grpc::Slice(id_field);
  return grpc::ByteBuffer(slices, 2);
}

}  // namespace sasmint::bench
