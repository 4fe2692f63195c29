#include "delivery/rate_share.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "core/thread.h"

namespace hikyaku::delivery {
namespace {

// Writers racing for one record retry this often before the destination waits for the next
// round of the refiller.
constexpr int kMaxWriteAttempts = 8;
// How soon a start that found no slot asks again while its grant is being refilled.
constexpr int64_t kRefillRetryMs = 2;
// The refiller looks at its grants at least this often.
constexpr auto kIdleWake = std::chrono::milliseconds(100);

}  // namespace

int64_t RateShare::hold_ms(int rate) {
  return std::max<int64_t>(50, int64_t{2} * chunk(rate) * interval_us(rate) / 1000);
}

RateShare::RateShare(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {
  refiller_ = std::thread([this] { run(); });
}

RateShare::~RateShare() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  refiller_.join();
}

bool RateShare::try_take(const std::string& destination, int rate, int64_t now_ms,
                         int64_t& retry_at_ms) {
  MutexLock lock(mutex_);
  Grant& grant = grants_[destination];
  grant.rate = rate;
  if (grant.paused_until_ms > now_ms) {
    retry_at_ms = grant.paused_until_ms;
    return false;
  }
  if (grant.slots_expire_ms <= now_ms) {
    grant.slots = 0;  // not saved up for a burst
  }
  if (grant.slots > 0) {
    --grant.slots;
    if (grant.slots <= chunk(rate) / 2 && !grant.wanted) {
      grant.wanted = true;  // refilled ahead, before the sender runs dry
      wake_.notify_one();
    }
    return true;
  }
  if (!grant.wanted || now_ms >= grant.next_refill_ms) {
    grant.wanted = true;
    wake_.notify_one();  // the refill thread may be waiting for a time that has come
  }
  retry_at_ms = std::max(now_ms + kRefillRetryMs, grant.next_refill_ms);
  return false;
}

void RateShare::pause(const std::string& destination, int64_t until_ms) {
  MutexLock lock(mutex_);
  Grant& grant = grants_[destination];
  grant.paused_until_ms = std::max(grant.paused_until_ms, until_ms);
  grant.pause_to_write_ms = std::max(grant.pause_to_write_ms, until_ms);
  wake_.notify_one();
}

void RateShare::run() {
  name_this_thread("hk-rate");
  MutexLock lock(mutex_);
  while (!stopping_) {
    const int64_t now_ms = clock_.now_ms();
    std::vector<std::string> due;
    auto wake_in = std::chrono::duration_cast<std::chrono::milliseconds>(kIdleWake);
    for (const auto& [destination, grant] : grants_) {
      if (grant.pause_to_write_ms > 0 || (grant.wanted && now_ms >= grant.next_refill_ms)) {
        due.push_back(destination);
      } else if (grant.wanted) {
        wake_in = std::min(wake_in, std::chrono::milliseconds(grant.next_refill_ms - now_ms));
      }
    }
    if (due.empty()) {
      wake_.wait_until(lock, std::chrono::steady_clock::now() + wake_in);
      continue;
    }
    lock.unlock();
    for (const std::string& destination : due) {
      refill(destination);
    }
    lock.lock();
  }
}

void RateShare::refill(const std::string& destination) {
  int rate = 0;
  int64_t pause_ms = 0;
  bool wanted = false;
  {
    MutexLock lock(mutex_);
    const Grant& grant = grants_[destination];
    rate = grant.rate;
    pause_ms = grant.pause_to_write_ms;
    wanted = grant.wanted;
  }
  const std::string record_key = key(destination);
  for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
    Result<std::optional<store::KvEntry>> read = store_.kv_get(record_key);
    Status failure;
    if (read.has_value()) {
      Record record = *read ? decode((*read)->value) : Record{};
      const int64_t revision = *read ? (*read)->revision : 0;
      const int64_t now_ms = clock_.now_ms();
      const int64_t now_us = now_ms * 1000;
      const int64_t interval = interval_us(rate);
      const int64_t slots = chunk(rate);
      const bool new_pause = pause_ms > record.paused_until_ms;
      record.paused_until_ms = std::max(record.paused_until_ms, pause_ms);
      const bool paused = record.paused_until_ms > now_ms;
      // A chunk may be taken once the schedule is not ahead of now; taking it moves the
      // schedule a chunk's time ahead.
      const int64_t arrival = std::max(record.theoretical_arrival_us, now_us);
      const bool room = record.theoretical_arrival_us <= now_us;
      const int take = wanted && !paused && room ? static_cast<int>(slots) : 0;
      record.theoretical_arrival_us = arrival + take * interval;
      Result<int64_t> written = revision;  // nothing to write: as if written
      if (take > 0 || new_pause) {
        written = store_.kv_put_if(record_key, encode(record), revision);
      }
      if (written.has_value()) {
        MutexLock lock(mutex_);
        Grant& grant = grants_[destination];
        if (grant.slots_expire_ms <= now_ms) {
          grant.slots = 0;
        }
        if (take > 0) {
          grant.slots += take;
          grant.slots_expire_ms = now_ms + hold_ms(rate);
          grant.wanted = grant.slots <= slots / 2;
          grant.next_refill_ms = 0;
        } else if (wanted) {
          // The next chunk is due when the schedule is.
          grant.next_refill_ms = paused ? record.paused_until_ms : (arrival + 999) / 1000;
        }
        grant.paused_until_ms = std::max(grant.paused_until_ms, record.paused_until_ms);
        if (grant.pause_to_write_ms <= pause_ms) {
          grant.pause_to_write_ms = 0;
        }
        return;
      }
      if (written.error().code() == StatusCode::kFailedPrecondition) {
        continue;  // another node wrote first: read again
      }
      failure = written.error();
    } else {
      failure = read.error();
    }
    // The store is not answering: this node goes on with a share of its own.
    MutexLock lock(mutex_);
    if (!warned_) {
      warned_ = true;
      spdlog::warn(
          "rate limits: the shared store cannot be read or written, so this node paces its "
          "destinations on its own until it can destination={} error={}",
          destination, failure.message());
    }
    Grant& grant = grants_[destination];
    const int64_t now_ms = clock_.now_ms();
    if (grant.slots_expire_ms <= now_ms) {
      grant.slots = 0;
    }
    grant.slots_expire_ms = now_ms + hold_ms(rate);
    grant.slots += chunk(rate);
    grant.wanted = false;
    grant.pause_to_write_ms = 0;
    return;
  }
}

std::string RateShare::encode(const Record& record) {
  return fmt::format("{} {}", record.theoretical_arrival_us, record.paused_until_ms);
}

RateShare::Record RateShare::decode(const std::string& text) {
  Record record;
  long long arrival = 0;
  long long paused = 0;
  // NOLINTNEXTLINE(cert-err34-c): a record that does not read is treated as empty
  if (std::sscanf(text.c_str(), "%lld %lld", &arrival, &paused) == 2) {
    record.theoretical_arrival_us = arrival;
    record.paused_until_ms = paused;
  }
  return record;
}

}  // namespace hikyaku::delivery
