import CashierClient
import CashierCore
import Foundation

/// What a fault takes away and the drill times the return of.
enum RecoveryProbe: Sendable {
    /// Orders of these groups readable and refundable again (the seed: they wait for their group's own
    /// primary/standby switch).
    case groupOrders([Int])
    /// Requests that need the base data answered again (a query of an order in a healthy group).
    case baseData
    /// Not a recovery but a detection: the instance at this URL skipping the group (`cashierd_group_up` 0).
    /// The fault stays for a whole phase after it.
    case groupSkipped(instance: Int, url: String, group: Int)

    /// Whether the phase keeps the fault for its whole length after the probe (a detection), rather than 2 s.
    var holdsTheFault: Bool { if case .groupSkipped = self { return true } else { return false } }
}

/// Times each thing the probe watches came back, seconds after the fault; what never came back within the
/// deadline is listed as missing. The orders it used are handed back so the caller knows which were refunded.
struct RecoveryResult: Sendable {
    var seconds: [String: Double] = [:]
    var missing: [String] = []
    /// Orders given a one-cent refund by the probe.
    var refunded: [OrderNumber] = []
}

/// Polls until what `probe` names is back or `deadline` seconds have passed since `since`.
///
/// `samples` holds one paid order per group, sold before the fault. Refunds are of one cent, by the
/// supervisor's PIN; the engine's journal lends a refund that did not finish its reference for the next try,
/// so a probe never refunds twice.
func measureRecovery(_ probe: RecoveryProbe, engine: CashierEngine, samples: [Int: OrderNumber], pin: String, caFile: String,
                     since: Date, deadline: Double) -> RecoveryResult {
    var result = RecoveryResult()
    func elapsed() -> Double { Date().timeIntervalSince(since) }
    switch probe {
    case .groupOrders(let groups):
        var unread: [Int] = [], unrefunded: [Int] = []
        for g in groups {
            if samples[g] == nil { result.missing.append("group \(g): no paid order to probe with") } else { unread.append(g); unrefunded.append(g) }
        }
        while !(unread.isEmpty && unrefunded.isEmpty) && elapsed() < deadline {
            for g in unread {
                if case .success(let view) = engine.order(samples[g]!), view.status == .paid {
                    result.seconds["group \(g) orders readable"] = elapsed()
                    unread.removeAll { $0 == g }
                }
            }
            for g in unrefunded where !unread.contains(g) {
                if case .success = engine.refund(order: samples[g]!, amount: 1, pin: pin).result {
                    result.seconds["group \(g) orders refundable"] = elapsed()
                    result.refunded.append(samples[g]!)
                    unrefunded.removeAll { $0 == g }
                }
            }
            if !(unread.isEmpty && unrefunded.isEmpty) { Thread.sleep(forTimeInterval: 0.25) }
        }
        result.missing += unread.map { "group \($0) orders readable" } + unrefunded.map { "group \($0) orders refundable" }
    case .baseData:
        guard let order = samples.sorted(by: { $0.key < $1.key }).first?.value else {
            result.missing.append("base data: no paid order to query")
            return result
        }
        while elapsed() < deadline {
            if case .success = engine.order(order) {
                result.seconds["base data answers again"] = elapsed()
                return result
            }
            Thread.sleep(forTimeInterval: 0.25)
        }
        result.missing.append("base data answers again")
    case .groupSkipped(let instance, let url, let group):
        let what = "instance \(instance) skips group \(group)"
        let connection = HopCounter.connection(caFile: caFile)
        while elapsed() < deadline {
            if let connection, HopCounter.groupUp(url: url, group: group, on: connection) == false {
                result.seconds[what] = elapsed()
                return result
            }
            Thread.sleep(forTimeInterval: 0.25)
        }
        result.missing.append(what)
    }
    return result
}
