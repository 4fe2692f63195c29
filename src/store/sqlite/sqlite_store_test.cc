#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "store/sqlite/internal/schema.h"
#include "testing/temp_dir.h"

namespace hikyaku::store {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }
  void TearDown() override { store_.reset(); }
  void reopen(SqliteStore::Options options = {}) {
    store_.reset();
    options.path = database().string();
    Result<std::unique_ptr<SqliteStore>> opened = SqliteStore::open(options);
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(opened).value();
  }
  std::filesystem::path database() const { return directory_ / "sub" / "hikyaku.db"; }
  // The body log segment holding `text`; empty when none does.
  std::filesystem::path segment_holding(std::string_view text) const {
    for (const auto& entry :
         std::filesystem::directory_iterator(directory_ / "sub" / "hikyaku.db-bodies")) {
      if (contents(entry.path()).find(text) != std::string::npos) {
        return entry.path();
      }
    }
    return {};
  }
  // The store's only dead letter (a failure, and an empty letter, when there is not exactly one).
  DeadLetter only_dead_letter() {
    Result<std::vector<DeadLetter>> letters = store_->dlq_list(10, 0);
    const bool one = letters.has_value() && letters->size() == 1;
    EXPECT_TRUE(one) << (letters.has_value() ? std::to_string(letters->size()) + " letters"
                                             : letters.error().message());
    return one ? (*letters)[0] : DeadLetter{};
  }
  static std::string contents(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  }
  static NewJob job(std::string body, int64_t at = 1000) {
    return {"default/rule/target", "event-" + body, std::move(body), "", at};
  }
  // A redrive as the admin API makes it: the letter's job appended again (with a body rendered
  // again, or as recorded) and the letter removed, in one batch.
  Status redrive(const DeadLetter& letter, const std::optional<std::string>& body = std::nullopt,
                 std::string headers = "") {
    Batch batch;
    batch.jobs.push_back(
        {letter.job.target, letter.job.event_id, body.value_or(letter.job.body), std::move(headers),
         letter.job.ingested_at_ms,
         letter.event ? std::make_shared<const std::string>(*letter.event) : nullptr});
    batch.redriven.push_back(letter.id);
    return store_->append(batch);
  }
  std::vector<Claim> claim(int64_t now, int limit = 100, int64_t lease = 30'000) {
    Result<std::vector<Claim>> claims = store_->claim(now, limit, lease);
    EXPECT_TRUE(claims.has_value()) << claims.error().message();
    return claims.has_value() ? std::move(claims).value() : std::vector<Claim>{};
  }

  testing::TempDir dir_{"store"};
  const std::filesystem::path directory_{dir_.path()};
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, JobsLeasedByAppendAreDueAgainWhenTheLeaseExpiresOrTheProcessDies) {
  Batch batch{{job("a"), job("b")}, {}, {}, {}};
  std::vector<Claim> leased = store_->append_and_lease(batch, 2, 50'000, false).value();
  EXPECT_TRUE(claim(49'999).empty());
  std::vector<Claim> again = claim(50'000);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(store_->complete(leased[0]).code(), StatusCode::kFailedPrecondition);

  Batch second{{job("c")}, {}, {}, {}};
  ASSERT_EQ(store_->append_and_lease(second, 5, 900'000, /*defer_sync=*/true).value().size(), 1u);
  ASSERT_TRUE(store_->sync().ok());
  reopen();  // a crash: the dispatcher's memory is gone, the lease with it
  std::vector<std::string> bodies;
  for (const Claim& c : claim(2000)) {
    bodies.push_back(c.job.body);
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(SqliteStoreTest, CompleteAllSettlesABatchAndSkipsStaleClaims) {
  ASSERT_TRUE(store_->append({{job("a"), job("b"), job("c")}, {}, {}, {}}).ok());
  std::vector<Claim> claims = claim(1000, 10, 100);
  ASSERT_EQ(claims.size(), 3u);
  std::vector<Claim> stolen = claim(1100, 1, 100);  // "c"... whichever is oldest, re-leased
  ASSERT_EQ(stolen.size(), 1u);
  Result<int64_t> completed = store_->complete_all(claims);
  ASSERT_TRUE(completed.has_value());
  EXPECT_EQ(*completed, 2);
  EXPECT_TRUE(store_->complete(stolen[0]).ok());
  EXPECT_TRUE(claim(100'000).empty());
}

TEST_F(SqliteStoreTest, ExpiredLeaseMakesJobDueAgainAndStaleClaimIsRefused) {
  ASSERT_TRUE(store_->append({{job("a")}, {}, {}, {}}).ok());
  std::vector<Claim> first = claim(1000, 10, 500);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(claim(1499).empty());
  std::vector<Claim> second = claim(1500, 10, 500);  // the first worker "died"
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0].token, first[0].token);

  Status stale = store_->complete(first[0]);
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition) << stale.to_string();
  EXPECT_EQ(store_->retry(first[0], 9999, "x").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->dead_letter(first[0], {}, 1600, nullptr).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->complete(second[0]).ok());
  EXPECT_TRUE(claim(100'000).empty());
}

TEST_F(SqliteStoreTest, RejectsForeignDatabaseVersion) {
  store_.reset();
  const std::string path = (directory_ / "sub" / "hikyaku.db").string();
  {
    // Pretend a future hikyaku wrote this file.
    Result<std::unique_ptr<SqliteStore>> opened = SqliteStore::open({.path = path});
    ASSERT_TRUE(opened.has_value());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  Result<std::unique_ptr<SqliteStore>> reopened = SqliteStore::open({.path = path});
  ASSERT_FALSE(reopened.has_value());
  EXPECT_NE(reopened.error().message().find("schema version 99"), std::string::npos)
      << reopened.error().message();
}

TEST_F(SqliteStoreTest, SecondProcessCannotOpenTheSameFile) {
  Result<std::unique_ptr<SqliteStore>> second =
      SqliteStore::open({.path = (directory_ / "sub" / "hikyaku.db").string()});
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.error().message().find("in use by another hikyaku process"), std::string::npos)
      << second.error().message();
}

TEST_F(SqliteStoreTest, LeasesOfACrashedProcessAreRecoveredOnOpen) {
  ASSERT_TRUE(store_->append({{job("a")}, {}, {}, {}}).ok());
  ASSERT_EQ(claim(1000, 10, 3'600'000).size(), 1u);  // leased for an hour, then "crash"
  reopen();
  EXPECT_EQ(claim(1001).size(), 1u);
}

TEST_F(SqliteStoreTest, BodiesLiveInTheBodyLogNotInTheDatabase) {
  const std::string body = "marker-" + std::string(5000, 'q');
  ASSERT_TRUE(store_->append({{{"default/rule/target", "e1", body, "", 1000}}, {}, {}, {}}).ok());
  reopen();  // a clean close copies the WAL into the database file
  EXPECT_EQ(contents(database()).find("marker-"), std::string::npos);
  EXPECT_FALSE(segment_holding(body).empty());
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].job.body, body);
}

TEST_F(SqliteStoreTest, AJobWhoseBodyDoesNotVerifyIsDeadLetteredAndTheOthersAreClaimed) {
  const std::string damaged = "damaged-" + std::string(100, 'd');
  ASSERT_TRUE(store_->append({{job("intact"), job(damaged)}, {}, {}, {}}).ok());
  {
    const std::filesystem::path segment = segment_holding(damaged);
    ASSERT_FALSE(segment.empty());
    std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
    const size_t at = contents(segment).find(damaged);
    file.seekp(static_cast<std::streamoff>(at + 20));
    file.put('X');
  }
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].job.body, "intact");
  const DeadLetter letter = only_dead_letter();
  EXPECT_EQ(letter.job.event_id, "event-" + damaged);
  EXPECT_EQ(letter.reason.error_code, "BODY_UNREADABLE");
  EXPECT_NE(letter.reason.error_message.find("does not verify"), std::string::npos)
      << letter.reason.error_message;
  EXPECT_TRUE(claim(5000).empty());
}

TEST_F(SqliteStoreTest, ASegmentWhoseFileIsGoneNeverLendsItsIdToNewBodies) {
  // A backup that copied the body folder before the database, say: rows name a segment whose
  // file is missing. New records must not land where those rows point.
  ASSERT_TRUE(store_->append({{job("old body")}, {}, {}, {}}).ok());
  const std::filesystem::path segment = segment_holding("old body");
  ASSERT_FALSE(segment.empty());
  store_.reset();
  std::filesystem::remove_all(segment.parent_path());
  reopen();
  ASSERT_TRUE(store_->append({{job("new body", 1001)}, {}, {}, {}}).ok());  // same length
  std::vector<Claim> claims = claim(2000);
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].job.body, "new body");
  const DeadLetter letter = only_dead_letter();
  EXPECT_EQ(letter.job.event_id, "event-old body");
  EXPECT_EQ(letter.reason.error_code, "BODY_UNREADABLE");
}

TEST_F(SqliteStoreTest, ASegmentIsRemovedOnceNoJobNeedsItAndKeptWhileOneDoes) {
  reopen({.path = "", .seal_bodies_after_ms = 0});  // each collection seals the active segment
  ASSERT_TRUE(store_->append({{job("a-body"), job("b-body")}, {}, {}, {}}).ok());
  const std::filesystem::path segment = segment_holding("b-body");
  ASSERT_FALSE(segment.empty());
  ASSERT_TRUE(store_->collect_bodies().ok());
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 2u);
  ASSERT_TRUE(store_->complete(claims[0]).ok());
  ASSERT_TRUE(store_->collect_bodies().ok());
  EXPECT_TRUE(std::filesystem::exists(segment));  // "b" still needs it
  ASSERT_TRUE(store_->complete(claims[1]).ok());
  ASSERT_TRUE(store_->collect_bodies().ok());
  EXPECT_FALSE(std::filesystem::exists(segment));
  // Later jobs go to later segments and read back as usual.
  ASSERT_TRUE(store_->append({{job("c")}, {}, {}, {}}).ok());
  EXPECT_EQ(claim(1000).at(0).job.body, "c");
}

TEST_F(SqliteStoreTest, BodiesNeededLongAfterTheirSegmentWasSealedMoveIntoTheirRows) {
  reopen({.path = "", .seal_bodies_after_ms = 0, .inline_bodies_after_ms = 0});
  ASSERT_TRUE(store_->append({{job("in flight"), job("waiting")}, {}, {}, {}}).ok());
  const std::filesystem::path segment = segment_holding("waiting");
  ASSERT_FALSE(segment.empty());
  std::vector<Claim> in_flight = claim(1000, 1);
  ASSERT_EQ(in_flight.size(), 1u);
  ASSERT_TRUE(store_->collect_bodies().ok());  // seals segment 1 and copies both bodies out
  ASSERT_TRUE(store_->collect_bodies().ok());  // nothing refers to it any more
  EXPECT_FALSE(std::filesystem::exists(segment));
  reopen();  // the rows' bodies are durable
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 2u);  // the lease of the crashed "process" is recovered too
  EXPECT_EQ(claims[0].job.body, "in flight");
  EXPECT_EQ(claims[1].job.body, "waiting");
}

// The jobs of one event share its record; a job whose body is its event adds none.
TEST_F(SqliteStoreTest, ADeadLetterKeepsTheOriginalEventWrittenOncePerEvent) {
  const auto event = std::make_shared<const std::string>(R"({"id":"e-1","detail":"original"})");
  NewJob first = job("rendered-one");
  first.event = event;
  NewJob second = job("rendered-two");
  second.event = event;
  NewJob verbatim = job(*event);
  verbatim.event = event;
  NewJob without = job("no-event");
  ASSERT_TRUE(store_->append({{first, second, verbatim, without}, {}, {}, {}}).ok());
  const std::string segment = contents(segment_holding("rendered-one"));
  // Once as the verbatim job's body, once as the record the other two share.
  size_t copies = 0;
  for (size_t at = segment.find(*event); at != std::string::npos;
       at = segment.find(*event, at + 1)) {
    ++copies;
  }
  EXPECT_EQ(copies, 2u);

  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 4u);
  EXPECT_EQ(claims[0].job.body, "rendered-one");  // a claim carries the body alone
  EXPECT_EQ(store_->job_event(claims[1]).value(), std::optional<std::string>(*event));
  EXPECT_EQ(store_->job_event(claims[2]).value(), std::optional<std::string>(*event));
  EXPECT_EQ(store_->job_event(claims[3]).value(), std::nullopt);
  DeadLetterReason reason{"HTTP_400", "HTTP_400: bad", ""};
  reason.request = R"({"Method":"POST"})";
  reason.http_status = 400;
  reason.response_excerpt = "bad";
  ASSERT_TRUE(store_->dead_letter(claims[1], reason, 2000, nullptr).ok());
  ASSERT_TRUE(store_->complete(claims[0]).ok());  // the shared record outlives either job
  const DeadLetter letter = only_dead_letter();
  EXPECT_EQ(letter.job.body, "rendered-two");
  EXPECT_EQ(letter.event, std::optional<std::string>(*event));
  EXPECT_EQ(letter.reason.request, R"({"Method":"POST"})");
  EXPECT_EQ(letter.reason.http_status, 400);
  EXPECT_EQ(letter.reason.response_excerpt, "bad");
  // Redriven, the job keeps its event for the next letter.
  ASSERT_TRUE(redrive(letter).ok());
  std::vector<Claim> again = claim(3000);
  ASSERT_EQ(again.size(), 1u);  // the others are still leased
  EXPECT_EQ(again[0].job.body, "rendered-two");
  ASSERT_TRUE(store_->dead_letter(again[0], {"HTTP_500", "again", ""}, 4000, nullptr).ok());
  EXPECT_EQ(only_dead_letter().event, std::optional<std::string>(*event));
  ASSERT_TRUE(store_->dead_letter(claims[2], {"HTTP_500", "x", ""}, 4000, nullptr).ok());
  ASSERT_TRUE(store_->dead_letter(claims[3], {"HTTP_500", "y", ""}, 4000, nullptr).ok());
  Result<std::vector<DeadLetter>> letters = store_->dlq_list(10, 0);
  ASSERT_EQ(letters->size(), 3u);
  EXPECT_EQ((*letters)[1].event, std::optional<std::string>(*event));  // its body is the event
  EXPECT_EQ((*letters)[2].event, std::nullopt);                        // never kept
}

