#include "job_book.hpp"

#include <algorithm>
#include <charconv>
#include <random>

#include <fmt/format.h>

namespace factorial::scheduler {
namespace {

constexpr std::string_view kTaskPrefix = "factorial-";

template <typename T>
std::optional<T> Digits(std::string_view text) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

bool IsFinal(NumberState state) { return state == NumberState::kDone || state == NumberState::kFailed; }

JobBook::JobBook(const Workload& workload, std::uint64_t (*cost_ns)(std::uint64_t))
    : workload_(workload), cost_ns_(cost_ns), slots_(workload.distinct()) {
  progress_.pending = slots_.size();
  for (NumberId id = 0; id < slots_.size(); ++id) pending_work_ns_ += cost_ns_(workload_.number(id));
  // Batch task IDs must differ from those of an earlier run of the same framework.
  run_token_ = fmt::format("{:08x}", std::random_device{}());
}

// ---- pending work ------------------------------------------------------------------------

// Moves the round's read position to the next number that is pending and not passed yet.
std::optional<NumberId> JobBook::Advance() {
  if (!scan_.started) {
    scan_ = Scan{0, groups_.empty() ? 0 : groups_.front().pos, cursor_, true};
  }
  auto usable = [&](NumberId id) {
    const Slot& slot = slots_[id];
    return slot.state == NumberState::kPending && !slot.passed;
  };
  while (scan_.group < groups_.size()) {
    const Group& group = groups_[scan_.group];
    for (; scan_.entry < group.ids.size(); ++scan_.entry) {
      if (usable(group.ids[scan_.entry])) {
        peeked_serial_ = group.serial;
        return group.ids[scan_.entry];
      }
    }
    ++scan_.group;
    scan_.entry = scan_.group < groups_.size() ? groups_[scan_.group].pos : 0;
  }
  for (; scan_.position < workload_.size(); ++scan_.position) {
    NumberId id = workload_.id_at(scan_.position);
    if (slots_[id].fresh && usable(id)) {
      peeked_serial_ = 0;
      return id;
    }
  }
  return std::nullopt;
}

std::optional<NumberId> JobBook::PeekPending() {
  if (!peeked_) peeked_ = Advance();
  return peeked_;
}

void JobBook::TakePending() {
  if (!PeekPending()) return;
  NumberId id = *peeked_;
  slots_[id].passed = true;  // Launch marks it read from the input order
  passed_.push_back(id);
  taken_serial_ = peeked_serial_;
  peeked_.reset();
}

bool JobBook::SameGroupAsTaken() { return PeekPending() && peeked_serial_ == taken_serial_; }

void JobBook::SetAside() {
  if (!PeekPending()) return;
  slots_[*peeked_].passed = true;
  passed_.push_back(*peeked_);
  peeked_.reset();
}

bool JobBook::PeekIsFresh() { return PeekPending() && peeked_serial_ == 0; }

bool JobBook::Available(NumberId id) const {
  if (id >= slots_.size()) return false;
  const Slot& slot = slots_[id];
  return slot.fresh && slot.state == NumberState::kPending && !slot.passed;
}

void JobBook::TakeId(NumberId id) {
  if (!Available(id)) return;
  slots_[id].passed = true;  // Launch marks it read from the input order
  passed_.push_back(id);
  taken_serial_ = 0;
  if (peeked_ == id) peeked_.reset();
}

void JobBook::EndPlanning() {
  for (NumberId id : passed_) slots_[id].passed = false;
  passed_.clear();
  peeked_.reset();
  scan_.started = false;
  // Drop what is no longer pending from the fronts, so reading stays proportional to the
  // work left rather than to everything ever queued.
  while (!groups_.empty()) {
    Group& group = groups_.front();
    while (group.pos < group.ids.size() && slots_[group.ids[group.pos]].state != NumberState::kPending) ++group.pos;
    if (group.pos < group.ids.size()) break;
    groups_.pop_front();
  }
  while (cursor_ < workload_.size()) {
    const Slot& slot = slots_[workload_.id_at(cursor_)];
    if (slot.fresh && slot.state == NumberState::kPending) break;
    ++cursor_;
  }
}

void JobBook::ForEachPending(const std::function<bool(NumberId)>& fn) const {
  std::vector<bool> seen(slots_.size());  // a number may be in a group twice, or repeat in the input
  auto visit = [&](NumberId id) {
    if (slots_[id].state != NumberState::kPending || seen[id]) return true;
    seen[id] = true;
    return fn(id);
  };
  for (const Group& group : groups_) {
    for (std::size_t i = group.pos; i < group.ids.size(); ++i) {
      if (!visit(group.ids[i])) return;
    }
  }
  for (std::size_t position = cursor_; position < workload_.size(); ++position) {
    NumberId id = workload_.id_at(position);
    if (slots_[id].fresh && !visit(id)) return;
  }
}

// ---- tasks -------------------------------------------------------------------------------

const Batch& JobBook::Launch(std::vector<NumberId> ids, const Placement& where, TimePoint now) {
  std::string task_id;
  if (ids.size() == 1) {
    Slot& slot = slots_[ids[0]];
    if (slot.launches < 255) ++slot.launches;
    task_id = TaskId(workload_.number(ids[0]), slot.launches);
  } else {
    task_id = std::string(kTaskPrefix) + run_token_ + "-b" + std::to_string(++next_batch_);
  }
  for (NumberId id : ids) {
    slots_[id].fresh = false;
    SetState(id, NumberState::kLaunched);
  }
  Batch& batch = NewBatch(task_id, std::move(ids), where.agent_id, now);
  batch.hostname = where.hostname;
  batch.cpus = where.cpus;
  batch.mem = where.mem;
  ++stats_.tasks_launched;
  ++stats_.tasks_per_agent[where.agent_id];
  return batch;
}

Batch& JobBook::NewBatch(const std::string& task_id, std::vector<NumberId> ids, const std::string& agent_id,
                         TimePoint now) {
  Batch& batch = batches_[task_id];
  batch = Batch{};
  batch.task_id = task_id;
  batch.ids = std::move(ids);
  batch.agent_id = agent_id;
  batch.launched_at = now;
  return batch;
}

const Batch* JobBook::FindTask(const std::string& task_id) const {
  auto it = batches_.find(task_id);
  return it == batches_.end() ? nullptr : &it->second;
}

Batch JobBook::Forget(const std::string& task_id) {
  auto node = batches_.extract(task_id);
  if (node.empty()) return Batch{};
  if (on_forget_) on_forget_(node.mapped());
  return std::move(node.mapped());
}

// ---- what the master said about a task ---------------------------------------------------

Batch* JobBook::Live(const std::string& task_id) {
  auto it = batches_.find(task_id);
  return it == batches_.end() || it->second.fetching ? nullptr : &it->second;
}

void JobBook::MarkUnconfirmed(const std::string& task_id) {
  if (Batch* batch = Live(task_id)) batch->unconfirmed = true;
}

void JobBook::Confirm(const std::string& task_id, const std::optional<std::string>& agent_id) {
  auto it = batches_.find(task_id);
  if (it == batches_.end()) return;
  it->second.unconfirmed = false;
  if (agent_id) it->second.agent_id = *agent_id;
}

void JobBook::AwaitAnswer(const std::string& task_id) {
  if (Batch* batch = Live(task_id)) {
    batch->awaiting_answer = true;
    batch->reconciled_at.reset();
  }
}

void JobBook::AwaitAnswers() {
  for (auto& [task_id, batch] : batches_) AwaitAnswer(task_id);
}

void JobBook::Answered(const std::string& task_id) {
  auto it = batches_.find(task_id);
  if (it != batches_.end()) it->second.awaiting_answer = false;
}

std::vector<TaskQuestion> JobBook::Questions(TimePoint now, Duration again) {
  std::vector<TaskQuestion> out;
  for (auto& [task_id, batch] : batches_) {
    if (!batch.awaiting_answer || batch.fetching || (batch.reconciled_at && now - *batch.reconciled_at < again)) {
      continue;
    }
    batch.reconciled_at = now;
    out.push_back({batch.task_id, batch.agent_id});
  }
  return out;
}

void JobBook::MarkFetching(const std::string& task_id, int files, bool over) {
  auto it = batches_.find(task_id);
  if (it == batches_.end()) return;
  if (over) it->second.fetching = true;
  it->second.fetches += files;
}

bool JobBook::FetchDone(const std::string& task_id) {
  auto it = batches_.find(task_id);
  if (it == batches_.end()) return false;
  --it->second.fetches;
  return it->second.fetching && it->second.fetches <= 0;
}

void JobBook::Release(const std::string& task_id, NumberId id) {
  auto it = batches_.find(task_id);
  if (it == batches_.end()) return;
  std::erase(it->second.ids, id);
}

// ---- numbers -----------------------------------------------------------------------------

void JobBook::SetState(NumberId id, NumberState state) {
  auto counter = [this](NumberState s) -> std::size_t& {
    switch (s) {
      case NumberState::kPending: return progress_.pending;
      case NumberState::kLaunched: return progress_.running;
      case NumberState::kDone: return progress_.done;
      case NumberState::kFailed: return progress_.failed;
    }
    return progress_.pending;  // unreachable: every state is listed
  };
  Slot& slot = slots_[id];
  if (slot.state == state) return;
  std::uint64_t cost = cost_ns_(workload_.number(id));
  if (slot.state == NumberState::kPending) pending_work_ns_ -= std::min(cost, pending_work_ns_);
  if (state == NumberState::kPending) pending_work_ns_ += cost;
  --counter(slot.state);
  slot.state = state;
  ++counter(state);
}

void JobBook::Finish(NumberId id, bool ok) {
  slots_[id].fresh = false;
  SetState(id, ok ? NumberState::kDone : NumberState::kFailed);
}

std::vector<NumberId> JobBook::Requeue(std::span<const NumberId> ids, enum Requeue why, bool retryable,
                                       int max_retries, bool cap_unstarted) {
  std::vector<NumberId> back, out_of_retries;
  for (NumberId id : ids) {
    Slot& slot = slots_[id];
    if (slot.state != NumberState::kLaunched) continue;
    if (why == Requeue::kStarted && slot.attempts < 255) ++slot.attempts;
    if (why == Requeue::kUnstarted && slot.unstarted < 255) ++slot.unstarted;
    if (!retryable || slot.attempts > max_retries || (cap_unstarted && slot.unstarted > kMaxUnstartedAttempts)) {
      out_of_retries.push_back(id);
      continue;
    }
    SetState(id, NumberState::kPending);
    back.push_back(id);
  }
  if (back.empty()) return out_of_retries;
  scan_.started = false;  // groups move: a round in progress reads from the front again
  peeked_.reset();
  if (why == Requeue::kSplit && back.size() >= 2) {
    auto half = back.begin() + static_cast<std::ptrdiff_t>(back.size() / 2);
    groups_.push_front(Group{next_group_serial_++, std::vector<NumberId>(half, back.end()), 0});
    groups_.push_front(Group{next_group_serial_++, std::vector<NumberId>(back.begin(), half), 0});
  } else {
    groups_.push_front(Group{next_group_serial_++, std::move(back), 0});
  }
  return out_of_retries;
}

const Batch* JobBook::Adopt(const std::string& task_id, const std::optional<std::string>& agent_id, TimePoint now,
                           const std::string& hostname) {
  auto parsed = ParseTaskId(task_id);
  if (!parsed) return nullptr;
  auto [n, launch] = *parsed;
  auto id = workload_.Find(n);
  if (!id || slots_[*id].state != NumberState::kPending || batches_.contains(task_id)) return nullptr;
  Slot& slot = slots_[*id];
  slot.launches = static_cast<std::uint8_t>(std::clamp(std::max<int>(slot.launches, launch), 0, 255));
  slot.fresh = false;
  SetState(*id, NumberState::kLaunched);
  Batch& batch = NewBatch(task_id, {*id}, agent_id.value_or(""), now);
  batch.hostname = hostname;
  ++stats_.tasks_adopted;
  return &batch;
}

const Batch* JobBook::AdoptBatch(const std::string& task_id, std::vector<NumberId> ids, const Placement& where,
                                 TimePoint launched_at) {
  bool pending = std::any_of(ids.begin(), ids.end(), [&](NumberId id) { return slots_[id].state == NumberState::kPending; });
  if (!pending || batches_.contains(task_id)) return nullptr;
  if (auto parsed = ParseTaskId(task_id); parsed && ids.size() == 1) {
    // The next launch of this number must not reuse the adopted task's ID.
    Slot& slot = slots_[ids[0]];
    slot.launches = static_cast<std::uint8_t>(std::clamp(std::max<int>(slot.launches, parsed->second), 0, 255));
  }
  for (NumberId id : ids) {
    slots_[id].fresh = false;
    if (slots_[id].state == NumberState::kPending) SetState(id, NumberState::kLaunched);
  }
  Batch& batch = NewBatch(task_id, std::move(ids), where.agent_id, launched_at);
  batch.hostname = where.hostname;
  batch.cpus = where.cpus;
  batch.mem = where.mem;
  // Its ACCEPT may never have been sent (the journal is written first): until an update says
  // otherwise, a launch the master never saw costs the numbers nothing.
  batch.unconfirmed = true;
  batch.awaiting_answer = true;
  ++stats_.tasks_adopted;
  return &batch;
}

std::string JobBook::TaskId(std::uint64_t n, int launch) {
  return std::string(kTaskPrefix) + std::to_string(n) + "-" + std::to_string(launch);
}

std::optional<std::pair<std::uint64_t, int>> JobBook::ParseTaskId(const std::string& task_id) {
  if (task_id.rfind(kTaskPrefix, 0) != 0) return std::nullopt;
  auto dash = task_id.rfind('-');
  if (dash == std::string::npos || dash <= kTaskPrefix.size()) return std::nullopt;
  std::string_view id(task_id);
  auto n = Digits<std::uint64_t>(id.substr(kTaskPrefix.size(), dash - kTaskPrefix.size()));
  auto launch = Digits<int>(id.substr(dash + 1));
  if (!n || !launch) return std::nullopt;
  return std::pair{*n, *launch};
}

}  // namespace factorial::scheduler
