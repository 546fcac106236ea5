#include "offer_desk.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "factorial/resources.hpp"

namespace factorial::scheduler {
namespace {

namespace ev = v1::scheduler;

}  // namespace

OfferDesk::OfferDesk(Port& port, OfferPolicy policy) : port_(port), policy_(policy) {}

void OfferDesk::Start() {
  busy_until_ = port_.Now();
  last_start_ = port_.Now();
}

// ---- offers in, calls out ----------------------------------------------------------------

void OfferDesk::Offered(const std::vector<v1::Offer>& offers) {
  for (const auto& offer : offers) {
    ++stats_.offers;
    // An agent whose disk failed us offers no disk to our result files any more.
    double disk = HasDiskFailed(offer.agent_id.value) ? 0 : ScalarTotal(offer.resources, "disk");
    recent_.push_back(
        {port_.Now(), ScalarTotal(offer.resources, "cpus"), ScalarTotal(offer.resources, "mem"), disk, offer.agent_id.value});
    hostnames_[offer.agent_id.value] = offer.hostname;
  }
}

void OfferDesk::Accept(const v1::OfferID& offer, std::vector<v1::TaskInfo> tasks, AcceptFailed failed) {
  ev::Call call;
  call.type = ev::CallType::kAccept;
  auto& accept = call.accept.emplace();
  accept.offer_ids.push_back(offer);
  v1::Operation op;
  op.type = v1::OperationType::kLaunch;
  std::vector<std::string> task_ids;
  for (const auto& task : tasks) task_ids.push_back(task.task_id.value);
  op.launch.emplace(std::move(tasks));
  accept.operations.push_back(std::move(op));
  accept.filters = v1::Filters{policy_.refuse_seconds_busy};
  ++stats_.offers_used;
  auto ticket = std::make_shared<CallQueue::Ticket>(0);
  *ticket = port_.Send(std::move(call), [this, ticket, offer, task_ids, failed = std::move(failed)](bool accepted) {
    Answered(*ticket, accepted);
    // After a resubscription every launched task is reconciled anyway.
    if (accepted || !port_.Subscribed()) return;
    spdlog::warn("ACCEPT of offer {} failed; reconciling the {} task(s) it launched", offer.value, task_ids.size());
    Decline({offer}, policy_.refuse_seconds_busy);
    failed(task_ids);
  });
  Track(*ticket, {offer}, std::move(task_ids));
}

void OfferDesk::Unused(std::vector<v1::OfferID> offers, bool more_pending) {
  if (!offers.empty()) {
    CallQueue::Ticket ticket =
        Decline(std::move(offers), more_pending ? policy_.refuse_seconds_busy : policy_.refuse_seconds_idle);
    if (!more_pending) HoldIdle(ticket);
  }
  if (!more_pending && !suppressed_) Suppress();
}

CallQueue::Ticket OfferDesk::Decline(std::vector<v1::OfferID> offers, double refuse_seconds) {
  stats_.offers_declined += offers.size();
  return SendDecline(std::move(offers), refuse_seconds, 1);
}

CallQueue::Ticket OfferDesk::SendDecline(std::vector<v1::OfferID> offers, double refuse_seconds, int attempt) {
  ev::Call call;
  call.type = ev::CallType::kDecline;
  auto& decline = call.decline.emplace();
  decline.offer_ids = offers;
  decline.filters = v1::Filters{refuse_seconds};
  auto ticket = std::make_shared<CallQueue::Ticket>(0);
  *ticket = port_.Send(std::move(call), [this, ticket, offers, refuse_seconds, attempt](bool accepted) mutable {
    Answered(*ticket, accepted);
    if (!accepted) DeclineAnswered(std::move(offers), refuse_seconds, attempt);
  });
  Track(*ticket, offers, {});
  return *ticket;
}

// A DECLINE the master did not take: sent again, up to three attempts in all.
void OfferDesk::DeclineAnswered(std::vector<v1::OfferID> offers, double refuse_seconds, int attempt) {
  if (attempt >= 3 || !port_.Subscribed()) return;
  // Work may have come back meanwhile, its REVIVE queued before this retry: an hour-long
  // filter sent after it would hold the offer back from that work.
  bool idle = !port_.WorkPending();
  double refuse = idle ? refuse_seconds : std::min(refuse_seconds, policy_.refuse_seconds_busy);
  CallQueue::Ticket retry = SendDecline(std::move(offers), refuse, attempt + 1);
  if (idle && refuse >= policy_.refuse_seconds_idle) HoldIdle(retry);
}

void OfferDesk::HoldIdle(CallQueue::Ticket ticket) {
  if (ticket == 0) return;  // never sent: holds nothing back
  idle_filter_ = true;
  idle_declines_.push_back(ticket);
}

void OfferDesk::Suppress() {
  ev::Call call;
  call.type = ev::CallType::kSuppress;
  call.suppress.emplace();
  suppress_ticket_ = port_.Send(std::move(call), {});
  suppressed_ = true;
  ++stats_.suppresses;
}

void OfferDesk::Launched() { busy_until_ = port_.Now(); }

void OfferDesk::Track(CallQueue::Ticket ticket, const std::vector<v1::OfferID>& offers,
                      std::vector<std::string> task_ids) {
  if (ticket == 0) return;  // not sent: nothing waits
  auto& call = queued_[ticket];
  for (const auto& offer : offers) {
    call.offers.push_back(offer.value);
    queued_by_offer_[offer.value] = ticket;
  }
  call.task_ids = std::move(task_ids);
}

void OfferDesk::Answered(CallQueue::Ticket ticket, bool accepted) {
  auto it = queued_.find(ticket);
  if (it == queued_.end()) return;
  if (!accepted) ++stats_.calls_failed;
  for (const auto& offer : it->second.offers) queued_by_offer_.erase(offer);
  queued_.erase(it);
}

// ---- the master --------------------------------------------------------------------------

void OfferDesk::Subscribed() { suppressed_ = false; }

std::vector<std::string> OfferDesk::Disconnected() {
  std::vector<std::string> task_ids;
  for (auto& [ticket, call] : queued_) {
    task_ids.insert(task_ids.end(), call.task_ids.begin(), call.task_ids.end());
  }
  queued_.clear();
  queued_by_offer_.clear();
  return task_ids;
}

std::vector<std::string> OfferDesk::Rescinded(const v1::OfferID& offer) {
  ++stats_.rescinded;
  auto found = queued_by_offer_.find(offer.value);
  if (found == queued_by_offer_.end()) return {};
  CallQueue::Ticket ticket = found->second;
  queued_by_offer_.erase(found);
  auto it = queued_.find(ticket);
  if (it == queued_.end()) return {};
  std::erase(it->second.offers, offer.value);
  if (!it->second.offers.empty() || !port_.Withdraw(ticket)) return {};
  std::vector<std::string> task_ids = std::move(it->second.task_ids);
  queued_.erase(it);
  ++stats_.calls_withdrawn;
  if (task_ids.empty()) {
    spdlog::debug("offer {} was rescinded; its DECLINE is not sent", offer.value);
    // An hour-long filter that was never sent holds nothing back.
    if (std::erase(idle_declines_, ticket) > 0 && idle_declines_.empty()) idle_filter_ = false;
    return {};
  }
  spdlog::info("offer {} was rescinded before its ACCEPT was sent; {} task(s) not launched", offer.value,
               task_ids.size());
  return task_ids;
}

void OfferDesk::Revive() {
  if (!(suppressed_ || idle_filter_) || !port_.Subscribed()) return;
  idle_declines_.clear();
  // A SUPPRESS still queued is simply not sent: with a slow master, SUPPRESS and REVIVE
  // after every launch that comes back would delay the next launch by two answers.
  if (suppressed_ && port_.Withdraw(suppress_ticket_)) {
    suppressed_ = false;
    if (!idle_filter_) return;
  }
  SendRevive();
}

// REVIVE lifts SUPPRESS and every filter of ours.
void OfferDesk::SendRevive() {
  ev::Call call;
  call.type = ev::CallType::kRevive;
  call.revive.emplace();
  port_.Send(std::move(call), {});
  idle_declines_.clear();
  suppressed_ = false;
  idle_filter_ = false;
  last_revive_ = port_.Now();
  ++stats_.revives;
}

// After the events already read: RESCINDs of the other offers of a launch that did not
// happen often arrive together, and each may take back a call (a DECLINE with the hour-long
// filter, a SUPPRESS) that would otherwise need this REVIVE.
void OfferDesk::ReviveSoon() {
  if (revive_posted_) return;
  revive_posted_ = true;
  port_.Later([this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired()) return;
    revive_posted_ = false;
    if (port_.WorkPending()) Revive();
  });
}

