#pragma once
// Test helper: real nats-server processes ($NATS_SERVER, else /usr/sbin or /usr/bin/nats-server)
// with JetStream, one alone or several routed into one cluster, on free loopback ports, each with
// its own store directory in a TempDir.
//
//   testing::NatsCluster cluster(3);
//   ASSERT_EQ(cluster.start(), "");      // "" once every node answers JetStream requests
//   options.servers = {cluster.urls()};  // "nats://127.0.0.1:p1,nats://127.0.0.1:p2,..."
//   cluster.kill(0);                     // SIGKILL; restart(0) brings it back as it was
//
// NatsSecurity makes the servers require a token, a user and password, and/or TLS.
//
// A restarted node keeps its ports, server name and store directory, so it rejoins the cluster
// with its data. The destructor kills every node still running.
//
// Thread safety: none; drive it from the test's thread.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/tls_certificate.h"

namespace hikyaku::testing {

// What the servers require of clients (none of it: an open server).
struct NatsSecurity {
  std::string token{};  // --auth
  std::string user{};   // --user and --pass
  std::string password{};
  std::optional<TlsFiles> tls{};  // TLS required, with this certificate (clients trust ca_file)
};

class NatsCluster {
 public:
  // `nodes` servers (1 = a lone server, no cluster routes); without `jetstream`, plain NATS
  // servers (to see what a client makes of a server that lacks it).
  explicit NatsCluster(int nodes = 1, bool jetstream = true, NatsSecurity security = {});
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  // Starts every node and waits until each answers a JetStream account request (without
  // JetStream: accepts a connection); returns "" then, otherwise what went wrong (with the
  // servers' output). Also brings a whole cluster back after every node was killed or stopped
  // (restart() one by one cannot: a lone node of a cluster never answers).
  std::string start();

  int size() const { return static_cast<int>(nodes_.size()); }
  // Every node's client URL, comma-separated, as cnats and `JetStreamOptions::servers` take them.
  std::string urls() const;
  std::string url(int node) const;
  bool running(int node) const { return nodes_[node].process != nullptr; }
  // The node's JetStream store directory (--store_dir), kept across restarts.
  const std::string& store_dir(int node) const { return nodes_[node].store_dir; }

  // SIGKILL, and reaps it: a crash, nothing flushed.
  void kill(int node);
  // SIGTERM, and waits for the exit: a clean shutdown.
  void stop(int node);
  // Starts a stopped or killed node again (same ports, name, store directory) and waits until it
  // answers JetStream requests; returns "" then, otherwise what went wrong.
  std::string restart(int node);

 private:
  struct Node {
    std::string name;
    int client_port = 0;
    int cluster_port = 0;
    std::string store_dir;
    std::unique_ptr<ChildProcess> process;
  };
  std::vector<std::string> arguments(int node) const;
  std::string wait_ready(int node);

  bool jetstream_ = true;
  NatsSecurity security_;
  TempDir dir_{"nats"};
  std::vector<Node> nodes_;
};

}  // namespace hikyaku::testing
