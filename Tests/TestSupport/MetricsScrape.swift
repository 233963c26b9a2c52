import Foundation
import CashierService
import HTTPClient

extension Cashierd {
    /// `GET /metrics` of domain `index`, as Prometheus would scrape it: every sample keyed by its series as
    /// written (`name` or `name{label="value",…}`). Throws when the answer is not 200 or a line is not a sample.
    public func scrapeMetrics(_ index: Int = 0) throws -> [String: Double] {
        let answer = try CurlConnection(configuration: httpConfiguration()).perform(method: "GET", url: urls[index] + "/metrics").get()
        guard answer.status == 200 else { throw RuntimeError("/metrics answered \(answer.status)") }
        return try Self.parseMetrics(String(decoding: answer.body, as: UTF8.self))
    }

    /// The samples of a text exposition (version 0.0.4), keyed by series.
    public static func parseMetrics(_ text: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw RuntimeError("not a sample: \(line)")
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
