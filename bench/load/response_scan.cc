#include "bench/load/response_scan.h"

#include <google/protobuf/io/coded_stream.h>
#include <grpcpp/support/proto_buffer_reader.h>

namespace sasmint::bench {
namespace {

using google::protobuf::io::CodedInputStream;

// Wire format tags (field_number << 3 | wire_type) of the fields we read.
constexpr uint32_t kResultsTag = (1 << 3) | 2;    // MintTokensResponse.results
constexpr uint32_t kBatchIdTag = (2 << 3) | 0;    // MintTokensResponse.batch_id
constexpr uint32_t kTokenTag = (1 << 3) | 2;      // MintResult.token
constexpr uint32_t kErrorTag = (2 << 3) | 2;      // MintResult.error
constexpr uint32_t kErrorCodeTag = (1 << 3) | 0;  // Error.code

constexpr int kCodeUnknown = 2;

// SkipField skips one field of any wire type but the deprecated groups.
bool SkipField(CodedInputStream* in, uint32_t tag) {
  switch (tag & 7) {
    case 0: {
      uint64_t ignored;
      return in->ReadVarint64(&ignored);
    }
    case 1:
      return in->Skip(8);
    case 2: {
      uint32_t len;
      return in->ReadVarint32(&len) && in->Skip(static_cast<int>(len));
    }
    case 5:
      return in->Skip(4);
    default:
      return false;
  }
}

// ReadNested runs `body` over the length-delimited field that follows.
template <typename Body>
bool ReadNested(CodedInputStream* in, Body body) {
  uint32_t len;
  if (!in->ReadVarint32(&len)) return false;
  const CodedInputStream::Limit limit = in->PushLimit(static_cast<int>(len));
  const bool ok = body() && in->ConsumedEntireMessage();
  in->PopLimit(limit);
  return ok;
}

// ScanResult reads one MintResult. A oneof takes the last member seen; a result with neither
// member is a server bug, counted as UNKNOWN.
bool ScanResult(CodedInputStream* in, Outcome* outcome) {
  enum { kNone, kToken, kError } kind = kNone;
  int32_t code = kCodeUnknown;
  while (const uint32_t tag = in->ReadTag()) {
    if (tag == kTokenTag) {
      kind = kToken;
      if (!SkipField(in, tag)) return false;
    } else if (tag == kErrorTag) {
      kind = kError;
      code = kCodeUnknown;
      const bool ok = ReadNested(in, [&] {
        while (const uint32_t t = in->ReadTag()) {
          if (t == kErrorCodeTag) {
            uint32_t v;
            if (!in->ReadVarint32(&v)) return false;
            code = static_cast<int32_t>(v);
          } else if (!SkipField(in, t)) {
            return false;
          }
        }
        return true;
      });
      if (!ok) return false;
    } else if (!SkipField(in, tag)) {
      return false;
    }
  }
  if (kind == kToken) {
    ++outcome->tokens;
  } else {
    outcome->AddErrors(code, 1);
  }
  return true;
}

}  // namespace

absl::StatusOr<BatchScan> ScanBatch(grpc::ByteBuffer* response) {
  const auto malformed = [] {
    return absl::DataLossError("response is not a well-formed MintTokensResponse");
  };
  grpc::ProtoBufferReader reader(response);
  if (!reader.status().ok()) return malformed();
  BatchScan scan;
  {
    CodedInputStream in(&reader);
    while (const uint32_t tag = in.ReadTag()) {
      bool ok;
      if (tag == kResultsTag) {
        ok = ReadNested(&in, [&] { return ScanResult(&in, &scan.outcome); });
        ++scan.results;
      } else if (tag == kBatchIdTag) {
        ok = in.ReadVarint64(&scan.batch_id);
      } else {
        ok = SkipField(&in, tag);
      }
      if (!ok) return malformed();
    }
    if (!in.ConsumedEntireMessage()) return malformed();
  }
  return scan;
}

}  // namespace sasmint::bench
