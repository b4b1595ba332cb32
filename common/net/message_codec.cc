#include "common/net/message_codec.h"

#include <google/protobuf/message_lite.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace aimass::net {

namespace asio = boost::asio;

Status WriteMessage(asio::ip::tcp::socket& socket, const google::protobuf::MessageLite& message) {
  AIMASS_ASSIGN_OR_RETURN(std::string frame, EncodeFrame(message));
  boost::system::error_code error;
  asio::write(socket, asio::buffer(frame), error);
  if (error) return Status::Unavailable("send failed: " + error.message());
  return Status::Ok();
}

Status ReadMessage(asio::ip::tcp::socket& socket, google::protobuf::MessageLite* message,
                   uint32_t limit) {
  unsigned char header[kFrameHeaderBytes];
  boost::system::error_code error;
  asio::read(socket, asio::buffer(header), error);
  if (error == asio::error::eof) return Status::Unavailable("connection closed by peer");
  if (error) return Status::Unavailable("connection closed: " + error.message());
  AIMASS_ASSIGN_OR_RETURN(uint32_t size, DecodeFrameHeader(header, limit));
  std::string body(size, '\0');
  asio::read(socket, asio::buffer(body), error);
  if (error) return Status::Unavailable("connection closed mid-message: " + error.message());
  return DecodeFrameBody(body, message);
}

}  // namespace aimass::net
