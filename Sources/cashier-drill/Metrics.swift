import Foundation
import HTTPClient

/// Reads `cashierd_group_hops_total{group="NN"}` from every instance's /metrics.
struct HopCounter {
    let urls: [String]
    let caFile: String

    /// Hops per group per instance URL; an instance that does not answer is left out.
    func snapshot() -> [String: [Int: Double]] {
        var out: [String: [Int: Double]] = [:]
        guard let connection = Self.connection(caFile: caFile) else { return out }
        for url in urls {
            guard let text = Self.metrics(of: url, on: connection) else { continue }
            out[url] = Self.parseHops(text)
        }
        return out
    }

    /// A connection for reading instances' /metrics: short timeouts, so an instance that is down costs little.
    static func connection(caFile: String) -> CurlConnection? {
        try? CurlConnection(configuration: HTTPClientConfiguration(caFile: caFile, connectTimeoutMs: 500, totalTimeoutMs: 2_000))
    }

    /// The text of `url`/metrics; nil when the instance does not answer 200.
    static func metrics(of url: String, on connection: CurlConnection) -> String? {
        guard case .success(let response) = connection.perform(method: "GET", url: url + "/metrics"), response.status == 200 else { return nil }
        return String(decoding: response.body, as: UTF8.self)
    }

    /// Whether the instance at `url` counts `group` as up (`cashierd_group_up`); nil when it does not answer.
    static func groupUp(url: String, group: Int, on connection: CurlConnection) -> Bool? {
        guard let text = metrics(of: url, on: connection) else { return nil }
        let name = "cashierd_group_up{group=\"" + String(format: "%02d", group) + "\"} "
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            return line.dropFirst(name.count) != "0"
        }
        return nil
    }

    static func parseHops(_ text: String) -> [Int: Double] {
        var hops: [Int: Double] = [:]
        let prefix = "cashierd_group_hops_total{group=\""
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            let rest = line.dropFirst(prefix.count)
            guard let quote = rest.firstIndex(of: "\""), let group = Int(rest[..<quote]),
                  let value = Double(rest.split(separator: " ").last ?? "") else { continue }
            hops[group, default: 0] += value
        }
        return hops
    }

    /// Hops between two snapshots, summed over instances; a counter that went down (the instance restarted)
    /// counts from zero.
    static func delta(from a: [String: [Int: Double]], to b: [String: [Int: Double]]) -> [Int: Int] {
        var out: [Int: Int] = [:]
        for (url, now) in b {
            let before = a[url] ?? [:]
            for (group, value) in now {
                let old = before[group] ?? 0
                let d = value >= old ? value - old : value
                if d > 0 { out[group, default: 0] += Int(d) }
            }
        }
        return out
    }
}
