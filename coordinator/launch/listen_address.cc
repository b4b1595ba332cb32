#include "coordinator/launch/listen_address.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>

#include "common/env.h"

namespace aimass::coordinator {
namespace {

// The first IPv4 address `host` resolves to that is not loopback, or "" when there is none.
std::string NonLoopbackAddressOf(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return "";
  std::string chosen;
  for (addrinfo* entry = found; entry != nullptr && chosen.empty(); entry = entry->ai_next) {
    auto* ipv4 = reinterpret_cast<sockaddr_in*>(entry->ai_addr);
    boost::asio::ip::address_v4 address(ntohl(ipv4->sin_addr.s_addr));
    if (!address.is_loopback() && !address.is_unspecified()) chosen = address.to_string();
  }
  ::freeaddrinfo(found);
  return chosen;
}

}  // namespace

Result<ListenAddress> ChooseListenAddress(const std::string& bind, const std::string& advertise,
                                          bool workers_on_this_host) {
  ListenAddress chosen;
  if (!advertise.empty()) {
    for (size_t start = 0; start <= advertise.size();) {
      size_t comma = advertise.find(',', start);
      if (comma == std::string::npos) comma = advertise.size();
      std::string host = advertise.substr(start, comma - start);
      if (host.empty()) {
        return Status::InvalidArgument("--advertise: '" + advertise + "' has an empty host");
      }
      chosen.advertised_hosts.push_back(host);
      start = comma + 1;
    }
  }
  if (!bind.empty()) {
    chosen.bind_address = bind;
    return chosen;
  }
  if (workers_on_this_host) {
    chosen.bind_address = "127.0.0.1";
    return chosen;
  }
  std::string host = LocalHostName();
  std::string address = NonLoopbackAddressOf(host);
  if (!address.empty()) {
    chosen.bind_address = address;
    return chosen;
  }
  chosen.bind_address = "0.0.0.0";
  if (chosen.advertised_hosts.empty()) chosen.advertised_hosts = {host, "127.0.0.1"};
  chosen.note = "note: this host's name '" + host +
                "' resolves to no address other hosts can reach, so the control plane listens "
                "on every interface (workers still authenticate); pass --bind ADDR to choose one";
  return chosen;
}

}  // namespace aimass::coordinator
