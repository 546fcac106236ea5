#include "job_status.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "progress_line.hpp"

namespace factorial::scheduler {
namespace {

// Shortest text that reads back as the same double; integers without a fraction. Prometheus
// parses Go float syntax: NaN and +Inf are spelled so.
std::string Number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<long long>(value));
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  // Fewer digits when they read back the same (0.1 rather than 0.10000000000000001).
  for (int precision = 1; precision < 17; ++precision) {
    char shorter[32];
    std::snprintf(shorter, sizeof shorter, "%.*g", precision, value);
    if (std::strtod(shorter, nullptr) == value) return shorter;
  }
  return buffer;
}

class Exposition {
 public:
  // One metric family: HELP and TYPE once, then its samples.
  void Family(const std::string& name, const char* type, const std::string& help) {
    text_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const std::string& name, double value, const std::string& labels = "") {
    text_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + Number(value) + "\n";
  }
  void Counter(const std::string& name, const std::string& help, double value) {
    Family(name, "counter", help);
    Sample(name, value);
  }
  void Gauge(const std::string& name, const std::string& help, double value) {
    Family(name, "gauge", help);
    Sample(name, value);
  }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

std::string Percent(double done, double total) {
  double share = total > 0 ? std::min(1.0, done / total) : 1.0;
  char buffer[16];
  // Rounded down, so 100% means all done.
  std::snprintf(buffer, sizeof buffer, "%.1f", std::floor(share * 1000) / 10);
  return buffer;
}

std::string Fixed(double value, int decimals) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

// 123456789 -> "117.7 MiB".
std::string Bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? std::to_string(bytes) + " B" : Fixed(value, 1) + " " + units[unit];
}

