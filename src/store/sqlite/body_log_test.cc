#include "store/sqlite/body_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace hikyaku::store {
namespace {

class BodyLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<BodyLog> open(int64_t segment_bytes = int64_t{64} << 20,
                                const Clock& clock = SystemClock::instance()) {
    auto log = BodyLog::open({.folder = folder_.string(), .segment_bytes = segment_bytes}, clock);
    EXPECT_TRUE(log.has_value()) << log.status().to_string();
    return std::move(*log);
  }

  std::vector<BodyRef> append(BodyLog& log, const std::vector<std::string>& bodies) {
    std::vector<std::string_view> views(bodies.begin(), bodies.end());
    std::vector<BodyRef> refs;
    const Status status = log.append(views, refs);
    EXPECT_TRUE(status.ok()) << status.to_string();
    return refs;
  }

  // Overwrites one byte of a segment file as damage would.
  void flip_byte(int64_t segment, int64_t offset) {
    const std::string path = (folder_ / (std::string(10 - std::to_string(segment).size(), '0') +
                                         std::to_string(segment) + ".seg"))
                                 .string();
    const int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0) << path;
    char byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, offset), 1);
    byte = static_cast<char>(byte ^ 0x20);
    ASSERT_EQ(::pwrite(fd, &byte, 1, offset), 1);
    ::close(fd);
  }

  size_t files() const {
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(folder_),
                                             std::filesystem::directory_iterator()));
  }

  testing::TempDir dir_{"body-log"};
  // Not created yet: open() makes it.
  const std::filesystem::path folder_{dir_.file("bodies")};
};

