#include "testing/nats_cluster.h"

#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "testing/wait.h"

namespace hikyaku::testing {
namespace {

// $NATS_SERVER, or where Debian's package puts it.
std::string server_binary() {
  if (const char* configured = std::getenv("NATS_SERVER"); configured != nullptr && *configured) {
    return configured;
  }
  for (const char* path : {"/usr/sbin/nats-server", "/usr/bin/nats-server"}) {
    if (access(path, X_OK) == 0) {
      return path;
    }
  }
  return "nats-server (not found: install nats-server or set NATS_SERVER)";
}

// Binds a loopback socket to port 0 and keeps it open, so that the ports taken for one cluster
// are distinct; the caller closes them all before the servers start.
int reserve_port(std::vector<int>& sockets) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("nats_cluster: reserving a port");
    std::abort();
  }
  sockets.push_back(fd);
  return ntohs(address.sin_port);
}

// True once a connection to `url` alone gets an answer to a JetStream account request: the
// server runs, JetStream is enabled and (in a cluster) a meta leader was elected.
bool answers(const std::string& url, bool jetstream, const NatsSecurity& security) {
  natsOptions* options = nullptr;
  natsConnection* connection = nullptr;
  jsCtx* js = nullptr;
  jsAccountInfo* info = nullptr;
  bool ready = natsOptions_Create(&options) == NATS_OK &&
               natsOptions_SetURL(options, url.c_str()) == NATS_OK &&
               natsOptions_SetTimeout(options, 500) == NATS_OK &&
               natsOptions_SetAllowReconnect(options, false) == NATS_OK;
  if (ready && !security.token.empty()) {
    ready = natsOptions_SetToken(options, security.token.c_str()) == NATS_OK;
  }
  if (ready && !security.user.empty()) {
    ready = natsOptions_SetUserInfo(options, security.user.c_str(), security.password.c_str()) ==
            NATS_OK;
  }
  if (ready && security.tls) {
    ready =
        natsOptions_SetSecure(options, true) == NATS_OK &&
        natsOptions_LoadCATrustedCertificates(options, security.tls->ca_file.c_str()) == NATS_OK;
  }
  ready = ready && natsConnection_Connect(&connection, options) == NATS_OK;
  if (ready && jetstream) {
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = 1000;
    ready = natsConnection_JetStream(&js, connection, &js_options) == NATS_OK &&
            js_GetAccountInfo(&info, js, nullptr, nullptr) == NATS_OK;
  }
  jsAccountInfo_Destroy(info);
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
  natsOptions_Destroy(options);
  return ready;
}

}  // namespace

NatsCluster::NatsCluster(int nodes, bool jetstream, NatsSecurity security)
    : jetstream_(jetstream), security_(std::move(security)), nodes_(static_cast<size_t>(nodes)) {
  std::vector<int> sockets;
  for (int i = 0; i < nodes; ++i) {
    Node& node = nodes_[i];
    node.name = "hk-" + std::to_string(i);
    node.client_port = reserve_port(sockets);
    node.cluster_port = nodes > 1 ? reserve_port(sockets) : 0;
    node.store_dir = dir_.file(node.name);
    std::filesystem::create_directories(node.store_dir);
  }
  for (int fd : sockets) {
    close(fd);
  }
}

NatsCluster::~NatsCluster() {
  for (int i = 0; i < size(); ++i) {
    if (running(i)) {
      kill(i);
    }
  }
}

std::vector<std::string> NatsCluster::arguments(int node) const {
  const Node& self = nodes_[node];
  std::vector<std::string> argv;
  // The server dies with the test program, also when a crash skips the destructors.
  if (access("/usr/bin/setpriv", X_OK) == 0) {
    argv = {"/usr/bin/setpriv", "--pdeathsig", "KILL"};
  }
  argv.insert(argv.end(), {server_binary(), "--addr", "127.0.0.1", "--port",
                           std::to_string(self.client_port), "--server_name", self.name});
  if (jetstream_) {
    argv.insert(argv.end(), {"--jetstream", "--store_dir", self.store_dir});
  }
  if (!security_.token.empty()) {
    argv.insert(argv.end(), {"--auth", security_.token});
  }
  if (!security_.user.empty()) {
    argv.insert(argv.end(), {"--user", security_.user, "--pass", security_.password});
  }
  if (security_.tls) {
    argv.insert(argv.end(), {"--tls", "--tlscert", security_.tls->cert_file, "--tlskey",
                             security_.tls->key_file});
  }
  if (size() > 1) {
    std::string routes;
    for (const Node& other : nodes_) {
      if (&other != &self) {
        routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") +
                  std::to_string(other.cluster_port);
      }
    }
    argv.insert(argv.end(),
                {"--cluster_name", "hikyaku-test", "--cluster",
                 "nats://127.0.0.1:" + std::to_string(self.cluster_port), "--routes", routes});
  }
  return argv;
}

std::string NatsCluster::start() {
  for (int i = 0; i < size(); ++i) {
    nodes_[i].process = std::make_unique<ChildProcess>(arguments(i));
  }
  for (int i = 0; i < size(); ++i) {
    if (std::string failed = wait_ready(i); !failed.empty()) {
      return failed;
    }
  }
  return "";
}

std::string NatsCluster::wait_ready(int node) {
  const std::string address = url(node);
  bool exited = false;
  const bool ready = wait_for(
      [&] {
        exited = nodes_[node].process->wait(0) != -1;
        return exited || answers(address, jetstream_, security_);
      },
      std::chrono::seconds(30));
  if (ready && !exited) {
    return "";
  }
  return nodes_[node].name + " did not answer JetStream requests at " + address +
         "; its output: " + nodes_[node].process->err();
}

std::string NatsCluster::urls() const {
  std::string list;
  for (int i = 0; i < size(); ++i) {
    list += (i == 0 ? "" : ",") + url(i);
  }
  return list;
}

std::string NatsCluster::url(int node) const {
  return "nats://127.0.0.1:" + std::to_string(nodes_[node].client_port);
}

void NatsCluster::kill(int node) {
  nodes_[node].process->signal(SIGKILL);
  nodes_[node].process->wait();
  nodes_[node].process.reset();
}

void NatsCluster::stop(int node) {
  nodes_[node].process->signal(SIGTERM);
  nodes_[node].process->wait();
  nodes_[node].process.reset();
}

std::string NatsCluster::restart(int node) {
  nodes_[node].process = std::make_unique<ChildProcess>(arguments(node));
  return wait_ready(node);
}

}  // namespace hikyaku::testing