void OfferDesk::TaskEnded() {
  last_task_end_ = port_.Now();
  if (task_end_posted_ || task_end_timer_) return;  // a REVIVE after this end is on its way
  task_end_posted_ = true;
  port_.Later([this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired()) return;
    task_end_posted_ = false;
    ReviveForEndedTasks();
  });
}

void OfferDesk::ReviveForEndedTasks() {
  if (!port_.WorkPending() || !port_.Subscribed()) return;
  // A REVIVE sent since the last task ended already had the master offer their cpus.
  if (last_revive_ && *last_revive_ > last_task_end_) return;
  // A SUPPRESS or an hour-long filter in force is lifted whatever the rate.
  if (suppressed_ || idle_filter_) return Revive();
  TimePoint now = port_.Now();
  if (last_revive_ && now - *last_revive_ < policy_.task_end_revive_interval) {
    ++stats_.revives_rate_limited;
    task_end_timer_ = true;
    port_.After(*last_revive_ + policy_.task_end_revive_interval - now, [this, alive = std::weak_ptr<int>(alive_)] {
      if (alive.expired()) return;
      task_end_timer_ = false;
      ReviveForEndedTasks();
    });
    return;
  }
  SendRevive();
  ++stats_.revives_task_end;
}

// ---- what offers taught ------------------------------------------------------------------

