import Foundation

/// Counters and latency histograms, rendered in the Prometheus text format at `/metrics`.
///
/// Never holds secrets: labels are routes, status codes, error codes and group tags only.
public final class Metrics: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var counters: [String: [String: Double]] = [:]
    private var help: [String: String] = [:]
    private var histograms: [String: Histogram] = [:]
    private var gauges: [String: () -> Double] = [:]
    /// Series with labels read at render time: a counter or gauge kept by someone else (a pool, order hopping).
    private var collectors: [String: (type: String, read: () -> [Series])] = [:]

    /// One series of a collected metric: its labels (rendered in the given order) and value.
    public typealias Series = (labels: [(String, String)], value: Double)

    /// Latency buckets in seconds.
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Histogram {
        var counts = [UInt64](repeating: 0, count: Metrics.buckets.count)
        var sum = 0.0
        var total: UInt64 = 0

        mutating func record(_ seconds: Double) {
            for (i, bound) in Metrics.buckets.enumerated() where seconds <= bound { counts[i] += 1 }
            sum += seconds
            total += 1
        }
    }

    public init() {
        describe("cashierd_requests_total", "Requests answered, by route and HTTP status.")
        describe("cashierd_errors_total", "Error responses, by error code.")
        describe("cashierd_rejections_total", "Requests refused by overload protection, by priority.")
        describe("cashierd_orders_created_total", "Orders created, by DB group.")
        describe("cashierd_group_hops_total", "Times order creation hopped away from a group, by group and reason.")
        describe("cashierd_payments_total", "Payment outcomes reported by the channel.")
        describe("cashierd_request_duration_seconds", "Time to answer a request, by route.")
        describe("cashierd_unrecorded_total", "Channel answers or pay nonces an order group could not take (answered from memory), by what.")
        describe("cashierd_channel_setup_errors_total", "Payment refused because a store's channel settings cannot be used, by channel.")
        describe("cashierd_stale_payments_total", "Payments and refunds settled by the sweep, by outcome.")
        describe("cashierd_device_cache_hits_total", "Signed requests whose device was taken from the device cache because the base data could not be read.")
    }

    private func describe(_ name: String, _ text: String) { help[name] = text }

    /// Adds `amount` to counter `name` with `labels` (rendered in the given order).
    public func increment(_ name: String, _ labels: [(String, String)] = [], by amount: Double = 1) {
        let key = labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
        lock.lock()
        counters[name, default: [:]][key, default: 0] += amount
        lock.unlock()
    }

    /// Records one observation of a route's latency.
    public func observe(route: String, seconds: Double) {
        lock.lock()
        // Changed in place: copying the histogram out and back allocated its bucket array on every request.
        histograms[route, default: Histogram()].record(seconds)
        lock.unlock()
    }

    /// A gauge read at render time.
    public func gauge(_ name: String, help text: String, _ read: @escaping () -> Double) {
        lock.lock()
        gauges[name] = read
        help[name] = text
        lock.unlock()
    }

    /// A metric of several series read at render time, as `type` ("counter" or "gauge"): for values another part
    /// keeps (a connection pool's reconnections, order hopping's failures), so there is one count, not two.
    public func collect(_ name: String, type: String, help text: String, _ read: @escaping () -> [Series]) {
        lock.lock()
        collectors[name] = (type, read)
        help[name] = text
        lock.unlock()
    }

    /// The value of one counter series (for tests and drills).
    public func value(_ name: String, _ labels: [(String, String)] = []) -> Double {
        let key = labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
        lock.lock()
        defer { lock.unlock() }
        return counters[name]?[key] ?? 0
    }

    /// The Prometheus text exposition (version 0.0.4).
    public func render() -> String {
        lock.lock()
        let counters = self.counters, histograms = self.histograms, gauges = self.gauges, help = self.help
        let collectors = self.collectors
        lock.unlock()
        var out = ""
        for name in counters.keys.sorted() {
            out += "# HELP \(name) \(help[name] ?? name)\n# TYPE \(name) counter\n"
            for (labels, value) in counters[name]!.sorted(by: { $0.key < $1.key }) {
                out += labels.isEmpty ? "\(name) \(format(value))\n" : "\(name){\(labels)} \(format(value))\n"
            }
        }
        for name in gauges.keys.sorted() {
            out += "# HELP \(name) \(help[name] ?? name)\n# TYPE \(name) gauge\n\(name) \(format(gauges[name]!()))\n"
        }
        for name in collectors.keys.sorted() {
            let (type, read) = collectors[name]!
            out += "# HELP \(name) \(help[name] ?? name)\n# TYPE \(name) \(type)\n"
            for series in read() {
                let labels = series.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
                out += labels.isEmpty ? "\(name) \(format(series.value))\n" : "\(name){\(labels)} \(format(series.value))\n"
            }
        }
        let h = "cashierd_request_duration_seconds"
        if !histograms.isEmpty {
            out += "# HELP \(h) \(help[h]!)\n# TYPE \(h) histogram\n"
            for route in histograms.keys.sorted() {
                let hist = histograms[route]!
                for (i, bound) in Metrics.buckets.enumerated() {
                    out += "\(h)_bucket{route=\"\(escape(route))\",le=\"\(format(bound))\"} \(hist.counts[i])\n"
                }
                out += "\(h)_bucket{route=\"\(escape(route))\",le=\"+Inf\"} \(hist.total)\n"
                out += "\(h)_sum{route=\"\(escape(route))\"} \(format(hist.sum))\n"
                out += "\(h)_count{route=\"\(escape(route))\"} \(hist.total)\n"
            }
        }
        return out
    }

    private func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    private func escape(_ s: String) -> String {
        // Labels are routes, codes and group tags: almost never anything to escape, so look before copying.
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) else { return s }
        return s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