const char* kPageStyle = R"(body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
.sub{color:#666}.bar{background:#ddd;border-radius:4px;height:22px;overflow:hidden;max-width:48em}
.fill{background:#3a7bd5;height:100%}.fill.failed{background:#c0392b}
.facts{display:flex;flex-wrap:wrap;gap:.4em 2em;margin:.6em 0}.facts b{font-variant-numeric:tabular-nums}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child,td.text{text-align:left}td.text{font-family:monospace;white-space:pre-wrap;max-width:60em}
.none{color:#888})";

// Replaces the page's <main> with a fresh copy every 2 s; same origin, so a browser resends
// the Basic credentials it was given.
const char* kPageScript = R"(setInterval(async()=>{try{const r=await fetch(location.pathname,{cache:'no-store'});
if(!r.ok)return;const d=new DOMParser().parseFromString(await r.text(),'text/html');
const m=d.querySelector('main');if(m)document.querySelector('main').replaceWith(m);
document.title=d.title;}catch(e){}},2000);)";

}  // namespace

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
          out += "\xEF\xBF\xBD";
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string MetricLabelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string StatusJson(const JobStatus& s) {
  using nlohmann::json;
  auto optional = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json agents = json::array();
  for (const auto& a : s.agents) {
    agents.push_back({{"id", a.id},
                      {"hostname", a.hostname},
                      {"tasks_running", a.tasks_running},
                      {"cpus", a.cpus},
                      {"numbers_done", a.numbers_done},
                      {"numbers_failed", a.numbers_failed},
                      {"tasks_failed", a.tasks_failed},
                      {"disk_errors", a.disk_errors}});
  }
  json failures = json::array();
  for (const auto& f : s.recent_failures) {
    failures.push_back({{"at_seconds", f.at_seconds}, {"what", f.what}, {"agent", f.agent}, {"reason", f.reason}});
  }
  json set_aside = json::array();
  for (const auto& a : s.set_aside) {
    set_aside.push_back({{"id", a.id},
                         {"hostname", a.hostname},
                         {"cause", a.cause},
                         {"detail", a.detail},
                         {"failures", a.failures},
                         {"seconds_left", a.seconds_left}});
  }
  json settings = json::object();
  for (const auto& [key, value] : s.settings) settings[key] = value;
  const auto& c = s.counters;
  json out = {
      {"name", s.name},
      {"version", s.version},
      {"state", s.state},
      {"framework_id", s.framework_id},
      {"master", s.master},
      {"elapsed_seconds", s.elapsed_seconds},
      {"numbers",
       {{"total", s.numbers_total},
        {"done", s.numbers_done},
        {"failed", s.numbers_failed},
        {"pending", s.numbers_pending},
        {"running", s.numbers_running}}},
      {"work",
       {{"unit", "estimated cpu seconds"},
        {"total", s.work_total},
        {"done", s.work_done},
        {"rate", optional(s.work_rate)}}},
      {"numbers_per_second", optional(s.numbers_rate)},
      {"eta_seconds", optional(s.eta_seconds)},
      {"reported", {{"numbers", s.reported_numbers}, {"work", s.reported_work}}},
      {"tasks_running", s.tasks_running},
      {"cpus_held", s.cpus_held},
      {"counters",
       {{"numbers_finished", c.numbers_finished},
        {"numbers_failed", c.numbers_failed},
        {"result_bytes", c.result_bytes},
        {"tasks_launched", c.tasks_launched},
        {"tasks_finished", c.tasks_finished},
        {"tasks_failed", c.tasks_failed},
        {"tasks_lost", c.tasks_lost},
        {"offers_accepted", c.offers_accepted},
        {"offers_declined", c.offers_declined},
        {"calls_failed", c.calls_failed},
        {"disk_errors", c.disk_errors},
        {"launch_failures", s.launch_failures}}},
      {"agents", std::move(agents)},
      {"agents_set_aside", std::move(set_aside)},
      {"recent_failures", std::move(failures)},
      {"settings", std::move(settings)},
  };
  // Text from the network may be invalid UTF-8: replaced, never an exception.
  return out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string MetricsText(const JobStatus& s) {
  Exposition e;
  const auto& c = s.counters;
  e.Family("factorial_job_info", "gauge", "The job: always 1, its name and version as labels.");
  e.Sample("factorial_job_info", 1,
           "name=\"" + MetricLabelValue(s.name) + "\",version=\"" + MetricLabelValue(s.version) + "\",framework_id=\"" +
               MetricLabelValue(s.framework_id) + "\"");
  e.Counter("factorial_numbers_finished_total", "Numbers computed (distinct), results received.",
            static_cast<double>(c.numbers_finished));
  e.Counter("factorial_numbers_failed_total", "Numbers that failed for good.", static_cast<double>(c.numbers_failed));
  e.Counter("factorial_result_bytes_total", "Result bytes received from executors, inline and fetched files.",
            static_cast<double>(c.result_bytes));
  e.Counter("factorial_tasks_launched_total", "Tasks sent in ACCEPT calls.", static_cast<double>(c.tasks_launched));
  e.Counter("factorial_tasks_finished_total", "Tasks that reached TASK_FINISHED.", static_cast<double>(c.tasks_finished));
  e.Counter("factorial_tasks_failed_total", "Tasks that reached TASK_FAILED or TASK_ERROR.",
            static_cast<double>(c.tasks_failed));
  e.Counter("factorial_tasks_lost_total", "Tasks lost, dropped, gone, unreachable or killed by others.",
            static_cast<double>(c.tasks_lost));
  e.Counter("factorial_offers_accepted_total", "Offers used to launch tasks.", static_cast<double>(c.offers_accepted));
  e.Counter("factorial_offers_declined_total", "Offers declined.", static_cast<double>(c.offers_declined));
  e.Counter("factorial_calls_failed_total", "ACCEPT and DECLINE calls the master did not take.",
            static_cast<double>(c.calls_failed));
  e.Counter("factorial_disk_errors_total", "Tasks that failed for want of disk on their agent (full, over quota, failing).",
            static_cast<double>(c.disk_errors));
  e.Counter("factorial_launch_failures_total", "Tasks whose executor did not start on their agent.",
            static_cast<double>(s.launch_failures));
  e.Gauge("factorial_agents_set_aside", "Agents set aside because their executor keeps failing to start.",
          static_cast<double>(s.set_aside.size()));
  e.Gauge("factorial_numbers", "Numbers of the job (distinct).", static_cast<double>(s.numbers_total));
  e.Gauge("factorial_numbers_pending", "Numbers waiting for a task.", static_cast<double>(s.numbers_pending));
  e.Gauge("factorial_numbers_running", "Numbers in running tasks.", static_cast<double>(s.numbers_running));
  e.Gauge("factorial_tasks_running", "Tasks launched and not over.", static_cast<double>(s.tasks_running));
  e.Gauge("factorial_cpus_held", "Cpus held by running tasks.", s.cpus_held);
  e.Gauge("factorial_work_seconds", "The job's work, in estimated CPU seconds.", s.work_total);
  e.Gauge("factorial_work_done_seconds", "Work done, in estimated CPU seconds, running tasks' share included.",
          s.work_done);
  if (s.eta_seconds) e.Gauge("factorial_eta_seconds", "Estimated seconds until the job is done.", *s.eta_seconds);
  e.Gauge("factorial_elapsed_seconds", "Seconds since the scheduler started.", s.elapsed_seconds);
  if (!s.agents.empty()) {
    auto labels = [](const AgentStatus& a) {
      return "agent_id=\"" + MetricLabelValue(a.id) + "\",hostname=\"" + MetricLabelValue(a.hostname) + "\"";
    };
    e.Family("factorial_agent_tasks_running", "gauge", "Tasks running on the agent.");
    for (const auto& a : s.agents) e.Sample("factorial_agent_tasks_running", static_cast<double>(a.tasks_running), labels(a));
    e.Family("factorial_agent_numbers_finished_total", "counter", "Numbers computed on the agent.");
    for (const auto& a : s.agents) {
      e.Sample("factorial_agent_numbers_finished_total", static_cast<double>(a.numbers_done), labels(a));
    }
  }
  return e.Take();
}

namespace {

// The page's head, title line and progress facts (the ids are what the script updates).
void AppendHeadAndProgress(std::string& h, const JobStatus& s) {
  std::string done_share = Percent(s.work_done, s.work_total);
  std::string title = HtmlEscape(s.name) + " " + done_share + "%";
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  h += "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">";
  h += "<title>" + title + "</title><style>" + std::string(kPageStyle) + "</style></head><body><main>\n";
  h += "<h1>" + HtmlEscape(s.name) + "</h1><div class=\"sub\">factorial-scheduler " + HtmlEscape(s.version) + " &middot; " +
       HtmlEscape(s.state) + (s.framework_id.empty() ? "" : " &middot; framework " + HtmlEscape(s.framework_id)) +
       (s.master.empty() ? "" : " &middot; master " + HtmlEscape(s.master)) + "</div>\n";
  h += "<h2>Progress</h2>\n";
  h += "<div class=\"bar\" id=\"progress\" role=\"progressbar\" aria-valuemin=\"0\" aria-valuemax=\"100\" aria-valuenow=\"" +
       done_share + "\"><div class=\"fill\" style=\"width:" + done_share + "%\"></div></div>\n";
  h += "<div class=\"facts\">";
  h += "<span>work <b id=\"work\">" + done_share + "%</b> (" + Fixed(s.work_done, 1) + " of " + Fixed(s.work_total, 1) +
       " estimated cpu s)</span>";
  h += "<span>numbers <b id=\"numbers\">" + std::to_string(s.numbers_done + s.numbers_failed) + " of " +
       std::to_string(s.numbers_total) + "</b></span>";
  h += "<span>failed <b id=\"failed\">" + std::to_string(s.numbers_failed) + "</b></span>";
  h += "<span>rate <b id=\"rate\">" +
       (s.work_rate ? Fixed(*s.work_rate, 2) + " cpu s/s" : std::string("&ndash;")) +
       (s.numbers_rate ? ", " + Fixed(*s.numbers_rate, 1) + " numbers/s" : std::string()) + "</b></span>";
  h += "<span>ETA <b id=\"eta\">" + (s.eta_seconds ? FormatDuration(*s.eta_seconds) : std::string("&ndash;")) +
       "</b></span>";
  h += "<span>elapsed <b>" + FormatDuration(s.elapsed_seconds) + "</b></span>";
  h += "<span>tasks running <b>" + std::to_string(s.tasks_running) + "</b></span>";
  h += "<span>cpus held <b>" + Fixed(s.cpus_held, 1) + "</b></span>";
  h += "<span>results <b>" + Bytes(s.counters.result_bytes) + "</b></span>";
  h += "</div>\n";
}

void AppendAgents(std::string& h, const JobStatus& s) {
  h += "<h2>Agents</h2>\n";
  if (s.agents.empty()) {
    h += "<p class=\"none\" id=\"agents\">no agent has run a task yet</p>\n";
  } else {
    h += "<table id=\"agents\"><thead><tr><th>agent</th><th>tasks running</th><th>cpus</th><th>numbers done</th>"
         "<th>numbers failed</th><th>tasks failed or lost</th><th>disk errors</th></tr></thead><tbody>\n";
    for (const auto& a : s.agents) {
      h += "<tr><td title=\"" + HtmlEscape(a.id) + "\">" + HtmlEscape(a.hostname.empty() ? a.id : a.hostname) +
           "</td><td>" + std::to_string(a.tasks_running) + "</td><td>" + Fixed(a.cpus, 1) + "</td><td>" +
           std::to_string(a.numbers_done) + "</td><td>" + std::to_string(a.numbers_failed) + "</td><td>" +
           std::to_string(a.tasks_failed) + "</td><td>" + std::to_string(a.disk_errors) + "</td></tr>\n";
    }
    h += "</tbody></table>\n";
  }
}

// Shown only while some agent is set aside: it explains why work waits or goes elsewhere.
void AppendSetAside(std::string& h, const JobStatus& s) {
  if (s.set_aside.empty()) return;
  h += "<h2>Agents set aside</h2>\n<table id=\"set-aside\"><thead><tr><th>agent</th><th>why</th>"
       "<th>failures in a row</th><th>for</th></tr></thead><tbody>\n";
  for (const auto& a : s.set_aside) {
    h += "<tr><td title=\"" + HtmlEscape(a.id) + "\">" + HtmlEscape(a.hostname.empty() ? a.id : a.hostname) +
         "</td><td class=\"text\">" + HtmlEscape(a.cause + (a.detail.empty() ? "" : ": " + a.detail)) + "</td><td>" +
         std::to_string(a.failures) + "</td><td>" + FormatDuration(a.seconds_left) + "</td></tr>\n";
  }
  h += "</tbody></table>\n";
}

// Newest first.
void AppendRecentFailures(std::string& h, const JobStatus& s) {
  h += "<h2>Recent failures</h2>\n";
  if (s.recent_failures.empty()) {
    h += "<p class=\"none\" id=\"failures\">none</p>\n";
  } else {
    h += "<table id=\"failures\"><thead><tr><th>at</th><th>what</th><th>agent</th><th>reason</th></tr></thead><tbody>\n";
    for (auto it = s.recent_failures.rbegin(); it != s.recent_failures.rend(); ++it) {
      h += "<tr><td>" + FormatDuration(it->at_seconds) + "</td><td class=\"text\">" + HtmlEscape(it->what) +
           "</td><td class=\"text\">" + HtmlEscape(it->agent) + "</td><td class=\"text\">" + HtmlEscape(it->reason) +
           "</td></tr>\n";
    }
    h += "</tbody></table>\n";
  }
}

void AppendCounters(std::string& h, const JobStatus& s) {
  const auto& c = s.counters;
  h += "<h2>Counters</h2>\n<table id=\"counters\"><tbody>\n";
  auto row = [&h](const char* name, std::uint64_t value) {
    h += std::string("<tr><td>") + name + "</td><td>" + std::to_string(value) + "</td></tr>\n";
  };
  row("tasks launched", c.tasks_launched);
  row("tasks finished", c.tasks_finished);
  row("tasks failed", c.tasks_failed);
  row("tasks lost", c.tasks_lost);
  row("offers accepted", c.offers_accepted);
  row("offers declined", c.offers_declined);
  row("calls failed", c.calls_failed);
  row("disk errors", c.disk_errors);
  row("launches whose executor did not start", s.launch_failures);
  h += "</tbody></table>\n";
}

// The settings, the links to the machine-readable views, and the script.
void AppendSettingsAndTail(std::string& h, const JobStatus& s) {
  h += "<h2>Settings</h2>\n<table id=\"settings\"><tbody>\n";
  for (const auto& [key, value] : s.settings) {
    h += "<tr><td>" + HtmlEscape(key) + "</td><td class=\"text\">" + HtmlEscape(value) + "</td></tr>\n";
  }
  h += "</tbody></table>\n";
  h += "<p class=\"sub\">Also: <a href=\"status\">status</a> (JSON), <a href=\"metrics\">metrics</a> (Prometheus).</p>\n";
  h += "</main><script>" + std::string(kPageScript) + "</script></body></html>\n";
}

}  // namespace

std::string StatusPage(const JobStatus& s) {
  std::string h;
  AppendHeadAndProgress(h, s);
  AppendAgents(h, s);
  AppendSetAside(h, s);
  AppendRecentFailures(h, s);
  AppendCounters(h, s);
  AppendSettingsAndTail(h, s);
  return h;
}

}  // namespace factorial::scheduler
