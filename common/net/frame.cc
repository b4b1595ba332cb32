#include "common/net/frame.h"

#include <google/protobuf/message_lite.h>

#include <algorithm>

namespace aimass::net {

Result<std::string> EncodeFrame(const google::protobuf::MessageLite& message) {
  size_t size = message.ByteSizeLong();
  if (size > kMaxFrameBytes) {
    return Status::InvalidArgument("message of " + std::to_string(size) +
                                   " bytes exceeds the frame limit");
  }
  std::string frame(kFrameHeaderBytes + size, '\0');
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    frame[i] = static_cast<char>((size >> (8 * i)) & 0xff);
  }
  if (!message.SerializeToArray(frame.data() + kFrameHeaderBytes, static_cast<int>(size))) {
    return Status::Error("cannot serialize " + message.GetTypeName());
  }
  return frame;
}

Result<uint32_t> DecodeFrameHeader(const unsigned char header[kFrameHeaderBytes], uint32_t limit) {
  limit = std::min(limit, kMaxFrameBytes);
  uint32_t size = 0;
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) size |= static_cast<uint32_t>(header[i]) << (8 * i);
  if (size > limit) {
    // Received bytes that fail a check: a desynchronised stream or not our protocol at all.
    return Status::Corruption("peer announced a frame of " + std::to_string(size) +
                         " bytes, over the limit of " + std::to_string(limit));
  }
  return size;
}

Status DecodeFrameBody(const std::string& body, google::protobuf::MessageLite* message) {
  if (!message->ParseFromString(body)) {
    return Status::Corruption("malformed " + message->GetTypeName() + " frame of " +
                         std::to_string(body.size()) + " bytes");
  }
  return Status::Ok();
}

}  // namespace aimass::net
