import CashierCore
import Foundation

/// The exit codes of `cashier`, one per kind of ending (documented in docs/CLIENT.md).
public enum ExitCode: Int32, Sendable {
    case ok = 0
    case badInput = 2
    case declined = 3
    /// No money was taken (the payment was reversed or never started).
    case notPaid = 4
    case unreachable = 5
    case refused = 6
    case needsAttention = 7
    /// Not activated, or a configuration or keystore problem.
    case setup = 8

    public init(error: APIError) {
        switch error.code {
        case .badInput, .invalidField, .paymentCodeInvalid, .amountInvalid, .malformedRequest: self = .badInput
        case .serviceUnreachable, .tlsUntrusted, .responseUnverified: self = .unreachable
        case .notActivated, .configInvalid, .keystoreInsecure, .deviceUnknown, .deviceRevoked: self = .setup
        default: self = .refused
        }
    }

    public init(outcome: SaleOutcome) {
        switch outcome {
        case .paid: self = .ok
        case .declined: self = .declined
        case .notPaid: self = .notPaid
        case .needsAttention: self = .needsAttention
        case .storedOffline: self = .ok
        }
    }
}

/// Turns engine values into JSON objects (snake_case, as the API) and one-line JSON text.
public enum Reporting {
    /// A Codable value as a JSON object (or array), for embedding.
    public static func object<T: Encodable>(_ value: T) -> Any {
        (try? JSONSerialization.jsonObject(with: Data(API.encode(value)), options: [.fragmentsAllowed])) ?? NSNull()
    }

    /// One line of JSON with sorted keys.
    public static func line(_ dictionary: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: dictionary, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{\"event\":\"error\",\"code\":\"INTERNAL\",\"message\":\"unencodable event\"}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    public static func error(_ e: APIError) -> [String: Any] {
        var d: [String: Any] = ["code": e.code.rawValue, "message": e.message, "retryable": e.retryable,
                                "exit_code": Int(ExitCode(error: e).rawValue)]
        if let detail = e.detail { d["detail"] = detail }
        return d
    }

    public static func outcome(_ o: SaleOutcome) -> [String: Any] {
        var d: [String: Any] = ["exit_code": Int(ExitCode(outcome: o).rawValue)]
        switch o {
        case .paid(let view): d["outcome"] = "paid"; d["order"] = object(view)
        case .declined(let reason): d["outcome"] = "declined"; d["reason"] = reason
        case let .notPaid(reversed, reason): d["outcome"] = "not_paid"; d["reversed"] = reversed; d["reason"] = reason
        case let .needsAttention(n, reason): d["outcome"] = "needs_attention"; d["reason"] = reason; if let n { d["order_no"] = n.digits }
        case .storedOffline(let view): d["outcome"] = "stored_offline"; d["order"] = object(view)
        }
        return d
    }

    /// How a sale ended, as `pay` and `cash` answer it (CLI `--json` and headless): the outcome's fields,
    /// the receipt's printing, the sale's journal id and its order number.
    public static func sale(_ result: SaleResult) -> [String: Any] {
        var o = outcome(result.outcome)
        if let printing = result.receipt { o.merge(receipt(printing)) { a, _ in a } }
        o["sale"] = result.id
        if let n = result.orderNo { o["order_no"] = n.digits }
        return o
    }

    /// A receipt's printing as JSON: `{"receipt": "printed" | "no_printer" | "failed", "receipt_error"?}`.
    public static func receipt(_ r: ReceiptPrinting) -> [String: Any] {
        switch r {
        case .printed: return ["receipt": "printed"]
        case .noPrinter: return ["receipt": "no_printer"]
        case .failed(let why): return ["receipt": "failed", "receipt_error": why]
        }
    }

    public static func phase(_ p: SalePhase) -> [String: Any] {
        switch p {
        case .creating: return ["phase": "creating"]
        case .paying(let n): return ["phase": "paying", "order_no": n.digits]
        case .waitingForCustomer(let n): return ["phase": "waiting_for_customer", "order_no": n.digits]
        case .querying(let n): return ["phase": "querying", "order_no": n.digits]
        case let .reversing(n, attempts): return ["phase": "reversing", "order_no": n.digits, "attempts": attempts]
        case .finished(let o): return ["phase": "finished"].merging(outcome(o)) { a, _ in a }
        }
    }

    public static func refundPhase(_ p: RefundPhase) -> [String: Any] {
        switch p {
        case .sending(let n): return ["phase": "sending", "attempts": n]
        case .waiting(let n): return ["phase": "waiting", "attempts": n]
        case .finished(.refunded(let v)): return ["phase": "finished", "outcome": "refunded", "refund": object(v)]
        case .finished(.refused(let e)): return ["phase": "finished", "outcome": "refused", "error": error(e)]
        case .finished(.needsAttention(let why)): return ["phase": "finished", "outcome": "needs_attention", "reason": why]
        }
    }

    /// An engine event as a headless output object.
    public static func event(_ e: EngineEvent, urls: [String]) -> [String: Any] {
        switch e {
        case .probe(let news):
            switch news {
            case let .result(d, round, latency, err):
                var o: [String: Any] = ["event": "probe", "domain": d, "url": urls[d], "round": round, "ok": latency != nil]
                if let latency { o["latency_ms"] = latency }
                if let err { o["error"] = err }
                return o
            case let .switched(from, to):
                return ["event": "domain_switch", "from": from.map { $0 as Any } ?? NSNull(), "to": to, "url": urls[to]]
            case let .unreachable(n, retry):
                return ["event": "unreachable", "failed_rounds": n, "retry_in_ms": retry]
            case .coalesced:
                return ["event": "probe_coalesced"]
            case .roundStarted(let r):
                return ["event": "probe_round", "round": r]
            }
        case let .sale(id, phase, left):
            var o = self.phase(phase).merging(["event": "sale", "sale": id]) { a, _ in a }
            if let left { o["seconds_left"] = left }
            return o
        case let .refund(ref, phase):
            return refundPhase(phase).merging(["event": "refund", "ref": ref]) { a, _ in a }
        case .resuming(let id):
            return ["event": "resuming", "sale": id]
        case let .cashSale(id, phase):
            return cashPhase(phase).merging(["event": "cash_sale", "sale": id]) { a, _ in a }
        }
    }

    public static func cashPhase(_ p: CashSalePhase) -> [String: Any] {
        switch p {
        case .placing(let n): return ["phase": "placing", "order_no": n.digits]
        case .waitingToForward(let n): return ["phase": "waiting_to_forward", "order_no": n.digits]
        case .finished(.recorded(let v)): return ["phase": "finished", "outcome": "recorded", "order": object(v)]
        case .finished(.refused(let e)): return ["phase": "finished", "outcome": "refused", "error": error(e)]
        }
    }

    /// The status as a JSON object.
    public static func status(_ s: EngineStatus) -> [String: Any] {
        (object(s) as? [String: Any]) ?? [:]
    }
}