TEST_F(SqliteStoreTest, AKeptEventMovesIntoItsRowWithTheBody) {
  reopen({.path = "", .seal_bodies_after_ms = 0, .inline_bodies_after_ms = 0});
  NewJob waiting = job("waiting");
  waiting.event = std::make_shared<const std::string>(R"({"id":"e-2"})");
  ASSERT_TRUE(store_->append({{waiting}, {}, {}, {}}).ok());
  const std::filesystem::path segment = segment_holding("waiting");
  ASSERT_TRUE(store_->collect_bodies().ok());  // seals the segment and copies the job out
  ASSERT_TRUE(store_->collect_bodies().ok());  // nothing refers to it any more
  EXPECT_FALSE(std::filesystem::exists(segment));
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 1u);
  ASSERT_TRUE(store_->dead_letter(claims[0], {"HTTP_400", "bad", ""}, 2000, nullptr).ok());
  EXPECT_EQ(only_dead_letter().event, std::optional<std::string>(R"({"id":"e-2"})"));
}

TEST_F(SqliteStoreTest, ABodyLogThatCannotGrowFailsTheAppendClearlyAndKeepsWhatWasAccepted) {
  // A file-size limit stands in for a full disk: writes past it fail (EFBIG) as they would with
  // ENOSPC. The database and WAL stay far below it; the body log reaches it first.
  const NewJob big{"default/rule/target", "e", std::string(100'000, 'x'), "", 1000};
  const std::string& body = big.body;
  ASSERT_TRUE(store_->append({{big, big}, {}, {}, {}}).ok());
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  void (*saved_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = 1 << 20;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  Status failed = ok_status();
  int accepted_batches = 1;
  for (int i = 0; i < 20 && failed.ok(); ++i) {
    failed = store_->append({{big, big}, {}, {}, {}});
    accepted_batches += failed.ok() ? 1 : 0;
  }
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  std::signal(SIGXFSZ, saved_handler);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.code(), StatusCode::kUnavailable);
  EXPECT_NE(failed.message().find("body log: cannot write"), std::string::npos) << failed.message();
  // Every accepted job is there with its body; the failed batch left nothing behind.
  std::vector<Claim> claims = claim(2000, 1000);
  ASSERT_EQ(claims.size(), static_cast<size_t>(2 * accepted_batches));
  for (const Claim& claim : claims) {
    EXPECT_EQ(claim.job.body, body);
  }
  // With room again, appending works.
  ASSERT_TRUE(store_->append({{job("after")}, {}, {}, {}}).ok());
  EXPECT_EQ(claim(2000).at(0).job.body, "after");
}

TEST_F(SqliteStoreTest, AVersion1DatabaseIsUpgradedAndItsBodiesStayReadable) {
  store_.reset();
  std::filesystem::remove_all(directory_);
  std::filesystem::create_directories(directory_ / "sub");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(database().c_str(), &db), SQLITE_OK);
  // Version 1's jobs table: every body in the row.
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE jobs (id INTEGER PRIMARY KEY, target TEXT NOT NULL, "
                         "event_id TEXT NOT NULL, body BLOB NOT NULL, headers TEXT NOT NULL, "
                         "attempts INTEGER NOT NULL DEFAULT 0, ingested_at_ms INTEGER NOT NULL, "
                         "due_at_ms INTEGER NOT NULL, lease_token TEXT, last_error TEXT NOT NULL "
                         "DEFAULT ''); INSERT INTO jobs (target, event_id, body, headers, "
                         "ingested_at_ms, due_at_ms) VALUES ('default/r/t', 'e1', 'old body', '', "
                         "1000, 1000); PRAGMA user_version=1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  reopen();
  ASSERT_TRUE(store_->append({{job("new body", 1001)}, {}, {}, {}}).ok());
  std::vector<Claim> claims = claim(2000);
  ASSERT_EQ(claims.size(), 2u);
  EXPECT_EQ(claims[0].job.body, "old body");
  EXPECT_EQ(claims[1].job.body, "new body");
  store_.reset();
  ASSERT_EQ(sqlite3_open(database().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* version = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &version, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(version), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(version, 0), internal::kSchemaVersion);
  sqlite3_finalize(version);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, UnopenablePathIsUnavailable) {
  Result<std::unique_ptr<SqliteStore>> opened = SqliteStore::open({.path = "/proc/hikyaku/x.db"});
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace hikyaku::store
