import Foundation

/// Monotonic time in seconds, for measuring intervals.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Sleeps until the monotonic clock reaches `deadline` (seconds).
func sleep(until deadline: Double) {
    let wait = deadline - monotonicSeconds()
    if wait > 0 { usleep(UInt32(min(wait, 10) * 1e6)) }
}

/// Latencies in milliseconds and their percentiles (nearest rank).
struct Latencies {
    private(set) var samples: [Double] = []

    mutating func add(_ ms: Double) { samples.append(ms) }
    mutating func add(_ other: Latencies) { samples += other.samples }

    var count: Int { samples.count }

    func percentile(_ p: Double) -> Double {
        guard !samples.isEmpty else { return .nan }
        let sorted = samples.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    /// "p50 a / p99 b / p99.9 c ms (n samples)".
    var summary: String {
        "p50 \(fmt(percentile(50))) / p99 \(fmt(percentile(99))) / p99.9 \(fmt(percentile(99.9))) ms"
    }
}

/// A number with 2 significant decimals for small values, none for large.
func fmt(_ x: Double) -> String {
    if x.isNaN { return "n/a" }
    if abs(x) >= 100 { return String(format: "%.0f", x) }
    if abs(x) >= 10 { return String(format: "%.1f", x) }
    return String(format: "%.2f", x)
}

/// Thread-safe counters and sample collection shared by load threads.
///
/// `@unchecked Sendable`: every field is only touched while `lock` is held.
final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var latencies = Latencies()
    private var failuresByKind: [String: Int] = [:]
    private var successes = 0

    /// The next job index (open-loop pacing hands out slots in order).
    func take() -> Int { lock.lock(); defer { lock.unlock() }; next += 1; return next - 1 }

    func record(_ l: Latencies, successes s: Int, failures: [String: Int]) {
        lock.lock(); defer { lock.unlock() }
        latencies.add(l)
        successes += s
        for (k, v) in failures { failuresByKind[k, default: 0] += v }
    }

    var result: (latencies: Latencies, successes: Int, failures: [String: Int]) {
        lock.lock(); defer { lock.unlock() }
        return (latencies, successes, failuresByKind)
    }
}

/// Runs `body(index)` on `count` threads of our own and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread {
            body(i)
            group.leave()
        }
        t.stackSize = 1 << 20
        t.start()
    }
    group.wait()
}

/// User plus system CPU seconds used so far by process `pid` (from /proc/PID/stat).
func processCPUSeconds(_ pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// User plus system CPU seconds used so far by this process.
func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
