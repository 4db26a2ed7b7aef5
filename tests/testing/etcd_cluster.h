// etcd_cluster.h: real etcd members on loopback for tests (Debian's etcd-server).
//
// EtcdCluster starts one or more members of one cluster, each with its own client and peer port
// and data directory under a temporary folder, and waits until the cluster answers. Members can
// be killed and started again (same data), or stopped all at once. Tests skip when no `etcd`
// binary is installed (EtcdInstalled). Thread-compatible.
#ifndef SASMINT_TESTS_TESTING_ETCD_CLUSTER_H_
#define SASMINT_TESTS_TESTING_ETCD_CLUSTER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/subprocess.h"

namespace sasmint::testing {

// EtcdBinary returns the path of etcd (SASMINT_ETCD, else /usr/bin/etcd), or "" if absent.
std::string EtcdBinary();

class EtcdCluster {
 public:
  // Start launches `members` members and waits up to `timeout` for each to serve its client
  // port. UNAVAILABLE with the members' logs if they do not.
  static absl::StatusOr<EtcdCluster> Start(int members, absl::Duration timeout = absl::Seconds(20));
  EtcdCluster(EtcdCluster&&) = default;
  ~EtcdCluster();

  int size() const { return static_cast<int>(members_.size()); }
  // endpoint returns member i's client address, HOST:PORT.
  std::string endpoint(int i) const;
  std::vector<std::string> endpoints() const;
  std::string data_dir(int i) const;
  bool running(int i) const { return members_[i].process.has_value(); }

  // Kill stops member i with SIGKILL (a crash); Restart starts it again on its data.
  void Kill(int i);
  absl::Status Restart(int i, absl::Duration timeout = absl::Seconds(20));
  // Leader returns the index of the member that leads now, or NOT_FOUND.
  absl::StatusOr<int> Leader() const;
  // Logs returns every member's stderr, for failure messages.
  std::string Logs() const;

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::string data_dir;
    std::optional<ChildProcess> process;
  };
  EtcdCluster() = default;
  absl::Status Launch(int i, bool existing);
  absl::Status AwaitServing(int i, absl::Duration timeout) const;

  std::string dir_;
  std::string initial_cluster_;
  std::vector<Member> members_;
};

}  // namespace sasmint::testing

#endif  // SASMINT_TESTS_TESTING_ETCD_CLUSTER_H_