TEST_F(BodyLogTest, BodiesReadBackAfterSyncAndAfterReopening) {
  const std::vector<std::string> bodies = {"{\"a\":1}", "", std::string(100'000, 'x'), "last"};
  std::vector<BodyRef> refs;
  {
    auto log = open();
    refs = append(*log, bodies);
    ASSERT_EQ(refs.size(), bodies.size());
    ASSERT_TRUE(log->sync().ok());
    for (size_t i = 0; i < bodies.size(); ++i) {
      auto body = log->read(refs[i]);
      ASSERT_TRUE(body.has_value()) << body.status().to_string();
      EXPECT_EQ(*body, bodies[i]);
    }
  }
  auto reopened = open();
  for (size_t i = 0; i < bodies.size(); ++i) {
    auto body = reopened->read(refs[i]);
    ASSERT_TRUE(body.has_value()) << body.status().to_string();
    EXPECT_EQ(*body, bodies[i]);
  }
  // The old segment is sealed; new appends go to a new one.
  ASSERT_EQ(reopened->sealed().size(), 1u);
  EXPECT_EQ(reopened->sealed()[0].segment, refs[0].segment);
  EXPECT_GT(append(*reopened, {"next"})[0].segment, refs[0].segment);
}

TEST_F(BodyLogTest, DamagedOrMisplacedRecordsAreRefusedNotReadAsAnotherBody) {
  auto log = open();
  const std::vector<BodyRef> refs = append(*log, {"first body", "second body"});
  // A flipped byte in the body.
  flip_byte(refs[1].segment, refs[1].offset + 16 + 3);
  auto damaged = log->read(refs[1]);
  ASSERT_FALSE(damaged.has_value());
  EXPECT_NE(damaged.status().message().find("does not verify"), std::string::npos)
      << damaged.status().message();
  // A reference to a record that is not there: same length, other place.
  const BodyRef elsewhere{refs[0].segment, refs[0].offset + 1, refs[0].length};
  EXPECT_FALSE(log->read(elsewhere).has_value());
  // Past the end of the file (a write that never happened).
  const BodyRef beyond{refs[1].segment, refs[1].offset + 4096, 10};
  auto cut = log->read(beyond);
  ASSERT_FALSE(cut.has_value());
  EXPECT_NE(cut.status().message().find("cut short"), std::string::npos) << cut.status().message();
  // An unknown segment.
  auto missing = log->read({refs[0].segment + 7, 0, 4});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.status().message().find("missing"), std::string::npos);
  // The undamaged record still reads.
  EXPECT_EQ(log->read(refs[0]).value(), "first body");
}

TEST_F(BodyLogTest, SegmentsRollOverAndRemovedFullOnesAreRecycled) {
  auto log = open(/*segment_bytes=*/1000);
  const std::string body(600, 'b');
  const BodyRef first = append(*log, {body})[0];
  const BodyRef second = append(*log, {body})[0];  // would outgrow the first segment
  EXPECT_NE(first.segment, second.segment);
  ASSERT_EQ(log->sealed().size(), 1u);
  EXPECT_EQ(log->sealed()[0].segment, first.segment);
  // The active segment cannot be removed; a sealed one can, and its bodies are gone.
  EXPECT_EQ(log->remove(second.segment).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(log->remove(first.segment).ok());
  EXPECT_FALSE(log->read(first).has_value());
  EXPECT_EQ(log->read(second).value(), body);
  EXPECT_TRUE(log->sealed().empty());
  // It was full: kept as a spare, which the next segment reuses.
  EXPECT_EQ(files(), 2u);
  EXPECT_TRUE(std::filesystem::exists(folder_ / "spare-0.seg"));
  const std::string other(600, 'o');
  const BodyRef third = append(*log, {other})[0];
  EXPECT_NE(third.segment, second.segment);
  EXPECT_FALSE(std::filesystem::exists(folder_ / "spare-0.seg"));
  EXPECT_EQ(files(), 2u);
  EXPECT_EQ(log->read(third).value(), other);
  // The spare's old record sits where the new one would be read: it does not pass for it.
  EXPECT_FALSE(log->read({third.segment, first.offset, first.length + 1}).has_value());
}

TEST_F(BodyLogTest, APreparedSegmentIsUsedAtTheNextRollOver) {
  auto log = open(/*segment_bytes=*/1000);
  EXPECT_FALSE(log->next_prepared());
  ASSERT_TRUE(log->prepare_next().ok());
  EXPECT_TRUE(log->next_prepared());
  EXPECT_EQ(files(), 2u);  // the active segment and the prepared one
  const BodyRef first = append(*log, {std::string(600, 'a')})[0];
  const BodyRef second = append(*log, {std::string(600, 'b')})[0];
  EXPECT_NE(first.segment, second.segment);
  EXPECT_FALSE(log->next_prepared());
  EXPECT_EQ(files(), 2u);
  EXPECT_EQ(log->read(second).value(), std::string(600, 'b'));
}

TEST_F(BodyLogTest, ASmallSealedSegmentIsDeletedNotKept) {
  auto log = open();
  const BodyRef ref = append(*log, {"small"})[0];
  ASSERT_TRUE(log->seal_if_older(0).ok());
  ASSERT_TRUE(log->remove(ref.segment).ok());
  EXPECT_EQ(files(), 1u);  // only the active segment
}

TEST_F(BodyLogTest, AnIdleSegmentIsSealedOnlyWhenItHoldsSomething) {
  auto log = open();
  ASSERT_TRUE(log->seal_if_older(0).ok());
  EXPECT_TRUE(log->sealed().empty());  // empty: nothing to seal
  const BodyRef ref = append(*log, {"x"})[0];
  ASSERT_TRUE(log->seal_if_older(60'000).ok());
  EXPECT_TRUE(log->sealed().empty());  // too young
  ASSERT_TRUE(log->seal_if_older(0).ok());
  ASSERT_EQ(log->sealed().size(), 1u);
  EXPECT_EQ(log->sealed()[0].segment, ref.segment);
  EXPECT_NE(append(*log, {"y"})[0].segment, ref.segment);
}

TEST_F(BodyLogTest, SegmentAgesAreMeasuredWithTheInjectedClock) {
  testing::FakeClock clock;
  auto log = open(int64_t{64} << 20, clock);
  const BodyRef ref = append(*log, {"x"})[0];
  clock.advance(std::chrono::milliseconds(9'999));
  ASSERT_TRUE(log->seal_if_older(10'000).ok());
  EXPECT_TRUE(log->sealed().empty());  // one millisecond too young
  clock.advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(log->seal_if_older(10'000).ok());
  ASSERT_EQ(log->sealed().size(), 1u);
  EXPECT_EQ(log->sealed()[0].segment, ref.segment);
  EXPECT_EQ(log->sealed()[0].sealed_for_ms, 0);
  clock.advance(std::chrono::milliseconds(60'000));
  EXPECT_EQ(log->sealed()[0].sealed_for_ms, 60'000);
}

TEST_F(BodyLogTest, AFolderThatCannotBeCreatedIsAClearError) {
  const std::filesystem::path file = folder_.string() + "-file";
  { std::ofstream(file.string()) << "not a folder"; }
  auto log = BodyLog::open({.folder = (file / "bodies").string()});
  std::filesystem::remove(file);
  ASSERT_FALSE(log.has_value());
  EXPECT_EQ(log.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(log.status().message().find("cannot create folder"), std::string::npos)
      << log.status().message();
}

}  // namespace
}  // namespace hikyaku::store
