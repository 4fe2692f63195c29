// The Debian package as an operator installs it: CPack builds it from this build tree, then its
// contents and control files are read with dpkg-deb, and the files are extracted into a folder
// where the packaged binary validates the packaged config and systemd-analyze checks the unit.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "testing/process.h"
#include "testing/temp_dir.h"

namespace hikyaku {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_command;

constexpr const char* kVersion = HIKYAKU_PROJECT_VERSION;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// The absolute path of `program` found on PATH, or "" when it is not installed.
std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream folders(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string folder; std::getline(folders, folder, ':');) {
    const fs::path candidate = fs::path(folder) / program;
    if (!folder.empty() && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
  }
  return "";
}

// run_command does not search PATH.
std::string dpkg_deb() { return find_on_path("dpkg-deb"); }

// Built once for all the tests: the package, its control files and its extracted files (removed
// at exit).
class Package {
 public:
  Package() { build(); }

  testing::TempDir dir{"package"};
  fs::path deb;
  fs::path control;  // dpkg-deb -e
  fs::path root;     // dpkg-deb -x
  std::string failure;

 private:
  void build();
};

void Package::build() {
  const fs::path output = dir.file("cpack");
  CommandResult cpack = run_command(
      {HIKYAKU_CPACK, "--config", HIKYAKU_CPACK_CONFIG, "-G", "DEB", "-B", output.string()});
  if (cpack.exit_code != 0) {
    failure = "cpack failed:\n" + cpack.out + cpack.err;
    return;
  }
  for (const fs::directory_entry& entry : fs::directory_iterator(output)) {
    if (entry.path().extension() == ".deb") {
      deb = entry.path();
    }
  }
  if (deb.empty()) {
    failure = "cpack made no .deb:\n" + cpack.out;
    return;
  }
  control = dir.file("control");
  root = dir.file("root");
  for (const auto& [option, folder] : {std::pair{"-e", control}, std::pair{"-x", root}}) {
    CommandResult extracted = run_command({dpkg_deb(), option, deb.string(), folder.string()});
    if (extracted.exit_code != 0) {
      failure = std::string("dpkg-deb ") + option + " failed: " + extracted.err;
      return;
    }
  }
}

const Package& package() {
  static const Package built;
  return built;
}

class PackageTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(package().failure, ""); }

  // The config as the service sees it: BACKLOG_* from /etc/default/hikyaku, nothing inherited.
  static CommandResult validate_installed_config(
      std::vector<std::pair<std::string, std::string>> environment) {
    for (const char* name :
         {"BACKLOG_ENDPOINT", "BACKLOG_API_KEY", "BACKLOG_PROJECT", "BACKLOG_DRY_RUN"}) {
      bool given = false;
      for (const auto& [key, value] : environment) {
        given = given || key == name;
      }
      if (!given) {
        environment.emplace_back(name, "");  // empty reads as unset: ${NAME:-default}
      }
    }
    return run_command({(package().root / "usr/bin/hikyaku").string(), "validate", "--config",
                        (package().root / "etc/hikyaku/hikyaku.yaml").string()},
                       environment);
  }
};

TEST_F(PackageTest, ControlFieldsNameTheProjectAndItsLibraries) {
  CommandResult fields =
      run_command({dpkg_deb(), "--field", package().deb.string(), "Package", "Version", "Depends"});
  ASSERT_EQ(fields.exit_code, 0) << fields.err;
  EXPECT_THAT(fields.out, HasSubstr("Package: hikyaku\n"));
  EXPECT_THAT(fields.out, HasSubstr("Version: " + std::string(kVersion) + "\n"));
  // Computed by dpkg-shlibdeps from the binary.
  EXPECT_THAT(fields.out, HasSubstr("libsqlite3-0"));
  EXPECT_THAT(fields.out, HasSubstr("libc6"));

  // dpkg keeps an operator's changes to both /etc files across upgrades.
  EXPECT_EQ(read_text(package().control / "conffiles"),
            "/etc/hikyaku/hikyaku.yaml\n/etc/default/hikyaku\n");
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    struct stat info {};
    ASSERT_EQ(::stat((package().control / script).c_str(), &info), 0) << script;
    EXPECT_EQ(info.st_mode & 0777, 0755u) << script;
  }
}

