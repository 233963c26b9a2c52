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

/// How a load terminal sells.
enum SaleFlow: String {
    /// `POST /v1/sales` with a number the terminal holds: one request, one commit (what `cashier` does).
    case oneCall = "one call"
    /// `POST /v1/orders`, then `POST /v1/orders/{no}/pay`: the flow of terminals from before one-call sales.
    case twoCalls = "two calls"
}

/// One signed terminal on its own kept-alive connection.
///
/// `@unchecked Sendable`: a terminal is driven by one thread at a time (each load thread owns one);
/// `numbers` and `soldOnNextNumber` are only touched by that thread.
final class BenchTerminal: @unchecked Sendable {
    let transport: SignedTransport
    let credentials: DeviceCredentials
    let flow: SaleFlow
    /// Numbers for one-call sales, as a terminal's journal keeps them: every sale's answer brings one.
    private var numbers: [OrderNumber] = []
    /// One-call sales refused `GROUP_UNAVAILABLE` (nothing placed) and sold again on the next number.
    private(set) var soldOnNextNumber = 0
    /// Monotonic time of the first sale sold on another number after a `GROUP_UNAVAILABLE`.
    private(set) var firstMoveAt: Double?

    init(transport: SignedTransport, credentials: DeviceCredentials, flow: SaleFlow) {
        self.transport = transport
        self.credentials = credentials
        self.flow = flow
    }

    /// One sale paid with an instantly paid code. Returns the failure kind, if any.
    func sale(amount: Int64 = 1_234) -> String? {
        flow == .oneCall ? oneCallSale(amount: amount) : twoCallSale(amount: amount)
    }

    /// One signed `GET /v1/ping`: the cheapest signed request (signature, device lookup, nonce commit).
    func ping() -> String? {
        switch transport.call("GET", API.Path.ping, credentials: credentials) {
        case .success: return nil
        case .failure(let f): return "ping: \(f.code.rawValue)"
        }
    }

    private func twoCallSale(amount: Int64) -> String? {
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

    /// The one-call sale as `CashierEngine.sell` sends it: the terminal's next number, `reserve: 1` so the
    /// answer brings the number for the sale after. `GROUP_UNAVAILABLE` means nothing was placed: the same
    /// code is sold on the next number (another group), at most three numbers in all, as the engine does.
    private func oneCallSale(amount: Int64) -> String? {
        let code = instantPaymentCode()
        var moved = false
        for _ in 0..<3 {
            if numbers.isEmpty, let failure = refill() { return failure }
            let number = numbers.removeFirst()
            let body = API.encode(SaleRequest(orderNo: number, amount: amount, paymentCode: code, reserve: numbers.count < 2 ? 2 : 1))
            switch transport.call("POST", API.Path.sales, body: body, credentials: credentials).decoded(SaleResponse.self) {
            case .success(let answer):
                numbers += answer.orderNumbers
                if moved, firstMoveAt == nil { firstMoveAt = monotonicSeconds() }
                return answer.order.status == .paid ? nil : "sale: \(answer.order.status.rawValue)"
            case .failure(let f) where f.code == .groupUnavailable:
                soldOnNextNumber += 1
                moved = true
            case .failure(let f):
                return "sale: \(f.code.rawValue)"
            }
        }
        return "sale: GROUP_UNAVAILABLE on 3 numbers"
    }

    /// Asks for numbers (`POST /v1/order-numbers`), as a terminal does when its journal has none.
    private func refill() -> String? {
        let body = API.encode(OrderNumbersRequest(count: 4))
        switch transport.call("POST", API.Path.orderNumbers, body: body, credentials: credentials).decoded(OrderNumbersResponse.self) {
        case .success(let r):
            numbers += r.orderNumbers
            return r.orderNumbers.isEmpty ? "order-numbers: none" : nil
        case .failure(let f):
            return "order-numbers: \(f.code.rawValue)"
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

/// Builds one terminal per thread, each with its own connection, warmed with one sale (TLS handshake
/// done, numbers in hand).
func makeTerminals(_ count: Int, url: String, http: HTTPClientConfiguration, credentials: DeviceCredentials,
                   flow: SaleFlow = .oneCall) throws -> [BenchTerminal] {
    try (0..<count).map { _ in
        let t = BenchTerminal(transport: try SignedTransport(baseURL: url, http: http), credentials: credentials, flow: flow)
        if let f = t.sale() { throw BenchError("warm-up sale failed: \(f)") }
        return t
    }
}

/// Closed loop: every terminal starts its next operation (a sale unless told otherwise) as soon as the
/// last one ends, for `seconds`. This finds the most operations per second with `terminals.count` clients.
func closedLoop(_ terminals: [BenchTerminal], seconds: Double,
                _ operation: @escaping @Sendable (BenchTerminal) -> String? = { $0.sale() }) -> LoadResult {
    let tally = Tally()
    let start = monotonicSeconds()
    let end = start + seconds
    onThreads(terminals.count) { i in
        var lat = Latencies(), ok = 0, failures: [String: Int] = [:]
        while true {
            let t0 = monotonicSeconds()
            if t0 >= end { break }
            if let f = operation(terminals[i]) { failures[f, default: 0] += 1 } else {
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
