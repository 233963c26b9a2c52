import Foundation
import HTTPClient

/// Watches a Prometheus server's alerts while the drill runs: every second (on a thread of its own) it reads
/// `GET /api/v1/alerts` and records, per alert name, when at least one alert of that name was firing.
///
/// Times are seconds since `start()`. An interval is open (`end == nil`) while the alert still fires.
/// A poll that fails leaves the record as it was (the alert is taken to go on as last seen).
final class PrometheusWatch: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`; `baseURL` and `pollSeconds` are constant.

    /// One stretch of time during which an alert fired.
    struct Interval: Equatable, Sendable {
        var start: Double
        /// nil while it still fires.
        var end: Double?
    }

    let baseURL: String
    let pollSeconds: Double
    private let lock = NSLock()
    private var origin: Date?
    private var stopping = false
    private var stoppedAt: Double?
    private var record: [String: [Interval]] = [:]
    private var polls = 0
    private var failures = 0
    private var lastFailure: String?
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    /// Cuts the pause between polls short when the watch stops.
    private let wake = DispatchSemaphore(value: 0)

    /// `baseURL`: e.g. `http://127.0.0.1:24090`, as `scripts/prometheus-local.sh start` prints it.
    init(baseURL: String, pollSeconds: Double = 1) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.pollSeconds = pollSeconds
    }

    /// Starts polling (once; later calls do nothing). Time 0 is now.
    func start() {
        lock.lock()
        defer { lock.unlock() }
        guard origin == nil else { return }
        origin = Date()
        let t = Thread { [self] in run() }
        t.name = "prometheus-watch"
        thread = t
        t.start()
    }

    /// Stops polling and waits (bounded) for the thread's last poll to end. An alert still firing keeps its
    /// open interval: it had not cleared when the watch ended.
    func stop() {
        lock.lock()
        let running = origin != nil && !stopping
        stopping = true
        lock.unlock()
        guard running else { return }
        wake.signal()
        _ = finished.wait(timeout: .now() + 10)
        lock.lock()
        stoppedAt = elapsedLocked()
        lock.unlock()
    }

    /// Seconds since `start()` (0 before it; frozen at `stop()`).
    var elapsed: Double { lock.lock(); defer { lock.unlock() }; return elapsedLocked() }

    private func elapsedLocked() -> Double {
        if let stoppedAt { return stoppedAt }
        guard let origin else { return 0 }
        return Date().timeIntervalSince(origin)
    }

    // MARK: - Questions

    /// Every alert name seen firing, sorted.
    var names: [String] { lock.lock(); defer { lock.unlock() }; return record.keys.sorted() }

    /// The stretches during which `alert` fired, in order.
    func intervals(_ alert: String) -> [Interval] { lock.lock(); defer { lock.unlock() }; return record[alert] ?? [] }

    /// Every alert's stretches.
    var allIntervals: [String: [Interval]] { lock.lock(); defer { lock.unlock() }; return record }

    /// Whether `alert` fired at some moment from `start` to `end` (inclusive).
    func fired(_ alert: String, between start: Double, and end: Double) -> Bool {
        intervals(alert).contains { $0.start <= end && ($0.end ?? .infinity) >= start }
    }

    /// Whether `alert` fired at `time` (an interval still open at the watch's end is taken to go on).
    func firing(_ alert: String, at time: Double) -> Bool {
        intervals(alert).contains { $0.start <= time && time < ($0.end ?? .infinity) }
    }

    /// Whether `alert` had stopped firing by `time` and did not fire again since: its last stretch ended at or
    /// before `time`. True for an alert that never fired.
    func clearedBy(_ alert: String, _ time: Double) -> Bool {
        guard let last = intervals(alert).last else { return true }
        guard let end = last.end else { return false }
        return end <= time
    }

    /// How the polls went: how many were made, how many failed, and the last failure.
    var pollSummary: (polls: Int, failures: Int, lastFailure: String?) {
        lock.lock(); defer { lock.unlock() }
        return (polls, failures, lastFailure)
    }

    /// Per scrape job, how many of its active targets are up, and how many there are
    /// (`GET /api/v1/targets`); empty when Prometheus does not answer.
    func targetHealth() -> [String: (up: Int, total: Int)] {
        guard let body = Self.get(baseURL + "/api/v1/targets?state=active"), let data = Self.data(body) as? [String: Any],
              let active = data["activeTargets"] as? [[String: Any]] else { return [:] }
        var out: [String: (up: Int, total: Int)] = [:]
        for target in active {
            let job = (target["labels"] as? [String: Any])?["job"] as? String ?? target["scrapePool"] as? String ?? "?"
            var entry = out[job] ?? (0, 0)
            entry.total += 1
            if target["health"] as? String == "up" { entry.up += 1 }
            out[job] = entry
        }
        return out
    }

    /// The names of the alerts firing now, from one `GET /api/v1/alerts`; nil when Prometheus does not answer.
    func firingNow() -> Set<String>? {
        Self.firingNames(in: Self.get(baseURL + "/api/v1/alerts"))
    }

    // MARK: - Polling

    private func run() {
        let connection = Self.connection()
        while true {
            lock.lock()
            let stop = stopping
            lock.unlock()
            if stop { break }
            let began = Date()
            let names = Self.firingNames(in: connection.flatMap { Self.get(baseURL + "/api/v1/alerts", on: $0) })
            note(names)
            let pause = pollSeconds - Date().timeIntervalSince(began)
            if pause > 0 { _ = wake.wait(timeout: .now() + pause) }
        }
        finished.signal()
    }

    /// Applies one poll's answer: opens an interval for every name newly firing, closes those that stopped.
    private func note(_ firing: Set<String>?) {
        lock.lock()
        defer { lock.unlock() }
        polls += 1
        guard let firing else { failures += 1; lastFailure = "no answer from \(baseURL)/api/v1/alerts at \(elapsedLocked()) s"; return }
        let now = elapsedLocked()
        for name in firing where record[name]?.last.map({ $0.end != nil }) ?? true {
            record[name, default: []].append(Interval(start: now, end: nil))
        }
        for (name, intervals) in record where !firing.contains(name) && intervals.last?.end == nil {
            record[name]![intervals.count - 1].end = now
        }
    }

    // MARK: - HTTP

    /// Plain HTTP on loopback: no CA is needed, so the configuration names the system store (never used).
    private static func connection() -> CurlConnection? {
        try? CurlConnection(configuration: HTTPClientConfiguration(caFile: "", connectTimeoutMs: 500, totalTimeoutMs: 2_000,
                                                                   usesSystemTrustStore: true))
    }

    private static func get(_ url: String, on connection: CurlConnection? = nil) -> [UInt8]? {
        guard let connection = connection ?? Self.connection(),
              case .success(let response) = connection.perform(method: "GET", url: url), response.status == 200 else { return nil }
        return response.body
    }

    /// The `data` member of a Prometheus API answer whose `status` is `success`.
    private static func data(_ body: [UInt8]) -> Any? {
        guard let top = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              top["status"] as? String == "success" else { return nil }
        return top["data"]
    }

    /// The names of the alerts in state `firing` in an answer to `/api/v1/alerts` (pending ones are not).
    static func firingNames(in body: [UInt8]?) -> Set<String>? {
        guard let body, let data = data(body) as? [String: Any], let alerts = data["alerts"] as? [[String: Any]] else { return nil }
        var names = Set<String>()
        for alert in alerts where alert["state"] as? String == "firing" {
            if let name = (alert["labels"] as? [String: Any])?["alertname"] as? String { names.insert(name) }
        }
        return names
    }
}
