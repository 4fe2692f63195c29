#include "store/sqlite/internal/statements.h"

namespace hikyaku::store {

SqliteStore::Statements::Statements(sqlite3* db)
    : insert_job(db,
                 "INSERT INTO jobs (target, event_id, body, headers, ingested_at_ms, due_at_ms, "
                 "body_segment, body_offset, body_length, event_kind, event_offset, "
                 "event_length) VALUES (?1, ?2, x'', ?3, ?4, ?4, ?5, ?6, ?7, ?10, ?11, ?12)"),
      insert_leased_job(db,
                        "INSERT INTO jobs (target, event_id, body, headers, ingested_at_ms, "
                        "due_at_ms, body_segment, body_offset, body_length, lease_token, "
                        "event_kind, event_offset, event_length) "
                        "VALUES (?1, ?2, x'', ?3, ?4, ?8, ?5, ?6, ?7, ?9, ?10, ?11, ?12)"),
      insert_forward_job(db,
                         "INSERT INTO jobs (target, event_id, body, headers, ingested_at_ms, "
                         "due_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
      job_event(db,
                "SELECT event_kind, body_segment, event_offset, event_length, event FROM jobs "
                "WHERE id = ?1"),
      complete_leased(db, "DELETE FROM jobs WHERE id = ?1 AND lease_token = ?2"),
      unlease_row(db,
                  "UPDATE jobs SET lease_token = NULL, due_at_ms = ingested_at_ms "
                  "WHERE id = ?1 AND lease_token = ?2"),
      insert_event(db,
                   "INSERT INTO archive (event_id, bus, envelope, ingested_at_ms, archive) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)"),
      claim(db, "SELECT " HK_JOB_COLUMNS
                " FROM jobs WHERE due_at_ms <= ?1 AND NOT EXISTS (SELECT 1 FROM leases WHERE "
                "job_id = jobs.id AND expires_at_ms > ?1) ORDER BY due_at_ms, id LIMIT ?2"),
      lease(db, "UPDATE jobs SET lease_token = ?2, due_at_ms = ?3 WHERE id = ?1"),
      unlease(db, "DELETE FROM leases WHERE job_id = ?1 AND token = ?2"),
      complete(db, "DELETE FROM jobs WHERE id = ?1"),
      release(db, "UPDATE jobs SET due_at_ms = ?2 WHERE id = ?1"),
      insert_dead_letter(db,
                         "INSERT INTO dead_letters (job_id, target, event_id, body, headers, "
                         "attempts, ingested_at_ms, last_error, error_code, error_message, "
                         "exhausted_retry_condition, dead_lettered_at_ms, event) "
                         "VALUES (0, ?1, ?2, ?3, ?4, 0, ?5, '', ?6, ?7, ?8, ?5, ?9)"),
      retry(db,
            "UPDATE jobs SET attempts = attempts + 1, due_at_ms = ?2, last_error = ?3 "
            "WHERE id = ?1"),
      move_to_dlq(db,
                  "INSERT INTO dead_letters (job_id, target, event_id, body, headers, attempts, "
                  "ingested_at_ms, last_error, error_code, error_message, "
                  "exhausted_retry_condition, dead_lettered_at_ms, event, request, http_status, "
                  "response_excerpt) "
                  "SELECT id, target, event_id, ?6, headers, attempts + 1, ingested_at_ms, "
                  "last_error, ?2, ?3, ?4, ?5, ?7, ?8, ?9, ?10 FROM jobs WHERE id = ?1"),
      segment_referenced(db, "SELECT EXISTS (SELECT 1 FROM jobs WHERE body_segment = ?1)"),
      jobs_in_segment(db,
                      "SELECT id, body_segment, body_offset, body_length, event_kind, "
                      "event_offset, event_length FROM jobs "
                      "WHERE body_segment = ?1 AND id > ?2 ORDER BY id LIMIT ?3"),
      inline_body(db,
                  "UPDATE jobs SET body = ?2, body_segment = NULL, body_offset = NULL, "
                  "body_length = NULL, event_kind = CASE event_kind WHEN 2 THEN 3 ELSE "
                  "event_kind END, event = CASE event_kind WHEN 2 THEN ?4 ELSE event END, "
                  "event_offset = NULL, event_length = NULL WHERE id = ?1 AND body_segment = ?3"),
      kv_get(db, "SELECT value, revision FROM kv WHERE key = ?1"),
      kv_list(db,
              "SELECT key, value, revision FROM kv WHERE key > ?1 AND substr(key, 1, length(?2)) = "
              "?2 ORDER BY key LIMIT ?3"),
      kv_insert(db, "INSERT OR IGNORE INTO kv (key, value, revision) VALUES (?1, ?2, 1)"),
      kv_update(db,
                "UPDATE kv SET value = ?2, revision = revision + 1 "
                "WHERE key = ?1 AND revision = ?3"),
      remove_dead_letter(db, "DELETE FROM dead_letters WHERE id = ?1"),
      insert_delivery(db,
                      "INSERT INTO deliveries (at_ms, target, destination, event_id, job_id, "
                      "attempt, http_status, latency_ms, outcome, error) VALUES (?1, ?2, ?3, ?4, "
                      "?5, ?6, ?7, ?8, ?9, ?10)"),
      trim_deliveries(db, "DELETE FROM deliveries WHERE id <= ?1"),
      recent_deliveries(db,
                        "SELECT id, at_ms, target, destination, event_id, job_id, attempt, "
                        "http_status, latency_ms, outcome, error FROM deliveries WHERE id < ?1 "
                        "ORDER BY id DESC LIMIT ?2"),
      queues(db,
             "SELECT target, COUNT(*), MIN(ingested_at_ms) FROM jobs GROUP BY target "
             "ORDER BY target"),
      count_jobs(db,
                 "SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM leases JOIN jobs "
                 "ON jobs.id = leases.job_id WHERE leases.expires_at_ms > ?1) + (SELECT "
                 "COUNT(*) FROM jobs WHERE lease_token IS NOT NULL AND due_at_ms > ?1)"),
      count_dead(db, "SELECT COUNT(*) FROM dead_letters"),
      count_archive(db, "SELECT COUNT(*) FROM archive"),
      ping(db, "SELECT 1"),
      begin(db, "BEGIN IMMEDIATE"),
      commit(db, "COMMIT"),
      rollback(db, "ROLLBACK"),
      sync_full(db, "PRAGMA synchronous=FULL"),
      sync_normal(db, "PRAGMA synchronous=NORMAL") {}

Status SqliteStore::Statements::check() const {
  for (const internal::Statement* statement : {&insert_job,
                                               &insert_leased_job,
                                               &insert_forward_job,
                                               &job_event,
                                               &complete_leased,
                                               &unlease_row,
                                               &insert_event,
                                               &claim,
                                               &lease,
                                               &unlease,
                                               &complete,
                                               &release,
                                               &insert_dead_letter,
                                               &retry,
                                               &move_to_dlq,
                                               &segment_referenced,
                                               &jobs_in_segment,
                                               &inline_body,
                                               &kv_get,
                                               &kv_list,
                                               &kv_insert,
                                               &kv_update,
                                               &remove_dead_letter,
                                               &insert_delivery,
                                               &trim_deliveries,
                                               &recent_deliveries,
                                               &queues,
                                               &count_jobs,
                                               &count_dead,
                                               &count_archive,
                                               &ping,
                                               &begin,
                                               &commit,
                                               &rollback,
                                               &sync_full,
                                               &sync_normal}) {
    if (!statement->valid()) {
      return unavailable("sqlite: preparing statements: " + statement->error());
    }
  }
  return ok_status();
}

}  // namespace hikyaku::store
