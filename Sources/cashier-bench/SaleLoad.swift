import CashierClient
import CashierCore
import Foundation
import HTTPClient

/// A payment code the sandbox channel pays at once (last digit 0).
func instantPaymentCode() -> String {
    var digits = "99"
    for _ in 0..<15 { digits += String(Int.random(in: 0...9)) }
    return digits + "0"
}

/// One signed terminal on its own kept-alive connection.
struct BenchTerminal {
    let transport: SignedTransport
    let credentials: DeviceCredentials

    /// One sale: create an order, then pay it with an instantly paid code. Returns the failure kind, if any.
    func sale(amount: Int64 = 1_234) -> String? {
        let created = transport.call("POST", API.Path.orders, body: API.encode(CreateOrderRequest(amount: amount)),
                                     credentials: credentials).decoded(OrderView.self)
        guard case .success(let order) = created else {
            if case .failure(let f) = created { return "create: \(f.code.rawValue)" }
            return "create"
        }
        let paid = transport.call("POST", API.Path.pay(order.orderNo), body: API.encode(PayRequest(paymentCode: instantPaymentCode())),
                                  credentials: credentials).decoded(OrderView.self)
        switch paid {
        case .success(let v): return v.status == .paid ? nil : "pay: \(v.status.rawValue)"
        case .failure(let f): return "pay: \(f.code.rawValue)"
        }
    }
}

/// What a load run achieved.
struct LoadResult {
    var sales: Int
    var seconds: Double
    var latencies: Latencies
    var failures: [String: Int]
    var perSecond: Double { Double(sales) / seconds }
    var failureText: String {
        failures.isEmpty ? "0 failures" : failures.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ", ")
    }
}

/// Builds one terminal per thread, each with its own connection, warmed with one sale (TLS handshake done).
func makeTerminals(_ count: Int, url: String, http: HTTPClientConfiguration, credentials: DeviceCredentials) throws -> [BenchTerminal] {
    try (0..<count).map { _ in
        let t = BenchTerminal(transport: try SignedTransport(baseURL: url, http: http), credentials: credentials)
        if let f = t.sale() { throw BenchError("warm-up sale failed: \(f)") }
        return t
    }
}

/// Closed loop: every terminal starts its next sale as soon as the last one ends, for `seconds`.
/// This finds the most sales per second the service sustains with `terminals.count` clients.
func closedLoop(_ terminals: [BenchTerminal], seconds: Double) -> LoadResult {
    let tally = Tally()
    let start = monotonicSeconds()
    let end = start + seconds
    onThreads(terminals.count) { i in
        var lat = Latencies(), ok = 0, failures: [String: Int] = [:]
        while true {
            let t0 = monotonicSeconds()
            if t0 >= end { break }
            if let f = terminals[i].sale() { failures[f, default: 0] += 1 } else {
                ok += 1
                lat.add((monotonicSeconds() - t0) * 1000)
            }
        }
        tally.record(lat, successes: ok, failures: failures)
    }
    let r = tally.result
    return LoadResult(sales: r.successes, seconds: monotonicSeconds() - start, latencies: r.latencies, failures: r.failures)
}

/// Open loop: sale k is due at start + k / rate whether or not earlier sales have finished; latency is
/// counted from when the sale was due (so a stalled server shows up in the tail instead of slowing the load).
/// Terminals take due sales in turn; with enough terminals none is due while all are busy.
func openLoop(_ terminals: [BenchTerminal], rate: Double, seconds: Double) -> LoadResult {
    let tally = Tally()
    let start = monotonicSeconds() + 0.05
    let total = Int(rate * seconds)
    onThreads(terminals.count) { i in
        var lat = Latencies(), ok = 0, failures: [String: Int] = [:]
        while true {
            let k = tally.take()
            if k >= total { break }
            let due = start + Double(k) / rate
            sleep(until: due)
            if let f = terminals[i].sale() { failures[f, default: 0] += 1 } else {
                ok += 1
                lat.add((monotonicSeconds() - due) * 1000)
            }
        }
        tally.record(lat, successes: ok, failures: failures)
    }
    let r = tally.result
    return LoadResult(sales: r.successes, seconds: monotonicSeconds() - start, latencies: r.latencies, failures: r.failures)
}
