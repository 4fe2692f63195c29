// The Archives section: CreateArchive's fields read and validated, and shown by describe().
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace hikyaku::config {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kRules = R"(Rules:
  - Name: all
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: log, Log: { Path: out.jsonl } }]
  - Name: orders
    EventBusName: orders
    EventPattern: { source: [shop] }
    Targets: [{ Id: log, Log: { Path: orders.jsonl } }]
)";

LoadResult load(std::string_view archives) {
  return load_config_text(std::string(kRules) + std::string(archives), "test.yaml");
}

std::string errors_of(const LoadResult& result) {
  std::string text;
  for (const ConfigError& error : result.errors) {
    text += error.to_string() + "\n";
  }
  return text;
}

TEST(ArchiveConfigTest, ReadsCreateArchiveFields) {
  const LoadResult result = load(R"(Archives:
  - ArchiveName: findings
    EventSourceArn: arn:aws:events:us-east-1:123456789012:event-bus/default
    EventPattern: { detail-type: [Security Hub Findings - Imported] }
    RetentionDays: 7
    Description: every finding
  - ArchiveName: orders-all
    EventBusName: orders
)");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  const Config& config = *result.config;
  ASSERT_EQ(config.archives.size(), 2u);
  const Archive& findings = config.archives[0];
  EXPECT_EQ(findings.name, "findings");
  EXPECT_EQ(findings.event_bus_name, "default");
  EXPECT_EQ(findings.event_pattern, R"({"detail-type":["Security Hub Findings - Imported"]})");
  EXPECT_EQ(findings.retention_days, 7);
  EXPECT_EQ(findings.description, "every finding");
  const Archive& orders = config.archives[1];
  EXPECT_EQ(orders.event_bus_name, "orders");
  EXPECT_EQ(orders.event_pattern, "");
  EXPECT_EQ(orders.retention_days, 0);
  EXPECT_EQ(config.find_archive("orders-all"), &orders);
  EXPECT_EQ(config.find_archive("none"), nullptr);

  const std::string summary = describe(config);
  EXPECT_THAT(summary, HasSubstr("archives (2):"));
  EXPECT_THAT(summary,
              HasSubstr("findings (bus default): events matching its pattern, kept 7 days"));
  EXPECT_THAT(summary, HasSubstr("orders-all (bus orders): every event, kept indefinitely"));
}

TEST(ArchiveConfigTest, RefusesAnUnknownBus) {
  const LoadResult result = load(R"(Archives:
  - { ArchiveName: a, EventBusName: order }
)");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(errors_of(result),
              HasSubstr("Archives[0].EventSourceArn: no event bus named \"order\""));
  EXPECT_THAT(errors_of(result), HasSubstr("did you mean \"orders\""));
}

TEST(ArchiveConfigTest, RefusesABadPattern) {
  const LoadResult result = load(R"(Archives:
  - { ArchiveName: a, EventBusName: default, EventPattern: { source: aws.securityhub } }
)");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(errors_of(result),
              HasSubstr("Archives[0].EventPattern: invalid pattern in archive \"a\""));
}

TEST(ArchiveConfigTest, RefusesADuplicateName) {
  const LoadResult result = load(R"(Archives:
  - { ArchiveName: a, EventBusName: default }
  - { ArchiveName: a, EventBusName: orders }
)");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(errors_of(result),
              HasSubstr("Archives[1].ArchiveName: duplicate archive name \"a\""));
}

TEST(ArchiveConfigTest, RefusesNegativeRetentionAndBadNames) {
  const LoadResult result = load(R"(Archives:
  - { ArchiveName: a, EventBusName: default, RetentionDays: -1 }
  - { ArchiveName: "has space", EventBusName: default }
  - { ArchiveName: b }
  - { ArchiveName: c, EventSourceArn: "arn:aws:events:us-east-1:123456789012:rule/x" }
  - { ArchiveName: d, EventBusName: default, Retention: 3 }
)");
  ASSERT_FALSE(result.ok());
  const std::string errors = errors_of(result);
  EXPECT_THAT(errors, HasSubstr("Archives[0].RetentionDays"));
  EXPECT_THAT(errors, HasSubstr("Archives[1].ArchiveName: \"has space\" must be 1 to 48"));
  EXPECT_THAT(errors, HasSubstr("Archives[2].EventSourceArn: is required"));
  EXPECT_THAT(errors, HasSubstr("Archives[3].EventSourceArn"));
  EXPECT_THAT(errors, HasSubstr("Archives[4].Retention: unknown key"));
}

}  // namespace
}  // namespace hikyaku::config
