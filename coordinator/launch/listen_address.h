// Where the coordinator's control plane listens and what it tells the workers, by default and
// with `--bind ADDR` / `--advertise HOST[,HOST]` (TorchServe's lesson: a management port listens
// on loopback unless the user says otherwise).
//   every worker on this host (`--workers N` without a hostfile, or an MPMD world on one node):
//       bind 127.0.0.1, advertise 127.0.0.1: nothing off this host can even connect;
//   workers on other hosts: bind the address this host's name resolves to (the interface
//       MPI's processor name stands for) and advertise that address. A name that resolves only
//       to loopback (Debian maps it to 127.0.1.1) cannot serve other hosts: then every interface
//       is bound, the workers are told the host name, and a note says to pass --bind.
// Authentication does not depend on any of this; binding narrowly only shrinks who can knock.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace aimass::coordinator {

struct ListenAddress {
  std::string bind_address;
  std::vector<std::string> advertised_hosts;  // empty: the hub derives them from the bind
  std::string note;                           // for the log, when a default had to give way
};

// `bind` and `advertise` are the user's overrides (empty: none). `advertise` is a
// comma-separated list; an empty entry in it is InvalidArgument.
Result<ListenAddress> ChooseListenAddress(const std::string& bind, const std::string& advertise,
                                          bool workers_on_this_host);

}  // namespace aimass::coordinator