TEST_F(PackageTest, ContentsAreTheBinaryUnitConfigExamplesAndDocs) {
  CommandResult contents = run_command({dpkg_deb(), "--contents", package().deb.string()});
  ASSERT_EQ(contents.exit_code, 0) << contents.err;
  for (const char* file :
       {"./usr/bin/hikyaku", "./usr/lib/systemd/system/hikyaku.service",
        "./etc/hikyaku/hikyaku.yaml", "./etc/default/hikyaku",
        "./usr/share/hikyaku/examples/securityhub-backlog.yaml",
        "./usr/share/hikyaku/examples/securityhub-backlog-apidestination.yaml",
        "./usr/share/doc/hikyaku/README.md", "./usr/share/doc/hikyaku/docs/store.md"}) {
    EXPECT_THAT(contents.out, HasSubstr(std::string(" ") + file + "\n")) << contents.out;
  }
  // Owned by root; the environment file holds the API key and is root's alone.
  EXPECT_THAT(contents.out, HasSubstr("-rw------- root/root"));
  EXPECT_THAT(contents.out, Not(HasSubstr(" ./usr/local")));

  // Stripped: the package carries no debug sections.
  CommandResult sections =
      run_command({find_on_path("readelf"), "-S", (package().root / "usr/bin/hikyaku").string()});
  ASSERT_EQ(sections.exit_code, 0) << sections.err;
  EXPECT_THAT(sections.out, Not(HasSubstr(".debug_info")));
}

TEST_F(PackageTest, PackagedBinaryRunsAndValidatesThePackagedConfig) {
  CommandResult version = run_command({(package().root / "usr/bin/hikyaku").string(), "--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out, "hikyaku " + std::string(kVersion) + "\n");

  // The example, with the store in the unit's StateDirectory. Validating does not create it.
  const std::string config = read_text(package().root / "etc/hikyaku/hikyaku.yaml");
  EXPECT_THAT(config, HasSubstr("Sqlite: { Path: /var/lib/hikyaku/hikyaku.db }"));
  EXPECT_THAT(config, HasSubstr("ApiKey: ${BACKLOG_API_KEY:-}"));
  EXPECT_THAT(config, Not(HasSubstr("make run")));

  CommandResult filing = validate_installed_config(
      {{"BACKLOG_ENDPOINT", "https://example.backlog.com"}, {"BACKLOG_API_KEY", "bk-not-real"}});
  EXPECT_EQ(filing.exit_code, 0) << filing.err;
  EXPECT_THAT(filing.out, HasSubstr("store: sqlite /var/lib/hikyaku/hikyaku.db"));
  EXPECT_THAT(filing.out, HasSubstr("backlog https://example.backlog.com project SEC"));
  EXPECT_THAT(filing.out + filing.err, Not(HasSubstr("bk-not-real")));

  CommandResult dry_run = validate_installed_config({{"BACKLOG_DRY_RUN", "true"}});
  EXPECT_EQ(dry_run.exit_code, 0) << dry_run.err;

  // Without the settings of /etc/default/hikyaku the service's ExecStartPre refuses to start,
  // naming what is missing.
  CommandResult unset = validate_installed_config({});
  EXPECT_EQ(unset.exit_code, 1);
  EXPECT_THAT(unset.err, HasSubstr("Backlog.Endpoint"));
}

TEST_F(PackageTest, UnitIsHardenedAndServesThePackagedConfig) {
  const fs::path unit_path = package().root / "usr/lib/systemd/system/hikyaku.service";
  const std::string unit = read_text(unit_path);
  EXPECT_THAT(unit, HasSubstr("\nExecStartPre=/usr/bin/hikyaku validate --config "
                              "/etc/hikyaku/hikyaku.yaml\n"));
  EXPECT_THAT(unit,
              HasSubstr("\nExecStart=/usr/bin/hikyaku serve --config /etc/hikyaku/hikyaku.yaml\n"));
  EXPECT_THAT(unit, HasSubstr("\nEnvironmentFile=-/etc/default/hikyaku\n"));
  for (const char* setting :
       {"DynamicUser=yes", "StateDirectory=hikyaku", "ProtectSystem=strict", "ProtectHome=yes",
        "PrivateTmp=yes", "PrivateDevices=yes", "NoNewPrivileges=yes",
        "CapabilityBoundingSet=", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "LockPersonality=yes",
        "RestrictNamespaces=yes", "UMask=0077", "Restart=on-failure"}) {
    EXPECT_THAT(unit, HasSubstr(std::string("\n") + setting + "\n"));
  }

  const std::string analyze = find_on_path("systemd-analyze");
  if (analyze.empty()) {
    GTEST_SKIP() << "systemd-analyze is not installed (package systemd): the unit's settings were "
                    "checked as text only";
  }
  // verify checks that ExecStart's program exists and is executable, so a copy of the unit names
  // the extracted binary and config instead of /usr/bin and /etc; nothing else changes.
  std::string relocated = unit;
  replace_all(relocated, "/usr/bin/hikyaku", (package().root / "usr/bin/hikyaku").string());
  replace_all(relocated, "/etc/hikyaku/", (package().root / "etc/hikyaku/").string());
  testing::TempDir units("unit");
  const std::string copy = units.write("hikyaku.service", relocated);
  CommandResult verify = run_command({analyze, "verify", "--man=no", copy});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  // Any complaint about the unit itself (an unknown or misspelt setting, a bad value) names it.
  EXPECT_THAT(verify.out + verify.err, Not(HasSubstr("hikyaku.service"))) << verify.err;
}

}  // namespace
}  // namespace hikyaku
