// SqliteStore: claiming jobs and settling claims (complete, retry, release, dead-letter). A lease
// is carried in the job's own row (internal/schema.cc); `leases` holds an older version's leases
// only, and open() clears it.
#include <fmt/format.h>
#include <sqlite3.h>

#include <optional>
#include <utility>

#include "store/sqlite/internal/schema.h"
#include "store/sqlite/internal/statements.h"
#include "store/sqlite/sqlite_store.h"

namespace hikyaku::store {

using internal::sqlite_error;
using internal::Statement;
using internal::Use;

Result<std::vector<Claim>> SqliteStore::claim(int64_t now_ms, int limit, int64_t lease_ms) {
  if (limit <= 0 || lease_ms <= 0) {
    return invalid_argument("claim needs a positive limit and lease");
  }
  MutexLock lock(mutex_);
  (void)use_sync(false);  // failing leaves FULL: slower, never less durable
  const std::string token = new_token();
  const int64_t expires = now_ms + lease_ms;
  std::vector<Claim> claims;
  const Status status = in_transaction([&]() HK_REQUIRES(mutex_) -> Status {
    std::vector<std::pair<Claim, Status>> unreadable;
    HK_RETURN_IF_ERROR(read_due_jobs(now_ms, limit, token, expires, claims, unreadable));
    // Undeliverable: visible in the dead-letter queue instead of failing every claim.
    for (const auto& [claim, error] : unreadable) {
      if (Status moved =
              move_to_dead_letters(claim, {kBodyUnreadableError, error.message(), ""}, now_ms);
          !moved.ok()) {
        return moved;
      }
    }
    return lease_claims(claims, token, expires);
  });
  HK_RETURN_IF_ERROR(status);
  return claims;
}

Status SqliteStore::read_due_jobs(int64_t now_ms, int limit, const std::string& token,
                                  int64_t expires, std::vector<Claim>& claims,
                                  std::vector<std::pair<Claim, Status>>& unreadable) {
  Use select(statements_->claim);
  select->bind(1, now_ms).bind(2, limit);
  int step = SQLITE_ROW;
  while ((step = select->step()) == SQLITE_ROW) {
    Claim claim{internal::read_job(*select), token, expires};
    if (const std::optional<BodyRef> ref = internal::body_ref_at(*select, 8)) {
      Result<std::string> body = bodies_->read(*ref);
      if (!body && body.error().code() == StatusCode::kNotFound) {
        unreadable.emplace_back(std::move(claim), body.status());
        continue;
      }
      if (!body) {
        return body.status();  // an I/O error may pass: the job stays for the next claim
      }
      claim.job.body = std::move(*body);
    }
    claims.push_back(std::move(claim));
  }
  if (step != SQLITE_DONE) {
    return sqlite_error(db_, "claiming jobs");
  }
  return ok_status();
}

Status SqliteStore::lease_claims(const std::vector<Claim>& claims, const std::string& token,
                                 int64_t expires) {
  for (const Claim& claim : claims) {
    // In the job's row, as append_and_lease does: its due time becomes the lease's expiry, so the
    // next claim's range scan never reaches it while the lease lives, however many jobs are
    // leased, and completing it is one delete.
    Use lease(statements_->lease);
    lease->bind(1, claim.job.id).bind(2, token).bind(3, expires);
    if (lease->step() != SQLITE_DONE) {
      return sqlite_error(db_, "leasing a job");
    }
  }
  return ok_status();
}

Status SqliteStore::complete(const Claim& claim) {
  MutexLock lock(mutex_);
  (void)use_sync(false);  // failing leaves FULL: slower, never less durable
  int64_t completed = 0;
  return in_transaction([&]() HK_REQUIRES(mutex_) { return complete_one(claim, completed); });
}

Result<int64_t> SqliteStore::complete_all(const std::vector<Claim>& claims) {
  MutexLock lock(mutex_);
  (void)use_sync(false);  // failing leaves FULL: slower, never less durable
  int64_t completed = 0;
  HK_RETURN_IF_ERROR(
      in_transaction([&]() HK_REQUIRES(mutex_) { return complete_claims(claims, completed); }));
  return completed;
}

Status SqliteStore::complete_claims(const std::vector<Claim>& claims, int64_t& completed) {
  for (const Claim& claim : claims) {
    if (Status status = complete_one(claim, completed);
        !status.ok() && status.code() != StatusCode::kFailedPrecondition) {
      return status;
    }  // a lost lease is skipped: the job is someone else's now
  }
  return ok_status();
}

Status SqliteStore::complete_one(const Claim& claim, int64_t& completed) {
  {
    // A lease in the job's row (append_and_lease, claim): one delete settles it.
    Use complete(statements_->complete_leased);
    complete->bind(1, claim.job.id).bind(2, claim.token);
    if (complete->step() != SQLITE_DONE) {
      return sqlite_error(db_, "completing a job");
    }
    if (sqlite3_changes(db_) > 0) {
      ++completed;
      return ok_status();
    }
  }
  HK_RETURN_IF_ERROR(take_lease(claim, /*in_row_too=*/false));
  Use complete(statements_->complete);
  complete->bind(1, claim.job.id);
  if (complete->step() != SQLITE_DONE) {
    return sqlite_error(db_, "completing a job");
  }
  completed += sqlite3_changes(db_);
  return ok_status();
}

Status SqliteStore::take_lease(const Claim& claim, bool in_row_too) {
  // Ends the lease `statement` names; true when there was one.
  auto ended = [&](Statement& statement) HK_REQUIRES(mutex_) -> Result<bool> {
    Use unlease(statement);
    unlease->bind(1, claim.job.id).bind(2, claim.token);
    if (unlease->step() != SQLITE_DONE) {
      return sqlite_error(db_, "settling a lease");
    }
    return sqlite3_changes(db_) > 0;
  };
  HK_ASSIGN_OR_RETURN(const bool in_table, ended(statements_->unlease));
  if (in_table) {
    return ok_status();
  }
  if (in_row_too) {
    HK_ASSIGN_OR_RETURN(const bool in_row, ended(statements_->unlease_row));
    if (in_row) {
      return ok_status();
    }
  }
  return failed_precondition(fmt::format("job {} is no longer leased by this claim", claim.job.id));
}

Status SqliteStore::retry(const Claim& claim, int64_t next_attempt_at_ms,
                          const std::string& error) {
  MutexLock lock(mutex_);
  (void)use_sync(false);  // failing leaves FULL: slower, never less durable
  return in_transaction([&]() HK_REQUIRES(mutex_) -> Status {
    HK_RETURN_IF_ERROR(take_lease(claim, /*in_row_too=*/true));
    Use retry(statements_->retry);
    retry->bind(1, claim.job.id).bind(2, next_attempt_at_ms).bind(3, error);
    if (retry->step() != SQLITE_DONE) {
      return sqlite_error(db_, "rescheduling a job");
    }
    return ok_status();
  });
}

Status SqliteStore::release(const Claim& claim, int64_t due_at_ms) {
  MutexLock lock(mutex_);
  (void)use_sync(false);  // failing leaves FULL: slower, never less durable
  return in_transaction([&]() HK_REQUIRES(mutex_) -> Status {
    HK_RETURN_IF_ERROR(take_lease(claim, /*in_row_too=*/true));
    Use release(statements_->release);
    release->bind(1, claim.job.id).bind(2, due_at_ms);
    if (release->step() != SQLITE_DONE) {
      return sqlite_error(db_, "releasing a job");
    }
    return ok_status();
  });
}

Status SqliteStore::dead_letter(const Claim& claim, const DeadLetterReason& reason, int64_t now_ms,
                                const NewJob* forward) {
  MutexLock lock(mutex_);
  HK_RETURN_IF_ERROR(use_sync(true));
  return in_transaction([&]() HK_REQUIRES(mutex_) -> Status {
    HK_RETURN_IF_ERROR(take_lease(claim, /*in_row_too=*/true));
    HK_RETURN_IF_ERROR(move_to_dead_letters(claim, reason, now_ms));
    if (forward == nullptr) {
      return ok_status();
    }
    // In its row, not the body log: dead letters are few, and this one is written alone.
    Use insert(statements_->insert_forward_job);
    insert->bind(1, forward->target)
        .bind(2, forward->event_id)
        .bind_blob(3, forward->body)
        .bind(4, forward->headers)
        .bind(5, forward->ingested_at_ms)
        .bind(6, now_ms);
    if (insert->step() != SQLITE_DONE) {
      return sqlite_error(db_, "forwarding a dead letter");
    }
    return ok_status();
  });
}

Result<std::optional<std::string>> SqliteStore::job_event(const Claim& claim) {
  MutexLock lock(mutex_);
  return read_job_event(claim.job.id, claim.job.body);
}

Result<std::optional<std::string>> SqliteStore::read_job_event(int64_t id,
                                                               const std::string& body) {
  Use select(statements_->job_event);
  select->bind(1, id);
  const int step = select->step();
  if (step == SQLITE_DONE) {
    return std::optional<std::string>();  // gone (settled meanwhile)
  }
  if (step != SQLITE_ROW) {
    return sqlite_error(db_, "reading a job's event");
  }
  switch (select->int64(0)) {
    case EventPlace::kBody:  // empty when the body itself was lost
      return body.empty() ? std::optional<std::string>() : std::optional<std::string>(body);
    case EventPlace::kRecord: {
      Result<std::string> event =
          bodies_->read({select->int64(1), select->int64(2), select->int64(3)});
      if (!event && event.error().code() == StatusCode::kNotFound) {
        return std::optional<std::string>();  // lost with its record: the letter goes without
      }
      HK_RETURN_IF_ERROR(event.status());
      return std::optional<std::string>(std::move(event).value());
    }
    case EventPlace::kInRow:  // NULL when its record was lost before it was moved here
      return select->is_null(4) ? std::optional<std::string>()
                                : std::optional<std::string>(select->text(4));
    default:
      return std::optional<std::string>();
  }
}

Status SqliteStore::move_to_dead_letters(const Claim& claim, const DeadLetterReason& reason,
                                         int64_t now_ms) {
  HK_ASSIGN_OR_RETURN(const std::optional<std::string> event,
                      read_job_event(claim.job.id, claim.job.body));
  {
    Use move(statements_->move_to_dlq);
    move->bind(1, claim.job.id)
        .bind(2, reason.error_code)
        .bind(3, reason.error_message)
        .bind(4, reason.exhausted_retry_condition)
        .bind(5, now_ms)
        .bind_blob(6, claim.job.body)
        .bind(8, reason.request)
        .bind(9, int64_t{reason.http_status})
        .bind(10, reason.response_excerpt);
    if (event.has_value()) {
      move->bind_blob(7, *event);
    }
    if (move->step() != SQLITE_DONE) {
      return sqlite_error(db_, "dead-lettering a job");
    }
  }
  Use remove(statements_->complete);
  remove->bind(1, claim.job.id);
  if (remove->step() != SQLITE_DONE) {
    return sqlite_error(db_, "removing a dead-lettered job");
  }
  return ok_status();
}

}  // namespace hikyaku::store