void OfferDesk::TaskStarted() { last_start_ = port_.Now(); }

bool OfferDesk::Stuck() const { return port_.Now() - last_start_ >= policy_.offer_wait; }

std::string OfferDesk::Hostname(const std::string& agent_id) const {
  auto it = hostnames_.find(agent_id);
  return it == hostnames_.end() ? std::string() : it->second;
}

bool OfferDesk::WaitedOut(bool busy) {
  TimePoint now = port_.Now();
  if (busy) busy_until_ = now;
  // Only recent offers count: an agent that is gone no longer makes room for anything.
  std::erase_if(recent_, [&](const Seen& seen) { return now - seen.at > policy_.offer_wait; });
  largest_cpus_ = 0;
  largest_mem_ = 0;
  largest_disk_ = 0;
  for (const auto& seen : recent_) {
    largest_cpus_ = std::max(largest_cpus_, seen.cpus);
    largest_mem_ = std::max(largest_mem_, seen.mem);
    largest_disk_ = std::max(largest_disk_, seen.disk);
  }
  return now - busy_until_ >= policy_.offer_wait;
}

bool OfferDesk::CouldHold(double cpus, double mem_mb, double disk_mb) const {
  return std::any_of(recent_.begin(), recent_.end(), [&](const Seen& seen) {
    return cpus <= seen.cpus && mem_mb <= seen.mem && disk_mb <= seen.disk;
  });
}

std::string OfferDesk::Unschedulable(double cpus, double mem_mb, double disk_mb) const {
  double wait = std::chrono::duration<double>(policy_.offer_wait).count();
  // Why agents that had the disk could not keep it: named, since no offer says so.
  std::string failures;
  for (const auto& [agent, diagnosis] : disk_failures_) failures += "; " + diagnosis;
  bool only_disk = disk_mb > 0 && std::any_of(recent_.begin(), recent_.end(), [&](const Seen& seen) {
                     return cpus <= seen.cpus && mem_mb <= seen.mem;
                   });
  if (only_disk) {
    return fmt::format("unschedulable: needs {:g} MB of disk for its result; the largest offer has {:g} MB (no usable "
                       "offer within --offer-wait {:g} s){}",
                       disk_mb, largest_disk_, wait, failures);
  }
  std::string largest = recent_.empty()
                            ? "no offer at all"
                            : fmt::format("the largest offer had {:g} cpus and {:g} MB", largest_cpus_, largest_mem_);
  std::string disk = disk_mb > 0 ? fmt::format(", {:g} MB of disk", disk_mb) : std::string();
  return fmt::format("unschedulable: no usable offer within --offer-wait {:g} s (needs {:g} MB{} and at least {:g} "
                     "cpus; {}){}",
                     wait, mem_mb, disk, cpus, largest, failures);
}

bool OfferDesk::DiskFailed(const std::string& agent_id, std::string diagnosis) {
  for (auto& seen : recent_) {
    if (seen.agent_id == agent_id) seen.disk = 0;
  }
  return disk_failures_.emplace(agent_id, std::move(diagnosis)).second;
}

}  // namespace factorial::scheduler
