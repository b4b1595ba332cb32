// A cluster of hosts made of network namespaces (scripts/cluster.sh) for one test: its own name,
// subnet and hosts, removed again when the test ends, so tests never share a network.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aimass::testing {

class Cluster {
 public:
  // Brings up `hosts` hosts; fails the test (naming the reason) if that cannot be done, e.g.
  // without root. Host 0 is for the coordinator and mpirun, the others for workers.
  explicit Cluster(uint32_t hosts);
  ~Cluster();  // `cluster.sh down`: the hosts and everything still running on them go
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  std::string HostName(uint32_t host) const;
  std::string Address(uint32_t host) const;  // its IPv4 address on the cluster's subnet
  std::string hostfile() const;      // the worker hosts (1..N-1), for --workers N --hostfile
  std::string hostfile_all() const;  // host 0 with one slot, then the others: the MPMD form

  // `argv` run on `host`, as ssh HOST would: in its namespace, under its host name, with the
  // cluster's Open MPI settings (TCP only, its launch agent).
  std::vector<std::string> On(uint32_t host, const std::vector<std::string>& argv) const;

  // Takes `host`'s link down or brings it back, as a pulled cable or a failed switch port.
  void SetLink(uint32_t host, bool up) const;

 private:
  std::string Script() const;
  std::string name_;
  std::string state_dir_;
};

}  // namespace aimass::testing
